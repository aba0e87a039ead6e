"""Random sequences of actions by random people, through the real services: whatever
they do, the closed loop keeps its invariants.

Hypothesis files a request (to a deputy's or a station's code), then takes random
steps: three times in four a move the table and the access rules offer now (a button
on someone's card, or what the enterprise or the clock may do), otherwise any action by
anyone: deputies of the station, another station, the county and the city, staff and
department officers of the four levels, the admin, the enterprise. Details are random
(departments of other levels, due dates of today, names too long, 不满意 without a
comment...), and one form in eight is stale. After every step:
- a refused action (a WorkflowError) changed nothing in the database, and an action
  the access rules offer is refused only for its input (or a stale form); an action
  that went through had its button (access.can) and wrote exactly one event;
- there is at most one claimant, consistent with the status and the trail;
- the status is reachable from 待受理 in workflow.TRANSITIONS;
- the trail is complete: each event is a row of the table for its actor, the events'
  statuses chain from FILE to the request's status, and a closed or withdrawn request
  leaves that status only by staff reopening it (the enterprise's 不满意 comes before
  closing, from 待评价);
- the version grew on every change and stayed on every refusal.

Deterministic (derandomize, no example database) and run on the `app` fixture's
database, SQLite or PostgreSQL (`--db`).
"""

import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from liaison_app import access
from liaison_app.extensions import begin_write, db
from liaison_app.models import Category, Department, Outcome, Rating, Request, RequestEvent, RequestKind, Role, User
from liaison_app.services import requests as filing
from liaison_app.services import workflow as wf
from liaison_app.workdays import today_local
from liaison_app.workflow import TRANSITIONS, Action, Actor, Status, WorkflowError, next_status
from tests.factories import Tree, make_deputy, make_qr_code, make_station, make_user

EXAMPLES = 40  # requests per database
STEPS = 40  # actions per request, at most


def reachable_statuses() -> set[Status]:
    seen, todo = set(), [Status.SUBMITTED]
    while todo:
        status = todo.pop()
        if status not in seen:
            seen.add(status)
            todo += [t.to for (s, _), t in TRANSITIONS.items() if s is status and t.to is not None]
    return seen


REACHABLE = reachable_statuses()
# Statuses in which someone holds the request: the claimant (or staff) answer, assign, accept.
HELD = {Status.CLAIMED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REPLIED, Status.AWAITING_RATING}
WITH_DEPARTMENT = {Status.ASSIGNED, Status.IN_PROGRESS}


class People:
    """Everyone who may try something: the Tree's deputies, staff, officers and admin at
    every level, and deputies of the county and city congresses (who claim what is
    escalated to their level)."""

    def __init__(self):
        tree = Tree()
        self.tree = tree
        county_deputy = make_deputy(make_station(name="太仓市代表之家", jurisdiction=tree.county),
                                    congress_jurisdiction=tree.county, name="县代表")
        city_deputy = make_deputy(make_station(name="苏州市代表之家", jurisdiction=tree.city),
                                  congress_jurisdiction=tree.city, name="市代表")
        self.by_name = {
            "station deputy": tree.deputy_user,
            "colleague": tree.colleague_user,
            "other station's deputy": tree.outsider_user,
            "county deputy": make_user(Role.DEPUTY, deputy=county_deputy, display_name="县代表"),
            "city deputy": make_user(Role.DEPUTY, deputy=city_deputy, display_name="市代表"),
            **{f"{level} staff": user for level, user in tree.staff.items()},
            **{f"{level} officer": user for level, user in tree.officers.items()},
            "admin": tree.admin,
        }
        self.deputy_code = make_qr_code(deputy=tree.deputy)
        self.station_code = make_qr_code(deputy=None, station=tree.station)
        self.ids = {name: user.id for name, user in self.by_name.items()}
        self.department_ids = {level: d.id for level, d in tree.departments.items()}
        self.level_of = {j.id: level for level, j in tree.levels.items()}


# --- the actions: name -> (its Action, whether a person does it, whether it carries a version)

