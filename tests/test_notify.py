"""The notification outbox: written with the state change, delivered after the commit,
retried with a growing delay, never at the cost of the change, never with contact details.

Here through the installation-wide notifier (NOTIFIER=log|webhook), which speaks for the places
without a group robot; tests/test_routing.py says who is told, tests/test_outbox_channels.py
covers the robots and SMS."""

import json
import logging
import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from liaison_app.extensions import db
from liaison_app.models import (
    Category,
    Notification,
    NotificationChannel,
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
from tests.stand_in import StandIn
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
    """What the assignment service does: change the state and write the messages in one
    transaction, commit, then try to deliver. Returns the message to the installation-wide
    notifier (the department has no group robot); its officer 张卫 also gets one in 消息."""
    staff = make_user(Role.STAFF)
    make_user(Role.UNIT, department=department, display_name="张卫")
    record_event(request, Action.CLAIM, Actor.STAFF, actor_user=staff)
    request.department = department
    request.assigned_at = utcnow()
    record_event(request, Action.ASSIGN, Actor.STAFF, actor_user=staff)
    notify.announce("assigned", request, note="请于7个工作日内答复")
    db.session.commit()
    notify.deliver_after_commit()
    return message(NotificationKind.ASSIGNED)


def message(kind: NotificationKind, channel: NotificationChannel = NotificationChannel.NOTIFIER) -> Notification:
    """The one message of this kind by this channel."""
    db.session.expire_all()
    return db.session.scalars(sa.select(Notification).where(Notification.kind == kind,
                                                            Notification.channel == channel)).one()


def committed_status(request_id: int) -> str:
    """The request's status as another connection sees it."""
    with db.engine.connect() as connection:
        return connection.scalar(sa.select(Request.__table__.c.status).where(Request.__table__.c.id == request_id))


def count_notifications() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification))


def reload(notification: Notification) -> Notification:
    db.session.expire_all()
    return db.session.get(Notification, notification.id)


def fresh(request: Request) -> Request:
    db.session.expire_all()
    return db.session.get(Request, request.id)


def later(minutes: float):
    """Move the clock forward, past the retry delay."""
    return time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=minutes), tick=True)


ROBOT_PATH = "/cgi-bin/webhook/send?key=robot-key"


def robot_stand_in(port: int = 0) -> StandIn:
    """A WeCom/DingTalk group robot: answers {"errcode": 0} unless told otherwise."""
    return StandIn({"errcode": 0, "errmsg": "ok"}, port=port)


def bodies(robot: StandIn, kind: str = "assigned") -> list[dict]:
    """What the robot received about one kind of event (filing sends its own)."""
    return [body for body in robot.json_bodies() if body["liaison"]["kind"] == kind]


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def robot(app):
    with robot_stand_in() as server:
        app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=server.url(ROBOT_PATH))
        yield server


@pytest.fixture
def filed(app):
    return file_a_request()


# --- the outbox is part of the caller's transaction ------------------------------------------


def test_nothing_is_written_until_the_caller_commits_and_a_rollback_writes_nothing(app, filed, caplog):
    before = count_notifications()
    notify.announce("reminded", fresh(filed), note="请尽快认领")
    db.session.rollback()
    with caplog.at_level(logging.INFO, logger="liaison.notify"):
        notify.deliver_after_commit()  # nothing of the rolled-back unit is sent

    assert count_notifications() == before
    assert "notify reminded" not in caplog.text

    notify.announce("reminded", fresh(filed), note="请尽快认领")
    with db.engine.connect() as connection:  # another connection sees nothing before the commit
        assert connection.scalar(sa.select(sa.func.count()).select_from(Notification.__table__)) == before
    db.session.commit()

    assert count_notifications() == before + 1
    notification = message(NotificationKind.REMINDED)
    assert (notification.status, notification.attempts, notification.recipient_deputy_id) == (
        NotificationStatus.PENDING, 0, filed.addressed_deputy_id)
    assert notification.payload["recipient"] == "陆建国"


