"""The three lists of Wan'an's closed loop (三单): read-only queries and their XLSX form.

- problem list (问题清单): every request received in a jurisdiction and period;
- claim list (认领清单): what was assigned to a department, its deadline, whether the
  department acknowledged it and how many days it is overdue;
- public list (公示清单): what was closed with a result, for the station's public board, and
  whether its public summary is still to be written or approved (services/publication.py).

A list covers a jurisdiction and everything below it. The problem and public lists count
requests where they were received (filed_jurisdiction_id); the claim list where they are
handled now (jurisdiction_id), since that level's congress assigned them. Pages show
PAGE_SIZE rows at a time, keyset-paged on (date, id), with the total counted once; the
export writes every row in the paper form's layout, always in Chinese.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterator, Optional

import openpyxl
import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from openpyxl.styles import Alignment, Border, Font, NamedStyle, Side
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from .. import access
from ..admin import scope
from ..extensions import db
from ..models import (
    RATING_LABELS,
    Category,
    Department,
    Jurisdiction,
    Outcome,
    Request,
    RequestEvent,
    Station,
    User,
)
from ..models.base import StrEnum
from ..workdays import CHINA, today_local, utc_start_of
from ..workflow import Action, Status
from . import publication
# The register exports' cell writer: strips control characters, never lets text become a formula.
from .imports import workbook_bytes, write_text
from .paper import set_up_printing

PAGE_SIZE = 100
EXPORT_BATCH = 500  # rows loaded (with their extras) at a time while writing a workbook
MAX_EXPORT_ROWS = 10_000  # a paper form, not a data dump: narrow the filters beyond this
PAPER_LOCALE = "zh_CN"  # the form is filed in Chinese whatever language the page is in


class ListKind(StrEnum):
    PROBLEMS = "problems"
    CLAIMS = "claims"
    PUBLIC = "public"

    @property
    def label(self):
        return LIST_LABELS[self]

    @property
    def paper_title(self) -> str:
        """The form's Chinese title: the workbook's title row, sheet and file name."""
        return PAPER_TITLES[self]


LIST_LABELS = {
    ListKind.PROBLEMS: _l("Problem list"),
    ListKind.CLAIMS: _l("Claim list"),
    ListKind.PUBLIC: _l("Public list"),
}
PAPER_TITLES = {ListKind.PROBLEMS: "问题清单", ListKind.CLAIMS: "认领清单", ListKind.PUBLIC: "公示清单"}

OUTCOME_LABELS = {Outcome.SOLVED: _l("Solved"), Outcome.EXPLAINED: _l("Explained under current policy")}


class OutOfScope(LookupError):
    """The jurisdiction asked for is unknown or outside the user's scope."""


# --- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    jurisdiction: Optional[Jurisdiction]  # None only when no jurisdiction exists yet
    date_from: date
    date_to: date
    category: Optional[Category] = None
    status: Optional[Status] = None
    department_id: Optional[int] = None
    station_id: Optional[int] = None

    def query_args(self) -> dict[str, str]:
        """The filters as query arguments (for the export link and the next page)."""
        values = {
            "jurisdiction": self.jurisdiction.id if self.jurisdiction else None,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "category": self.category,
            "status": self.status,
            "department": self.department_id,
            "station": self.station_id,
        }
        return {key: str(value) for key, value in values.items() if value is not None}


def month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def default_jurisdiction(user: User) -> Optional[Jurisdiction]:
    """Staff: their own jurisdiction; admins: the first top-level one."""
    if user.jurisdiction_id is not None and scope.in_scope(user, user.jurisdiction_id):
        return user.jurisdiction
    return db.session.scalar(
        sa.select(Jurisdiction).where(Jurisdiction.parent_id.is_(None)).order_by(Jurisdiction.division_code).limit(1)
    )