ACTIONS = {  # the deeper moves first: hypothesis leans a little towards the start of a list
    "decide_extension": (Action.DECIDE_EXTENSION, True, True),
    "request_extension": (Action.REQUEST_EXTENSION, True, True),
    "rate": (Action.RATE, False, True),
    "send_back": (Action.SEND_BACK, True, True),
    "accept": (Action.ACCEPT, True, True),
    "respond": (Action.RESPOND, True, True),
    "acknowledge": (Action.ACKNOWLEDGE, True, True),
    "return": (Action.RETURN, True, True),
    "assign": (Action.ASSIGN, True, True),
    "answer": (Action.ANSWER, True, True),
    "escalate": (Action.ESCALATE, True, True),
    "send_down": (Action.SEND_DOWN, True, True),
    "claim": (Action.CLAIM, True, False),
    "release": (Action.RELEASE, True, True),
    "reject": (Action.REJECT, True, True),
    "withdraw": (Action.WITHDRAW, False, True),
    "reopen": (Action.REOPEN, True, True),
    "rating period ends": (Action.AUTO_CLOSE, False, False),
    "remind": (Action.REMIND, True, False),
    "supervise": (Action.SUPERVISE, True, False),
    "add_info": (Action.ADD_INFO, False, True),
}
# The event a successful action writes (rating 不满意 reopens instead of closing).
EVENT_ACTIONS = {name: {action} for name, (action, _, _) in ACTIONS.items()}
EVENT_ACTIONS["rate"] = {Action.RATE, Action.REOPEN_UNSATISFIED, Action.REOPEN_TO_CLAIMANT}

# Among the offered moves, notes, flags and the two dead ends are chosen less often, so
# that a walk gets far into the loop (extensions, sending back, 不满意).
WEIGHTS = {"remind": 1, "supervise": 1, "add_info": 1, "reject": 1, "withdraw": 1}

REASONS = st.sampled_from(["不属于本级事权", "请补充材料", ""])
TEXTS = st.sampled_from(["已协调转贷基金，续贷完成", "政策暂不支持，已解释"])


def one_in(n, data, label) -> bool:
    """True about one time in n (an interior value: hypothesis favours the ends of a range)."""
    return data.draw(st.integers(0, n - 1), label=label) == n // 2


def perform(name, req, user, version, data, people):
    """Draw the details of the action and call its service."""
    today = today_local()
    if name == "claim":
        return wf.claim_request(req, actor=user)
    if name == "release":
        return wf.release_claim(req, actor=user, version=version, note=data.draw(REASONS, label="note"))
    if name == "reject":
        return wf.reject_request(req, actor=user, version=version, reason=data.draw(REASONS, label="reason"))
    if name in ("answer", "respond"):
        service = wf.answer_request if name == "answer" else wf.respond
        return service(req, actor=user, version=version, outcome=data.draw(st.sampled_from(Outcome), label="outcome"),
                       text=data.draw(TEXTS, label="text"))
    if name == "assign":
        here = people.level_of[req.jurisdiction_id]
        level = here if not one_in(5, data, "another level's department") else data.draw(
            st.sampled_from(sorted(people.department_ids)), label="department of")
        days = 0 if one_in(5, data, "due today") else data.draw(st.sampled_from([None, 7, 12]), label="due in days")
        return wf.assign_request(req, actor=user, version=version,
                                 department=db.session.get(Department, people.department_ids[level]),
                                 due_on=None if days is None else today + timedelta(days=days))
    if name == "escalate":
        return wf.escalate_request(req, actor=user, version=version, reason=data.draw(REASONS, label="reason"))
    if name == "send_down":
        return wf.send_down(req, actor=user, version=version, reason=data.draw(REASONS, label="reason"))
    if name == "acknowledge":
        return wf.acknowledge(req, actor=user, version=version)
    if name == "return":
        return wf.return_request(req, actor=user, version=version, reason=data.draw(REASONS, label="reason"))
    if name == "request_extension":
        days = 0 if one_in(5, data, "not after the due date") else data.draw(st.integers(1, 15), label="days later")
        until = (req.due_on or today) + timedelta(days=days)
        return wf.request_extension(req, actor=user, version=version, until=until,
                                    reason=data.draw(REASONS, label="reason"))
    if name == "decide_extension":
        return wf.decide_extension(req, actor=user, version=version, approve=data.draw(st.booleans(), label="approve"))
    if name == "accept":
        return wf.accept_answer(req, actor=user, version=version)
    if name == "send_back":
        return wf.send_back(req, actor=user, version=version, reason=data.draw(REASONS, label="reason"))
    if name == "reopen":
        return wf.reopen_request(req, actor=user, version=version, reason=data.draw(REASONS, label="reason"))
    if name == "remind":
        return wf.remind(req, actor=user, note=data.draw(REASONS, label="note"))
    if name == "supervise":
        return wf.supervise(req, actor=user, key=data.draw(st.booleans(), label="key"), note="",
                            leader="长" * 41 if one_in(5, data, "too long a name") else data.draw(
                                st.sampled_from(["", "王主任"]), label="leader"))
    if name == "add_info":
        return filing.add_information(req, text=data.draw(TEXTS, label="text"), version=version)
    if name == "withdraw":
        return filing.withdraw_request(req, version=version, reason=data.draw(REASONS, label="reason"))
    if name == "rate":
        return wf.rate_request(req, version=version, rating=data.draw(st.sampled_from(Rating), label="rating"),
                               comment="" if one_in(5, data, "no comment") else "问题还没解决")
    if name == "rating period ends":
        return wf.close_unrated(today + timedelta(days=current_app.config["RATING_DAYS"] + 1))
    raise AssertionError(name)


