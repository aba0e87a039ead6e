"""Who hears what: the one table that says which people an event asks to act, and the
look-ups that turn its audiences into accounts, places (for their group robots) and phones.

services/notify.py asks `reach(route, req)` and writes the messages; nothing else decides a
recipient. Each audience is resolved by ids (a filing's request was written by a Core INSERT
and has no loaded relationships).
"""

import contextlib
import contextvars
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Iterable, Iterator, Optional, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm

from ..extensions import db
from ..models import (
    Department,
    Deputy,
    Jurisdiction,
    Level,
    NotificationChannel,
    NotificationKind,
    NotificationPreference,
    Request,
    RequestEvent,
    Role,
    Station,
    User,
    station_deputies,
)
from ..validators import is_mobile
from ..workflow import Action, Status


class Audience(StrEnum):
    STATION_DEPUTIES = "station_deputies"  # the station's deputies (they claim at the filing level)
    HOLDING_STAFF = "holding_staff"  # staff of the jurisdiction that holds the request now
    ADDRESSED_DEPUTY = "addressed_deputy"  # the deputy whose own code it was filed through
    STATION_STAFF = "station_staff"  # staff of the station's jurisdiction (backup for a deputy's code)
    QUEUE_DEPUTIES = "queue_deputies"  # the deputies who may claim it where it is now
    DEPARTMENT = "department"  # officers of the department it is assigned to
    CLAIMANT = "claimant"
    STAFF_ABOVE = "staff_above"  # staff of the level above the holding one (overdue items)
    PASSED_LEVELS = "passed_levels"  # staff of the levels below it passed through, and the station's deputies
    HOLDERS = "holders"  # whoever must act now: the department, else the claimant, else the queue
    ENTERPRISE = "enterprise"  # the contact's mobile, by SMS, when the enterprise asked for it


@dataclass(frozen=True)
class Rule:
    kind: NotificationKind
    audiences: tuple[Audience, ...]


_A = Audience
# The routing table: one row per event that asks someone to act (tests/test_routing.py has a
# test per row). The key names the event as the services announce it.
ROUTES: dict[str, Rule] = {
    "filed_by_station": Rule(NotificationKind.NEW_REQUEST, (_A.STATION_DEPUTIES, _A.HOLDING_STAFF, _A.ENTERPRISE)),
    "filed_by_deputy": Rule(NotificationKind.NEW_REQUEST, (_A.ADDRESSED_DEPUTY, _A.STATION_STAFF, _A.ENTERPRISE)),
    # Raised in person on a visit or at a reception and claimed there: only the enterprise is told.
    "recorded": Rule(NotificationKind.NEW_REQUEST, (_A.ENTERPRISE,)),
    "claimed": Rule(NotificationKind.CLAIMED, (_A.ENTERPRISE,)),
    "escalated": Rule(NotificationKind.ESCALATED, (_A.QUEUE_DEPUTIES, _A.HOLDING_STAFF)),
    "sent_down": Rule(NotificationKind.SENT_DOWN, (_A.QUEUE_DEPUTIES, _A.HOLDING_STAFF)),
    "assigned": Rule(NotificationKind.ASSIGNED, (_A.DEPARTMENT, _A.ENTERPRISE)),
    "returned": Rule(NotificationKind.RETURNED, (_A.CLAIMANT, _A.HOLDING_STAFF)),
    "sent_back": Rule(NotificationKind.RETURNED, (_A.DEPARTMENT,)),
    "responded": Rule(NotificationKind.RESPONDED, (_A.CLAIMANT, _A.HOLDING_STAFF)),
    "extension_requested": Rule(NotificationKind.EXTENSION_REQUESTED, (_A.CLAIMANT, _A.HOLDING_STAFF)),
    "accepted": Rule(NotificationKind.ACCEPTED, (_A.ENTERPRISE,)),
    "rated": Rule(NotificationKind.RATED, (_A.CLAIMANT,)),
    "unsatisfied": Rule(NotificationKind.UNSATISFIED, (_A.CLAIMANT, _A.HOLDING_STAFF, _A.DEPARTMENT, _A.ENTERPRISE)),
    "reopened": Rule(NotificationKind.REOPENED, (_A.HOLDERS, _A.ENTERPRISE)),
    "reminded": Rule(NotificationKind.REMINDED, (_A.HOLDERS,)),
    "supervised": Rule(NotificationKind.SUPERVISED, (_A.HOLDERS,)),
    "outcome": Rule(NotificationKind.OUTCOME, (_A.PASSED_LEVELS,)),
    "deadline_near": Rule(NotificationKind.DEADLINE_NEAR, (_A.HOLDERS,)),
    "overdue": Rule(NotificationKind.OVERDUE, (_A.HOLDERS, _A.STAFF_ABOVE)),
}

