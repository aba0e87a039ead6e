"""Delivering the outbox by its channels: SMS through a gateway (SMS_BACKEND=http), messages to a
place's WeCom group robot, and the installation-wide notifier, each played by a local HTTP
server that records what our code sent and answers as told.

A busy channel (429, "too many") is a wait that spends no attempt; a refused number fails at
once; whatever fails, the state change the message reports stays committed.
"""

import json
import socket
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from liaison_app.extensions import db
from liaison_app.models import (
    Level,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    Outcome,
    Rating,
    Request,
    Robot,
    Role,
    utcnow,
)
from liaison_app.services import notify, robots
from liaison_app.services import workflow as wf
from liaison_app.workflow import Action, Status
from tests.factories import (
    make_department,
    make_deputy,
    make_jurisdiction,
    make_request,
    make_robot,
    make_station,
    make_user,
)
from tests.stand_in import StandIn

CONTACT_PHONE = "+8613912345678"
TEMPLATES = {
    "assigned": {"code": "SMS_480003", "params": ["reference", "department", "due", "link"]},
    "reopened": {"code": "SMS_480005", "params": ["reference", "link"]},
    "new_request": {"code": "SMS_480007", "params": ["reference", "jurisdiction", "link"]},
    "to_acknowledge": {"code": "SMS_480012", "params": ["reference", "link"]},
    "generic": {"code": "SMS_480011", "params": ["reference", "link"]},
}


@pytest.fixture
def gateway(app):
    """The SMS gateway of SMS_BACKEND=http: it answers {"ok": true} unless told otherwise."""
    with StandIn({"ok": True}) as server:
        app.config.update(SMS_BACKEND="http", SMS_HTTP_URL=server.url("/sms/send"), SMS_TEMPLATES=TEMPLATES,
                          SMS_SIGN_NAME="码上找代表")
        yield server


@pytest.fixture
def wecom(app):
    """A WeCom group robot: {"errcode": 0} unless told otherwise."""
    with StandIn({"errcode": 0, "errmsg": "ok"}) as server:
        yield server


@pytest.fixture
def fallback(app):
    """The installation-wide notifier (NOTIFIER=webhook)."""
    with StandIn({"errcode": 0, "errmsg": "ok"}) as server:
        app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=server.url("/cgi-bin/webhook/send?key=fallback"))
        yield server


class Place:
    """沙溪镇 with its station (顾振华 and 刘春梅 with accounts and mobiles, 陈立新 without an
    account), its staff and a department with its officer."""

    def __init__(self, robot_url: str):
        county = make_jurisdiction(name="太仓市", level=Level.COUNTY)
        self.township = make_jurisdiction(name="沙溪镇", level=Level.TOWNSHIP, parent=county)
        self.station = make_station(name="沙溪镇代表联络站", jurisdiction=self.township)
        self.deputy = make_deputy(self.station, name="顾振华")
        self.deputy_user = make_user(Role.DEPUTY, deputy=self.deputy, display_name="顾振华", phone="+8613800000001")
        self.colleague = make_deputy(self.station, name="刘春梅")
        self.colleague_user = make_user(Role.DEPUTY, deputy=self.colleague, display_name="刘春梅",
                                        phone="+8613800000002")
        make_deputy(self.station, name="陈立新")
        self.staff = make_user(Role.STAFF, jurisdiction=self.township, display_name="镇工作人员")
        self.department = make_department(name="沙溪镇住建局", jurisdiction=self.township)
        self.officer = make_user(Role.UNIT, department=self.department, display_name="住建局经办人",
                                 phone="+8613800000005")
        self.robot_url = robot_url
        self.admin = make_user(Role.ADMIN)

    def robot(self, **place) -> Robot:
        return make_robot(name="联络站群", webhook_url=self.robot_url, **(place or {"station": self.station}))

    def request(self, **overrides) -> Request:
        values = dict(station=self.station, contact_phone=CONTACT_PHONE, sms_opt_in=True)
        return make_request(**{**values, **overrides})

    def assigned(self, req: Request) -> Request:
        wf.claim_request(req, actor=self.deputy_user)
        req = fresh(req)
        wf.assign_request(req, actor=self.deputy_user, version=req.version, department=self.department)
        return fresh(req)


