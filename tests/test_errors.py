"""No stack trace ever reaches a user: a Chinese 500 page whose error id is in the log line
with the traceback; debug mode cannot be switched on in production by mistake."""

import logging
import re

import pytest
import sqlalchemy as sa

from liaison_app import ConfigError, create_app
from liaison_app.extensions import db
from liaison_app.models import Role
from tests.factories import make_user
from tests.test_desk import login


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def error_log():
    """What liaison.errors writes, whatever handlers the app installs."""
    handler = Records()
    logger = logging.getLogger("liaison.errors")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


@pytest.fixture
def broken(app):
    def broken_view():
        raise RuntimeError("the secret internals of a bug")

    app.add_url_rule("/broken", view_func=broken_view, methods=["GET", "POST"])
    return "/broken"


def error_id(page: str) -> str:
    return re.search(r"错误编号：([0-9a-f]{12})", page).group(1)


def test_a_raising_view_gives_the_chinese_page_with_an_id_that_is_in_the_log(client, broken, error_log):
    response = client.get(broken)
    page = response.get_data(as_text=True)

    assert response.status_code == 500
    assert "系统出现问题" in page and "抱歉" in page
    assert "Traceback" not in page and "secret internals" not in page and "RuntimeError" not in page
    found = error_id(page)
    [record] = [r for r in error_log if found in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info[0] is RuntimeError
    assert "the secret internals of a bug" in logging.Formatter().formatException(record.exc_info)
    assert "GET /broken" in record.getMessage()


def test_the_htmx_fragment_of_a_500_has_the_id_too(client, broken, error_log, htmx):
    response = client.post(broken, headers=htmx)
    page = response.get_data(as_text=True)

    assert response.status_code == 500
    assert "<html" not in page and "系统出现问题" in page
    assert any(error_id(page) in r.getMessage() for r in error_log)


def test_a_logged_in_users_500_page_needs_no_database(app, client, broken):
    """The page leaves out the menu and footer, which load the user: the database may be the problem."""
    login(client, make_user(Role.DEPUTY))

    response = client.get(broken)

    assert response.status_code == 500
    assert "系统出现问题" in response.get_data(as_text=True)
    assert response.cache_control.no_store


def test_an_sql_bug_is_a_500_not_a_retry_page(app, client, error_log):
    app.add_url_rule("/bad-sql", view_func=lambda: str(db.session.execute(sa.text("SELECT * FROM no_such_table")).all()))

    response = client.get("/bad-sql")

    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert any(r.exc_info for r in error_log)


def test_a_page_that_does_not_exist_is_a_chinese_404(client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert "页面不存在。" in response.get_data(as_text=True)


# --- debug mode --------------------------------------------------------------------------------


def _create(monkeypatch, tmp_path, **settings):
    monkeypatch.setattr("flask.Config.from_pyfile", lambda self, *a, **k: False)  # ignore instance/config.py
    config = {"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/debug.sqlite",
              "UPLOAD_FOLDER": str(tmp_path / "uploads"), **settings}
    return create_app(config)


def test_debug_is_refused_at_a_public_address(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="Debug mode is on"):
        _create(monkeypatch, tmp_path, DEBUG=True, PUBLIC_BASE_URL="https://mszdb.taicang.gov.cn")


def test_flask_debug_from_the_environment_is_refused_too(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://mszdb.taicang.gov.cn")

    with pytest.raises(ConfigError, match="Debug mode is on"):
        _create(monkeypatch, tmp_path)


@pytest.mark.parametrize("settings", [
    {"PUBLIC_BASE_URL": "http://127.0.0.1:5000"},
    {"PUBLIC_BASE_URL": "http://localhost:5000"},
    {"PUBLIC_BASE_URL": "https://test.mszdb.example.cn", "ALLOW_DEBUG": True},
])
def test_debug_is_allowed_on_a_developers_machine_or_when_asked_for(monkeypatch, tmp_path, settings):
    app = _create(monkeypatch, tmp_path, DEBUG=True, **settings)

    assert app.debug
