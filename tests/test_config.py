import pytest

from liaison_app import ConfigError, create_app
from liaison_app.config import normalise_database_url


def test_secret_key_is_required_outside_debug_and_testing(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite")
    monkeypatch.setenv("UPLOAD_FOLDER", str(tmp_path / "uploads"))
    monkeypatch.setattr("flask.Config.from_pyfile", lambda self, *a, **k: False)  # ignore instance/config.py

    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app()


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.sqlite")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://mszdb.taicang.gov.cn/")
    monkeypatch.setenv("UPLOAD_FOLDER", str(tmp_path / "uploads"))

    app = create_app()

    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.sqlite")
    assert app.config["PUBLIC_BASE_URL"] == "https://mszdb.taicang.gov.cn"
    assert app.config["BABEL_DEFAULT_LOCALE"] == "zh_CN"


@pytest.mark.parametrize(
    "url,expected",
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.sqlite", "sqlite:///x.sqlite"),
    ],
)
def test_postgres_urls_use_psycopg_3(url, expected):
    assert normalise_database_url(url) == expected


def test_postgresql_connections_compile_no_query_plans(app):
    """JIT compilation costs a deputy's inbox ~50 ms a query at a province's size (docs/benchmarks.md)."""
    import sqlalchemy as sa

    from liaison_app.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: SQLite has no JIT")
        assert db.session.scalar(sa.text("SHOW jit")) == "off"
        # ...and the test schema's search_path, which travels in the same libpq options, is kept.
        assert "public" not in db.session.scalar(sa.text("SHOW search_path"))


def test_jit_off_is_added_to_the_urls_own_options():
    from liaison_app.config import _without_jit

    url = _without_jit("postgresql+psycopg://u@h:5432/d?options=-csearch_path%3Dt_1")
    assert "search_path" in url and "jit" in url