@pytest.fixture
def place(app, wecom):
    return Place(wecom.url("/cgi-bin/webhook/send?key=station-robot-key"))


def fresh(req: Request) -> Request:
    db.session.expire_all()
    return db.session.get(Request, req.id)


def messages(channel: NotificationChannel, kind: NotificationKind | None = None) -> list[Notification]:
    db.session.expire_all()
    query = sa.select(Notification).where(Notification.channel == channel).order_by(Notification.id)
    return list(db.session.scalars(query.where(Notification.kind == kind) if kind else query))


def enterprise_sms(kind: NotificationKind) -> Notification:
    [message] = [m for m in messages(NotificationChannel.SMS, kind) if m.recipient_phone == CONTACT_PHONE]
    return message


def later(minutes: float):
    return time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=minutes), tick=True)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hold_delivery(app) -> None:
    """Leave what the services write in the outbox, for deliver_pending to take together."""
    app.config["NOTIFY_DELIVER_IMMEDIATELY"] = False


# --- SMS --------------------------------------------------------------------------------------------


def test_an_sms_reaches_the_gateway_with_its_template_and_parameters(app, place, gateway):
    req = place.request()
    hold_delivery(app)
    req = place.assigned(req)

    # The claim's SMS to the enterprise; the assignment's two, and its message to the notifier
    # (the department has no robot).
    assert notify.deliver_pending() == (4, 0)

    [claimed, to_enterprise] = [body for body in gateway.json_bodies() if body["phone"] == CONTACT_PHONE]
    [to_officer] = [body for body in gateway.json_bodies() if body["phone"] == "+8613800000005"]
    assert claimed["template"] == "SMS_480011"  # no template of its own: the generic one
    assert to_enterprise["template"] == "SMS_480003"
    assert to_enterprise["params"] == {"reference": req.reference, "department": "沙溪镇住建局",
                                       "due": req.due_on.isoformat(),
                                       "link": f"https://liaison.example.cn/t/{req.tracking_token}"}
    assert to_enterprise["text"].startswith("【码上找代表】") and req.reference in to_enterprise["text"]
    assert "/desk" not in json.dumps(to_enterprise)
    assert to_officer["template"] == "SMS_480012"
    assert to_officer["params"] == {"reference": req.reference,
                                    "link": f"https://liaison.example.cn/desk/requests/{req.id}"}
    message = enterprise_sms(NotificationKind.ASSIGNED)
    assert (message.status, message.attempts, message.last_error) == (NotificationStatus.SENT, 1, None)


def test_a_busy_gateway_429_makes_the_sms_wait_without_spending_an_attempt(app, place, gateway):
    req = place.request()
    hold_delivery(app)
    wf.claim_request(req, actor=place.deputy_user)
    gateway.answer({"message": "too many requests"}, status=429)

    assert notify.deliver_pending() == (0, 0)  # neither sent nor failed: it waits

    message = enterprise_sms(NotificationKind.CLAIMED)
    assert (message.status, message.attempts) == (NotificationStatus.PENDING, 0)
    assert "429" in message.last_error
    assert message.next_attempt_at > utcnow() + timedelta(seconds=30)
    assert notify.deliver_pending() == (0, 0)  # not due yet
    assert len(gateway.received) == 1

    gateway.answer({"ok": True})
    with later(minutes=2):
        assert notify.deliver_pending() == (1, 0)
    message = enterprise_sms(NotificationKind.CLAIMED)
    assert (message.status, message.attempts) == (NotificationStatus.SENT, 1)


def test_a_refused_number_400_fails_the_sms_at_once_with_the_reason(app, place, gateway):
    req = place.request()
    hold_delivery(app)
    wf.claim_request(req, actor=place.deputy_user)
    gateway.answer({"message": "invalid mobile number"}, status=400)

    assert notify.deliver_pending() == (0, 1)

    message = enterprise_sms(NotificationKind.CLAIMED)
    assert (message.status, message.attempts) == (NotificationStatus.FAILED, 1)
    assert "HTTP 400" in message.last_error and "invalid mobile number" in message.last_error
    assert "13912345678" not in message.last_error
    with later(minutes=60 * 24):
        assert notify.deliver_pending() == (0, 0)  # never tried again
    assert len(gateway.received) == 1


