"""Who sees and who may do what: decided here and nowhere else.

`views(user)` says which requests a user may open, and `visible_requests(user)`
is their query: every desk list and card goes through one or the other (the inbox
asks each view on its own, desk/queries.py); `can(user, action, req)` decides each
action button and each POST.
Anything outside a user's view is 404, whatever the role.
"""

import sqlalchemy as sa
from flask import abort, g
from flask_babel import lazy_gettext as _l

from .extensions import db
from .models import Jurisdiction, Request, RequestEvent, Role, Station, User, station_deputies
from .workflow import Action, Actor, ForbiddenActor, WorkflowError

MAX_RETURNS = 2  # a department may return a request twice; then only staff re-assign


def actor_kind(user: User) -> Actor:
    return {Role.ADMIN: Actor.STAFF, Role.STAFF: Actor.STAFF, Role.DEPUTY: Actor.DEPUTY, Role.UNIT: Actor.UNIT}[user.role]


def subtree_ids(jurisdiction_id: int) -> list[int]:
    """The jurisdiction and every jurisdiction below it (a recursive CTE, portable)."""
    cache = g.setdefault("_subtrees", {})
    if jurisdiction_id not in cache:
        tree = (
            sa.select(Jurisdiction.id).where(Jurisdiction.id == jurisdiction_id).cte("tree", recursive=True)
        )
        tree = tree.union_all(sa.select(Jurisdiction.id).where(Jurisdiction.parent_id == tree.c.id))
        cache[jurisdiction_id] = list(db.session.scalars(sa.select(tree.c.id)))
    return cache[jurisdiction_id]


def ancestor_ids(jurisdiction: Jurisdiction) -> list[int]:
    """The jurisdiction itself and every level above it."""
    return [jurisdiction.id] + [j.id for j in jurisdiction.ancestors()]


def deputy_station_ids(user: User) -> list[int]:
    if user.deputy_id is None:
        return []
    cache = g.setdefault("_deputy_stations", {})
    if user.deputy_id not in cache:
        cache[user.deputy_id] = list(db.session.scalars(
            sa.select(station_deputies.c.station_id).where(station_deputies.c.deputy_id == user.deputy_id)
        ))
    return cache[user.deputy_id]


def views(user: User) -> dict[str, sa.ColumnElement]:
    """The conditions under which this user may open a request, by name: a request is in
    view when any of them holds. Officers and the administrator have one, staff two; a deputy
    has six, each answered by an index of its own, so that a list can ask each on its own
    and unite what they find (desk/queries.py) rather than make PostgreSQL test their OR
    on every request it walks."""
    if user.role is Role.ADMIN:
        return {"all": sa.true()}
    if user.role is Role.STAFF:
        subtree = subtree_ids(user.jurisdiction_id)
        # Escalated beyond their level, what was filed below them stays in sight, read only
        # (no rule below lets them act on it), so that they can tell the enterprise (上下联动).
        return {"subtree": Request.jurisdiction_id.in_(subtree),
                "escalated_above": sa.and_(Request.filed_jurisdiction_id.in_(subtree),
                                           Request.jurisdiction_id.notin_(subtree))}
    if user.role is Role.UNIT:
        return {"department": Request.department_id == user.department_id}
    # A deputy: addressed to them, their stations' queues, what they claimed, what
    # they escalated (read only once it has moved up), what was escalated to the level of
    # the congress that elected them, and, read only, what passed that level and moved on.
    escalated_by_me = sa.select(RequestEvent.request_id).where(
        RequestEvent.actor_user_id == user.id, RequestEvent.action == Action.ESCALATE
    )
    my_level = user.deputy.congress_jurisdiction_id
    escalated_to_my_level = sa.select(RequestEvent.request_id).where(
        RequestEvent.action == Action.ESCALATE, RequestEvent.jurisdiction_id == my_level)
    return {
        "addressed": Request.addressed_deputy_id == user.deputy_id,
        "station": Request.station_id.in_(deputy_station_ids(user)),
        "claimed": Request.claimant_id == user.id,
        "escalated_by_me": Request.id.in_(escalated_by_me),
        "escalated_here": sa.and_(Request.jurisdiction_id == my_level, _escalated_here()),
        "passed_my_level": sa.and_(Request.id.in_(escalated_to_my_level), Request.jurisdiction_id != my_level),
    }


def visible_requests(user: User) -> sa.Select:
    """SELECT Request rows this user may open: for a card, or rows another condition picks
    (the OR of a deputy's views is slow where it is all that narrows the rows)."""
    query = sa.select(Request)
    if user.role is Role.ADMIN:
        return query
    return query.where(sa.or_(*views(user).values()))


