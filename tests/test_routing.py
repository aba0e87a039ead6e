"""Who hears what (services/routing.py ROUTES): for each event, exactly who gets a message in
their 消息 list, who an SMS (with which template), which group robot a message naming (@)
whom, whether the installation-wide notifier speaks, and whether the enterprise gets an SMS.

One small world: 太仓市 (county) > 沙溪镇 (township); the township's station with two deputies,
顾振华 (an account and a mobile) and 刘春梅 (no account); a county deputy; staff of both levels;
a department of the township with its officer; a group robot at the station, each level's
office and the department; an enterprise whose contact gave a mobile and asked for SMS.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest
import sqlalchemy as sa
import time_machine

from liaison_app.extensions import db
from liaison_app.models import (
    Category,
    Level,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationPreference,
    NotificationStatus,
    Outcome,
    Rating,
    Request,
    RequestKind,
    Role,
)
from liaison_app.services import notify, routing
from liaison_app.services import workflow as wf
from liaison_app.services.requests import Filing, file_request, route_by_token
from liaison_app.workdays import today_local
from tests.factories import (
    make_department,
    make_deputy,
    make_jurisdiction,
    make_qr_code,
    make_request,
    make_robot,
    make_station,
    make_user,
    valid_uscc,
)

CONTACT_PHONE = "+8613912345678"
ENTERPRISE = "企业"  # how the tables below name the enterprise's contact
NOTIFIER = "notifier"  # the installation-wide fallback, in the tables below


@pytest.fixture
def app_config():
    # The outbox is what is measured: nothing is sent (and no robot is called) meanwhile.
    return {"NOTIFY_DELIVER_IMMEDIATELY": False}


def fresh(req) -> Request:
    db.session.expire_all()
    return db.session.get(Request, req.id)


class Town:
    def __init__(self):
        self.county = make_jurisdiction(name="太仓市", level=Level.COUNTY)
        self.township = make_jurisdiction(name="沙溪镇", level=Level.TOWNSHIP, parent=self.county)
        self.station = make_station(name="沙溪镇代表联络站", jurisdiction=self.township)
        self.deputy = make_deputy(self.station, name="顾振华")
        self.deputy_user = make_user(Role.DEPUTY, deputy=self.deputy, display_name="顾振华", phone="+8613800000001")
        self.second_deputy = make_deputy(self.station, name="刘春梅")  # no account
        self.county_deputy = make_deputy(make_station(name="太仓市代表联络站", jurisdiction=self.county), name="钱国强")
        self.county_deputy_user = make_user(Role.DEPUTY, deputy=self.county_deputy, display_name="钱国强",
                                            phone="+8613800000002")
        self.township_staff = make_user(Role.STAFF, jurisdiction=self.township, display_name="镇工作人员",
                                        phone="+8613800000003")
        self.county_staff = make_user(Role.STAFF, jurisdiction=self.county, display_name="县工作人员",
                                      phone="+8613800000004")
        self.department = make_department(name="沙溪镇住建局", jurisdiction=self.township)
        self.officer = make_user(Role.UNIT, department=self.department, display_name="住建局经办人",
                                 phone="+8613800000005")
        self.robots = [make_robot(name="联络站群", station=self.station),
                       make_robot(name="镇人大群", jurisdiction=self.township),
                       make_robot(name="县人大群", jurisdiction=self.county),
                       make_robot(name="住建局群", department=self.department)]
        self.station_code = make_qr_code(station=self.station)
        self.deputy_code = make_qr_code(deputy=self.deputy)
        self.who = {user.phone: user.display_name for user in (
            self.deputy_user, self.county_deputy_user, self.township_staff, self.county_staff, self.officer)}
        self.who[CONTACT_PHONE] = ENTERPRISE

    # --- bringing a request to the moment of the event ---

    def file(self, code=None, **overrides) -> Request:
        values = dict(kind=RequestKind.REQUEST, enterprise_name="太仓市恒丰精密机械有限公司", uscc=valid_uscc(),
                      contact_name="王海燕", contact_phone=CONTACT_PHONE, category=Category.LABOUR,
                      description="车间缺少熟练焊工二十名，希望帮助对接职业院校。", public_consent=False,
                      sms_opt_in=True)
        values.update(overrides)
        req, _ = file_request(Filing(**values), route=route_by_token((code or self.station_code).token),
                              idempotency_key=uuid.uuid4().hex)
        return fresh(req)

    def claimed(self) -> Request:
        req = self.file()
        wf.claim_request(req, actor=self.deputy_user)
        return fresh(req)

    def assigned(self) -> Request:
        req = self.claimed()
        wf.assign_request(req, actor=self.deputy_user, version=req.version, department=self.department)
        return fresh(req)

    def in_progress(self) -> Request:
        req = self.assigned()
        wf.acknowledge(req, actor=self.officer, version=req.version)
        return fresh(req)

    def replied(self) -> Request:
        req = self.in_progress()
        wf.respond(req, actor=self.officer, version=req.version, outcome=Outcome.SOLVED, text="已对接招聘会")
        return fresh(req)

    def awaiting_rating(self) -> Request:
        req = self.replied()
        wf.accept_answer(req, actor=self.deputy_user, version=req.version)
        return fresh(req)

    def closed(self) -> Request:
        req = self.awaiting_rating()
        wf.rate_request(req, version=req.version, rating=Rating.SATISFIED)
        return fresh(req)

    def escalated(self) -> Request:
        req = self.claimed()
        wf.escalate_request(req, actor=self.deputy_user, version=req.version, reason="需县级协调")
        return fresh(req)

    def clear_outbox(self) -> None:
        """Forget the messages of the steps before the event (the enterprise's daily SMS too)."""
        db.session.execute(sa.delete(Notification))
        db.session.commit()

    # --- what the outbox says ---

    def told(self, kind: NotificationKind) -> dict:
        """The messages of `kind`: the names whose 消息 list has one; "name:template" per SMS;
        per group (a robot's name, or NOTIFIER) "@name" for each person named (@) by their
        mobile and "name" for each person named in the text only."""
        db.session.expire_all()
        rows = db.session.scalars(sa.select(Notification).where(Notification.kind == kind)
                                  .order_by(Notification.id)).all()
        found = {"inbox": set(), "sms": set(), "groups": {}}
        for row in rows:
            if row.channel is NotificationChannel.INBOX:
                assert (row.status, row.read_at) == (NotificationStatus.SENT, None)
                assert row.recipient_user.display_name not in found["inbox"], "told twice"
                found["inbox"].add(row.recipient_user.display_name)
                continue
            assert (row.status, row.attempts) == (NotificationStatus.PENDING, 0)
            if row.channel is NotificationChannel.SMS:
                found["sms"].add(f"{self.who[row.recipient_phone]}:{row.payload['sms']['kind']}")
                continue
            group = row.robot.name if row.channel is NotificationChannel.ROBOT else NOTIFIER
            assert group not in found["groups"], "one message per robot, one to the notifier"
            named = {name for name in row.payload["recipient"].split("、") if name}
            found["groups"][group] = {f"@{self.who[phone]}" for phone in row.payload["mentions"]} | named
        return found

    def kinds_written(self) -> set:
        return set(db.session.scalars(sa.select(Notification.kind).distinct()))


@pytest.fixture
def town(app):
    return Town()


def told(inbox=(), sms=(), groups=None) -> dict:
    return {"inbox": set(inbox), "sms": set(sms), "groups": {name: set(who) for name, who in (groups or {}).items()}}


# --- the events, each brought about the way the desk brings it about ------------------------------------


def filed_by_station(town):
    town.file(town.station_code)


def filed_by_deputy(town):
    town.file(town.deputy_code)


def recorded(town):
    # Raised on a visit and claimed there by the deputy (services/visits.py announces it so).
    req = town.claimed()
    town.clear_outbox()
    notify.announce("recorded", req)
    db.session.commit()


def claimed(town):
    req = town.file()
    town.clear_outbox()
    wf.claim_request(req, actor=town.deputy_user)


def escalated(town):
    req = town.claimed()
    town.clear_outbox()
    wf.escalate_request(req, actor=town.deputy_user, version=req.version, reason="需县级协调")


def sent_down(town):
    req = town.escalated()
    town.clear_outbox()
    wf.send_down(req, actor=town.county_staff, version=req.version, reason="属镇级事权")


def assigned(town):
    req = town.claimed()
    town.clear_outbox()
    wf.assign_request(req, actor=town.deputy_user, version=req.version, department=town.department)


def returned(town):
    req = town.assigned()
    town.clear_outbox()
    wf.return_request(req, actor=town.officer, version=req.version, reason="不属我局职责")


def sent_back(town):
    req = town.replied()
    town.clear_outbox()
    wf.send_back(req, actor=town.deputy_user, version=req.version, reason="答复不具体")


def responded(town):
    req = town.in_progress()
    town.clear_outbox()
    wf.respond(req, actor=town.officer, version=req.version, outcome=Outcome.SOLVED, text="已对接招聘会")


def extension_requested(town):
    req = town.in_progress()
    town.clear_outbox()
    wf.request_extension(req, actor=town.officer, version=req.version, until=req.due_on + timedelta(days=7),
                         reason="需协调职业院校")


def accepted(town):
    req = town.replied()
    town.clear_outbox()
    wf.accept_answer(req, actor=town.deputy_user, version=req.version)


def rated(town):
    req = town.awaiting_rating()
    town.clear_outbox()
    wf.rate_request(req, version=req.version, rating=Rating.SATISFIED)


def unsatisfied(town):
    req = town.awaiting_rating()
    town.clear_outbox()
    wf.rate_request(req, version=req.version, rating=Rating.UNSATISFIED, comment="还没有招到人")


def reopened(town):
    req = town.closed()
    town.clear_outbox()
    wf.reopen_request(req, actor=town.township_staff, version=req.version, reason="企业再次反映")


def holding(stage: str, service: Callable) -> Callable:
    """The staff's reminder or supervision of a request at `stage`."""
    def event(town):
        req = getattr(town, stage)()
        town.clear_outbox()
        service(req, actor=town.township_staff, note="请抓紧办理")
    event.__name__ = f"{service.__name__}_{stage}"
    return event


def outcome_after_escalation(town):
    req = town.escalated()
    town.clear_outbox()
    wf.reject_request(req, actor=town.county_staff, version=req.version, reason="已由法院受理")


def outcome_not_escalated(town):
    accepted(town)


def deadline(route: str, stage: str) -> Callable:
    """What `flask notify-deadlines` announces about a request at `stage`."""
    def event(town):
        req = getattr(town, stage)()
        town.clear_outbox()
        notify.announce(route, req, note="办理期限", deadline=today_local() + timedelta(days=1))
        db.session.commit()
    event.__name__ = f"{route}_{stage}"
    return event


@dataclass
class Case:
    route: str
    kind: NotificationKind
    event: Callable
    expected: dict
    also: set = field(default_factory=set)  # other kinds the same service announces

    @property
    def id(self) -> str:
        return self.event.__name__


K = NotificationKind
STATION_QUEUE = {"联络站群": {"@顾振华", "刘春梅"}, "镇人大群": {"@镇工作人员"}}
CLAIMANT_ALONE = {NOTIFIER: {"顾振华", "@顾振华"}}  # a claimant has no group of their own
CASES = [
    # The station's deputies claim; the township's staff see it too; 刘春梅, without an account, is
    # named in the station's group. The enterprise hears that it was filed.
    Case("filed_by_station", K.NEW_REQUEST, filed_by_station, told(
        inbox={"顾振华", "镇工作人员"}, sms={"顾振华:new_request", "企业:filed"}, groups=STATION_QUEUE)),
    # A deputy's own code: the deputy, with the staff of the station's level as backup.
    Case("filed_by_deputy", K.NEW_REQUEST, filed_by_deputy, told(
        inbox={"顾振华", "镇工作人员"}, sms={"顾振华:new_request", "企业:filed"},
        groups={"联络站群": {"@顾振华"}, "镇人大群": {"@镇工作人员"}})),
    Case("recorded", K.NEW_REQUEST, recorded, told(sms={"企业:filed"})),
    Case("claimed", K.CLAIMED, claimed, told(sms={"企业:claimed"})),
    # The county's deputies and staff; the township keeps nothing to act on.
    Case("escalated", K.ESCALATED, escalated, told(
        inbox={"钱国强", "县工作人员"}, sms={"钱国强:escalated"}, groups={"县人大群": {"@钱国强", "@县工作人员"}})),
    Case("sent_down", K.SENT_DOWN, sent_down, told(
        inbox={"顾振华", "镇工作人员"}, sms={"顾振华:generic"}, groups=STATION_QUEUE)),
    Case("assigned", K.ASSIGNED, assigned, told(
        inbox={"住建局经办人"}, sms={"住建局经办人:to_acknowledge", "企业:assigned"}, groups={"住建局群": {"@住建局经办人"}})),
    Case("returned", K.RETURNED, returned, told(
        inbox={"顾振华", "镇工作人员"}, sms={"顾振华:generic"}, groups={**CLAIMANT_ALONE, "镇人大群": {"@镇工作人员"}})),
    Case("sent_back", K.RETURNED, sent_back, told(
        inbox={"住建局经办人"}, sms={"住建局经办人:generic"}, groups={"住建局群": {"@住建局经办人"}})),
    Case("responded", K.RESPONDED, responded, told(
        inbox={"顾振华", "镇工作人员"}, groups={**CLAIMANT_ALONE, "镇人大群": {"@镇工作人员"}})),
    Case("extension_requested", K.EXTENSION_REQUESTED, extension_requested, told(
        inbox={"顾振华", "镇工作人员"}, groups={**CLAIMANT_ALONE, "镇人大群": {"@镇工作人员"}})),
    Case("accepted", K.ACCEPTED, accepted, told(sms={"企业:responded"}), also={K.OUTCOME}),
    Case("rated", K.RATED, rated, told(inbox={"顾振华"}, groups=CLAIMANT_ALONE)),
    Case("unsatisfied", K.UNSATISFIED, unsatisfied, told(
        inbox={"顾振华", "镇工作人员", "住建局经办人"}, sms={"顾振华:generic", "住建局经办人:generic", "企业:reopened"},
        groups={**CLAIMANT_ALONE, "镇人大群": {"@镇工作人员"}, "住建局群": {"@住建局经办人"}})),
    # Back in the queue of the station's deputies and the township's staff.
    Case("reopened", K.REOPENED, reopened, told(
        inbox={"顾振华", "镇工作人员"}, sms={"企业:reopened"}, groups=STATION_QUEUE)),
    # Whoever holds it: the department when assigned, else the claimant, else the queue.
    Case("reminded", K.REMINDED, holding("assigned", wf.remind), told(
        inbox={"住建局经办人"}, sms={"住建局经办人:generic"}, groups={"住建局群": {"@住建局经办人"}})),
    Case("reminded", K.REMINDED, holding("claimed", wf.remind), told(
        inbox={"顾振华"}, sms={"顾振华:generic"}, groups=CLAIMANT_ALONE)),
    Case("reminded", K.REMINDED, holding("file", wf.remind), told(
        inbox={"顾振华", "镇工作人员"}, sms={"顾振华:generic"}, groups=STATION_QUEUE)),
    Case("supervised", K.SUPERVISED, holding("assigned", wf.supervise), told(
        inbox={"住建局经办人"}, groups={"住建局群": {"@住建局经办人"}})),
    Case("supervised", K.SUPERVISED, holding("claimed", wf.supervise), told(inbox={"顾振华"}, groups=CLAIMANT_ALONE)),
    Case("supervised", K.SUPERVISED, holding("file", wf.supervise), told(
        inbox={"顾振华", "镇工作人员"}, groups=STATION_QUEUE)),
    # The county decided: the township's staff and the station's deputies, who passed it up, are told.
    Case("outcome", K.OUTCOME, outcome_after_escalation, told(inbox={"顾振华", "镇工作人员"}, groups=STATION_QUEUE)),
    Case("outcome", K.OUTCOME, outcome_not_escalated, told(), also={K.ACCEPTED}),
    Case("deadline_near", K.DEADLINE_NEAR, deadline("deadline_near", "claimed"), told(
        inbox={"顾振华"}, sms={"顾振华:deadline"}, groups=CLAIMANT_ALONE)),
    Case("deadline_near", K.DEADLINE_NEAR, deadline("deadline_near", "in_progress"), told(
        inbox={"住建局经办人"}, sms={"住建局经办人:deadline"}, groups={"住建局群": {"@住建局经办人"}})),
    # Overdue: the holders, and the staff of the level above.
    Case("overdue", K.OVERDUE, deadline("overdue", "in_progress"), told(
        inbox={"住建局经办人", "县工作人员"}, sms={"住建局经办人:overdue"},
        groups={"住建局群": {"@住建局经办人"}, "县人大群": {"@县工作人员"}})),
    Case("overdue", K.OVERDUE, deadline("overdue", "file"), told(
        inbox={"顾振华", "镇工作人员", "县工作人员"}, sms={"顾振华:overdue"},
        groups={**STATION_QUEUE, "县人大群": {"@县工作人员"}})),
]


def test_every_row_of_the_routing_table_has_its_case():
    assert {case.route for case in CASES} == set(routing.ROUTES)
    assert {case.route: case.kind for case in CASES} == {route: rule.kind for route, rule in routing.ROUTES.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_each_event_reaches_exactly_the_people_its_route_names(town, case):
    case.event(town)

    assert town.told(case.kind) == case.expected
    assert town.kinds_written() <= {case.kind} | case.also


# --- what the enterprise's SMS says --------------------------------------------------------------------


def enterprise_sms(kind: NotificationKind) -> Notification:
    return db.session.scalars(sa.select(Notification).where(
        Notification.kind == kind, Notification.channel == NotificationChannel.SMS,
        Notification.recipient_user_id.is_(None))).one()


def test_the_enterprise_hears_of_the_assignment_with_the_department_and_the_due_date(town):
    assigned(town)

    req = db.session.scalars(sa.select(Request)).one()
    message = enterprise_sms(K.ASSIGNED)
    assert message.recipient_phone == CONTACT_PHONE
    assert message.payload["sms"] == {"kind": "assigned", "params": {
        "reference": req.reference, "department": "沙溪镇住建局", "due": req.due_on.isoformat(),
        "link": f"https://liaison.example.cn/t/{req.tracking_token}", "jurisdiction": "沙溪镇"}}


def test_the_answer_reaches_the_enterprise_with_its_tracking_link_never_the_desk(town):
    accepted(town)

    req = db.session.scalars(sa.select(Request)).one()
    message = enterprise_sms(K.ACCEPTED)
    assert message.payload["sms"]["kind"] == "responded"
    assert message.payload["sms"]["params"]["link"] == f"https://liaison.example.cn/t/{req.tracking_token}"
    assert "/desk" not in repr(message.payload)


def test_a_landline_contact_gets_no_sms_even_when_the_box_was_ticked(town):
    landline = make_request(station=town.station, contact_phone="+862153001234", sms_opt_in=True)

    notify.announce("claimed", landline)
    db.session.commit()

    assert town.told(K.CLAIMED) == told()
    # Through the form, the box is not even kept for a landline.
    assert town.file(contact_phone="+862153001234").sms_opt_in is False
    assert town.told(K.NEW_REQUEST)["sms"] == {"顾振华:new_request"}


def test_no_sms_reaches_an_enterprise_that_did_not_ask_for_them(town):
    town.file(sms_opt_in=False)

    assert town.told(K.NEW_REQUEST)["sms"] == {"顾振华:new_request"}


# --- at most three SMS a day per request to the enterprise, by China's calendar ---------------------------

# 07:00 in China on 10 March; and 23:30 (still the 10th in UTC too), and 00:01 on the 11th (the 10th in UTC).
MORNING = datetime(2026, 3, 9, 23, 0, tzinfo=timezone.utc)
LATE_EVENING = datetime(2026, 3, 10, 15, 30, tzinfo=timezone.utc)
PAST_MIDNIGHT = datetime(2026, 3, 10, 16, 1, tzinfo=timezone.utc)


def enterprise_sms_count(req) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.request_id == req.id, Notification.channel == NotificationChannel.SMS,
        Notification.recipient_phone == CONTACT_PHONE))