# What reaches a deputy or an officer by SMS unless they (or their jurisdiction's staff) chose
# otherwise: the events that ask them to act. Staff opt in.
SMS_BY_DEFAULT = frozenset({
    NotificationKind.NEW_REQUEST, NotificationKind.ESCALATED, NotificationKind.SENT_DOWN, NotificationKind.ASSIGNED,
    NotificationKind.RETURNED, NotificationKind.REMINDED, NotificationKind.UNSATISFIED, NotificationKind.OVERDUE,
    NotificationKind.DEADLINE_NEAR,
})
# The kinds a person can choose for, and the channels they choose between (the 消息 list
# always gets everything, so that nothing depends on an outside service).
CHOOSABLE_KINDS = tuple(dict.fromkeys(rule.kind for rule in ROUTES.values()
                                     if set(rule.audiences) - {Audience.ENTERPRISE}))
CHOOSABLE_CHANNELS = (NotificationChannel.SMS, NotificationChannel.ROBOT)


@dataclass(frozen=True)
class Person:
    """Someone an event asks to act: an account, or a deputy without one (named in the group
    robot's message all the same, but with no 消息 list and no phone on file)."""

    id: Optional[int]  # the user's id
    name: str
    role: Role
    phone: Optional[str]
    home_jurisdiction_id: Optional[int]  # whose staff's defaults apply to them
    deputy_id: Optional[int] = None

    @property
    def key(self) -> tuple:
        return ("user", self.id) if self.id is not None else ("deputy", self.deputy_id)


@dataclass(frozen=True)
class Place:
    """Where a group robot may sit: ("jurisdiction" | "station" | "department", id)."""

    kind: str
    id: int


@dataclass
class Reach:
    """The people an audience names, and the place whose group robot speaks to them."""

    place: Optional[Place]
    people: list[Person] = field(default_factory=list)


@dataclass
class Recipients:
    reaches: list[Reach]
    enterprise_phone: Optional[str]  # E.164 mobile, when the enterprise asked for SMS

    @property
    def people(self) -> list[Person]:
        """Everyone, once each (a person may be named by two audiences)."""
        return list({person.key: person for reach in self.reaches for person in reach.people}.values())


def reach(route: str, req: Request) -> Recipients:
    """The people and places the routing table names for this event about `req`."""
    rule = ROUTES[route]
    reaches = []
    for audience in rule.audiences:
        if audience is Audience.ENTERPRISE:
            continue
        reaches.extend(_RESOLVERS[audience](req))
    phone = req.contact_phone if Audience.ENTERPRISE in rule.audiences and req.sms_opt_in else None
    return Recipients([r for r in reaches if r.people or r.place], phone if is_mobile(phone) else None)


def route_for_filing(req: Request) -> str:
    return "filed_by_deputy" if req.addressed_deputy_id is not None else "filed_by_station"


# --- a memo for batch jobs ---------------------------------------------------------------------------

_MEMO: contextvars.ContextVar[Optional[dict]] = contextvars.ContextVar("routing_memo", default=None)
T = TypeVar("T")


