"""The inbox: tabs, filters, search and keyset paging, all within access.views()."""

from dataclasses import dataclass
from datetime import date
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from .. import access
from ..extensions import db
from ..models import Category, Enterprise, Request, Role, User
from ..workdays import today_local
from ..workflow import Status

PAGE_SIZE = 20
OPEN_STATUSES = [s for s in Status if not s.is_final]


def overdue_clause(today: date):
    """Overdue is derived from the due dates: right at any moment, no job needed."""
    return sa.or_(
        sa.and_(Request.status == Status.SUBMITTED, Request.claim_due_on < today),
        sa.and_(Request.status.in_([Status.ASSIGNED, Status.IN_PROGRESS]), Request.due_on < today),
    )


@dataclass(frozen=True)
class Tab:
    key: str
    label: object
    clause: object
    # The one of the user's access.views() the tab lists from (its rows are in view by
    # construction), or None: every view, each narrowed by the clause, and what they find united.
    view: Optional[str] = None


def tabs_for(user: User) -> list[Tab]:
    today = today_local()
    open_ = Request.status.in_(OPEN_STATUSES)
    overdue = Tab("overdue", _l("Overdue"), overdue_clause(today))
    if user.role is Role.DEPUTY:
        return [
            Tab("addressed", _l("Addressed to me"), open_, view="addressed"),
            Tab("station", _l("Station queue"), Request.status == Status.SUBMITTED, view="station"),
            Tab("mine", _l("Claimed by me"), open_, view="claimed"),
            overdue,
        ]
    if user.role is Role.UNIT:
        return [
            Tab("to_acknowledge", _l("To acknowledge"), Request.status == Status.ASSIGNED),
            Tab("in_progress", _l("In progress"), Request.status == Status.IN_PROGRESS),
            overdue,
            Tab("answered", _l("Answered"), Request.status.notin_([Status.ASSIGNED, Status.IN_PROGRESS])),
        ]
    if user.role is Role.ADMIN:
        return [Tab("queue", _l("To claim"), Request.status == Status.SUBMITTED),
                Tab("level", _l("In hand at my level"), sa.and_(open_, Request.status != Status.SUBMITTED)),
                overdue, Tab("all", _l("All"), sa.true())]
    here = Request.jurisdiction_id == user.jurisdiction_id
    return [
        Tab("queue", _l("To claim"), sa.and_(here, Request.status == Status.SUBMITTED), view="subtree"),
        Tab("level", _l("In hand at my level"), sa.and_(here, open_, Request.status != Status.SUBMITTED),
            view="subtree"),
        Tab("below", _l("Below my level"), sa.and_(Request.jurisdiction_id != user.jurisdiction_id, open_),
            view="subtree"),
        # Sent up from here: followed read only until its result can be told to the enterprise.
        Tab("above", _l("Escalated above"), sa.true(), view="escalated_above"),
        Tab("overdue", _l("Overdue"), overdue_clause(today), view="subtree"),
        Tab("all", _l("All"), sa.true()),
    ]


@dataclass
class Filters:
    status: Optional[Status] = None
    category: Optional[Category] = None
    date_from: Optional[date] = None
    date_to: Optional[date] = None
    q: str = ""

    @classmethod
    def from_args(cls, args) -> "Filters":
        def parse(enum, value):
            try:
                return enum(value) if value else None
            except ValueError:
                return None

        def parse_date(value):
            try:
                return date.fromisoformat(value) if value else None
            except ValueError:
                return None

        return cls(
            status=parse(Status, args.get("status")),
            category=parse(Category, args.get("category")),
            date_from=parse_date(args.get("from")),
            date_to=parse_date(args.get("to")),
            q=(args.get("q") or "").strip()[:60],
        )

    def apply(self, query):
        from datetime import datetime, time, timedelta

        from ..workdays import CHINA

        if self.status:
            query = query.where(Request.status == self.status)
        if self.category:
            query = query.where(Request.category == self.category)
        if self.date_from:
            query = query.where(Request.created_at >= _utc(datetime.combine(self.date_from, time.min, CHINA)))
        if self.date_to:
            query = query.where(Request.created_at < _utc(datetime.combine(self.date_to + timedelta(days=1), time.min, CHINA)))
        if self.q:
            pattern = f"%{self.q}%"
            query = query.where(
                sa.or_(
                    Request.reference == self.q,
                    Request.title.ilike(pattern),
                    Request.description.ilike(pattern),
                    Request.enterprise_id.in_(sa.select(Enterprise.id).where(Enterprise.name.ilike(pattern))),
                )
            )
        return query


def _utc(moment):
    from datetime import timezone

    return moment.astimezone(timezone.utc).replace(tzinfo=None)


@dataclass
class Page:
    tab: Tab
    tabs: list[Tab]
    counts: dict[str, int]
    requests: list[Request]
    next_before: Optional[int]


def _in_tab(views: dict, tab: Tab, filters: Filters, *clauses) -> list[sa.Select]:
    """SELECTs of the ids of the tab's requests, one per view (access.views) it lists from: a
    request is in the tab when one of them finds it. A deputy's five views are asked one by
    one, each with the tab's clause and the filters, because their OR leads PostgreSQL to walk
    the requests backwards by id testing it on each (a province's overdue tab: 95 ms)."""
    chosen = [views[tab.view]] if tab.view else list(views.values())
    return [filters.apply(sa.select(Request.id).where(view, tab.clause, *clauses)) for view in chosen]


def _counted(selects: list[sa.Select]):
    if len(selects) == 1:
        return selects[0].with_only_columns(sa.func.count(Request.id)).scalar_subquery()
    return sa.select(sa.func.count()).select_from(sa.union(*selects).subquery()).scalar_subquery()


def inbox_page(user: User, tab_key: Optional[str], filters: Filters, before: Optional[int]) -> Page:
    """One tab of the inbox: newest first, PAGE_SIZE at a time, keyset-paged by id so
    that a page deep in 100,000 requests costs what the first one does."""
    tabs = tabs_for(user)
    tab = next((t for t in tabs if t.key == tab_key), tabs[0])
    views = access.views(user)
    # Every tab's count in one statement: one round trip instead of four or five.
    counts = dict(zip([t.key for t in tabs], db.session.execute(
        sa.select(*[_counted(_in_tab(views, t, filters)) for t in tabs])).one()))
    selects = _in_tab(views, tab, filters, *([Request.id < before] if before else []))
    if user.role is not Role.DEPUTY:
        query = selects[0].with_only_columns(Request)
    else:
        # The page's ids first, each view's newest from its index (a deputy may have 2,000
        # requests addressed to him), united; then only those rows are read.
        pages = [s.order_by(Request.id.desc()).limit(PAGE_SIZE + 1) for s in selects]
        found = pages[0] if len(pages) == 1 else sa.union(*[sa.select(p.c.id) for p in map(sa.Select.subquery, pages)])
        query = sa.select(Request).where(Request.id.in_(found))
    rows = db.session.scalars(
        query.options(selectinload(Request.enterprise), selectinload(Request.station),
                      selectinload(Request.department))
        .order_by(Request.id.desc())
        .limit(PAGE_SIZE + 1)
    ).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return Page(tab=tab, tabs=tabs, counts=counts, requests=rows, next_before=rows[-1].id if more else None)