def _escalated_here():
    """The request is no longer at the level of the station it was filed at (unknown, so
    not kept, for one filed at no station). The station's level is looked up for each
    request at the level, not joined: PostgreSQL would hash all 5,000 stations of a
    province to check a hundred requests."""
    station_level = sa.select(Station.jurisdiction_id).where(Station.id == Request.station_id).scalar_subquery()
    return station_level != Request.jurisdiction_id


def intake_stations(user: User) -> sa.Select:
    """SELECT the active stations at which this user may record a request on an enterprise's
    behalf (登记): staff those of their jurisdiction and below, a deputy their own stations,
    the administrator any; a department's officer none."""
    query = sa.select(Station).where(Station.active)
    if user.role is Role.ADMIN:
        return query
    if user.role is Role.STAFF:
        return query.where(Station.jurisdiction_id.in_(subtree_ids(user.jurisdiction_id)))
    if user.role is Role.DEPUTY:
        return query.where(Station.id.in_(deputy_station_ids(user)))
    return query.where(sa.false())


def may_take_intake(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.STAFF, Role.DEPUTY)


def get_intake_station_or_404(user: User, station_id) -> Station:
    station = db.session.scalar(intake_stations(user).where(Station.id == station_id)) if station_id else None
    if station is None:
        abort(404)
    return station


def get_request_or_404(user: User, request_id: int) -> Request:
    req = db.session.scalar(visible_requests(user).where(Request.id == request_id))
    if req is None:
        abort(404)
    return req


def may_set_notification_defaults(user: User) -> bool:
    """Staff set the default notification choices of their jurisdiction's people (and of the
    levels below, where no nearer staff set theirs); the administrator those of any."""
    return user.role in (Role.ADMIN, Role.STAFF)


def get_defaults_jurisdiction_or_404(user: User, jurisdiction_id) -> Jurisdiction:
    """The jurisdiction whose notification defaults this user may set: staff only their own,
    the administrator any."""
    jurisdiction = db.session.get(Jurisdiction, jurisdiction_id) if jurisdiction_id else None
    if jurisdiction is None or not (
            user.role is Role.ADMIN or (user.role is Role.STAFF and user.jurisdiction_id == jurisdiction.id)):
        abort(404)
    return jurisdiction


# --- may this user do this now? -----------------------------------------------------------


def _is_staff_of(user: User, jurisdiction_ids) -> bool:
    return user.role is Role.ADMIN or (user.role is Role.STAFF and user.jurisdiction_id in jurisdiction_ids)


def _holds_queue(user: User, req: Request) -> bool:
    """Staff of the level the request is at; at the level it was filed at, the addressed
    deputy and the deputies of its station; once escalated, the deputies of that level."""
    if _is_staff_of(user, [req.jurisdiction_id]):
        return True
    if user.role is not Role.DEPUTY:
        return False
    at_filing_level = req.station is None or req.station.jurisdiction_id == req.jurisdiction_id
    if at_filing_level:
        return req.addressed_deputy_id == user.deputy_id or req.station_id in deputy_station_ids(user)
    return user.deputy.congress_jurisdiction_id == req.jurisdiction_id


def _is_claimant_or_staff(user: User, req: Request) -> bool:
    return req.claimant_id == user.id or _is_staff_of(user, [req.jurisdiction_id])


def _is_department_officer(user: User, req: Request) -> bool:
    return user.role is Role.UNIT and req.department_id is not None and user.department_id == req.department_id


def _is_staff_at_or_above(user: User, req: Request) -> bool:
    return _is_staff_of(user, ancestor_ids(req.jurisdiction))


def may_write_public_summary(user: User, req: Request) -> bool:
    """公示: the claimant or staff of the level that holds a closed request write its public
    summary, approve it for the board and take it off again, when the enterprise agreed to
    publication and the request has a result (one refused at intake has none)."""
    return req.public_consent and req.outcome is not None and _is_claimant_or_staff(user, req)