def filters_from_args(args, user: User) -> ListFilters:
    """Read the filters; the jurisdiction defaults to the user's, the period to this month
    (in China). Raises OutOfScope for a jurisdiction the user may not see. An unreadable
    value falls back to its default; a department or station outside the chosen
    jurisdiction is dropped (as when the jurisdiction changes after one was chosen)."""
    jurisdiction = _jurisdiction_in_scope(args.get("jurisdiction"), user)
    this_month = month_of(today_local())
    date_from = _parse(date.fromisoformat, args.get("from")) or this_month[0]
    date_to = _parse(date.fromisoformat, args.get("to")) or this_month[1]
    if date_from > date_to:
        date_from, date_to = date_to, date_from
    subtree = access.subtree_ids(jurisdiction.id) if jurisdiction else []
    return ListFilters(
        jurisdiction=jurisdiction,
        date_from=date_from,
        date_to=date_to,
        category=_parse(Category, args.get("category")),
        status=_parse(Status, args.get("status")),
        department_id=_owned_id(Department, args.get("department"), subtree),
        station_id=_owned_id(Station, args.get("station"), subtree),
    )


def _jurisdiction_in_scope(raw: Optional[str], user: User) -> Optional[Jurisdiction]:
    if not raw:
        return default_jurisdiction(user)
    jurisdiction = db.session.get(Jurisdiction, _id_or_raise(raw))
    if jurisdiction is None or not scope.in_scope(user, jurisdiction.id):
        raise OutOfScope(raw)
    return jurisdiction


def _owned_id(model, raw: Optional[str], subtree: list[int]) -> Optional[int]:
    """A department's or station's id when it belongs to the chosen subtree."""
    object_id = _parse(int, raw)
    obj = db.session.get(model, object_id) if object_id else None
    return obj.id if obj is not None and obj.jurisdiction_id in subtree else None


def _id_or_raise(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise OutOfScope(raw) from None


def _parse(convert, raw: Optional[str]):
    try:
        return convert(raw) if raw else None
    except ValueError:
        return None


# A filter menu offers at most this many entries: a province holds 5,000 stations, which would
# be 300 KB of <option>s on every list page. Beyond it, the menu asks for a smaller jurisdiction.
MAX_CHOICES = 300


def department_choices(filters: ListFilters) -> Optional[list[Department]]:
    return _owned_by_subtree(Department, filters, filters.department_id)


def station_choices(filters: ListFilters) -> Optional[list[Station]]:
    return _owned_by_subtree(Station, filters, filters.station_id)


def _owned_by_subtree(model, filters: ListFilters, chosen_id: Optional[int]) -> Optional[list]:
    """The subtree's departments or stations for a filter menu; None when there are too many to
    list (then only the one already chosen, if any, is offered)."""
    if filters.jurisdiction is None:
        return []
    subtree = access.subtree_ids(filters.jurisdiction.id)
    items = list(db.session.scalars(
        sa.select(model).where(model.jurisdiction_id.in_(subtree)).order_by(model.name, model.id)
        .limit(MAX_CHOICES + 1)
    ))
    if len(items) <= MAX_CHOICES:
        return items
    return [db.session.get(model, chosen_id)] if chosen_id else None


# --- the lists: what each one selects and shows -------------------------------------------------


@dataclass
class ListRow:
    """One numbered row: the request and what the list computes for it."""

    number: int
    request: Request
    acknowledged_on: Optional[date] = None
    response_note: str = ""
    texts: list[str] = field(default_factory=list)  # the cells as the page shows them


@dataclass(frozen=True)
class Column:
    header: str  # the paper form's Chinese header: a constant of the form, not UI text
    label: object  # the page's header (lazy string)
    value: Callable[[ListRow], object]
    width: int = 12
    numeric: bool = False
    wrap: bool = False
    links_to_request: bool = False  # on the page, a link to the request's card


def local_date(moment: Optional[datetime]) -> Optional[date]:
    """The date in China of a stored (naive UTC) time."""
    return moment.replace(tzinfo=timezone.utc).astimezone(CHINA).date() if moment else None


def overdue_days(req: Request, today: date) -> int:
    """Days past the response deadline while the department still holds it; 0 otherwise."""
    if req.status in (Status.ASSIGNED, Status.IN_PROGRESS) and req.due_on and today > req.due_on:
        return (today - req.due_on).days
    return 0


def days_taken(req: Request) -> Optional[int]:
    """Calendar days from receipt to closing, counted in China."""
    if req.closed_at is None:
        return None
    return (local_date(req.closed_at) - local_date(req.created_at)).days


def _result_text(row: ListRow) -> str:
    """What was done: as the approved public summary puts it, else the last public answer."""
    if row.request.public_summary_approved_at is not None:
        return publication.parts(row.request.public_summary)[1] or row.request.public_summary
    return row.response_note


def _handler(req: Request):
    return req.department.name if req.department else _l("The deputy (answered directly)")


def _rating(req: Request):
    """满意度, marked when staff took it in a 电话回访 (it counts like the enterprise's own)."""
    if req.rating is None:
        return ""
    if req.rated_by_phone:
        return _l("%(rating)s (phone return visit)", rating=RATING_LABELS[req.rating])
    return RATING_LABELS[req.rating]


def _acknowledged(req: Request):
    # After the current assignment every later status means the department signed for it.
    return _l("No") if req.status is Status.ASSIGNED else _l("Yes")


_NUMBER = Column("序号", _l("No."), lambda row: row.number, width=6, numeric=True)
_REFERENCE = Column("编号", _l("Reference"), lambda row: row.request.reference, width=13, links_to_request=True)
_SUMMARY = Column("问题摘要", _l("Summary"), lambda row: row.request.title, width=32, wrap=True)
_ENTERPRISE = Column("企业名称", _l("Enterprise name"), lambda row: row.request.enterprise.name, width=26, wrap=True)
_CATEGORY = Column("问题类别", _l("Problem category"), lambda row: row.request.category.label, width=14)
_STATUS = Column("办理状态", _l("Handling status"), lambda row: row.request.status.label, width=10)


@dataclass(frozen=True)
class ListSpec:
    kind: ListKind
    date_column: InstrumentedAttribute  # what the period filters and the list is sorted by
    jurisdiction_column: InstrumentedAttribute
    date_label: object  # what the period means on this list (lazy string)
    columns: tuple[Column, ...]
    conditions: tuple = ()
    filter_status: bool = True
    load_extras: Optional[Callable[[list[ListRow]], None]] = None

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]


