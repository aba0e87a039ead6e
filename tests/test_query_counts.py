"""Issue 9, no N+1: every main page runs a fixed number of SQL statements, whatever the number
of rows it shows.

One world is measured twice: after ROUNDS_SMALL rounds of data and again after ROUNDS_LARGE.
Each round adds to every page's content at once: a deputy of the station (with a QR code and an
account), a station and a department, two enterprises paired in the running campaign (one
visited, with a photo), and requests in every status, each from an enterprise of its own, at two
stations, claimed by three people and held by two departments: the submitted one overdue, under
key supervision and with a photo, the closed one a typical case, the escalated ones merged into
one case; the tracked request gains an event with a photo. A page whose statement count changes
between the two measurements loads something per row.
"""

import secrets
import uuid
from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import (
    Attachment, Level, Outcome, Pairing, Rating, ReceptionDay, Request, Role, TargetKind, Visit, VisitCampaign, VisitForm,
    VisitPhoto,
)
from liaison_app.models.visits import campaign_targets
from liaison_app.services import campaigns, supervision
from liaison_app.services import workflow as wf
from liaison_app.services.requests import add_information
from liaison_app.workdays import today_local
from tests.factories import (
    Tree, make_department, make_deputy, make_enterprise, make_jurisdiction, make_qr_code, make_request, make_station,
    make_user, valid_uscc,
)
from tests.test_desk import login

ROUNDS_SMALL = 2  # 14 requests, 4 deputies, 16 enterprises ...
ROUNDS_LARGE = 8  # ... and four times as many

# Statements a page may run at most, so that a page that is constant but wasteful shows up too:
# what each page runs today on SQLite (PostgreSQL runs one fewer, having no BEGIN statement)
# plus a little room. A change that needs more should say why where it raises the ceiling.
# The counts include loading the session's user and, on SQLite, each transaction's BEGIN.
CEILINGS = {
    "qr landing (station)": 12, "qr landing (deputy)": 12,  # the day's scan count is written first
    "filing form": 4,
    # One transaction: the code, a new enterprise (in a savepoint), the deadline's calendar, the
    # reference counter, the request and its event; whom to tell (services/routing.py: the
    # addressed deputy, the station's level and its staff, their choices, the levels above them
    # and those levels' defaults, the request's level's name, the places' robots, the enterprise's
    # SMS today) and two INSERTs of the messages (those in 消息 lists, those to send); then their
    # delivery, which in production a thread of the worker does after the answer (two short
    # transactions).
    "filing POST": 26,
    "tracking page": 8,
    "my requests": 3,
    # an inbox counts all its tabs in one statement
    "deputy inbox: addressed": 10, "deputy inbox: station": 10, "deputy inbox: mine": 10,
    "deputy inbox: overdue": 10,
    "staff inbox: queue": 9, "staff inbox: level": 9, "staff inbox: overdue": 9, "staff inbox: all": 9,
    "county staff inbox: below": 9,
    "request card (deputy)": 12, "request card (staff)": 15,
    "unit home: to_acknowledge": 8, "unit home: in_progress": 8, "unit home: overdue": 6,
    "unit home: answered": 8,
    "oversight list: problems": 16, "oversight list: claims": 17, "oversight list: public": 15,
    "overdue": 15,  # counts per level, the levels, one query per kind of lateness, then their rows' details
    "key supervision": 8, "cases": 7, "case page": 12, "typical cases": 8,
    "monthly report": 15,
    "dashboard": 14,  # 13 + the header's unread 消息 count (one indexed COUNT on every signed-in page)
    "public board (jurisdiction)": 8, "public board (station)": 10,
    "campaigns": 8, "campaign progress": 10, "campaign pairings": 11, "campaign not visited": 10,
    "receptions": 7, "station receptions": 10,
    "visit pairings": 14, "visits": 8, "duty days": 8,
    # 消息: a page of messages and which of their requests are still in sight; 提醒设置: the
    # person, their own choices, their home's levels one by one (at most four) and those levels' defaults
    "messages": 8, "notification settings": 11,
    "admin: deputies": 7, "admin: enterprises": 6, "admin: users": 9, "admin: stations": 6,
    "admin: qr codes": 5, "admin: station's codes": 9, "admin: qr stats": 5,
    "posters (station)": 11, "posters (township)": 13, "cards (township)": 13,
}
# Pages whose content does not grow with the rounds (a form, one case, a chooser).
FIXED_CONTENT = {"filing form", "filing POST", "unit home: overdue", "cases", "admin: qr codes", "admin: qr stats",
                 "notification settings"}