def test_the_enterprise_gets_at_most_three_sms_a_day_about_one_request(town):
    with time_machine.travel(MORNING, tick=False):
        req = town.file()  # 1
        wf.claim_request(req, actor=town.deputy_user)  # 2
        other = town.file()  # another request of the same day has its own three
    with time_machine.travel(LATE_EVENING, tick=False):
        req = fresh(req)
        wf.assign_request(req, actor=town.deputy_user, version=req.version, department=town.department)  # 3
        notify.announce("reopened", fresh(req))  # a 4th the same day: not sent
        db.session.commit()
        assert enterprise_sms_count(req) == 3
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.kind == K.REOPENED, Notification.channel == NotificationChannel.INBOX)) > 0  # the rest go
        notify.announce("claimed", fresh(other))
        db.session.commit()
        assert enterprise_sms_count(other) == 2
    with time_machine.travel(PAST_MIDNIGHT, tick=False):  # a new day in China, still the 10th in UTC
        notify.announce("reopened", fresh(req))
        db.session.commit()
        assert enterprise_sms_count(req) == 4


# --- choices: the person's own, else their jurisdiction's default (nearest level), else the built-in ----


def prefer(kind, channel, enabled, *, user=None, jurisdiction=None) -> None:
    db.session.add(NotificationPreference(user_id=user and user.id, jurisdiction_id=jurisdiction and jurisdiction.id,
                                          kind=kind, channel=channel, enabled=enabled))
    db.session.commit()


