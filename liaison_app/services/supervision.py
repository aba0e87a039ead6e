"""Supervision (督办): overdue items per level and reminders (催办), the key supervision
register (重点督办), cases that gather requests about one shared problem (并案), and
typical cases (典型案例).

Every list is limited to the user's jurisdiction and below (admin/scope.py). Every
change checks who may act, goes through the workflow table, writes an internal event
on each request it touches and commits once. The batch actions (remind a whole level,
assign a whole case) call the closed loop's own services request by request, so that
one request changed meanwhile is reported and does not stop the others.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Callable, Iterable, Optional

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from .. import access, workdays
from ..admin import scope
from ..desk.queries import OPEN_STATUSES, overdue_clause
from ..extensions import db
from ..models import Department, Jurisdiction, Level, Outcome, Request, RequestCase, RequestEvent, Role, User
from ..workdays import Deadline, acknowledge_due_dates, local_date, today_local, utc_start_of
from ..workflow import Action, ForbiddenActor, InvalidTransition, Status, WorkflowError, next_status
from . import workflow as wf
from .workflow import InvalidInput

CASE_TITLE_MAX = 80
TYPICAL_NOTE_MAX = 1000
MAX_REFERENCES = 200  # one form's worth of reference numbers pasted from a spreadsheet


# --- who may act -------------------------------------------------------------------------------


def check(user: User, action: Action, req: Request) -> None:
    """The workflow table allows `action` in the request's status for this kind of actor
    (409 / 403 otherwise), and the user supervises the request: staff of its level or
    above, or an admin."""
    next_status(req.status, action, access.actor_kind(user))
    supervises = user.role is Role.ADMIN or (
        user.role is Role.STAFF and user.jurisdiction_id in access.ancestor_ids(req.jurisdiction)
    )
    if not supervises:
        raise ForbiddenActor(_l("You may not do this with this request now."))


def may(user: User, action: Action, req: Request) -> bool:
    try:
        check(user, action, req)
    except WorkflowError:
        return False
    return True


def may_mark_typical(user: User, req: Request) -> bool:
    """Whether the card offers this user to write the request up as a typical case."""
    return req.outcome is Outcome.SOLVED and may(user, Action.MARK_TYPICAL, req)


# --- overdue items (超期) ----------------------------------------------------------------------


class OverdueKind(StrEnum):
    CLAIM = "claim"  # 未按时认领
    ACKNOWLEDGE = "acknowledge"  # 未按时签收
    RESPONSE = "response"  # 未按时答复

    @property
    def label(self):
        return OVERDUE_LABELS[self]

    @property
    def deadline(self) -> Deadline:
        """The deadline that passed (签收期限, 答复期限...), as the board names it on each row."""
        return Deadline(self.value)


OVERDUE_LABELS = {
    OverdueKind.CLAIM: _l("Not claimed in time"),
    OverdueKind.ACKNOWLEDGE: _l("Not acknowledged in time"),
    OverdueKind.RESPONSE: _l("Not answered in time"),
}


@dataclass(frozen=True)
class OverdueRow:
    request: Request
    kind: OverdueKind
    due_on: date
    days_overdue: int
    reminded_at: Optional[datetime] = None  # the last reminder (naive UTC)


@dataclass
class LevelOverdue:
    """What is overdue at one jurisdiction (the level the requests are at now)."""

    jurisdiction: Jurisdiction
    rows: dict[OverdueKind, list[OverdueRow]] = field(default_factory=lambda: {kind: [] for kind in OverdueKind})

    @property
    def request_count(self) -> int:
        """Requests, not rows: an item neither acknowledged nor answered is late twice."""
        return len({row.request.id for rows in self.rows.values() for row in rows})


def overdue_board(user: User, *, today: Optional[date] = None,
                  jurisdiction_id: Optional[int] = None) -> list[LevelOverdue]:
    """督办: what is overdue in the user's jurisdiction and below, per level, top level first."""
    today = today or today_local()
    query = scope.limit_to_scope(user, sa.select(Request), Request.jurisdiction_id)
    if jurisdiction_id is not None:
        query = query.where(Request.jurisdiction_id == jurisdiction_id)
    levels: dict[int, LevelOverdue] = {}
    for row in overdue_rows(query, today):
        level = levels.setdefault(row.request.jurisdiction_id, LevelOverdue(row.request.jurisdiction))
        level.rows[row.kind].append(row)
    return sorted(levels.values(), key=lambda level: (level.jurisdiction.level.rank, level.jurisdiction.division_code))