def test_a_gateway_error_500_is_retried_later(app, place, gateway):
    req = place.request()
    hold_delivery(app)
    wf.claim_request(req, actor=place.deputy_user)
    gateway.answer({"message": "internal error"}, status=500)

    assert notify.deliver_pending() == (0, 1)

    message = enterprise_sms(NotificationKind.CLAIMED)
    assert (message.status, message.attempts) == (NotificationStatus.PENDING, 1)
    assert "500" in message.last_error and message.next_attempt_at > utcnow()
    gateway.answer({"ok": True})
    with later(minutes=2):
        assert notify.deliver_pending() == (1, 0)
    assert enterprise_sms(NotificationKind.CLAIMED).status is NotificationStatus.SENT


# --- group robots -------------------------------------------------------------------------------------


def test_a_robots_message_names_the_people_meant_there(app, place, wecom):
    place.robot()
    req = place.request()  # filed at the station: its three deputies are meant

    notify.announce("reminded", req, note="请尽快认领")
    db.session.commit()
    notify.deliver_after_commit()

    [body] = wecom.json_bodies()
    # 陈立新 has no account, so no mobile on file: named in the text; the others by their mobiles.
    assert body["text"]["content"].startswith("@陈立新 【")
    assert req.reference in body["text"]["content"]
    assert body["text"]["mentioned_mobile_list"] == ["13800000001", "13800000002"]
    [message] = messages(NotificationChannel.ROBOT)
    assert (message.status, message.attempts) == (NotificationStatus.SENT, 1)


def test_robot_messages_due_together_go_in_one_digest_naming_everyone_meant(app, place, wecom):
    place.robot()
    first = place.request(deputy=place.deputy)
    second = place.request(deputy=place.colleague)
    for req in (first, second):
        notify.announce("filed_by_deputy", fresh(req))  # each names (@) its own deputy
    db.session.commit()
    notify.forget_queued()  # not sent at once: both are due when the retry job runs

    notify.deliver_pending()

    [body] = wecom.json_bodies()
    content = body["text"]["content"]
    assert content.startswith("【2条新消息】")
    assert first.reference in content and second.reference in content
    assert sorted(body["text"]["mentioned_mobile_list"]) == ["13800000001", "13800000002"]
    assert {(m.status, m.attempts) for m in messages(NotificationChannel.ROBOT)} == {(NotificationStatus.SENT, 1)}


def test_the_robots_too_many_answer_makes_its_messages_wait_without_spending_attempts(app, place, wecom):
    robot = place.robot()
    for _ in range(2):
        notify.announce("reminded", place.request())
    db.session.commit()
    notify.forget_queued()
    wecom.answer({"errcode": 45009, "errmsg": "api freq out of limit"})

    notify.deliver_pending()

    waiting = messages(NotificationChannel.ROBOT)
    assert len(wecom.received) == 1  # one post for both
    assert {(m.status, m.attempts) for m in waiting} == {(NotificationStatus.PENDING, 0)}
    assert all(m.next_attempt_at > utcnow() + timedelta(seconds=30) for m in waiting)
    assert db.session.get(Robot, robot.id).last_error is None  # being busy is no fault of the address

    wecom.answer({"errcode": 0, "errmsg": "ok"})
    with later(minutes=2):
        notify.deliver_pending()
    assert {(m.status, m.attempts) for m in messages(NotificationChannel.ROBOT)} == {(NotificationStatus.SENT, 1)}
    assert len(wecom.received) == 2