def test_a_change_not_yet_flushed_is_announced_as_it_will_commit(app, filed):
    req = fresh(filed)
    department = make_department(name="太仓市人社局")
    officer = make_user(Role.UNIT, department=department, display_name="张卫")
    req.department = department  # not flushed yet: its department_id is still empty

    notify.announce("assigned", req)

    notification = message(NotificationKind.ASSIGNED, NotificationChannel.INBOX)
    assert notification.recipient_user_id == officer.id
    assert notification.payload["link"] == f"https://liaison.example.cn/desk/requests/{filed.id}"
    assert notification.payload["department"] == "太仓市人社局"
    assert notification.payload["reference"] == filed.reference
    assert notification.payload["status"] == "submitted"


# --- the log backend ---------------------------------------------------------------------------


def test_the_log_backend_delivers_and_marks_sent_without_the_phone_number(app, caplog):
    with caplog.at_level(logging.INFO, logger="liaison.notify"):
        filed = file_a_request()

    notification = message(NotificationKind.NEW_REQUEST)
    assert notification.status is NotificationStatus.SENT
    assert notification.sent_at is not None and notification.attempts == 1
    assert filed.reference in caplog.text and "陆建国" in caplog.text
    assert "13812345678" not in caplog.text and CONTACT not in caplog.text


# --- the webhook backend ---------------------------------------------------------------------


def test_the_webhook_posts_robot_compatible_json_with_the_reference(app, filed, robot):
    department = make_department(name="太仓市人社局")

    notification = assign_and_notify(filed, department)

    [body] = bodies(robot)
    assert body["msgtype"] == "text"
    assert filed.reference in body["text"]["content"]
    assert "已交办" in body["text"]["content"]  # in the default language, Chinese
    assert f"https://liaison.example.cn/desk/requests/{filed.id}" in body["text"]["content"]
    assert body["liaison"]["reference"] == filed.reference
    assert body["liaison"]["kind"] == "assigned" and body["liaison"]["recipient"] == "张卫"  # its officer
    assert body["liaison"]["department"] == "太仓市人社局"
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
    assert len(bodies(robot)) == 2


def test_a_refused_connection_keeps_the_state_change_and_a_later_run_delivers(app, filed):
    port = unused_port()
    app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=f"http://127.0.0.1:{port}/robot")

    notification = assign_and_notify(filed, make_department())

    assert committed_status(filed.id) == Status.ASSIGNED.value
    notification = reload(notification)
    assert (notification.status, notification.attempts) == (NotificationStatus.PENDING, 1)
    assert "refused" in notification.last_error.lower()

    with robot_stand_in(port) as robot:  # the robot is back
        with later(minutes=2):
            assert notify.deliver_pending() == (1, 0)
    assert reload(notification).status is NotificationStatus.SENT
    assert bodies(robot)[0]["liaison"]["reference"] == filed.reference


def test_a_robot_error_code_counts_as_a_failure(app, filed, robot):
    robot.answer({"errcode": 93000, "errmsg": "bad"})  # WeCom: invalid webhook URL

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
    assert len(bodies(robot)) == 3
    assert committed_status(filed.id) == Status.ASSIGNED.value


def test_an_unconfigured_webhook_keeps_the_message_waiting_without_spending_its_attempts(app, filed):
    app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=None)

    notification = assign_and_notify(filed, make_department())

    assert committed_status(filed.id) == Status.ASSIGNED.value
    assert (notification.status, notification.attempts) == (NotificationStatus.PENDING, 0)
    assert "not configured" in notification.last_error
    assert notification.next_attempt_at > utcnow()
    assert notify.deliver_pending() == (0, 0)  # not due yet
    with later(minutes=2):
        notify.deliver_pending()  # due, and still not configured
    assert (reload(notification).status, reload(notification).attempts) == (NotificationStatus.PENDING, 0)

    with robot_stand_in() as server:  # the admin sets the webhook up
        app.config.update(NOTIFY_WEBHOOK_URL=server.url(ROBOT_PATH))
        with later(minutes=5):
            assert notify.deliver_pending() == (1, 0)
    assert (reload(notification).status, reload(notification).attempts) == (NotificationStatus.SENT, 1)
    assert bodies(server)[0]["liaison"]["reference"] == filed.reference