def overdue_row(req: Request, kind: OverdueKind, *, today: Optional[date] = None) -> Optional[OverdueRow]:
    """One row of the board again (after a reminder); None when it is no longer overdue."""
    rows = overdue_rows(sa.select(Request).where(Request.id == req.id), today or today_local())
    return next((row for row in rows if row.kind is kind), None)


def overdue_rows(query: sa.Select, today: date) -> list[OverdueRow]:
    """Every way each request of `query` is late, the longest overdue first.

    A constant number of queries however many rows: the requests with what the page
    shows of them, the holiday table once, the last reminders once.
    """
    # Acknowledgement is due at least one day after assignment: only older ones can be late.
    may_be_unacknowledged = sa.and_(Request.status == Status.ASSIGNED,
                                    Request.assigned_at < utc_start_of(today - timedelta(days=1)))
    requests = db.session.scalars(
        query.where(sa.or_(overdue_clause(today), may_be_unacknowledged))
        .options(selectinload(Request.jurisdiction), selectinload(Request.enterprise),
                 selectinload(Request.department), selectinload(Request.claimant))
        .order_by(Request.id)
    ).all()
    acknowledge_deadlines = acknowledge_due_dates(
        {local_date(req.assigned_at) for req in requests if req.status is Status.ASSIGNED and req.assigned_at}
    )
    reminded = _last_reminders([req.id for req in requests])
    rows = []
    for req in requests:
        for kind, due in _deadlines(req, acknowledge_deadlines):
            if due < today:
                rows.append(OverdueRow(req, kind, due, (today - due).days, reminded.get(req.id)))
    rows.sort(key=lambda row: (-row.days_overdue, row.request.id))
    return rows


def _deadlines(req: Request, acknowledge_deadlines: dict[date, date]) -> list[tuple[OverdueKind, date]]:
    deadlines = []
    if req.status is Status.SUBMITTED and req.claim_due_on:
        deadlines.append((OverdueKind.CLAIM, req.claim_due_on))
    if req.status is Status.ASSIGNED and req.assigned_at:
        deadlines.append((OverdueKind.ACKNOWLEDGE, acknowledge_deadlines[local_date(req.assigned_at)]))
    if req.status in (Status.ASSIGNED, Status.IN_PROGRESS) and req.due_on:
        deadlines.append((OverdueKind.RESPONSE, req.due_on))
    return deadlines


def _last_reminders(request_ids: list[int]) -> dict[int, datetime]:
    if not request_ids:
        return {}
    query = (
        sa.select(RequestEvent.request_id, sa.func.max(RequestEvent.created_at))
        .where(RequestEvent.action == Action.REMIND, RequestEvent.request_id.in_(request_ids))
        .group_by(RequestEvent.request_id)
    )
    return dict(db.session.execute(query).tuples().all())


# --- the overdue page: counted in SQL, a few rows per level, the rest paged ----------------------

ROWS_PER_KIND = 5  # rows of each kind the board shows per level; the level's own list pages the rest
LEVELS_PER_PAGE = 10  # levels per page of the board: a province holds 1,400 jurisdictions
LIST_PAGE_SIZE = 50  # rows per page of one level's list of one kind


def first_day_not_late_to_acknowledge(today: date) -> date:
    """The earliest day of assignment whose acknowledgement deadline is today or later: what was
    assigned (in China) before it is late. A later assignment day never has an earlier deadline,
    so this one day stands for the working-day rule in SQL."""
    working_days = current_app.config["ACKNOWLEDGE_DUE_WORKING_DAYS"]
    days = {today - timedelta(days=back) for back in range(2 * working_days + 31)}
    deadlines = workdays.add_working_days_to_each(days, working_days)
    return min(day for day in days if deadlines[day] >= today)