def test_a_robots_refusal_is_kept_for_the_admin_and_cleared_once_it_posts_again(app, place, wecom):
    robot = place.robot()
    notify.announce("reminded", place.request())
    db.session.commit()
    wecom.answer({"errcode": 93000, "errmsg": "invalid webhook url"})

    notify.deliver_after_commit()

    [message] = messages(NotificationChannel.ROBOT)
    assert (message.status, message.attempts) == (NotificationStatus.PENDING, 1)
    assert "93000" in message.last_error
    assert "93000" in db.session.get(Robot, robot.id).last_error
    assert "station-robot-key" not in message.last_error

    wecom.answer({"errcode": 0, "errmsg": "ok"})
    with later(minutes=2):
        assert notify.deliver_pending() == (1, 0)
    db.session.expire_all()
    assert db.session.get(Robot, robot.id).last_error is None


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_the_messages_of_a_robot_switched_off_or_deleted_go_to_the_installations_notifier(
        app, place, wecom, fallback, change):
    robot = place.robot()
    req = place.request()
    notify.announce("reminded", req)
    db.session.commit()
    notify.forget_queued()
    assert len(messages(NotificationChannel.ROBOT)) == 1
    if change == "deactivated":
        robot.active = False
        db.session.commit()
    else:
        robots.delete_robot(robot, actor=place.admin)

    # The robot's message, the one to the notifier for the township's staff, and the deputies' SMS.
    assert notify.deliver_pending() == (4, 0)

    assert wecom.received == []
    about = [body for body in fallback.json_bodies() if "13800000001" in body["text"].get("mentioned_mobile_list", [])]
    [body] = about
    assert req.reference in body["text"]["content"] and body["text"]["content"].startswith("@陈立新 ")
    assert sorted(body["text"]["mentioned_mobile_list"]) == ["13800000001", "13800000002"]
    assert messages(NotificationChannel.ROBOT)[0].status is NotificationStatus.SENT


# --- whatever fails, the change stays ------------------------------------------------------------------


def test_the_state_change_commits_even_when_every_channel_fails(app, place, wecom, gateway):
    place.robot(department=place.department)
    app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=f"http://127.0.0.1:{unused_port()}/robot")
    req = place.assigned(place.request())
    wf.acknowledge(req, actor=place.officer, version=req.version)
    req = fresh(req)
    wf.respond(req, actor=place.officer, version=req.version, outcome=Outcome.SOLVED, text="已协调")
    req = fresh(req)
    wf.accept_answer(req, actor=place.deputy_user, version=req.version)
    db.session.execute(sa.delete(Notification))
    db.session.commit()
    gateway.received.clear()
    wecom.received.clear()
    gateway.answer({"message": "internal error"}, status=500)
    wecom.answer({"errcode": 93000, "errmsg": "invalid webhook url"})

    # The enterprise is not satisfied: the claimant, the township's staff, the department and the
    # enterprise are told, by SMS, the department's robot and the notifier; every one fails.
    req = fresh(req)
    event = wf.rate_request(req, version=req.version, rating=Rating.UNSATISFIED, comment="还没解决")

    with db.engine.connect() as connection:
        table = Request.__table__
        assert connection.scalar(sa.select(table.c.status).where(table.c.id == req.id)) == Status.IN_PROGRESS
    assert event.action is Action.REOPEN_UNSATISFIED and event.id is not None
    outbox = [m for m in messages(NotificationChannel.SMS) + messages(NotificationChannel.ROBOT)
              + messages(NotificationChannel.NOTIFIER)]
    assert {m.channel for m in outbox} == {NotificationChannel.SMS, NotificationChannel.ROBOT,
                                           NotificationChannel.NOTIFIER}
    assert {m.recipient_phone for m in outbox if m.channel is NotificationChannel.SMS} == {
        CONTACT_PHONE, "+8613800000001", "+8613800000005"}
    for message in outbox:
        assert (message.status, message.attempts) == (NotificationStatus.PENDING, 1), message
        assert message.last_error and message.next_attempt_at > utcnow()
    assert len(gateway.received) == 3 and len(wecom.received) == 1
    assert {m.recipient_user_id for m in messages(NotificationChannel.INBOX)} == {
        place.deputy_user.id, place.staff.id, place.officer.id}


def test_the_messages_of_a_robot_switched_off_wait_while_the_notifier_is_not_set_up(app, place, wecom):
    robot = place.robot()
    notify.announce("reminded", place.request())
    db.session.commit()
    notify.forget_queued()
    robot.active = False
    db.session.commit()
    app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=None)

    notify.deliver_pending()

    [message] = messages(NotificationChannel.ROBOT)
    assert (message.status, message.attempts) == (NotificationStatus.PENDING, 0)
    assert "not configured" in message.last_error and wecom.received == []