# --- privacy ---------------------------------------------------------------------------------


def test_the_payload_never_holds_the_contacts_name_or_phone_or_the_uscc(app, robot):
    # An enterprise that types its contact details into the description, where the title comes from.
    # It asked for SMS: the enterprise's own messages say no more than the others.
    filed = file_a_request(description=f"{CONTACT}13812345678 {USCC}：车间缺少熟练焊工二十名", sms_opt_in=True)

    assign_and_notify(filed, make_department())

    payloads = db.session.scalars(sa.select(Notification.payload)).all()
    assert {NotificationChannel.INBOX, NotificationChannel.NOTIFIER, NotificationChannel.SMS} <= set(
        db.session.scalars(sa.select(Notification.channel)))
    assert len(robot.received) == 2  # the filing's and the assignment's
    for text in [json.dumps(payload, ensure_ascii=False) for payload in payloads] + [
        json.dumps(body, ensure_ascii=False) for body in robot.json_bodies()
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


def test_notify_worker_sends_what_the_app_only_wrote_and_stops_when_told(app, runner):
    app.config["NOTIFY_DELIVER_IMMEDIATELY"] = False  # the app's workers only write (deploy/)
    filed = [file_a_request() for _ in range(3)]
    pending = sa.select(sa.func.count()).select_from(Notification).where(
        Notification.status == NotificationStatus.PENDING, Notification.request_id.in_([r.id for r in filed]))
    assert db.session.scalar(pending) == 3  # each filing's message to its deputy, not sent yet

    result = runner.invoke(args=["notify-worker", "--max-seconds", "1", "--idle-seconds", "0.1"])

    assert result.exit_code == 0, result.output
    assert "Sent 3, failed 0." in result.output
    db.session.expire_all()
    assert db.session.scalar(pending) == 0


# --- a filing through the form: the worker's courier sends the deputy's message ----------------


def test_a_filing_through_the_form_reaches_its_deputy_by_the_courier(app, client, robot):
    app.config["NOTIFY_DELIVER_IN_BACKGROUND"] = True  # as in production: sent after the answer
    code = make_qr_code(deputy=make_deputy(name="陆建国"))

    response = client.post(f"/q/{code.token}/file", data=form_data())

    assert response.status_code == 303
    assert notify.courier().wait_until_idle(timeout=30)
    filed = db.session.scalars(sa.select(Request)).one()
    [body] = bodies(robot, "new_request")
    assert body["liaison"]["reference"] == filed.reference and body["liaison"]["recipient"] == "陆建国"
    assert body["text"]["content"].startswith("@陆建国 ")
    assert body["liaison"]["link"] == f"https://liaison.example.cn/desk/requests/{filed.id}"
    notification = message(NotificationKind.NEW_REQUEST)
    assert (notification.recipient_deputy_id, notification.status) == (code.deputy_id, NotificationStatus.SENT)


def test_a_filing_whose_worker_dies_before_its_courier_sends_goes_with_the_retry_job(
        app, client, robot, runner, monkeypatch):
    app.config["NOTIFY_DELIVER_IN_BACKGROUND"] = True
    monkeypatch.setattr(notify.Courier, "hand_over", lambda self, ids: None)  # killed right after answering
    code = make_qr_code(deputy=make_deputy(name="陆建国"))

    assert client.post(f"/q/{code.token}/file", data=form_data()).status_code == 303

    assert bodies(robot, "new_request") == []
    with db.engine.connect() as connection:  # committed with the request, in its transaction
        table = Notification.__table__
        assert connection.scalar(sa.select(table.c.status).where(
            table.c.channel == NotificationChannel.NOTIFIER)) == NotificationStatus.PENDING.value
    result = runner.invoke(args=["notify-retry"])
    assert "Sent 1, failed 0." in result.output
    [body] = bodies(robot, "new_request")
    assert body["liaison"]["recipient"] == "陆建国"