def overdue_clauses(today: date) -> dict[OverdueKind, sa.ColumnElement]:
    """Each kind of lateness as a condition on the request's own columns (what _deadlines() says)."""
    acknowledge_before = utc_start_of(first_day_not_late_to_acknowledge(today))
    return {
        OverdueKind.CLAIM: sa.and_(Request.status == Status.SUBMITTED, Request.claim_due_on < today),
        OverdueKind.ACKNOWLEDGE: sa.and_(Request.status == Status.ASSIGNED, Request.assigned_at < acknowledge_before),
        OverdueKind.RESPONSE: sa.and_(Request.status.in_([Status.ASSIGNED, Status.IN_PROGRESS]),
                                      Request.due_on < today),
    }


def due_clauses(day: date) -> dict[OverdueKind, sa.ColumnElement]:
    """Each kind of deadline that falls on `day` exactly (flask notify-deadlines: due tomorrow)."""
    assigned_from = utc_start_of(first_day_not_late_to_acknowledge(day))
    assigned_before = utc_start_of(first_day_not_late_to_acknowledge(day + timedelta(days=1)))
    return {
        OverdueKind.CLAIM: sa.and_(Request.status == Status.SUBMITTED, Request.claim_due_on == day),
        OverdueKind.ACKNOWLEDGE: sa.and_(Request.status == Status.ASSIGNED, Request.assigned_at >= assigned_from,
                                         Request.assigned_at < assigned_before),
        OverdueKind.RESPONSE: sa.and_(Request.status.in_([Status.ASSIGNED, Status.IN_PROGRESS]),
                                      Request.due_on == day),
    }


# Longest overdue first: the deadline, or for acknowledgements the moment of assignment it follows from.
ORDER_KEYS = {OverdueKind.CLAIM: Request.claim_due_on, OverdueKind.ACKNOWLEDGE: Request.assigned_at,
              OverdueKind.RESPONSE: Request.due_on}
_LATE_STATUSES = (Status.SUBMITTED, Status.ASSIGNED, Status.IN_PROGRESS)


@dataclass
class LevelSummary:
    """One level of the board: how many are late of each kind, and the first rows of each."""

    jurisdiction: Jurisdiction
    counts: dict[OverdueKind, int]
    request_count: int  # requests, not rows: an item neither acknowledged nor answered is late twice
    rows: dict[OverdueKind, list[OverdueRow]] = field(default_factory=lambda: {kind: [] for kind in OverdueKind})


@dataclass
class BoardPage:
    levels: list[LevelSummary]  # LEVELS_PER_PAGE of them, top level first
    level_count: int
    start: int  # the position of the first level shown
    next_start: Optional[int]


def _late_in_view(user: User, jurisdiction_id: Optional[int], below: bool) -> sa.Select:
    query = scope.limit_to_scope(user, sa.select(Request), Request.jurisdiction_id)
    if jurisdiction_id is not None:
        ids = access.subtree_ids(jurisdiction_id) if below else [jurisdiction_id]
        query = query.where(Request.jurisdiction_id.in_(ids))
    return query.where(Request.status.in_(_LATE_STATUSES))


def overdue_levels(user: User, *, jurisdiction_id: Optional[int] = None, below: bool = True, start: int = 0,
                   today: Optional[date] = None) -> BoardPage:
    """督办 at any scale: the levels holding overdue requests in the user's view (or at
    `jurisdiction_id` and, unless not `below`, under it), counted per kind in one GROUP BY, a page of levels at a time, each with
    its ROWS_PER_KIND longest overdue rows of each kind. A fixed number of queries."""
    today = today or today_local()
    clauses = overdue_clauses(today)
    # The kinds inside the counts, not in WHERE: then the open requests are read from one index alone.
    late = sa.func.count(sa.case((sa.or_(*clauses.values()), 1)))
    counted = (
        _late_in_view(user, jurisdiction_id, below)
        .with_only_columns(Request.jurisdiction_id.label("jurisdiction_id"),
                           *(sa.func.count(sa.case((clause, 1))).label(kind.value) for kind, clause in clauses.items()),
                           late.label("requests"))
        .group_by(Request.jurisdiction_id).having(late > 0).subquery()
    )
    found = db.session.execute(
        sa.select(Jurisdiction.level, Jurisdiction.division_code, counted)
        .join(counted, counted.c.jurisdiction_id == Jurisdiction.id)).all()
    rank = {level: level.rank for level in Level}
    found.sort(key=lambda row: (rank[row.level], row.division_code, row.jurisdiction_id))
    start = max(start, 0)
    shown = found[start:start + LEVELS_PER_PAGE]
    places = {j.id: j for j in db.session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.id.in_([row.jurisdiction_id for row in shown])))}
    levels = [LevelSummary(places[row.jurisdiction_id], {kind: row._mapping[kind.value] for kind in OverdueKind},
                           row.requests) for row in shown]
    _first_rows(levels, clauses, today)
    following = start + LEVELS_PER_PAGE
    return BoardPage(levels, len(found), start, following if following < len(found) else None)