def _load_acknowledgements(rows: list[ListRow]) -> None:
    """签收日期: the department's latest acknowledgement since the current assignment."""
    found = db.session.execute(
        sa.select(RequestEvent.request_id, sa.func.max(RequestEvent.created_at))
        .join(Request, Request.id == RequestEvent.request_id)
        .where(RequestEvent.request_id.in_([row.request.id for row in rows]),
               RequestEvent.action == Action.ACKNOWLEDGE, RequestEvent.created_at >= Request.assigned_at)
        .group_by(RequestEvent.request_id)
    )
    acknowledged = {request_id: local_date(moment) for request_id, moment in found}
    for row in rows:
        row.acknowledged_on = acknowledged.get(row.request.id)


def _load_response_notes(rows: list[ListRow]) -> None:
    """The last public answer (the department's response or the deputy's own), for rows
    without an approved public summary."""
    ids = [row.request.id for row in rows if row.request.public_summary_approved_at is None]
    if not ids:
        return
    latest = (sa.select(sa.func.max(RequestEvent.id))
              .where(RequestEvent.request_id.in_(ids), RequestEvent.is_public,
                     RequestEvent.action.in_([Action.RESPOND, Action.ANSWER]))
              .group_by(RequestEvent.request_id))
    notes = dict(db.session.execute(sa.select(RequestEvent.request_id, RequestEvent.note)
                                    .where(RequestEvent.id.in_(latest))).all())
    for row in rows:
        row.response_note = notes.get(row.request.id, "")


def _claim_overdue(row: ListRow) -> int:
    return overdue_days(row.request, today_local())


