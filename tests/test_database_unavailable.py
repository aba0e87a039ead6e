"""The database away for a moment (SQLite locked by another writer, PostgreSQL connections
terminated): a 503 retry page in Chinese with Retry-After, never a lost filing that looked
sent. A filing answered with 303 has its row; one answered with 503 has none and can be
sent again as it was, once."""

import html
import io
import re
import secrets
import sqlite3
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool
from werkzeug.datastructures import MultiDict

from liaison_app.extensions import db
from liaison_app.models import Request, RequestEvent, Role
from tests.factories import image_bytes, make_qr_code, make_user
from tests.test_desk import login
from tests.test_errors import error_log  # noqa: F401  (fixture)
from tests.test_filing import count, form_data

APP_NAME = f"liaison-test-{secrets.token_hex(4)}"  # this run's connections, and no one else's


@pytest.fixture
def app_config(request):
    if request.config.getoption("--db") == "sqlite":
        return {"SQLITE_BUSY_TIMEOUT_MS": 100}
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "connect_args": {"application_name": APP_NAME}}}


@pytest.fixture
def code(app):
    code = make_qr_code()
    db.session.commit()
    return code


def sqlite_only():
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock; PostgreSQL is tested by terminating connections")


def postgresql_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("pg_terminate_backend needs PostgreSQL (run with --db postgresql)")


@contextmanager
def write_lock_held():
    """Another process's write transaction (BEGIN IMMEDIATE) holds SQLite's write lock."""
    db.session.commit()
    other = sqlite3.connect(db.engine.url.database, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def resend_form(page: str) -> tuple[str, MultiDict]:
    """The "send again" form of a retry page: its action and its hidden fields."""
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    fields = MultiDict([(html.unescape(name), html.unescape(value))
                        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)])
    return html.unescape(action), fields


def assert_retry_page(response, *texts):
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert "请稍后重试" in page and "错误编号：" in page
    for text in texts:
        assert text in page
    return page


# --- SQLite: the write lock is held by another writer ------------------------------------------


def test_a_filing_while_sqlite_is_locked_is_not_saved_and_goes_again_once(client, code, error_log):  # noqa: F811
    sqlite_only()
    sent = form_data()

    with write_lock_held():
        response = client.post(f"/q/{code.token}/file", data=sent)

    page = assert_retry_page(response, "数据库暂时无法访问，您的诉求没有保存。", "您填写的内容已保留",
                             "重新提交是安全的：同一诉求只会登记一次。", "重新提交")
    assert count(Request) == 0
    error_id = re.search(r"错误编号：([0-9a-f]{12})", page).group(1)
    assert any(error_id in r.getMessage() and "database is locked" in r.getMessage() for r in error_log)
    action, fields = resend_form(page)
    assert action == f"/q/{code.token}/file"
    assert fields.to_dict() == sent  # every field as typed, the idempotency key with them

    again = client.post(action, data=fields)

    assert again.status_code == 303
    req = db.session.scalars(sa.select(Request)).one()
    assert again.headers["Location"] == f"/t/{req.tracking_token}"
    assert req.description == sent["description"]
    assert client.post(action, data=fields).headers["Location"] == again.headers["Location"]  # a third time
    assert count(Request) == 1


def test_the_htmx_filing_gets_a_fragment_and_keeps_its_form(client, code, htmx):
    sqlite_only()

    with write_lock_held():
        response = client.post(f"/q/{code.token}/file", data=form_data(), headers=htmx)

    page = assert_retry_page(response, "您的诉求没有保存", "您填写的表单已保留，请稍后再次点击“提交”。")
    assert "<html" not in page and "<form" not in page  # the form on the page stays as it is
    assert count(Request) == 0


def test_a_field_check_while_sqlite_is_locked_still_answers(client, code, htmx):
    """Checking a field writes nothing, so it neither waits for nor fails on the write lock."""
    sqlite_only()

    with write_lock_held():
        response = client.post("/validate/contact_phone", data={"contact_phone": "12345"}, headers=htmx)

    assert response.status_code == 200
    assert 'id="error-contact_phone"' in response.get_data(as_text=True)