SMS, ROBOT = NotificationChannel.SMS, NotificationChannel.ROBOT


def test_by_default_deputies_get_sms_for_what_asks_them_to_act_and_staff_none(town):
    filed_by_station(town)
    assert town.told(K.NEW_REQUEST)["sms"] == {"顾振华:new_request", "企业:filed"}  # 镇工作人员 has a mobile too

    responded(town)
    assert town.told(K.RESPONDED)["sms"] == set()  # news, not a call to act


def test_a_default_set_above_reaches_down_a_nearer_one_wins_and_the_persons_own_wins_over_both(town):
    prefer(K.NEW_REQUEST, SMS, True, jurisdiction=town.county)  # the county's staff: everyone below gets SMS
    filed_by_station(town)
    assert town.told(K.NEW_REQUEST)["sms"] == {"顾振华:new_request", "镇工作人员:new_request", "企业:filed"}

    town.clear_outbox()
    prefer(K.NEW_REQUEST, SMS, False, jurisdiction=town.township)  # the township's staff: nobody here
    filed_by_station(town)
    assert town.told(K.NEW_REQUEST)["sms"] == {"企业:filed"}

    town.clear_outbox()
    prefer(K.NEW_REQUEST, SMS, True, user=town.deputy_user)  # 顾振华 wants them all the same
    filed_by_station(town)
    assert town.told(K.NEW_REQUEST)["sms"] == {"顾振华:new_request", "企业:filed"}

    town.clear_outbox()
    prefer(K.NEW_REQUEST, SMS, False, user=town.officer)  # another kind is not affected
    assigned(town)
    assert town.told(K.ASSIGNED)["sms"] == {"住建局经办人:to_acknowledge", "企业:assigned"}