_RULES = {
    Action.CLAIM: _holds_queue,
    Action.REJECT: _holds_queue,
    Action.SEND_DOWN: lambda user, req: _holds_queue(user, req) and came_from(req) is not None,
    Action.RELEASE: lambda user, req: req.claimant_id is not None and _is_claimant_or_staff(user, req),
    Action.ANSWER: _is_claimant_or_staff,
    Action.ASSIGN: lambda user, req: (
        _is_staff_of(user, [req.jurisdiction_id])
        or (req.claimant_id == user.id and req.return_count < MAX_RETURNS)
    ),
    Action.ESCALATE: lambda user, req: _is_claimant_or_staff(user, req) and req.jurisdiction.parent_id is not None,
    Action.ACKNOWLEDGE: _is_department_officer,
    Action.RETURN: lambda user, req: _is_department_officer(user, req) and req.return_count < MAX_RETURNS,
    Action.RESPOND: _is_department_officer,
    Action.REQUEST_EXTENSION: lambda user, req: (
        _is_department_officer(user, req) and not req.extension_used and req.extension_due_on is None
    ),
    Action.DECIDE_EXTENSION: lambda user, req: (
        req.extension_due_on is not None and _is_staff_of(user, [req.jurisdiction_id])
    ),
    Action.ACCEPT: _is_claimant_or_staff,
    Action.SEND_BACK: lambda user, req: _is_claimant_or_staff(user, req) and req.department_id is not None,
    Action.REOPEN: _is_staff_at_or_above,
    # 电话回访: staff of the holding level or above record the rating the enterprise gave by phone.
    Action.RATE: _is_staff_at_or_above,
    Action.REMIND: _is_staff_at_or_above,
    Action.SUPERVISE: _is_staff_at_or_above,
    Action.WRITE_PUBLIC_SUMMARY: may_write_public_summary,
    Action.APPROVE_PUBLIC_SUMMARY: lambda user, req: (
        bool(req.public_summary) and req.public_summary_approved_at is None and may_write_public_summary(user, req)
    ),
    Action.WITHDRAW_PUBLIC_SUMMARY: lambda user, req: (
        req.public_summary_approved_at is not None and may_write_public_summary(user, req)
    ),
}


def can(user: User, action: Action, req: Request) -> bool:
    """May `user` do `action` on `req` now: the workflow table allows it in this status
    for this kind of actor, and this particular person holds the request."""
    from .workflow import TRANSITIONS

    transition = TRANSITIONS.get((req.status, action))
    if transition is None or actor_kind(user) not in transition.actors:
        return False
    rule = _RULES.get(action)
    return rule is not None and rule(user, req)


def check(user: User, action: Action, req: Request) -> None:
    """Raise InvalidTransition (409) when the action makes no sense in the request's
    status, ForbiddenActor (403) when it does but not for this user."""
    from flask_babel import lazy_gettext as _l

    from .workflow import TRANSITIONS, InvalidTransition

    if (req.status, action) not in TRANSITIONS:
        raise InvalidTransition(_l("This action is not possible while the request is: %(status)s",
                                   status=req.status.label))
    if not can(user, action, req):
        raise ForbiddenActor(_l("You may not do this with this request now."))


def _never_claimed(req: Request) -> bool:
    return not any(event.action is Action.CLAIM for event in req.events)


# What the holder of a tracking link may do beyond what the workflow table says: the rule, and
# what the enterprise is told when it does not hold.
_ENTERPRISE_RULES = {
    # 撤回: only while no deputy has ever taken it up; one escalated or sent down is back in a
    # queue (待受理) but no longer the enterprise's to take back.
    Action.WITHDRAW: (_never_claimed, _l("A deputy has already taken this request up: it can no longer be withdrawn.")),
}


def enterprise_can(action: Action, req: Request) -> bool:
    """May the enterprise (the tracking link's holder) do `action` on `req` now: what its page
    offers, and what the service enforces (check_enterprise)."""
    try:
        check_enterprise(action, req)
    except WorkflowError:
        return False
    return True


def check_enterprise(action: Action, req: Request) -> None:
    """Raise the workflow table's error (409/403), or InvalidTransition (409) when the rule
    for the enterprise does not hold."""
    from .workflow import InvalidTransition, next_status

    next_status(req.status, action, Actor.ENTERPRISE)
    holds, refusal = _ENTERPRISE_RULES.get(action, (None, None))
    if holds is not None and not holds(req):
        raise InvalidTransition(refusal)


def allowed(user: User, req: Request) -> list[Action]:
    """The actions whose buttons this user sees on the card now."""
    return [action for action in _RULES if can(user, action, req)]


def may_see_contact(user: User, req: Request) -> bool:
    """Contact details go only to those who may act on the request: staff of its level
    or above (they act or supervise), its claimant, the deputies whose queue holds it,
    and officers of the department it is assigned to. No query: lists use it per row."""
    if user.role is Role.ADMIN:
        return True
    if user.role is Role.STAFF:
        subtree = subtree_ids(user.jurisdiction_id)
        return req.jurisdiction_id in subtree or req.filed_jurisdiction_id in subtree
    if user.role is Role.UNIT:
        return _is_department_officer(user, req)
    if req.claimant_id == user.id:
        return True
    at_filing_level = req.station is None or req.station.jurisdiction_id == req.jurisdiction_id
    return at_filing_level and (
        req.addressed_deputy_id == user.deputy_id or req.station_id in deputy_station_ids(user)
    )


def came_from(req: Request):
    """The jurisdiction the request was escalated from to reach the level it is at now
    (None when it was filed here). Escalations push a level, sending down pops one."""
    path, level = [], None
    for event in req.events:
        if event.action is Action.ESCALATE and level is not None:
            path.append(level)
        elif event.action is Action.SEND_DOWN and path:
            path.pop()
        level = event.jurisdiction
    return path[-1] if path else None
