"""Log lines: UTC, who and from where, masked, one line per record; logins, denials and every
state change are written."""

import io
import logging
import re

import pytest

from liaison_app import ConfigError, create_app, logs
from liaison_app.extensions import db
from liaison_app.models import Role
from liaison_app.services import workflow as wf
from tests.factories import Tree, make_request, make_user
from tests.test_access_matrix import closed, fresh
from tests.test_desk import login

CLIENT_IP = "203.0.113.7"
LINE_START = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


class LogLines:
    """What the app's handler writes, read back as lines."""

    def __init__(self, stream):
        self.stream = stream

    def all(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def matching(self, text: str) -> list[str]:
        return [line for line in self.all() if text in line]

    def one(self, text: str) -> str:
        found = self.matching(text)
        assert len(found) == 1, (text, self.all())
        return found[0]


@pytest.fixture
def log_lines(app):
    """The app's formatter and filter on the root logger, writing into a buffer."""
    stream = io.StringIO()
    handler = logs.make_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    yield LogLines(stream)
    root.removeHandler(handler)


@pytest.fixture
def tree(app):
    return Tree()


def at(ip=CLIENT_IP):
    return {"environ_base": {"REMOTE_ADDR": ip}}


# --- the line ---------------------------------------------------------------------------------


def test_a_line_outside_a_request_has_utc_time_and_no_user_or_ip(app, log_lines):
    logging.getLogger("liaison.test").warning("backup written")
    line = log_lines.one("backup written")
    assert LINE_START.match(line), line
    assert " liaison.test user=- ip=- backup written" in line


def test_the_time_is_utc_whatever_the_local_zone(app, log_lines, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        record = logging.LogRecord("liaison.test", logging.INFO, __file__, 1, "x", None, None)
        record.created = 0.25  # 1970-01-01 08:00:00.250 in Shanghai
        record.msecs = 250
        assert logs.LogFormatter().formatTime(record) == "1970-01-01T00:00:00.250Z"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("typed", [
    "13812345678", "138 1234 5678", "138-1234-5678", "+8613812345678", "+86 138 1234 5678",
    "+86-138-1234-5678", "(+86)13812345678", "008613812345678",
])
def test_a_mobile_number_in_any_spelling_is_masked(app, log_lines, typed):
    logging.getLogger("some.library").warning("call %s now", typed)
    line = log_lines.one("call ")
    assert "call 138****5678 now" in line
    assert "1234" not in line.split("call ")[1].replace("****", "")


def test_a_mobile_number_typed_in_full_width_is_masked(app, log_lines):
    logging.getLogger("some.library").warning("call %s now", "＋８６ １３８ １２３４ ５６７８")
    assert log_lines.one("call ").endswith("call 138****5678 now")


@pytest.mark.parametrize("typed,masked", [
    ("0512-53521234", "051****1234"), ("(0512) 5352 1234", "051****1234"), ("+86 512 5352 1234", "051****1234"),
    ("010-12345678", "010****5678"), ("+86 10 1234 5678", "010****5678"), ("+86 010 1234 5678", "010****5678"),
])
def test_a_landline_with_its_area_code_is_masked(app, log_lines, typed, masked):
    logging.getLogger("liaison.test").info("office %s", typed)
    assert log_lines.one("office ").endswith(f"office {masked}")


def test_a_credit_code_is_masked_and_other_numbers_are_not(app, log_lines):
    logging.getLogger("liaison.test").info("enterprise 91320585MA1MXKQ30U request 2026-000123 id 12345 at 10.0.0.12")
    line = log_lines.one("enterprise ")
    assert "enterprise 9132****Q30U request 2026-000123 id 12345 at 10.0.0.12" in line


@pytest.mark.parametrize("breaker", ["\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x1c"])
def test_a_line_break_in_user_text_cannot_forge_a_line(app, log_lines, breaker):
    typed = f"wanglei{breaker}2026-12-05T01:02:03.000Z INFO liaison.auth user=1:admin ip=1.2.3.4 login admin"
    logging.getLogger("liaison.auth").warning("failed login for %s", typed)
    lines = log_lines.all()
    assert len(lines) == 1, lines
    assert "login admin" in lines[0] and "\\" in lines[0]


def test_a_traceback_is_masked_and_each_of_its_lines_is_indented(app, log_lines):
    try:
        raise ValueError("duplicate phone 13812345678\n2026-12-05T01:02:03.000Z INFO forged")
    except ValueError:
        logging.getLogger("liaison.test").exception("could not save")
    first, *rest = log_lines.all()
    assert first.endswith("could not save")
    assert rest and all(line.startswith("  | ") for line in rest), rest
    assert "13812345678" not in "\n".join(rest) and "138****5678" in "\n".join(rest)


def test_caplog_still_sees_the_records(app, caplog, log_lines):
    with caplog.at_level(logging.INFO, logger="liaison"):
        logging.getLogger("liaison.test").info("hello %s", "13812345678")
    assert [r.getMessage() for r in caplog.records] == ["hello 13812345678"]  # pytest's own, unmasked
    assert log_lines.one("hello").endswith("hello 138****5678")


# --- settings -------------------------------------------------------------------------------


def _liaison_handlers():
    return [h for h in logging.getLogger().handlers if getattr(h, "liaison_handler", False)]


def test_the_handler_is_installed_once_however_many_apps(test_database, tmp_path):
    try:
        for _ in range(2):
            create_app({"TESTING": True, "DATABASE_URL": test_database.url, "LOG_TO_STDERR": True,
                        "UPLOAD_FOLDER": str(tmp_path)})
        assert len(_liaison_handlers()) == 1
        create_app({"TESTING": True, "DATABASE_URL": test_database.url, "UPLOAD_FOLDER": str(tmp_path)})
        assert _liaison_handlers() == []  # under TESTING, by default, caplog alone takes the records
    finally:
        for handler in _liaison_handlers():
            logging.getLogger().removeHandler(handler)


def test_log_level_and_format_are_settings(test_database, tmp_path):
    app = create_app({"TESTING": True, "DATABASE_URL": test_database.url, "UPLOAD_FOLDER": str(tmp_path),
                      "LOG_LEVEL": "warning", "LOG_FORMAT": "%(levelname)s|%(user)s|%(message)s",
                      "LOG_TO_STDERR": True})
    try:
        assert logging.getLogger("liaison").level == logging.WARNING
        (handler,) = _liaison_handlers()
        record = logging.LogRecord("liaison.x", logging.WARNING, __file__, 1, "call %s", ("13812345678",), None)
        handler.filter(record)
        assert handler.format(record) == "WARNING|-|call 138****5678"
        with pytest.raises(ConfigError, match="LOG_LEVEL"):
            create_app({"TESTING": True, "DATABASE_URL": test_database.url, "UPLOAD_FOLDER": str(tmp_path),
                        "LOG_LEVEL": "chatty"})
    finally:
        for handler in _liaison_handlers():
            logging.getLogger().removeHandler(handler)
        logging.getLogger("liaison").setLevel(logging.INFO)
    assert app.config["LOG_LEVEL"] == "warning"


# --- logins ----------------------------------------------------------------------------------


def test_a_login_is_logged_with_the_user_and_the_client_ip(client, log_lines):
    user = make_user(Role.STAFF, username="chenxy", phone="+8613912340000")
    client.post("/login", data={"login": "139 1234 0000", "password": "correct horse battery"}, **at())
    line = log_lines.one("login chenxy")
    assert f"user={user.id}:chenxy ip={CLIENT_IP}" in line


def test_a_failed_login_is_logged_with_the_typed_phone_masked(client, log_lines):
    make_user(Role.STAFF, username="chenxy", phone="+8613912340000")
    client.post("/login", data={"login": "139-1234-0000", "password": "wrong password!"}, **at())
    line = log_lines.one("failed login")
    assert f"user=anonymous ip={CLIENT_IP}" in line
    assert "139****0000" in line and "1234" not in line.split("failed login")[1].replace("****", "")


# --- denials ---------------------------------------------------------------------------------


def test_a_403_is_logged(app, tree, log_lines):
    req = make_request(deputy=tree.deputy)
    client = app.test_client()
    login(client, tree.staff["county"])  # sees the request, but it is the township's to claim
    assert client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version}, **at()).status_code == 403
    line = log_lines.one("denied 403")
    assert f"POST /desk/requests/{req.id}/claim" in line
    assert f"user={tree.staff['county'].id}:{tree.staff['county'].username} ip={CLIENT_IP}" in line