def _first_rows(levels: list[LevelSummary], clauses: dict, today: date) -> None:
    """The ROWS_PER_KIND longest overdue rows of each kind at each level (a window per level)."""
    by_id = {level.jurisdiction.id: level for level in levels}
    if not by_id:
        return
    wanted: list[tuple[int, OverdueKind]] = []
    for kind, clause in clauses.items():
        position = sa.func.row_number().over(partition_by=Request.jurisdiction_id,
                                             order_by=(ORDER_KEYS[kind], Request.id)).label("position")
        ranked = (sa.select(Request.id, Request.jurisdiction_id, position)
                  .where(Request.jurisdiction_id.in_(by_id), clause).subquery())
        wanted += [(request_id, kind) for request_id, in db.session.execute(
            sa.select(ranked.c.id).where(ranked.c.position <= ROWS_PER_KIND)
            .order_by(ranked.c.jurisdiction_id, ranked.c.position))]
    for row in _rows_for(wanted, today):
        by_id[row.request.jurisdiction_id].rows[row.kind].append(row)


def _rows_for(wanted: list[tuple[int, OverdueKind]], today: date) -> list[OverdueRow]:
    """OverdueRows for (request id, kind) pairs, in their order: the requests with what the page
    shows of them, the holiday table once, the last reminders once."""
    ids = sorted({request_id for request_id, _kind in wanted})
    if not ids:
        return []
    loaded = {req.id: req for req in db.session.scalars(
        sa.select(Request).where(Request.id.in_(ids))
        .options(selectinload(Request.jurisdiction), selectinload(Request.enterprise),
                 selectinload(Request.department), selectinload(Request.claimant)))}
    acknowledge_deadlines = acknowledge_due_dates(
        {local_date(req.assigned_at) for req in loaded.values() if req.assigned_at})
    reminded = _last_reminders(ids)
    rows = []
    for request_id, kind in wanted:
        req = loaded[request_id]
        due = dict(_deadlines(req, acknowledge_deadlines)).get(kind)
        if due is not None:
            rows.append(OverdueRow(req, kind, due, (today - due).days, reminded.get(request_id)))
    return rows


@dataclass
class OverdueList:
    """One level's overdue requests of one kind, a page at a time."""

    jurisdiction: Jurisdiction
    kind: OverdueKind
    rows: list[OverdueRow]
    total: int
    next_after: Optional[int]  # the id to page on from, if there is more


def overdue_list(jurisdiction: Jurisdiction, kind: OverdueKind, *, after: Optional[int] = None,
                 today: Optional[date] = None) -> OverdueList:
    """The requests at `jurisdiction` late in this way, longest overdue first, LIST_PAGE_SIZE after
    the request `after` (keyset paging on the deadline and id: a deep page costs what the first
    does). Access is the caller's to check."""
    today = today or today_local()
    key = ORDER_KEYS[kind]
    query = sa.select(Request.id).where(Request.jurisdiction_id == jurisdiction.id, overdue_clauses(today)[kind])
    total = db.session.scalar(query.with_only_columns(sa.func.count())) or 0
    if after is not None:
        value = db.session.scalar(sa.select(key).where(Request.id == after))
        if value is not None:
            query = query.where(sa.tuple_(key, Request.id) > sa.tuple_(value, after))
    ids = db.session.scalars(query.order_by(key, Request.id).limit(LIST_PAGE_SIZE + 1)).all()
    rows = _rows_for([(request_id, kind) for request_id in ids[:LIST_PAGE_SIZE]], today)
    return OverdueList(jurisdiction, kind, rows, total, ids[LIST_PAGE_SIZE - 1] if len(ids) > LIST_PAGE_SIZE else None)


@dataclass
class Skipped:
    reference: str
    reason: object  # a (lazy) message