SPECS: dict[ListKind, ListSpec] = {
    ListKind.PROBLEMS: ListSpec(
        kind=ListKind.PROBLEMS,
        date_column=Request.created_at,
        jurisdiction_column=Request.filed_jurisdiction_id,
        date_label=_l("Received on"),
        columns=(
            _NUMBER, _REFERENCE,
            Column("受理日期", _l("Received on"), lambda row: local_date(row.request.created_at), width=12),
            Column("来源渠道", _l("Channel"), lambda row: row.request.channel.label, width=12),
            _ENTERPRISE, _CATEGORY, _SUMMARY,
            Column("联络站", _l("Station"), lambda row: row.request.station.name if row.request.station else "",
                   width=20, wrap=True),
            Column("联系代表", _l("Deputy addressed"),
                   lambda row: row.request.addressed_deputy.name if row.request.addressed_deputy else "", width=10),
            _STATUS,
        ),
    ),
    ListKind.CLAIMS: ListSpec(
        kind=ListKind.CLAIMS,
        date_column=Request.assigned_at,
        jurisdiction_column=Request.jurisdiction_id,
        date_label=_l("Assigned on"),
        # A returned request lost its department and assignment: it is no longer on the list.
        conditions=(Request.department_id.is_not(None),),
        columns=(
            _NUMBER, _REFERENCE, _SUMMARY, _ENTERPRISE, _CATEGORY,
            Column("承办单位", _l("Handling unit"), lambda row: row.request.department.name, width=20, wrap=True),
            Column("交办日期", _l("Assigned on"), lambda row: local_date(row.request.assigned_at), width=12),
            Column("办理期限", _l("Due on"), lambda row: row.request.due_on, width=12),
            Column("是否签收", _l("Acknowledged"), lambda row: _acknowledged(row.request), width=9),
            Column("签收日期", _l("Acknowledged on"), lambda row: row.acknowledged_on, width=12),
            Column("超期天数", _l("Days overdue"), _claim_overdue, width=9, numeric=True),
            _STATUS,
        ),
        load_extras=_load_acknowledgements,
    ),
    ListKind.PUBLIC: ListSpec(
        kind=ListKind.PUBLIC,
        date_column=Request.closed_at,
        jurisdiction_column=Request.filed_jurisdiction_id,
        date_label=_l("Closed on"),
        # Closed with a result: a request refused at intake (不予受理) has none and is not posted.
        conditions=(Request.status == Status.CLOSED, Request.outcome.is_not(None)),
        filter_status=False,
        columns=(
            _NUMBER, _REFERENCE, _ENTERPRISE, _CATEGORY, _SUMMARY,
            Column("办理结果", _l("Result"), lambda row: OUTCOME_LABELS[row.request.outcome], width=12),
            Column("办理情况", _l("What was done"), _result_text, width=40, wrap=True),
            Column("承办单位", _l("Handling unit"), lambda row: _handler(row.request), width=20, wrap=True),
            Column("办结日期", _l("Closed on"), lambda row: local_date(row.request.closed_at), width=12),
            Column("办理用时（天）", _l("Days taken"), lambda row: days_taken(row.request), width=9, numeric=True),
            Column("满意度", _l("Satisfaction"), lambda row: _rating(row.request), width=14),
            Column("同意公示", _l("Consent to publish"),
                   lambda row: _l("Yes") if row.request.public_consent else _l("No"), width=9),
            # Which consented requests still wait for their summary, linked to the card that writes it.
            Column("公示状态", _l("Publication"), lambda row: publication.state_of(row.request).label, width=14,
                   links_to_request=True),
        ),
        load_extras=_load_response_notes,
    ),
}


# --- reading a list -----------------------------------------------------------------------------