def _photo_columns() -> dict:
    return dict(stored_name=f"2026/01/{secrets.token_hex(16)}.jpg", content_type="image/jpeg", size=1234,
                sha256="0" * 64, width=64, height=48)


def fresh(req: Request) -> Request:
    db.session.expire_all()
    return db.session.get(Request, req.id)


class World:
    """The Tree (沙溪镇 in 太仓市) with codes, a running campaign and a reception day, grown round by round."""

    def __init__(self):
        tree = self.tree = Tree()
        self.county_staff = tree.staff["county"]
        self.township_staff = tree.staff["township"]
        self.officer = tree.officers["township"]
        self.department = tree.departments["township"]
        self.station_code = make_qr_code(station=tree.station)
        self.deputy_code = make_qr_code(deputy=tree.deputy)
        today = today_local()
        make_enterprise(jurisdiction=tree.township, park="沙溪工业园")  # the campaign needs a target
        self.campaign = campaigns.save_campaign(
            VisitCampaign(), actor=self.county_staff, name="代表集中走访月", jurisdiction=tree.county,
            starts_on=today - timedelta(days=10), ends_on=today + timedelta(days=20), target_kind=TargetKind.ALL,
        ).campaign
        self.reception = ReceptionDay(station=tree.station, held_on=today + timedelta(days=3),
                                      starts_at=time(9), ends_at=time(11), deputies=[tree.deputy, tree.colleague])
        db.session.add(self.reception)
        db.session.commit()
        self.tracked = make_request(deputy=tree.deputy)
        self.case = None
        self.tokens = [self.tracked.tracking_token]

    def grow(self, rounds: int) -> None:
        for _ in range(rounds):
            self._round()

    def _round(self) -> None:
        tree = self.tree
        deputy = make_deputy(tree.station)
        make_qr_code(deputy=deputy)
        deputy_user = make_user(Role.DEPUTY, deputy=deputy)
        township = make_jurisdiction(level=Level.TOWNSHIP, parent=tree.county)
        township_staff = make_user(Role.STAFF, jurisdiction=township)
        station = make_station(jurisdiction=township)
        make_qr_code(station=station)
        township_deputy = make_deputy(station)  # a deputy elsewhere than the first, on duty there
        make_user(Role.DEPUTY, deputy=township_deputy)
        db.session.add(ReceptionDay(station=station, held_on=today_local() + timedelta(days=5), starts_at=time(9),
                                    ends_at=time(11), deputies=[township_deputy]))
        department = make_department(jurisdiction=tree.township)
        make_qr_code(station=tree.station, label="园区大门")
        enterprise, not_visited = (make_enterprise(jurisdiction=township, park="新区工业园") for _ in range(2))

        # Requests in every status, at two stations in two townships, claimed by three people,
        # held by two departments; make_request gives each an enterprise of its own.
        submitted = make_request(deputy=tree.deputy, claim_due_on=today_local() - timedelta(days=3))
        db.session.add(Attachment(request=submitted, event=submitted.events[0], **_photo_columns()))
        db.session.commit()
        wf.supervise(submitted, actor=self.county_staff, key=True, leader="王主任")
        claimed = self._claimed(tree.deputy_user)
        assigned = self._claimed(deputy_user)
        wf.assign_request(assigned, actor=deputy_user, version=assigned.version, department=department)
        for_unit = [self._claimed(tree.deputy_user) for _ in range(3)]  # to acknowledge, in progress, answered
        for req in for_unit:
            wf.assign_request(req, actor=tree.deputy_user, version=req.version, department=self.department)
        for req in for_unit[1:]:
            wf.acknowledge(fresh(req), actor=self.officer, version=fresh(req).version)
        wf.respond(fresh(for_unit[2]), actor=self.officer, version=fresh(for_unit[2]).version,
                   outcome=Outcome.EXPLAINED, text="已答复政策依据")
        replied = self._claimed(township_staff, station=station)
        wf.answer_request(replied, actor=township_staff, version=replied.version, outcome=Outcome.SOLVED,
                          text="已协调解决")
        closed = self._claimed(township_staff, station=station, public_consent=True)  # on the public board
        wf.answer_request(closed, actor=township_staff, version=closed.version, outcome=Outcome.SOLVED,
                          text="已解决")
        wf.accept_answer(fresh(closed), actor=township_staff, version=fresh(closed).version)
        wf.rate_request(fresh(closed), version=fresh(closed).version, rating=Rating.SATISFIED)
        supervision.mark_typical_case(fresh(closed), actor=self.county_staff, note="协调银行续贷，企业渡过难关。")
        escalated = self._claimed(deputy_user)
        wf.escalate_request(escalated, actor=deputy_user, version=escalated.version, reason="超出镇级权限")
        escalated = fresh(escalated)
        if self.case is None:
            self.case = supervision.merge_into_case([escalated, fresh(claimed)], title="企业融资难",
                                                    actor=self.county_staff)
        else:
            supervision.add_to_case(self.case, [escalated], actor=self.county_staff)
        self.tokens += [r.tracking_token for r in (submitted, claimed, assigned, replied, closed)]

        # The tracked request's trail grows by one event with a photo.
        tracked = fresh(self.tracked)
        event = add_information(tracked, text="补充：贷款下月到期。", version=tracked.version)
        db.session.add(Attachment(request_id=tracked.id, event_id=event.id, **_photo_columns()))

        campaigns.save_campaign(VisitCampaign(), actor=township_staff, name=f"{township.name}走访月",
                                jurisdiction=township, starts_on=today_local(), ends_on=today_local() + timedelta(days=30),
                                target_kind=TargetKind.ALL)
        # The running campaign: two new targets paired with the new deputy (lead) and the first deputy;
        # one is visited.
        for target in (enterprise, not_visited):
            db.session.execute(sa.insert(campaign_targets).values(campaign_id=self.campaign.id,
                                                                  enterprise_id=target.id))
            db.session.add(Pairing(campaign=self.campaign, deputy=deputy, enterprise=target, is_lead=True))
            db.session.add(Pairing(campaign=self.campaign, deputy=tree.deputy, enterprise=target, is_lead=False))
        visit = Visit(form=VisitForm.VISIT, held_on=today_local(), jurisdiction=tree.township, station=tree.station,
                      campaign=self.campaign, enterprises=[enterprise], deputies=[deputy, tree.deputy],
                      idempotency_key=uuid.uuid4().hex)
        db.session.add(visit)
        db.session.add(VisitPhoto(visit=visit, **_photo_columns()))
        self.reception.deputies.append(deputy)
        db.session.commit()

    def _claimed(self, claimant, *, station=None, **overrides) -> Request:
        req = make_request(station=station, deputy=None if station else self.tree.deputy, **overrides)
        wf.claim_request(req, actor=claimant)
        return fresh(req)