def offered_actions(req, users) -> dict[str, list[User | None]]:
    """What the table and the access rules offer now, and to whom: each person's buttons
    on the card, and what the enterprise (or the clock) may do in this status."""
    offered = {}
    for name, (action, by_person, _) in ACTIONS.items():
        if by_person:
            who = [user for user in users if access.can(user, action, req)]
        else:
            who = [None] if (req.status, action) in TRANSITIONS else []
        if who:
            offered[name] = who
    return offered


def request_row(request_id) -> dict:
    return dict(db.session.execute(sa.select(Request.__table__).where(Request.id == request_id)).mappings().one())


def database_state(request_id):
    """The request's row and the number of rows of every table, read from the database."""
    row = request_row(request_id)
    counts = db.session.execute(sa.text("SELECT " + ", ".join(
        f'(SELECT count(*) FROM "{table.name}") AS "{table.name}"' for table in db.metadata.sorted_tables
    ))).mappings().one()
    return row, dict(counts)


def trail(request_id) -> list[RequestEvent]:
    return db.session.scalars(
        sa.select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.id)
    ).all()


class ClosedLoop(RuleBasedStateMachine):
    people: People  # set by the test

    @initialize(addressed=st.booleans())
    def file(self, addressed):
        code = self.people.deputy_code if addressed else self.people.station_code
        req, created = filing.file_request(
            filing.Filing(kind=RequestKind.REQUEST, enterprise_name="太仓精密机械有限公司", uscc=None,
                          contact_name="张明", contact_phone="+8613912345678", category=Category.FINANCE,
                          description="银行贷款到期续贷需要过桥资金，希望协调政策性转贷基金。", public_consent=True),
            route=filing.route_by_token(code.token), idempotency_key=uuid.uuid4().hex)
        assert created
        self.request_id = req.id
        self.changes = 0  # successful actions on this request

    @rule(data=st.data())
    def act(self, data):
        db.session.rollback()  # a new unit of work, as each POST is
        begin_write()
        req = db.session.get(Request, self.request_id)
        users = db.session.scalars(sa.select(User).where(User.id.in_(self.people.ids.values())).order_by(User.id)).all()
        offered = offered_actions(req, users)
        if offered and not one_in(4, data, "anything by anyone, not what the rules offer"):
            weighted = [n for n in offered for _ in range(WEIGHTS.get(n, 3))]
            name = data.draw(st.sampled_from(weighted), label="action")
            user = data.draw(st.sampled_from(offered[name]), label="by")
        else:
            name = data.draw(st.sampled_from(list(ACTIONS)), label="action")
            user = data.draw(st.sampled_from(users), label="by") if ACTIONS[name][1] else None
        action, by_person, versioned = ACTIONS[name]
        stale = versioned and one_in(8, data, "a stale form")
        version = req.version - 1 if stale else req.version
        offered_to_user = access.can(user, action, req) if by_person else None
        status_before, version_before = req.status, req.version
        state_before = database_state(req.id)

        try:
            result = perform(name, req, user, version, data, self.people)
        except WorkflowError as error:
            # Nothing changed, not even in this session: read before the rollback a view would do
            # (the read flushes whatever the service left pending, and sees whatever it committed).
            assert database_state(self.request_id) == state_before, f"{name} refused ({error}) but changed something"
            db.session.rollback()
            if offered_to_user and not stale:
                assert isinstance(error, wf.InvalidInput), f"{name} was offered to {user.username} but refused: {error}"
            return

        db.session.expire_all()
        if name == "rating period ends" and status_before is not Status.AWAITING_RATING:
            assert (result, database_state(self.request_id)) == (0, state_before), "closed what awaited no rating"
            return
        row_after = request_row(self.request_id)
        assert not stale, f"{name} went through on a stale form"
        assert offered_to_user is not False, f"{name} went through for {user.username}, who has no such button"
        self.changes += 1  # the invariant checks that the trail grew by exactly one event
        last = trail(self.request_id)[-1]
        assert last.action in EVENT_ACTIONS[name]
        assert (last.from_status, last.to_status) == (status_before, row_after["status"])
        if user is not None:
            assert (last.actor_user_id, last.actor_kind) == (user.id, access.actor_kind(user))
        assert row_after["version"] > version_before, f"{name} did not bump the version"

    def teardown(self):
        # Out of the way of the next examples: their "rating period ends" closes only their own.
        db.session.rollback()
        if not hasattr(self, "request_id"):
            return
        db.session.execute(sa.update(Request).where(Request.id == self.request_id).values(rating_due_on=None)
                           .execution_options(synchronize_session=False))
        db.session.commit()

    @invariant()
    def invariants_hold(self):
        req = db.session.get(Request, self.request_id)
        events = trail(req.id)
        assert len(events) == 1 + self.changes, "a change without its event, or an event without a change"
        one_claimant_consistent_with_the_status_and_the_trail(req, events)
        status_reachable_and_its_dates_and_department_consistent(req)
        trail_complete_and_closed_stays_closed(req, events)