@dataclass
class BatchResult:
    """What a batch action did, by reference number, and what it left alone and why."""

    done: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, reference: str, reason) -> None:
        self.skipped.append(Skipped(reference, reason))

    def attempt(self, reference: str, change: Callable[[], object]) -> None:
        """One request's change through its service; refused, it is rolled back and reported."""
        try:
            change()
        except WorkflowError as error:
            db.session.rollback()
            self.skip(reference, error.message)
        else:
            self.done.append(reference)


def remind_overdue_at(jurisdiction: Jurisdiction, *, actor: User, today: Optional[date] = None) -> BatchResult:
    """催办 every overdue request at one level in one tap, each through services.workflow.remind
    (its own check, event, notification and commit). Those already reminded today are left alone."""
    today = today or today_local()
    result = BatchResult()
    seen: set[int] = set()
    for level in overdue_board(actor, today=today, jurisdiction_id=jurisdiction.id):
        for row in (row for rows in level.rows.values() for row in rows):
            req, reference = row.request, row.request.reference
            if req.id in seen:
                continue
            seen.add(req.id)
            if row.reminded_at and local_date(row.reminded_at) == today:
                result.skip(reference, _l("Already reminded today."))
            else:
                result.attempt(reference, lambda: wf.remind(req, actor=actor))
    return result


# --- registers -----------------------------------------------------------------------------


def _listed(user: User, query: sa.Select) -> list[Request]:
    """The rows of a register with what its page shows, in the user's jurisdiction and below."""
    query = query.options(selectinload(Request.jurisdiction), selectinload(Request.enterprise),
                          selectinload(Request.department))
    return list(db.session.scalars(scope.limit_to_scope(user, query, Request.jurisdiction_id)))


def key_supervision_register(user: User) -> list[Request]:
    """重点督办: open items first, the earliest due first."""
    final = Request.status.in_([status for status in Status if status.is_final])
    return _listed(user, sa.select(Request).where(Request.is_key_supervision).order_by(
        sa.case((final, 1), else_=0), Request.due_on.is_(None), Request.due_on, Request.id))


def typical_cases(user: User) -> list[Request]:
    """典型案例, the most recently closed first."""
    return _listed(user, sa.select(Request).where(Request.is_typical_case).order_by(
        Request.closed_at.is_(None), Request.closed_at.desc(), Request.id.desc()))


# --- cases (并案) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSummary:
    case: RequestCase
    total: int
    open: int


def case_list(user: User) -> list[CaseSummary]:
    """The cases of the user's jurisdiction and below, newest first, with their counts."""
    counts = (
        sa.select(Request.case_id, sa.func.count(Request.id).label("total"),
                  sa.func.sum(sa.case((Request.status.in_(OPEN_STATUSES), 1), else_=0)).label("open"))
        .where(Request.case_id.is_not(None))
        .group_by(Request.case_id)
        .subquery()
    )
    query = (
        sa.select(RequestCase, counts.c.total, counts.c.open)
        .outerjoin(counts, counts.c.case_id == RequestCase.id)
        .options(selectinload(RequestCase.jurisdiction))
        .order_by(RequestCase.created_at.desc(), RequestCase.id.desc())
    )
    rows = db.session.execute(scope.limit_to_scope(user, query, RequestCase.jurisdiction_id))
    return [CaseSummary(case, total or 0, open_ or 0) for case, total, open_ in rows]


def case_requests(user: User, case: RequestCase) -> list[Request]:
    """The requests of the case that the user may open (one may have moved up out of view)."""
    return _listed(user, access.visible_requests(user).where(Request.case_id == case.id).order_by(Request.id))


def parse_references(text: str) -> list[str]:
    """Reference numbers as staff paste them: separated by spaces, new lines, commas or 、；"""
    references = []
    for reference in re.split(r"[\s,，、;；]+", text or ""):
        if reference and reference not in references:
            references.append(reference)
    return references


def find_by_references(user: User, references: list[str]) -> tuple[list[Request], list[str]]:
    """The requests the user may open among `references`, and the references not found."""
    if len(references) > MAX_REFERENCES:
        raise InvalidInput(_l("At most %(max)d reference numbers at a time.", max=MAX_REFERENCES))
    query = access.visible_requests(user).where(Request.reference.in_(references))
    found = {req.reference: req for req in db.session.scalars(scope.limit_to_scope(user, query, Request.jurisdiction_id))}
    return [found[ref] for ref in references if ref in found], [ref for ref in references if ref not in found]


