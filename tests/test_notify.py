"""The notification outbox: queued with the state change, delivered after the commit,
retried with a growing delay, never at the cost of the change, never with contact details."""

import json
import logging
import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
import time_machine

from liaison_app.extensions import db
from liaison_app.models import (
    Category,
    Notification,
    NotificationKind,
    NotificationStatus,
    Request,
    RequestKind,
    Role,
    utcnow,
)
from liaison_app.services import notify
from liaison_app.services.requests import Filing, file_request, record_event, route_by_token
from liaison_app.workflow import Action, Actor, Status
from tests.factories import make_department, make_deputy, make_qr_code, make_user, valid_uscc
from tests.test_filing import form_data

PHONE = "+8613812345678"
CONTACT = "王海燕"
USCC = valid_uscc(424242)


def file_a_request(**overrides) -> Request:
    """File a request through the enterprise's service, as a scan of a deputy's code does."""
    qr_code = overrides.pop("qr_code", None) or make_qr_code(deputy=make_deputy(name="陆建国"))
    values = dict(
        kind=RequestKind.REQUEST,
        enterprise_name="太仓市恒丰精密机械有限公司",
        uscc=USCC,
        contact_name=CONTACT,
        contact_phone=PHONE,
        category=Category.LABOUR,
        description="今年订单增加，车间缺少熟练焊工二十名，希望帮助对接职业院校和人社部门的招聘会。",
        public_consent=False,
    )
    values.update(overrides)
    request, _ = file_request(Filing(**values), route=route_by_token(qr_code.token), idempotency_key=uuid.uuid4().hex)
    return request


def assign_and_notify(request: Request, department) -> Notification:
    """What the assignment service does: change the state and queue the message in one
    transaction, commit, then try to deliver."""
    staff = make_user(Role.STAFF)
    record_event(request, Action.CLAIM, Actor.STAFF, actor_user=staff)
    request.department = department
    request.assigned_at = utcnow()
    record_event(request, Action.ASSIGN, Actor.STAFF, actor_user=staff)
    notification = notify.queue(NotificationKind.ASSIGNED, request, department=department, note="请于7个工作日内答复")
    db.session.commit()
    notify.deliver_after_commit()
    return notification


def committed_status(request_id: int) -> str:
    """The request's status as another connection sees it."""
    with db.engine.connect() as connection:
        return connection.scalar(sa.select(Request.__table__.c.status).where(Request.__table__.c.id == request_id))


def count_notifications() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification))


def reload(notification: Notification) -> Notification:
    db.session.expire_all()
    return db.session.get(Notification, notification.id)


def later(minutes: float):
    """Move the clock forward, past the retry delay."""
    return time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=minutes), tick=True)


class RobotServer:
    """A local stand-in for a WeCom/DingTalk group robot: keeps each POSTed JSON body
    and answers with `status` and a robot-style {"errcode": ...} body."""

    def __init__(self, port: int = 0):
        self.received: list[dict] = []
        self.status = 200
        self.errcode = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.received.append(json.loads(body))
                answer = json.dumps({"errcode": server.errcode, "errmsg": "ok" if not server.errcode else "bad"})
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *_args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, kind: str = "assigned") -> list[dict]:
        """What the robot received about one kind of event (filing sends its own)."""
        return [body for body in self.received if body["liaison"]["kind"] == kind]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/cgi-bin/webhook/send?key=robot-key"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def robot(app):
    server = RobotServer()
    app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=server.url)
    yield server
    server.close()


@pytest.fixture
def filed(app):
    return file_a_request()


# --- the outbox is part of the caller's transaction ------------------------------------------


def test_queue_writes_nothing_until_the_caller_commits(app, filed):
    before = count_notifications()
    notify.queue(NotificationKind.REMINDED, filed, deputy=filed.addressed_deputy)
    db.session.rollback()
    notify.deliver_after_commit()  # nothing of the rolled-back unit is sent

    assert count_notifications() == before

    notification = notify.queue(NotificationKind.REMINDED, filed, deputy=filed.addressed_deputy)
    db.session.commit()

    assert count_notifications() == before + 1
    notification = reload(notification)
    assert (notification.status, notification.attempts, notification.recipient_deputy_id) == (
        NotificationStatus.PENDING, 0, filed.addressed_deputy_id)