def test_a_foreign_request_id_is_logged_as_a_404(app, tree, log_lines):
    req = make_request(deputy=tree.deputy)
    client = app.test_client()
    login(client, tree.outsider_user)
    assert client.get(f"/desk/requests/{req.id}", **at()).status_code == 404
    assert f"user={tree.outsider_user.id}:" in log_lines.one(f"denied 404 GET /desk/requests/{req.id}")


def test_an_anonymous_404_is_not_logged(client, log_lines):
    assert client.get("/t/no-such-token").status_code == 404
    assert log_lines.matching("denied") == []


def test_an_impossible_step_is_logged_as_a_409(app, tree, log_lines):
    req = closed(tree)
    client = app.test_client()
    login(client, tree.deputy_user)
    response = client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version}, **at())
    assert response.status_code == 409
    assert f"ip={CLIENT_IP}" in log_lines.one(f"denied 409 POST /desk/requests/{req.id}/claim")


# --- state changes ---------------------------------------------------------------------------


def test_every_state_change_is_one_line_with_the_request_action_statuses_and_actor(app, tree, log_lines):
    req = make_request(deputy=tree.deputy)
    filed = log_lines.one(f"request {req.reference} ")
    assert f"(id {req.id}) file - -> submitted by enterprise" in filed

    client = app.test_client()
    login(client, tree.deputy_user)
    assert client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version}, **at()).status_code == 303
    user = tree.deputy_user
    line = log_lines.one(f"request {req.reference} (id {req.id}) claim")
    assert f"claim submitted -> claimed by deputy {user.id}:{user.username}" in line
    assert f"user={user.id}:{user.username} ip={CLIENT_IP}" in line
    assert "liaison.workflow" in line