def pages(world: World) -> list[tuple[str, object, str]]:
    """(name, user or None, path) of every main page."""
    tree = world.tree
    county, township, staff = tree.county, tree.township, world.county_staff
    campaign = world.campaign.id
    return [
        ("qr landing (station)", None, f"/q/{world.station_code.token}"),
        ("qr landing (deputy)", None, f"/q/{world.deputy_code.token}"),
        ("filing form", None, f"/q/{world.station_code.token}/file"),
        ("tracking page", None, f"/t/{world.tracked.tracking_token}"),
        ("my requests", None, "/mine"),
        *[(f"deputy inbox: {tab}", tree.deputy_user, f"/desk/?tab={tab}")
          for tab in ("addressed", "station", "mine", "overdue")],
        *[(f"staff inbox: {tab}", world.township_staff, f"/desk/?tab={tab}")
          for tab in ("queue", "level", "overdue", "all")],
        ("county staff inbox: below", staff, "/desk/?tab=below"),
        ("request card (deputy)", tree.deputy_user, f"/desk/requests/{world.tracked.id}"),
        ("request card (staff)", world.township_staff, f"/desk/requests/{world.tracked.id}"),
        *[(f"unit home: {tab}", world.officer, f"/desk/unit?tab={tab}")
          for tab in ("to_acknowledge", "in_progress", "overdue", "answered")],
        *[(f"oversight list: {kind}", staff, f"/oversight/lists/{kind}") for kind in ("problems", "claims", "public")],
        ("overdue", staff, "/oversight/overdue"),
        ("key supervision", staff, "/oversight/key"),
        ("cases", staff, "/oversight/cases"),
        ("case page", staff, f"/oversight/cases/{world.case.id}"),
        ("typical cases", staff, "/oversight/typical"),
        ("monthly report", staff, "/oversight/report"),
        ("dashboard", staff, "/oversight/dashboard"),
        ("public board (jurisdiction)", None, f"/board/jurisdiction/{county.id}"),
        ("public board (station)", None, f"/board/station/{tree.station.id}"),
        ("campaigns", staff, "/oversight/campaigns"),
        ("campaign progress", staff, f"/oversight/campaigns/{campaign}"),
        ("campaign pairings", staff, f"/oversight/campaigns/{campaign}/pairings"),
        ("campaign not visited", staff, f"/oversight/campaigns/{campaign}/not-visited"),
        ("receptions", staff, "/oversight/receptions"),
        ("station receptions", staff, f"/oversight/receptions/stations/{tree.station.id}"),
        ("visit pairings", tree.deputy_user, "/desk/visits/pairings"),
        ("visits", tree.deputy_user, "/desk/visits"),
        ("duty days", tree.deputy_user, "/desk/duties"),
        ("messages", tree.deputy_user, "/desk/messages"),
        ("notification settings", tree.deputy_user, "/desk/settings/notifications"),
        ("admin: deputies", tree.admin, "/admin/deputies"),
        ("admin: enterprises", tree.admin, "/admin/enterprises"),
        ("admin: users", tree.admin, "/admin/users"),
        ("admin: stations", tree.admin, "/admin/stations"),
        ("admin: qr codes", tree.admin, "/admin/qr"),
        ("admin: station's codes", tree.admin, f"/admin/qr/stations/{tree.station.id}"),
        ("admin: qr stats", tree.admin, "/admin/qr/stats"),
        ("posters (station)", tree.admin, f"/admin/qr/stations/{tree.station.id}/posters"),
        ("posters (township)", tree.admin, f"/admin/qr/jurisdictions/{township.id}/posters"),
        ("cards (township)", tree.admin, f"/admin/qr/jurisdictions/{township.id}/cards"),
    ]


class StatementCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, _conn, _cursor, statement, _parameters, _context, _executemany):
        self.statements.append(statement)


def count_statements(app, user, path, *, method="GET", data=None, cookies=()) -> tuple:
    client = app.test_client()
    if user is not None:
        login(client, user)
    for name, value in cookies:
        client.set_cookie(name, value)
    if method == "GET":
        client.open(path)  # once before counting: a first visit may write (the day's scan count)
    db.session.commit()  # the test's own transaction ends before the request starts counting
    counter = StatementCounter()
    sa.event.listen(db.engine, "before_cursor_execute", counter)
    try:
        response = client.open(path, method=method, data=data)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", counter)
    assert response.status_code in (200, 303), f"{path}: {response.status_code}"
    return len(counter.statements), counter.statements, len(response.data)


def measure(app, world: World) -> dict[str, tuple]:
    counts = {}
    mine = (app.config["MY_REQUESTS_COOKIE"], ".".join(world.tokens[: app.config["MY_REQUESTS_MAX"]]))
    for name, user, path in pages(world):
        counts[name] = count_statements(app, user, path, cookies=[mine] if name == "my requests" else ())
    filing = {"kind": "request", "enterprise_name": "太仓市恒丰精密机械有限公司", "uscc": valid_uscc(),
              "contact_name": "王海燕", "contact_phone": "13812345678", "category": "labour",
              "description": "车间缺少熟练焊工二十名，希望帮助对接职业院校。", "idempotency_key": uuid.uuid4().hex,
              "sms_opt_in": "y"}  # ticked by default
    counts["filing POST"] = count_statements(app, None, f"/q/{world.deputy_code.token}/file", method="POST",
                                             data=filing)
    return counts


def test_no_page_runs_more_statements_for_more_rows(app):
    world = World()
    world.grow(ROUNDS_SMALL)
    small = measure(app, world)
    world.grow(ROUNDS_LARGE - ROUNDS_SMALL)
    large = measure(app, world)

    print("\n" + "\n".join(f"{name:32} {large[name][0]:3} statements" for name in large))

    shown = {name for name in small if large[name][2] > small[name][2]}
    assert shown >= set(small) - FIXED_CONTENT, "every list shows the rows added (the measure is not of empty pages)"
    growing = {name: (small[name][0], large[name][0]) for name in small if large[name][0] != small[name][0]}
    for name in growing:  # the statements of the larger run, to see what repeats
        print(f"\n{name}: {growing[name]}\n  " + "\n  ".join(s.split("\n")[0][:160] for s in large[name][1]))
    assert not growing, f"statement counts (small → large) that depend on the rows: {growing}"
    over = {name: n for name, (n, *_) in large.items() if n > CEILINGS[name]}
    assert not over, f"pages over their ceiling: {over}"