def test_a_request_not_yet_flushed_gets_its_link_all_the_same(app, filed):
    department = make_department()
    notification = notify.queue(NotificationKind.ASSIGNED, filed, department=department)

    assert notification.payload["link"] == f"https://liaison.example.cn/desk/requests/{filed.id}"
    assert notification.payload["recipient"] == department.name
    assert notification.payload["reference"] == filed.reference
    assert notification.payload["status"] == "submitted"


# --- the log backend ---------------------------------------------------------------------------


def test_the_log_backend_delivers_and_marks_sent_without_the_phone_number(app, filed, caplog):
    notification = notify.queue(NotificationKind.NEW_REQUEST, filed, deputy=filed.addressed_deputy)
    db.session.commit()

    with caplog.at_level(logging.INFO, logger="liaison.notify"):
        notify.deliver_after_commit()

    notification = reload(notification)
    assert notification.status is NotificationStatus.SENT
    assert notification.sent_at is not None and notification.attempts == 1
    assert filed.reference in caplog.text and "陆建国" in caplog.text
    assert "13812345678" not in caplog.text and CONTACT not in caplog.text


# --- the webhook backend ---------------------------------------------------------------------


def test_the_webhook_posts_robot_compatible_json_with_the_reference(app, filed, robot):
    department = make_department(name="太仓市人社局")

    notification = assign_and_notify(filed, department)

    [body] = robot.bodies()
    assert body["msgtype"] == "text"
    assert filed.reference in body["text"]["content"]
    assert "已交办" in body["text"]["content"]  # in the default language, Chinese
    assert f"https://liaison.example.cn/desk/requests/{filed.id}" in body["text"]["content"]
    assert body["liaison"]["reference"] == filed.reference
    assert body["liaison"]["kind"] == "assigned" and body["liaison"]["recipient"] == "太仓市人社局"
    assert reload(notification).status is NotificationStatus.SENT


def test_a_500_keeps_the_state_change_and_the_message_is_sent_once_the_robot_recovers(app, filed, robot):
    robot.status = 500

    notification = assign_and_notify(filed, make_department())

    assert committed_status(filed.id) == Status.ASSIGNED.value
    notification = reload(notification)
    assert (notification.status, notification.attempts) == (NotificationStatus.PENDING, 1)
    assert "500" in notification.last_error
    assert notification.next_attempt_at > utcnow()
    assert notify.deliver_pending() == (0, 0)  # not due yet

    robot.status = 200
    with later(minutes=2):
        assert notify.deliver_pending() == (1, 0)

    notification = reload(notification)
    assert (notification.status, notification.attempts) == (NotificationStatus.SENT, 2)
    assert len(robot.bodies()) == 2


def test_a_refused_connection_keeps_the_state_change_and_a_later_run_delivers(app, filed):
    port = unused_port()
    app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=f"http://127.0.0.1:{port}/robot")

    notification = assign_and_notify(filed, make_department())

    assert committed_status(filed.id) == Status.ASSIGNED.value
    notification = reload(notification)
    assert (notification.status, notification.attempts) == (NotificationStatus.PENDING, 1)
    assert "refused" in notification.last_error.lower()

    robot = RobotServer(port)  # the robot is back
    try:
        with later(minutes=2):
            assert notify.deliver_pending() == (1, 0)
    finally:
        robot.close()
    assert reload(notification).status is NotificationStatus.SENT
    assert robot.bodies()[0]["liaison"]["reference"] == filed.reference


def test_a_robot_error_code_counts_as_a_failure(app, filed, robot):
    robot.errcode = 93000  # WeCom: invalid webhook URL

    notification = assign_and_notify(filed, make_department())

    notification = reload(notification)
    assert notification.status is NotificationStatus.PENDING
    assert "93000" in notification.last_error


def test_after_the_last_attempt_the_message_is_failed_and_left_alone(app, filed, robot):
    app.config["NOTIFY_MAX_ATTEMPTS"] = 3
    robot.status = 503

    notification = assign_and_notify(filed, make_department())  # attempt 1
    with later(minutes=2):  # retry after 1 minute
        assert notify.deliver_pending() == (0, 1)
    with later(minutes=5):  # then after 2 more
        assert notify.deliver_pending() == (0, 1)
    with later(minutes=60 * 24):
        assert notify.deliver_pending() == (0, 0)

    notification = reload(notification)
    assert (notification.status, notification.attempts) == (NotificationStatus.FAILED, 3)
    assert "503" in notification.last_error
    assert len(robot.bodies()) == 3
    assert committed_status(filed.id) == Status.ASSIGNED.value