@contextlib.contextmanager
def memo() -> Iterator[None]:
    """Within the block, each look-up (a station's deputies, a level's staff, a robot...) is
    made once: a job announcing thousands of items asks about the same few hundred places."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def in_memo() -> bool:
    return _MEMO.get() is not None


def cached(key: tuple, compute: Callable[[], T]) -> T:
    """compute() once per key inside memo(); every time outside it (a request's one event)."""
    found = _MEMO.get()
    if found is None:
        return compute()
    if key not in found:
        found[key] = compute()
    return found[key]


# --- the audiences ----------------------------------------------------------------------------------

def _home_jurisdiction():
    """Whose staff's defaults apply: a staff member's level, a deputy's congress, an officer's
    department's level."""
    return sa.func.coalesce(User.jurisdiction_id, Deputy.congress_jurisdiction_id, Department.jurisdiction_id)


def _people_query(condition, *joins, group=sa.literal(0)) -> sa.Select:
    """Active accounts matching `condition`, each with the value of `group`."""
    query = (sa.select(group, User.id, User.display_name, User.username, User.role, User.phone, User.deputy_id,
                       _home_jurisdiction())
             .outerjoin(Deputy, Deputy.id == User.deputy_id).outerjoin(Department, Department.id == User.department_id))
    for join in joins:
        query = query.join(*join)
    return query.where(User.active, condition).order_by(User.id)


def _people_by(query: sa.Select, params: Optional[dict] = None) -> dict:
    """The accounts a _people_query() finds, grouped by its `group`."""
    found: dict = {}
    for key, user_id, display_name, username, role, phone, deputy_id, home in db.session.execute(query, params):
        found.setdefault(key, []).append(Person(user_id, display_name or username, role, phone, home, deputy_id))
    return found


def _deputies_query(condition, *joins, group=sa.literal(0)) -> sa.Select:
    """Active deputies matching `condition`, with their accounts where they have one."""
    query = (sa.select(group, Deputy.id, Deputy.name, Deputy.congress_jurisdiction_id, User.id, User.phone)
             .outerjoin(User, sa.and_(User.deputy_id == Deputy.id, User.active)))
    for join in joins:
        query = query.join(*join)
    return query.where(Deputy.active, condition).order_by(Deputy.id)


def _deputies_by(query: sa.Select, params: Optional[dict] = None) -> dict:
    found: dict = {}
    for key, deputy_id, name, congress, user_id, phone in db.session.execute(query, params):
        found.setdefault(key, []).append(Person(user_id, name, Role.DEPUTY, phone, congress, deputy_id))
    return found


# The look-ups of one event, built once (a filing makes two or three of them).
_ID = sa.bindparam("id")
_STAFF_AT = _people_query(sa.and_(User.role == Role.STAFF, User.jurisdiction_id == _ID))
_OFFICERS_OF = _people_query(sa.and_(User.role == Role.UNIT, User.department_id == _ID))
_ACCOUNT = _people_query(User.id == _ID)
_STATION_JOIN = (station_deputies, station_deputies.c.deputy_id == Deputy.id)
_STATION_DEPUTIES = _deputies_query(station_deputies.c.station_id == _ID, _STATION_JOIN)
_DEPUTY = _deputies_query(Deputy.id == _ID)
_LEVEL_DEPUTIES = _deputies_query(Deputy.congress_jurisdiction_id == _ID)


def _one(query: sa.Select, by: Callable, key_id: int) -> list[Person]:
    return by(query, {"id": key_id}).get(0, [])


def person_of(user_id: int) -> Optional[Person]:
    """One active account as the routing table sees it: role, phone, home jurisdiction (the
    settings page shows the choices routing.choices() would make for them)."""
    found = _one(_ACCOUNT, _people_by, user_id)
    return found[0] if found else None


def prefetch(requests: list[Request]) -> None:
    """Inside memo(): look up the people of many requests' places in a few grouped queries (a job
    announcing thousands of items), so that reach() then finds them all in the memo."""
    found = _MEMO.get()
    if found is None or not requests:
        return

    def missing(kind: str, ids) -> set:
        return {i for i in ids if i is not None and (kind, i) not in found}

    def store(kind: str, ids: set, groups: dict) -> None:
        found.update({(kind, i): groups.get(i, []) for i in ids})

    stations = missing("station level", {r.station_id for r in requests})
    if stations:
        rows = dict(db.session.execute(sa.select(Station.id, Station.jurisdiction_id)
                                       .where(Station.id.in_(stations))).all())
        found.update({("station level", i): rows.get(i) for i in stations})
    levels = {r.jurisdiction_id for r in requests}
    parents = missing("parent", levels)
    if parents:
        rows = dict(db.session.execute(sa.select(Jurisdiction.id, Jurisdiction.parent_id)
                                       .where(Jurisdiction.id.in_(parents))).all())
        found.update({("parent", i): rows.get(i) for i in parents})
    above = {found[("parent", i)] for i in levels}
    staff = missing("staff", levels | above | {r.filed_jurisdiction_id for r in requests})
    if staff:
        store("staff", staff, _people_by(_people_query(
            sa.and_(User.role == Role.STAFF, User.jurisdiction_id.in_(staff)), group=User.jurisdiction_id)))
    officers = missing("officers", {r.department_id for r in requests})
    if officers:
        store("officers", officers, _people_by(_people_query(
            sa.and_(User.role == Role.UNIT, User.department_id.in_(officers)), group=User.department_id)))
    claimants = missing("user", {r.claimant_id for r in requests})
    if claimants:
        store("user", claimants, _people_by(_people_query(User.id.in_(claimants), group=User.id)))
    by_station = missing("station deputies", {r.station_id for r in requests})
    if by_station:
        store("station deputies", by_station, _deputies_by(_deputies_query(
            station_deputies.c.station_id.in_(by_station), _STATION_JOIN, group=station_deputies.c.station_id)))
    addressed = missing("deputy", {r.addressed_deputy_id for r in requests})
    if addressed:
        store("deputy", addressed, _deputies_by(_deputies_query(Deputy.id.in_(addressed), group=Deputy.id)))


def _staff_of(jurisdiction_id: Optional[int]) -> list[Reach]:
    if jurisdiction_id is None:
        return []
    people = cached(("staff", jurisdiction_id), lambda: _one(_STAFF_AT, _people_by, jurisdiction_id))
    return [Reach(Place("jurisdiction", jurisdiction_id), people)]


def _deputies_of_station(station_id: Optional[int]) -> list[Reach]:
    if station_id is None:
        return []
    people = cached(("station deputies", station_id), lambda: _one(_STATION_DEPUTIES, _deputies_by, station_id))
    return [Reach(Place("station", station_id), people)]


def _addressed_deputy(req: Request) -> list[Reach]:
    if req.addressed_deputy_id is None:
        return []
    deputy_id = req.addressed_deputy_id
    people = cached(("deputy", deputy_id), lambda: _one(_DEPUTY, _deputies_by, deputy_id))
    place = Place("station", req.station_id) if req.station_id else None
    return [Reach(place, people)]


def _station_jurisdiction(req: Request) -> Optional[int]:
    if req.station_id is None:
        return req.filed_jurisdiction_id
    station_id = req.station_id
    return cached(("station level", station_id), lambda: db.session.scalar(
        sa.select(Station.jurisdiction_id).where(Station.id == station_id)))


def _at_filing_level(req: Request) -> bool:
    return _station_jurisdiction(req) in (None, req.jurisdiction_id)


def _queue_deputies(req: Request) -> list[Reach]:
    """Who may claim it where it is now (access._holds_queue): at the filing level the addressed
    deputy and the station's deputies; above it, the deputies elected at that level."""
    if _at_filing_level(req):
        return _addressed_deputy(req) + _deputies_of_station(req.station_id)
    level = req.jurisdiction_id
    people = cached(("level deputies", level), lambda: _one(_LEVEL_DEPUTIES, _deputies_by, level))
    return [Reach(Place("jurisdiction", req.jurisdiction_id), people)]


def _department(req: Request) -> list[Reach]:
    if req.department_id is None:
        return []
    department_id = req.department_id
    people = cached(("officers", department_id), lambda: _one(_OFFICERS_OF, _people_by, department_id))
    return [Reach(Place("department", req.department_id), people)]


def _claimant(req: Request) -> list[Reach]:
    if req.claimant_id is None:
        return []
    claimant_id = req.claimant_id
    return [Reach(None, cached(("user", claimant_id), lambda: _one(_ACCOUNT, _people_by, claimant_id)))]


def _staff_above(req: Request) -> list[Reach]:
    level = req.jurisdiction_id
    parent_id = cached(("parent", level), lambda: db.session.scalar(
        sa.select(Jurisdiction.parent_id).where(Jurisdiction.id == level)))
    return _staff_of(parent_id)


def _holders(req: Request) -> list[Reach]:
    if req.department_id is not None and req.status in (Status.ASSIGNED, Status.IN_PROGRESS):
        return _department(req)
    if req.claimant_id is not None:
        return _claimant(req)
    return _queue_deputies(req) + _staff_of(req.jurisdiction_id)


def passed_level_ids(req: Request) -> list[int]:
    """The levels below the one holding it that the request passed through on its way up."""
    levels = db.session.scalars(
        sa.select(RequestEvent.jurisdiction_id).where(RequestEvent.request_id == req.id,
                                                      RequestEvent.action.in_([Action.FILE, Action.ESCALATE]))
    ).all()
    ordered = list(dict.fromkeys([req.filed_jurisdiction_id, *levels]))
    return [level for level in ordered if level is not None and level != req.jurisdiction_id]


def _passed_levels(req: Request) -> list[Reach]:
    reaches = [reach for level in passed_level_ids(req) for reach in _staff_of(level)]
    if reaches and not _at_filing_level(req):
        reaches += _deputies_of_station(req.station_id)
    return reaches


_RESOLVERS = {
    Audience.STATION_DEPUTIES: lambda req: _deputies_of_station(req.station_id),
    Audience.HOLDING_STAFF: lambda req: _staff_of(req.jurisdiction_id),
    Audience.ADDRESSED_DEPUTY: _addressed_deputy,
    # Where it was received: the station's level (services/requests.Route), asked of no other table.
    Audience.STATION_STAFF: lambda req: _staff_of(req.filed_jurisdiction_id),
    Audience.QUEUE_DEPUTIES: _queue_deputies,
    Audience.DEPARTMENT: _department,
    Audience.CLAIMANT: _claimant,
    Audience.STAFF_ABOVE: _staff_above,
    Audience.PASSED_LEVELS: _passed_levels,
    Audience.HOLDERS: _holders,
}


# --- choices: which events reach whom by which channel ------------------------------------------


def builtin_default(role: Role, kind: NotificationKind, channel: NotificationChannel) -> bool:
    """The choice when neither the person nor their jurisdiction's staff made one."""
    if channel is NotificationChannel.SMS:
        return role in (Role.DEPUTY, Role.UNIT) and kind in SMS_BY_DEFAULT
    return True  # named (@) in their places' group robots; the 消息 list always


def choices(people: Iterable[Person], kind: NotificationKind) -> dict[tuple[int, NotificationChannel], bool]:
    """Whether `kind` reaches each person by SMS and by a robot's mention: their own choice,
    else the nearest default their jurisdiction's staff set (at their level or above), else
    the built-in one. A few queries, whatever the number of people."""
    people = [person for person in people if person.id is not None]
    return cached(("choices", kind, tuple(person.id for person in people)), lambda: _choices(people, kind))


def _choices(people: list[Person], kind: NotificationKind) -> dict[tuple[int, NotificationChannel], bool]:
    own, defaults = _stored_choices(kind, [p.id for p in people])
    # The levels above each person are looked up only when some staff set a default at all.
    chains = _ancestor_chains({p.home_jurisdiction_id for p in people if p.home_jurisdiction_id}) if defaults else {}
    found = {}
    for person in people:
        for channel in CHOOSABLE_CHANNELS:
            choice = own.get((person.id, channel))
            for level in chains.get(person.home_jurisdiction_id, ()):
                if choice is not None:
                    break
                choice = defaults.get((level, channel))
            found[(person.id, channel)] = builtin_default(person.role, kind, channel) if choice is None else choice
    return found


def _stored_choices(kind: NotificationKind, user_ids: list[int]) -> tuple[dict, dict]:
    """These people's own choices of this kind, and every default staff set for it (few: a
    jurisdiction's row per channel), in one query; in a batch, everyone's, read once."""
    if _MEMO.get() is not None:
        rows = cached(("choices of", kind), lambda: db.session.execute(_CHOICES, {"kind": kind}).all())
    else:
        rows = db.session.execute(_CHOICES_OF, {"kind": kind, "users": user_ids}).all()
    own, defaults = {}, {}
    for user_id, jurisdiction_id, channel, enabled in rows:
        if user_id is not None:
            own[(user_id, channel)] = enabled
        else:
            defaults[(jurisdiction_id, channel)] = enabled
    return own, defaults


_CHOICES = sa.select(NotificationPreference.user_id, NotificationPreference.jurisdiction_id,
                     NotificationPreference.channel, NotificationPreference.enabled
                     ).where(NotificationPreference.kind == sa.bindparam("kind"))
_CHOICES_OF = _CHOICES.where(sa.or_(NotificationPreference.user_id.in_(sa.bindparam("users", expanding=True)),
                                    NotificationPreference.jurisdiction_id.is_not(None)))


def _ancestor_chains(ids: set[int]) -> dict[int, list[int]]:
    """Each jurisdiction and the levels above it, nearest first: one query, as there are at most
    four levels (province, city, county, township); in a batch, every jurisdiction's parent once."""
    if not ids:
        return {}
    if _MEMO.get() is not None:
        parents = cached(("parents",), lambda: dict(db.session.execute(
            sa.select(Jurisdiction.id, Jurisdiction.parent_id)).all()))
        chains = {}
        for start in ids:
            chain, node = [], start
            while node is not None and len(chain) < len(Level):
                chain.append(node)
                node = parents.get(node)
            chains[start] = chain
        return chains
    return {row[0]: [level for level in row if level is not None]
            for row in db.session.execute(_ANCESTORS, {"ids": list(ids)})}


def _ancestors_query() -> sa.Select:
    levels = [sa.orm.aliased(Jurisdiction) for _ in range(len(Level))]
    query = sa.select(*(level.id for level in levels)).select_from(levels[0])
    for child, parent in zip(levels, levels[1:]):
        query = query.outerjoin(parent, parent.id == child.parent_id)
    return query.where(levels[0].id.in_(sa.bindparam("ids", expanding=True)))


_ANCESTORS = _ancestors_query()