def test_a_note_that_changes_no_status_is_logged_too(app, tree, log_lines):
    req = make_request(deputy=tree.deputy)
    staff = tree.staff["county"]
    wf.remind(fresh(req), actor=staff, note="请尽快认领，联系电话13812345678")
    line = log_lines.one(f"request {req.reference} (id {req.id}) remind")
    assert f"remind submitted -> submitted by staff {staff.id}:{staff.username}" in line
    assert "1381234" not in line  # the note is not logged at all


def test_a_change_that_was_rolled_back_is_not_logged(app, tree, log_lines):
    req = make_request(deputy=tree.deputy)
    from liaison_app.services.requests import record_event
    from liaison_app.workflow import Action, Actor

    record_event(fresh(req), Action.CLAIM, Actor.DEPUTY, actor_user=tree.deputy_user)
    db.session.flush()
    db.session.rollback()
    assert log_lines.matching(f"(id {req.id}) claim") == []
    assert fresh(req).status == "submitted"


class TestBehindAProxy:
    @pytest.fixture
    def app_config(self):
        return {"PROXY_FIX_X_FOR": 1}

    def test_the_ip_is_the_client_the_proxy_names(self, client, log_lines):
        client.post("/login", data={"login": "nobody", "password": "wrong password!"},
                    headers={"X-Forwarded-For": "198.51.100.23"}, **at("10.0.0.2"))
        assert "ip=198.51.100.23 " in log_lines.one("failed login")


def test_the_demo_load_writes_no_line_for_each_made_up_event(app, runner, caplog):
    with caplog.at_level(logging.INFO, logger="liaison"):
        result = runner.invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
        assert [r for r in caplog.records if r.name == "liaison.workflow"] == []
        make_request()  # afterwards, events are logged again
    assert [r.getMessage().split(") ")[1] for r in caplog.records if r.name == "liaison.workflow"] == [
        "file - -> submitted by enterprise"]