def test_an_unconfigured_webhook_leaves_the_message_pending_and_raises_nothing(app, filed):
    app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=None)

    notification = assign_and_notify(filed, make_department())

    assert notify.deliver_pending() == (0, 0)
    notification = reload(notification)
    assert (notification.status, notification.attempts) == (NotificationStatus.PENDING, 0)


# --- privacy ---------------------------------------------------------------------------------


def test_the_payload_never_holds_the_contacts_name_or_phone_or_the_uscc(app, robot):
    # An enterprise that types its contact details into the description, where the title comes from.
    filed = file_a_request(description=f"{CONTACT}13812345678 {USCC}：车间缺少熟练焊工二十名")

    notification = assign_and_notify(filed, make_department())

    assert robot.bodies()
    for text in [json.dumps(reload(notification).payload, ensure_ascii=False)] + [
        json.dumps(body, ensure_ascii=False) for body in robot.received
    ]:
        assert "13812345678" not in text and PHONE not in text
        assert CONTACT not in text
        assert USCC not in text
        assert "车间缺少" in text  # the rest of the title is kept


def test_a_phone_typed_in_full_width_never_reaches_the_message(app, robot):
    filed = file_a_request(description="请打１３９－８７６５－４３２１联系：车间缺少熟练焊工二十名")

    notification = assign_and_notify(filed, make_department())

    title = reload(notification).payload["title"]
    assert "４３２１" not in title and "4321" not in title
    assert title.startswith("请打***联系：车间缺少")


# --- flask notify-retry ----------------------------------------------------------------------


def test_notify_retry_sends_what_is_due_and_prints_the_counts(app, filed, runner):
    app.config["NOTIFY_DELIVER_IMMEDIATELY"] = False
    notification = assign_and_notify(filed, make_department())
    assert reload(notification).status is NotificationStatus.PENDING

    result = runner.invoke(args=["notify-retry"])

    assert result.exit_code == 0, result.output
    assert "Sent 1, failed 0." in result.output
    assert reload(notification).status is NotificationStatus.SENT


# --- a filing through the form: the worker's courier sends the deputy's message ----------------


def test_a_filing_through_the_form_reaches_its_deputy_by_the_courier(app, client, robot):
    app.config["NOTIFY_DELIVER_IN_BACKGROUND"] = True  # as in production: sent after the answer
    code = make_qr_code(deputy=make_deputy(name="陆建国"))

    response = client.post(f"/q/{code.token}/file", data=form_data())

    assert response.status_code == 303
    assert notify.courier().wait_until_idle(timeout=30)
    filed = db.session.scalars(sa.select(Request)).one()
    [body] = robot.bodies("new_request")
    assert body["liaison"]["reference"] == filed.reference and body["liaison"]["recipient"] == "陆建国"
    assert body["text"]["content"].startswith("@陆建国 ")
    assert body["liaison"]["link"] == f"https://liaison.example.cn/desk/requests/{filed.id}"
    [notification] = db.session.scalars(sa.select(Notification)).all()
    assert (notification.recipient_deputy_id, notification.status) == (code.deputy_id, NotificationStatus.SENT)


def test_a_filing_whose_worker_dies_before_its_courier_sends_goes_with_the_retry_job(
        app, client, robot, runner, monkeypatch):
    app.config["NOTIFY_DELIVER_IN_BACKGROUND"] = True
    monkeypatch.setattr(notify.Courier, "hand_over", lambda self, ids: None)  # killed right after answering
    code = make_qr_code(deputy=make_deputy(name="陆建国"))

    assert client.post(f"/q/{code.token}/file", data=form_data()).status_code == 303

    assert robot.bodies("new_request") == []
    with db.engine.connect() as connection:  # committed with the request, in its transaction
        assert connection.scalar(sa.select(Notification.__table__.c.status)) == NotificationStatus.PENDING.value
    result = runner.invoke(args=["notify-retry"])
    assert "Sent 1, failed 0." in result.output
    [body] = robot.bodies("new_request")
    assert body["liaison"]["recipient"] == "陆建国"
