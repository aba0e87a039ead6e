"""The landing page with its scans buffered in the worker and its page kept for anonymous
visitors (QR_SCAN_FLUSH_SECONDS, QR_LANDING_CACHE_SECONDS; the rest of the suite turns both off)."""

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import QRCode, QRScanDay, utcnow
from liaison_app.workdays import today_local
from tests.factories import Tree, make_deputy, make_qr_code


@pytest.fixture
def app_config():
    return {"QR_SCAN_FLUSH_SECONDS": 60, "QR_LANDING_CACHE_SECONDS": 30}


@pytest.fixture(autouse=True)
def _no_scans_left_for_exit(app):
    yield
    buffer = app.extensions.get("qr_scan_buffer")
    if buffer is not None:
        buffer.pending.clear()  # its database is emptied: nothing to write at exit


def scans(code) -> tuple[int, dict]:
    db.session.expire_all()
    total = db.session.scalar(sa.select(QRCode.scan_count).where(QRCode.id == code.id))
    days = dict(db.session.execute(sa.select(QRScanDay.day, QRScanDay.count).where(QRScanDay.qr_code_id == code.id)).all())
    return total, days


def statements_of(app, client, path) -> list[str]:
    db.session.commit()
    seen = []
    listener = lambda _c, _cur, statement, *_a: seen.append(statement)  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        response = client.get(path)
        response.close()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    return seen


def login(client, user):
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


def test_scans_wait_in_the_worker_and_are_written_once_due(app):
    code = make_qr_code()
    db.session.commit()
    for _ in range(3):
        app.test_client().get(f"/q/{code.token}").close()
    assert scans(code) == (0, {})

    app.extensions["qr_scan_buffer"].since -= 61  # the oldest scan is now 61 seconds old
    app.test_client().get(f"/q/{code.token}").close()  # written after this answer

    assert scans(code) == (4, {today_local(): 4})


def test_scans_still_pending_are_written_at_exit_and_a_revoked_codes_are_not(app):
    live, revoked = make_qr_code(), make_qr_code()
    db.session.commit()
    for token in (live.token, live.token, revoked.token):
        app.test_client().get(f"/q/{token}").close()
    revoked.revoked_at = utcnow()
    db.session.commit()

    app.extensions["qr_scan_buffer"].flush()  # what atexit runs

    assert scans(live) == (2, {today_local(): 2})
    assert scans(revoked) == (0, {})
    assert db.session.get(QRCode, live.id).last_scanned_at is not None


def test_an_anonymous_visitor_gets_the_kept_page_without_a_query_and_without_a_token(app):
    code = make_qr_code(deputy=make_deputy(name="顾振华"))
    first = app.test_client().get(f"/q/{code.token}")
    assert "Set-Cookie" not in first.headers  # no session started for a page without a form

    statements = statements_of(app, app.test_client(), f"/q/{code.token}")

    assert statements == []
    page = app.test_client().get(f"/q/{code.token}").get_data(as_text=True)
    assert "顾振华" in page and "X-CSRFToken" not in page


def test_a_logged_in_user_never_gets_the_kept_page(app):
    code = make_qr_code(deputy=make_deputy(name="顾振华"))
    app.test_client().get(f"/q/{code.token}")  # kept for anonymous visitors
    client = app.test_client()
    login(client, Tree().admin)

    page = client.get(f"/q/{code.token}").get_data(as_text=True)

    assert "退出登录" in page and "X-CSRFToken" in page
    assert statements_of(app, client, f"/q/{code.token}") != []


def test_each_language_is_kept_apart(app):
    code = make_qr_code()
    assert "反映诉求" in app.test_client().get(f"/q/{code.token}").get_data(as_text=True)

    english = app.test_client().get(f"/q/{code.token}?lang=en").get_data(as_text=True)

    assert "Report a problem" in english and "反映诉求" not in english
    assert "反映诉求" in app.test_client().get(f"/q/{code.token}").get_data(as_text=True)


def test_a_revoked_code_says_so_at_once_in_the_admins_worker(app):
    tree = Tree()
    code = make_qr_code(deputy=make_deputy(tree.station, name="顾振华"))
    for lang in ("zh_CN", "en"):
        assert "顾振华" in app.test_client().get(f"/q/{code.token}?lang={lang}").get_data(as_text=True)
    admin = app.test_client()
    login(admin, tree.admin)

    assert admin.post(f"/admin/qr/codes/{code.id}/revoke").status_code in (200, 303)

    page = app.test_client().get(f"/q/{code.token}").get_data(as_text=True)
    assert "已停用" in page


def test_a_phone_without_cookies_gets_the_very_answer_flask_gave_without_any_hook(app, monkeypatch):
    code = make_qr_code(deputy=make_deputy(name="顾振华"))
    db.session.commit()
    path, compressed = f"/q/{code.token}", {"Accept-Encoding": "gzip, br"}
    first, first_compressed = (app.test_client().get(path, headers=h) for h in ({}, compressed))

    # Flask is not asked again: neither its hooks nor the view run, nor a query.
    monkeypatch.setattr(app, "preprocess_request", lambda: pytest.fail("Flask answered a kept page"))
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    again, again_compressed = (app.test_client().get(path, headers=h) for h in ({}, compressed))

    assert statements == [], statements
    for kept, fresh in ((again, first), (again_compressed, first_compressed)):
        assert (kept.status_code, kept.data) == (200, fresh.data)
        assert sorted(kept.headers.items()) == sorted(fresh.headers.items())
    assert "顾振华" in again.get_data(as_text=True) and again_compressed.headers["Content-Encoding"] in ("br", "gzip")
    assert again.headers["Content-Security-Policy"] and "Set-Cookie" not in again.headers

    app.extensions["qr_scan_buffer"].flush()
    assert scans(code) == (4, {today_local(): 4})  # every scan counted, kept answers too


def test_a_kept_answer_goes_with_its_code_and_never_to_a_phone_with_a_cookie(app):
    tree = Tree()
    code = make_qr_code(deputy=make_deputy(tree.station, name="顾振华"))
    db.session.commit()
    app.test_client().get(f"/q/{code.token}")  # kept
    returning = app.test_client()
    returning.set_cookie("lang", "en")
    assert "Report a problem" in returning.get(f"/q/{code.token}").get_data(as_text=True)  # not the kept one

    admin = app.test_client()
    login(admin, tree.admin)
    assert admin.post(f"/admin/qr/codes/{code.id}/revoke").status_code in (200, 303)

    assert "已停用" in app.test_client().get(f"/q/{code.token}").get_data(as_text=True)