def merge_into_case(requests: Iterable[Request], *, title: str, actor: User, note: str = "") -> RequestCase:
    """并案: gather requests about one shared problem (e.g. 企业融资难) into a case that is
    handled once. Each request keeps its own answer and its enterprise's rating; an
    internal event on each says which case it joined. All or nothing."""
    title = " ".join((title or "").split())
    if not title:
        raise InvalidInput(_l("Please give the case a title."))
    if len(title) > CASE_TITLE_MAX:
        raise InvalidInput(_l("At most %(max)d characters.", max=CASE_TITLE_MAX))
    requests = _distinct(requests)
    if len(requests) < 2:
        raise InvalidInput(_l("A case gathers at least two requests."))
    _check_joinable(requests, actor=actor)
    case = RequestCase(title=title, note=(note or "").strip(), created_by=actor,
                       jurisdiction=_lowest_common_level([req.jurisdiction for req in requests]))
    db.session.add(case)
    _join(case, requests, actor=actor)
    wf._commit()
    return case


def add_to_case(case: RequestCase, requests: Iterable[Request], *, actor: User) -> None:
    """并案 of further requests into an existing case (all or nothing)."""
    requests = _distinct(requests)
    if not requests:
        raise InvalidInput(_l("Please give at least one reference number."))
    _check_joinable(requests, actor=actor)
    below = access.subtree_ids(case.jurisdiction_id)
    for req in requests:
        if req.jurisdiction_id not in below:
            raise InvalidInput(_l("%(reference)s is not held at or below %(place)s, the level of this case.",
                                  reference=req.reference, place=case.jurisdiction.name))
    _join(case, requests, actor=actor)
    wf._commit()


def remove_from_case(req: Request, *, actor: User, note: str = "") -> RequestEvent:
    """Take a request out of its case; it is then handled on its own again."""
    if req.case is None:
        raise InvalidInput(_l("This request is not in a case."))
    check(actor, Action.LEAVE_CASE, req)
    title = req.case.title
    req.case = None
    event = wf._record(req, Action.LEAVE_CASE, actor=actor, note=note or title, public=False)
    wf._commit()
    return event


def assign_case(case: RequestCase, *, actor: User, department: Department,
                due_on: Optional[date] = None, note: str = "") -> BatchResult:
    """交办 once for the whole case: each open request of the case that the user may assign
    goes to `department` through services.workflow.assign_request (one still waiting to be
    claimed is claimed by the user first). The department then answers each enterprise on
    its own, and each rates on its own. The others are reported with the reason."""
    if not department.active or not scope.in_scope(actor, department.jurisdiction_id):
        raise InvalidInput(_l("Choose a department of the level that holds the request."))
    visible = set(db.session.scalars(
        access.visible_requests(actor).where(Request.case_id == case.id).with_only_columns(Request.id)
    ))
    result = BatchResult()
    for req in list(case.requests):
        reference = req.reference
        reason = _why_not_assignable(req, actor=actor, department=department, visible=visible)
        if reason is not None:
            result.skip(reference, reason)
        else:
            result.attempt(reference, lambda: _claim_and_assign(req, actor=actor, department=department,
                                                                due_on=due_on, note=note))
    return result


def _claim_and_assign(req: Request, *, actor: User, department: Department, due_on: Optional[date], note: str) -> None:
    if req.status is Status.SUBMITTED:
        wf.claim_request(req, actor=actor)
    wf.assign_request(req, actor=actor, version=req.version, department=department, due_on=due_on, note=note)


def assignable_departments(user: User, requests: list[Request]) -> list[Department]:
    """The departments one may assign the case's waiting requests to: of their levels,
    and for staff of their own level only (assignment is the holding level's act)."""
    levels = {req.jurisdiction_id for req in requests if req.status in (Status.SUBMITTED, Status.CLAIMED)}
    if user.role is not Role.ADMIN:
        levels &= {user.jurisdiction_id}
    if not levels:
        return []
    query = (
        sa.select(Department).where(Department.jurisdiction_id.in_(levels), Department.active)
        .options(selectinload(Department.jurisdiction)).order_by(Department.jurisdiction_id, Department.name)
    )
    return list(db.session.scalars(query))


