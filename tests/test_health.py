from liaison_app.extensions import db


def test_healthz_reports_app_and_database(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"app": "ok", "database": "ok", "status": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path, test_database):
    from tests.conftest import make_app

    broken = make_app(
        "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
        if test_database.kind == "postgresql" else f"sqlite:///{tmp_path}/missing/dir/x.sqlite",
        tmp_path,
    )
    response = broken.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json["database"] == "unavailable"
    assert response.json["app"] == "ok"
    with broken.app_context():
        db.engine.dispose()