def utc_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[from 00:00, the day after `to` 00:00) in China, as the naive UTC times stored."""
    return utc_start_of(date_from), utc_start_of(date_to + timedelta(days=1))


def _selected(spec: ListSpec, filters: ListFilters) -> sa.Select:
    """Every request on the list, unordered: indexed columns first (jurisdiction, period)."""
    if filters.jurisdiction is None:
        return sa.select(Request).where(sa.false())
    start, end = utc_bounds(filters.date_from, filters.date_to)
    query = sa.select(Request).where(
        spec.jurisdiction_column.in_(access.subtree_ids(filters.jurisdiction.id)),
        spec.date_column >= start, spec.date_column < end, *spec.conditions,
    )
    if filters.category:
        query = query.where(Request.category == filters.category)
    if filters.status and spec.filter_status:
        query = query.where(Request.status == filters.status)
    if filters.department_id:
        query = query.where(Request.department_id == filters.department_id)
    if filters.station_id:
        query = query.where(Request.station_id == filters.station_id)
    return query


def count_rows(spec: ListSpec, filters: ListFilters) -> int:
    # count(*), not count(id): the count is then answered from the index alone.
    query = _selected(spec, filters).with_only_columns(sa.func.count()).order_by(None)
    return db.session.scalar(query) or 0


def _rows_after(spec: ListSpec, filters: ListFilters, after: Optional[int], first_number: int,
                limit: int) -> list[ListRow]:
    """Up to `limit` rows in (date, id) order after the request `after`, numbered from `first_number`."""
    query = _selected(spec, filters)
    if after is not None:
        key = db.session.scalar(sa.select(spec.date_column).where(Request.id == after))
        if key is not None:
            query = query.where(sa.tuple_(spec.date_column, Request.id) > sa.tuple_(key, after))
    # The page's ids first, from the list's index alone; then just those rows.
    ids = db.session.scalars(query.with_only_columns(Request.id).order_by(spec.date_column, Request.id)
                             .limit(limit)).all()
    loaded = {req.id: req for req in db.session.scalars(
        sa.select(Request).where(Request.id.in_(ids))
        .options(selectinload(Request.enterprise), selectinload(Request.station),
                 selectinload(Request.addressed_deputy), selectinload(Request.department)))}
    requests = [loaded[request_id] for request_id in ids]
    rows = [ListRow(first_number + index, req) for index, req in enumerate(requests)]
    if rows and spec.load_extras is not None:
        spec.load_extras(rows)
    return rows


@dataclass
class ListPage:
    spec: ListSpec
    filters: ListFilters
    rows: list[ListRow]
    total: int
    next_args: Optional[dict[str, str]] = None  # the query of the following page, if any
    is_later_page: bool = False
    departments: Optional[list[Department]] = field(default_factory=list)  # None: too many to list
    stations: Optional[list[Station]] = field(default_factory=list)

    @property
    def exportable(self) -> bool:
        return self.total <= MAX_EXPORT_ROWS


def list_page(kind: ListKind, filters: ListFilters, *, after: Optional[int] = None, start: int = 1) -> ListPage:
    """One page of a list: PAGE_SIZE rows after the request `after` (keyset paging, so a
    deep page costs what the first does), the total, and the filters' choices. `start`
    is the number the first row carries, passed on from the previous page."""
    spec = SPECS[kind]
    start = max(start, 1) if after is not None else 1
    rows = _rows_after(spec, filters, after, start, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    for row in rows:  # here rather than in the template: a thousand cells render in a blink
        row.texts = [cell_text(column.value(row)) for column in spec.columns]
    next_args = None
    if more:
        next_args = filters.query_args() | {"after": str(rows[-1].request.id), "start": str(start + PAGE_SIZE)}
    return ListPage(spec=spec, filters=filters, rows=rows, total=count_rows(spec, filters), next_args=next_args,
                    is_later_page=after is not None, departments=department_choices(filters),
                    stations=station_choices(filters))


def all_rows(kind: ListKind, filters: ListFilters) -> Iterator[ListRow]:
    """Every row of the list, loaded EXPORT_BATCH at a time."""
    spec, after, number = SPECS[kind], None, 1
    while True:
        rows = _rows_after(spec, filters, after, number, EXPORT_BATCH)
        yield from rows
        if len(rows) < EXPORT_BATCH:
            return
        after, number = rows[-1].request.id, number + len(rows)


def cell_text(value) -> str:
    """How a cell reads on the page: dates as 2026-11-05, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- the paper form -----------------------------------------------------------------------------


class TooManyRows(Exception):
    """More rows than one form should hold (MAX_EXPORT_ROWS): narrow the filters."""


def period_text(date_from: date, date_to: date) -> str:
    """2026年11月 for a whole month, 2026年 for a whole year, else 2026年11月3日至2026年12月2日."""
    if (date_from, date_to) == month_of(date_from):
        return f"{date_from.year}年{date_from.month}月"
    if (date_from, date_to) == (date(date_from.year, 1, 1), date(date_from.year, 12, 31)):
        return f"{date_from.year}年"
    return f"{_chinese_date(date_from)}至{_chinese_date(date_to)}"


def _chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


_THIN = Side(style="thin", color="000000")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_TITLE_FONT = Font(bold=True, size=16)
_BOLD = Font(bold=True)
_CENTRED = Alignment(horizontal="center", vertical="center", wrap_text=True)