def one_claimant_consistent_with_the_status_and_the_trail(req, events):
    if req.status in HELD:
        assert req.claimant_id is not None, f"{req.status} without a claimant"
    if req.status in (Status.SUBMITTED, Status.WITHDRAWN):
        assert req.claimant_id is None, f"{req.status} with a claimant"
    assert (req.claimed_at is None) == (req.claimant_id is None)
    # The claimant is whoever claimed since the request last went back into a queue.
    claimant = None
    for event in events:
        if event.to_status is Status.SUBMITTED:
            claimant = None
        if event.action is Action.CLAIM:
            assert claimant is None, "claimed twice without going back to the queue"
            claimant = event.actor_user_id
    assert req.claimant_id == claimant


def status_reachable_and_its_dates_and_department_consistent(req):
    assert req.status in REACHABLE
    assert (req.closed_at is not None) == req.status.is_final, f"{req.status} with closed_at {req.closed_at}"
    if req.status in WITH_DEPARTMENT:
        assert req.department is not None and req.due_on is not None
        assert req.department.jurisdiction_id == req.jurisdiction_id
    if req.status is Status.AWAITING_RATING:
        assert req.rating_due_on is not None


def trail_complete_and_closed_stays_closed(req, events):
    """Replaying the trail through the table ends at the request's status."""
    assert (events[0].action, events[0].from_status, events[0].to_status) == (Action.FILE, None, Status.SUBMITTED)
    status = None
    for event in events:
        assert event.from_status == status, f"{event} does not follow {status}"
        assert event.to_status == next_status(status, event.action, event.actor_kind)
        if status is not None and status.is_final and event.to_status != status:
            assert event.action is Action.REOPEN and event.actor_kind is Actor.STAFF, f"{event} left {status}"
            assert event.actor.role in (Role.STAFF, Role.ADMIN)
        status = event.to_status
    assert status == req.status


def test_random_actions_by_random_people_keep_the_closed_loop_invariants(app):
    machine = type("ClosedLoopInThisDatabase", (ClosedLoop,), {"people": People()})
    run_state_machine_as_test(machine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow],
    ))