def test_a_staff_member_opts_in_to_sms_and_a_deputy_out_of_a_robots_mention(town):
    prefer(K.NEW_REQUEST, SMS, True, user=town.township_staff)
    prefer(K.NEW_REQUEST, ROBOT, False, user=town.deputy_user)

    filed_by_station(town)

    found = town.told(K.NEW_REQUEST)
    assert found["sms"] == {"顾振华:new_request", "镇工作人员:new_request", "企业:filed"}
    # Still posted to the station's group, without naming 顾振华; the 消息 list gets it whatever the choice.
    assert found["groups"] == {"联络站群": {"刘春梅"}, "镇人大群": {"@镇工作人员"}}
    assert found["inbox"] == {"顾振华", "镇工作人员"}


# --- places without a robot, and people without an account ---------------------------------------------


def test_without_robots_one_message_to_the_installations_notifier_names_everyone(town):
    for robot in town.robots:
        db.session.delete(robot)
    db.session.commit()

    filed_by_station(town)

    found = town.told(K.NEW_REQUEST)
    assert found["groups"] == {NOTIFIER: {"顾振华", "刘春梅", "镇工作人员", "@顾振华", "@镇工作人员"}}
    assert found["inbox"] == {"顾振华", "镇工作人员"}


def test_a_deputy_without_an_account_is_named_in_the_groups_but_has_no_inbox(town):
    filed_by_station(town)
    town.robots[0].active = False  # the station's robot switched off: the notifier speaks for the station
    db.session.commit()
    town.file(town.station_code)

    db.session.expire_all()
    second = town.second_deputy
    messages = db.session.scalars(sa.select(Notification).where(Notification.kind == K.NEW_REQUEST)).all()
    named = [m for m in messages if "刘春梅" in m.payload.get("recipient", "")]
    assert {m.channel for m in named} == {NotificationChannel.ROBOT, NotificationChannel.NOTIFIER}
    assert not any(m.channel is NotificationChannel.INBOX and m.recipient_deputy_id == second.id for m in messages)
    assert {m.recipient_user_id for m in messages if m.channel is NotificationChannel.INBOX} == {
        town.deputy_user.id, town.township_staff.id}


def test_an_inactive_account_or_deputy_hears_nothing(town):
    town.deputy_user.active = False
    town.second_deputy.active = False
    db.session.commit()

    filed_by_station(town)

    found = town.told(K.NEW_REQUEST)
    assert found["inbox"] == {"镇工作人员"}
    assert found["sms"] == {"企业:filed"}
    # The station's robot still gets the message, naming nobody: the deputy is there without an account now.
    assert found["groups"] == {"联络站群": {"顾振华"}, "镇人大群": {"@镇工作人员"}}