def export_workbook(kind: ListKind, filters: ListFilters, *, actor: User) -> bytes:
    """The list as the paper form: the title in row 1, 填报单位/填报人/填报日期 in row 2,
    the headers in row 3 (序号 first), then the rows numbered from 1. Labels are Chinese
    whatever the page's language. Raises TooManyRows beyond MAX_EXPORT_ROWS."""
    spec = SPECS[kind]
    if count_rows(spec, filters) > MAX_EXPORT_ROWS:
        raise TooManyRows()
    workbook = openpyxl.Workbook()
    for style in _CELL_STYLES.values():
        workbook.add_named_style(style)
    sheet = workbook.active
    sheet.title = kind.paper_title
    width = len(spec.columns)
    with force_locale(PAPER_LOCALE):
        _write_heading(sheet, spec, filters, actor, width)
        for index, row in enumerate(all_rows(kind, filters), start=4):
            for column_index, column in enumerate(spec.columns, start=1):
                _write_cell(sheet, index, column_index, column, column.value(row))
    _lay_out(sheet, spec)
    return workbook_bytes(workbook)


def _cell_style(name: str, *, wrap: bool = False, right: bool = False, number_format: str = "General") -> NamedStyle:
    return NamedStyle(name=name, border=_BOX, number_format=number_format,
                      alignment=Alignment(vertical="top", wrap_text=wrap, horizontal="right" if right else None))


# Named once per workbook: setting a shared style per cell is many times faster than a new one.
_CELL_STYLES = {
    "text": _cell_style("list-text"),
    "wrap": _cell_style("list-wrap", wrap=True),
    "number": _cell_style("list-number", right=True),
    "date": _cell_style("list-date", number_format="yyyy-mm-dd"),
}


def _write_heading(sheet, spec: ListSpec, filters: ListFilters, actor: User, width: int) -> None:
    last = get_column_letter(width)
    sheet["A1"] = f"{spec.kind.paper_title}（{period_text(filters.date_from, filters.date_to)}）"
    sheet["A1"].font = _TITLE_FONT
    sheet["A1"].alignment = _CENTRED
    sheet.merge_cells(f"A1:{last}1")
    unit = filters.jurisdiction.congress_name if filters.jurisdiction else ""
    sheet["A2"] = (f"填报单位：{unit}　填报人：{actor.display_name or actor.username}"
                   f"　填报日期：{_chinese_date(today_local())}")
    sheet.merge_cells(f"A2:{last}2")
    for index, header in enumerate(spec.headers, start=1):
        cell = sheet.cell(row=3, column=index, value=header)
        cell.font = _BOLD
        cell.alignment = _CENTRED
        cell.border = _BOX


def _write_cell(sheet, row: int, column_index: int, column: Column, value) -> None:
    """Numbers and dates as such (Excel sorts and sums them); anything else as safe text."""
    if isinstance(value, date):
        cell, style = sheet.cell(row=row, column=column_index, value=value), "date"
    elif isinstance(value, int) and not isinstance(value, bool):
        cell, style = sheet.cell(row=row, column=column_index, value=value), "number"
    else:
        write_text(sheet, row, column_index, cell_text(value), as_text=False)
        cell, style = sheet.cell(row=row, column=column_index), "wrap" if column.wrap else "text"
    cell.style = _CELL_STYLES[style].name


def _lay_out(sheet, spec: ListSpec) -> None:
    """Column widths, and printing: one page wide, title and header on every page."""
    for index, column in enumerate(spec.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.row_dimensions[1].height = 30
    sheet.freeze_panes = "A4"
    set_up_printing(sheet, repeat_rows=3)


def export_filename(kind: ListKind, filters: ListFilters) -> tuple[str, str]:
    """问题清单-太仓市-2026年11月.xlsx, and an ASCII name for old clients."""
    place = filters.jurisdiction.name if filters.jurisdiction else ""
    name = "-".join(part for part in (kind.paper_title, place, period_text(filters.date_from, filters.date_to)) if part)
    name = re.sub(r'[\\/:*?"<>|\s]+', "_", name)
    ascii_name = f"{kind.value}-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}"
    return f"{name}.xlsx", f"{ascii_name}.xlsx"