def test_photos_cannot_ride_along_on_the_retry_page_and_it_says_so(client, code):
    sqlite_only()
    photo = (io.BytesIO(image_bytes()), "a.jpg")

    with write_lock_held():
        response = client.post(f"/q/{code.token}/file", data=form_data(photos=photo),
                               content_type="multipart/form-data")

    page = assert_retry_page(response, "所选照片无法在此页保留。如需一并提交照片，请返回表单重新提交")
    assert "photos" not in resend_form(page)[1]


def test_another_form_while_locked_says_nothing_was_saved(client, code):
    sqlite_only()
    assert client.post(f"/q/{code.token}/file", data=form_data()).status_code == 303
    req = db.session.scalars(sa.select(Request)).one()
    events = count(RequestEvent)

    with write_lock_held():
        response = client.post(f"/t/{req.tracking_token}/info", data={"text": "夜班焊工", "version": req.version})

    assert_retry_page(response, "数据库暂时无法访问，您提交的内容没有保存。请稍后返回并重新提交。")
    assert count(RequestEvent) == events


# --- any database: pages that need no database ---------------------------------------------------


def _connection_lost():
    return sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))


def test_the_retry_page_of_a_logged_in_user_needs_no_query(app, client, monkeypatch):
    """The database fails again for every query while the page is made: the page still comes."""
    login(client, make_user(Role.DEPUTY))

    def fails(*_args, **_kwargs):
        raise _connection_lost()

    app.add_url_rule("/needs-db", view_func=lambda: fails())
    monkeypatch.setattr(db.session, "get", fails)  # the user loader's query

    response = client.get("/needs-db")

    assert_retry_page(response, "数据库暂时无法访问，请稍后刷新页面。")
    assert response.cache_control.no_store


def test_a_failure_after_the_commit_does_not_claim_nothing_was_saved(app, client):
    def commits_then_fails():
        db.session.execute(sa.text("SELECT 1"))
        db.session.commit()
        raise _connection_lost()

    app.add_url_rule("/commits", view_func=commits_then_fails, methods=["POST"])

    response = client.post("/commits")

    assert_retry_page(response, "无法确认您的修改是否已保存。请稍后刷新页面查看")


# --- PostgreSQL: the app's connections are terminated ----------------------------------------------


@contextmanager
def admin_connection():
    """A connection of its own (not in the app's pool, another application_name)."""
    engine = sa.create_engine(db.engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def terminate_app_connections() -> int:
    with admin_connection() as connection:
        return len(connection.execute(sa.text(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = :name"
        ), {"name": APP_NAME}).all())


def test_after_postgresql_drops_every_connection_the_next_requests_work_or_say_retry(client, code):
    postgresql_only()
    first = client.post(f"/q/{code.token}/file", data=form_data())
    assert first.status_code == 303
    db.session.commit()

    assert terminate_app_connections() >= 1

    page = client.get(f"/q/{code.token}")
    assert page.status_code in (200, 503)
    sent = form_data()
    second = client.post(f"/q/{code.token}/file", data=sent)
    if second.status_code == 503:
        second = client.post(f"/q/{code.token}/file", data=sent)
    assert second.status_code == 303
    tokens = {response.headers["Location"].rsplit("/", 1)[1] for response in (first, second)}
    assert set(db.session.scalars(sa.select(Request.tracking_token))) == tokens


def test_a_connection_terminated_during_the_filing_gives_the_retry_page_and_no_row(app, client, code):
    postgresql_only()
    killed = []

    def terminate_mid_request(_conn, cursor, statement, *_args):
        if not killed and statement.lstrip().upper().startswith("INSERT"):
            killed.append(cursor.connection.info.backend_pid)
            with admin_connection() as connection:
                connection.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": killed[0]})

    sent = form_data()
    event.listen(db.engine, "before_cursor_execute", terminate_mid_request)
    try:
        response = client.post(f"/q/{code.token}/file", data=sent)
    finally:
        event.remove(db.engine, "before_cursor_execute", terminate_mid_request)

    assert killed
    page = assert_retry_page(response, "数据库暂时无法访问，您的诉求没有保存。", "重新提交是安全的")
    assert count(Request) == 0
    action, fields = resend_form(page)

    again = client.post(action, data=fields)

    assert again.status_code == 303
    assert count(Request) == 1