def _why_not_assignable(req: Request, *, actor: User, department: Department, visible: set[int]):
    if req.id not in visible:
        return _l("Outside your view.")
    if req.status not in (Status.SUBMITTED, Status.CLAIMED):
        return _l("Not waiting to be assigned: %(status)s", status=req.status.label)
    if req.jurisdiction_id != department.jurisdiction_id:
        return _l("Held at %(place)s: choose a department of that level.", place=req.jurisdiction.name)
    if not access.can(actor, Action.CLAIM if req.status is Status.SUBMITTED else Action.ASSIGN, req):
        return _l("Only those who hold it at %(place)s may assign it.", place=req.jurisdiction.name)
    return None


def _distinct(requests: Iterable[Request]) -> list[Request]:
    unique: dict[int, Request] = {}
    for req in requests:
        unique.setdefault(req.id, req)
    return list(unique.values())


def _check_joinable(requests: list[Request], *, actor: User) -> None:
    """Visible to and in the scope of the actor, open, supervised by them, in no case yet."""
    visible = set(db.session.scalars(
        access.visible_requests(actor).where(Request.id.in_([req.id for req in requests]))
        .with_only_columns(Request.id)
    ))
    for req in requests:
        if req.id not in visible:
            raise InvalidInput(_l("%(reference)s was not found.", reference=req.reference))
        if req.status.is_final:
            raise InvalidTransition(_l("%(reference)s is %(status)s and cannot join a case.",
                                       reference=req.reference, status=req.status.label))
        if req.case is not None:
            raise InvalidInput(_l("%(reference)s is already in the case “%(title)s”.",
                                  reference=req.reference, title=req.case.title))
        check(actor, Action.MERGE_INTO_CASE, req)
        if not scope.in_scope(actor, req.jurisdiction_id):
            raise InvalidInput(_l("%(reference)s was not found.", reference=req.reference))


def _join(case: RequestCase, requests: list[Request], *, actor: User) -> None:
    for req in requests:
        req.case = case
        wf._record(req, Action.MERGE_INTO_CASE, actor=actor, note=case.title, public=False)


def _lowest_common_level(jurisdictions: list[Jurisdiction]) -> Jurisdiction:
    """The lowest jurisdiction at or above all of them: those who see the case see its requests."""
    chains = [[jurisdiction, *jurisdiction.ancestors()] for jurisdiction in jurisdictions]
    common = set.intersection(*({j.id for j in chain} for chain in chains))
    for jurisdiction in chains[0]:
        if jurisdiction.id in common:
            return jurisdiction
    raise InvalidInput(_l("These requests have no level in common."))


# --- typical cases (典型案例) --------------------------------------------------------------------


def mark_typical_case(req: Request, *, actor: User, note: str, version: Optional[int] = None) -> RequestEvent:
    """典型案例: a request closed as solved, written up in a few lines for the monthly
    report and for other levels to learn from. Marking it again replaces the write-up."""
    check(actor, Action.MARK_TYPICAL, req)
    if req.outcome is not Outcome.SOLVED:
        raise InvalidTransition(_l("Only a request closed as solved can be a typical case."))
    note = (note or "").strip()
    if not note:
        raise InvalidInput(_l("Please write a short account of the case."))
    if len(note) > TYPICAL_NOTE_MAX:
        raise InvalidInput(_l("At most %(max)d characters.", max=TYPICAL_NOTE_MAX))
    if version is not None:
        wf._check_version(req, version)
    req.is_typical_case = True
    req.typical_case_note = note
    event = wf._record(req, Action.MARK_TYPICAL, actor=actor, note=note, public=False)
    wf._commit()
    return event


def unmark_typical_case(req: Request, *, actor: User, note: str = "") -> RequestEvent:
    """No longer a typical case; the write-up stays in the trail."""
    if not req.is_typical_case:
        raise InvalidInput(_l("This request is not a typical case."))
    check(actor, Action.UNMARK_TYPICAL, req)
    req.is_typical_case = False
    req.typical_case_note = ""
    event = wf._record(req, Action.UNMARK_TYPICAL, actor=actor, note=note, public=False)
    wf._commit()
    return event
