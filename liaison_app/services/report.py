"""The monthly report (一月一小结): what a jurisdiction and each of its sub-jurisdictions did
in one reporting period, in the columns of Taizhou's paper form.

One line counts what happened at the chosen jurisdiction itself (本级), one line per child
counts the child's whole subtree, and the total is their sum, which is also the count over
the whole subtree. Every figure is a count over stored records, grouped in SQL: a constant
number of queries whatever the number of requests.

- activities: Activity and Visit rows held (held_on) in the period, by their jurisdiction;
- participations: the deputies taking part in those activities and visits (人次);
- collected: requests of both kinds received (created_at) in the period, by where they were
  received (filed_jurisdiction_id), whatever became of them since;
- solved: requests closed in the period with the outcome "solved";
- escalated: requests escalated in the period to a city-level congress (上报市级), each once;
- typical cases: requests marked as a typical case and closed in the period.

The period is a calendar month, or with REPORT_CUTOFF_DAY = 20 the month "2026-11" runs
from 21 October to 20 November, in China's dates; timestamps (stored as naive UTC) are
compared against the period's bounds converted to UTC.
"""

import calendar
import io
import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Optional

import openpyxl
import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from ..extensions import db
from ..models import Activity, Jurisdiction, Level, Outcome, Request, RequestEvent, Visit
from ..models.visits import activity_deputies, visit_deputies
from ..workdays import utc_start_of
from ..workflow import Action
from .paper import set_up_printing

# The paper form's columns (data, not UI text: the form is the same in every language).
COLUMN_HEADERS = {
    "activities": "辖区内各级人大开展有关视察、调研、座谈、联系群众活动次数",
    "participations": "辖区内各级人大代表参与活动人次",
    "collected": "收集意见建议数量（件）",
    "solved": "解决问题数量（件）",
    "escalated": "上报市级处理研究的意见建议数量（件）",
    "typical_cases": "典型案例",
}
TITLE = "一月一小结"
# The exported form is Chinese whatever language the screen is in.
FORM_LOCALE = "zh_CN"

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


# --- the reporting period --------------------------------------------------------------------


class InvalidPeriod(ValueError):
    """Not a month the report can be drawn for."""


@dataclass(frozen=True)
class Period:
    """One reporting month: its name (2026-11) and the local dates it covers, both included."""

    year: int
    month: int
    first_day: date
    last_day: date
    cutoff: Optional[int] = None  # what it was built with: None for calendar months

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def title(self) -> str:
        """一月一小结（2026年11月）"""
        return f"{TITLE}（{self.year}年{self.month}月）"

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as naive UTC, how timestamps are stored: 00:00 in China on the first
        day up to 00:00 in China on the day after the last."""
        return utc_start_of(self.first_day), utc_start_of(self.last_day + timedelta(days=1))

    def previous(self) -> "Period":
        year, month = (self.year, self.month - 1) if self.month > 1 else (self.year - 1, 12)
        return period_of(year, month, self.cutoff)

    def next(self) -> "Period":
        year, month = (self.year, self.month + 1) if self.month < 12 else (self.year + 1, 1)
        return period_of(year, month, self.cutoff)



def cutoff_day() -> Optional[int]:
    """REPORT_CUTOFF_DAY as a day of the month, or None for calendar months."""
    value = current_app.config.get("REPORT_CUTOFF_DAY")
    if value in (None, "", 0, "0"):
        return None
    day = int(value)
    if not 1 <= day <= 31:
        raise ValueError(f"REPORT_CUTOFF_DAY must be a day of the month (1-31) or 0, not {value!r}")
    return day


def _cutoff_date(year: int, month: int, cutoff: int) -> date:
    """The cut-off day in that month; a short month ends on its last day."""
    return date(year, month, min(cutoff, calendar.monthrange(year, month)[1]))


def period_of(year: int, month: int, cutoff: Optional[int] = None) -> Period:
    """The period named year-month: the calendar month, or the days after the previous
    month's cut-off day up to and including this month's."""
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise InvalidPeriod(f"{year}-{month}")
    if not cutoff:
        return Period(year, month, date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))
    before = (year, month - 1) if month > 1 else (year - 1, 12)
    return Period(year, month, _cutoff_date(*before, cutoff) + timedelta(days=1), _cutoff_date(year, month, cutoff),
                  cutoff)


def period_containing(day: date, cutoff: Optional[int] = None) -> Period:
    """The period a local date falls in: after the cut-off day it is next month's."""
    period = period_of(day.year, day.month, cutoff)
    return period if day <= period.last_day else period.next()


def parse_period(text: str, cutoff: Optional[int] = None) -> Period:
    """"2026-11" → that period; InvalidPeriod for anything else."""
    match = _MONTH.match((text or "").strip())
    if not match:
        raise InvalidPeriod(text)
    return period_of(int(match.group(1)), int(match.group(2)), cutoff)


def recent_periods(today: date, cutoff: Optional[int] = None, count: int = 24) -> list[Period]:
    """The current period and the ones before it, newest first (the page's month picker)."""
    periods = [period_containing(today, cutoff)]
    while len(periods) < count:
        periods.append(periods[-1].previous())
    return periods


# --- the figures ---------------------------------------------------------------------------------


@dataclass
class Figures:
    """The six numbers of one line of the form, in the form's order."""

    activities: int = 0
    participations: int = 0
    collected: int = 0
    solved: int = 0
    escalated: int = 0
    typical_cases: int = 0

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def values(self) -> list[int]:
        return [getattr(self, f.name) for f in fields(self)]

    def is_empty(self) -> bool:
        return not any(self.values())


@dataclass
class ReportLine:
    """One line of the form: the jurisdiction itself (`own`), or a child with its subtree."""

    jurisdiction: Jurisdiction
    own: bool
    figures: Figures = field(default_factory=Figures)

    @property
    def form_label(self) -> str:
        """The 单位 cell: 太仓市（本级） or 沙溪镇."""
        return f"{self.jurisdiction.name}（本级）" if self.own else self.jurisdiction.name


@dataclass(frozen=True)
class TypicalCase:
    reference: str
    title: str
    place: str


@dataclass
class MonthlyReport:
    jurisdiction: Jurisdiction
    period: Period
    lines: list[ReportLine]
    typical_cases: list[TypicalCase]

    @property
    def total(self) -> Figures:
        return sum((line.figures for line in self.lines), Figures())


def monthly_report(jurisdiction: Jurisdiction, period: Period) -> MonthlyReport:
    """The form for `jurisdiction` over `period` (access is the caller's to check)."""
    branch_of = _branches(jurisdiction)
    ids = list(branch_of)
    start, end = period.utc_bounds()
    per_jurisdiction: dict[int, Figures] = {}

    def add(jurisdiction_id: int, name: str, value: int) -> None:
        figures = per_jurisdiction.setdefault(jurisdiction_id, Figures())
        setattr(figures, name, getattr(figures, name) + int(value or 0))

    held_with = ((Activity, activity_deputies.c.activity_id, activity_deputies.c.deputy_id),
                 (Visit, visit_deputies.c.visit_id, visit_deputies.c.deputy_id))
    for model, link, deputy in held_with:
        for jurisdiction_id, held, participations in db.session.execute(_held(model, link, deputy, ids, period)):
            add(jurisdiction_id, "activities", held)
            add(jurisdiction_id, "participations", participations)
    for jurisdiction_id, collected in db.session.execute(_collected(ids, start, end)):
        add(jurisdiction_id, "collected", collected)
    for jurisdiction_id, solved, typical in db.session.execute(_closed(ids, start, end)):
        add(jurisdiction_id, "solved", solved)
        add(jurisdiction_id, "typical_cases", typical)
    for jurisdiction_id, escalated in db.session.execute(_escalated_to_city(ids, start, end)):
        add(jurisdiction_id, "escalated", escalated)

    lines = {jurisdiction.id: ReportLine(jurisdiction, own=True)}
    children = db.session.scalars(sa.select(Jurisdiction).where(Jurisdiction.parent_id == jurisdiction.id)
                                  .order_by(Jurisdiction.division_code)).all()
    for child in children:
        lines[child.id] = ReportLine(child, own=False)
    for jurisdiction_id, figures in per_jurisdiction.items():
        line = lines[branch_of[jurisdiction_id]]
        line.figures = line.figures + figures
    # An inactive child keeps its line only while it still has something to count.
    shown = [line for line in lines.values() if line.own or line.jurisdiction.active or not line.figures.is_empty()]
    return MonthlyReport(jurisdiction, period, shown, _typical_cases(ids, start, end))


def _branches(jurisdiction: Jurisdiction) -> dict[int, int]:
    """Every jurisdiction of the subtree → the line it is counted in: the jurisdiction
    itself for its own id, otherwise the child whose subtree holds it."""
    top = (sa.select(Jurisdiction.id, Jurisdiction.id.label("branch"))
           .where(Jurisdiction.parent_id == jurisdiction.id).cte("branches", recursive=True))
    tree = top.union_all(sa.select(Jurisdiction.id, top.c.branch).where(Jurisdiction.parent_id == top.c.id))
    branch_of = dict(db.session.execute(sa.select(tree.c.id, tree.c.branch)).tuples().all())
    branch_of[jurisdiction.id] = jurisdiction.id
    return branch_of


def _held(model, link: sa.Column, deputy: sa.Column, ids: list[int], period: Period) -> sa.Select:
    """(jurisdiction, activities held, deputies taking part) for Activity or Visit; `link`
    and `deputy` are the columns of its table of participating deputies."""
    return (
        sa.select(model.jurisdiction_id, sa.func.count(sa.distinct(model.id)), sa.func.count(deputy))
        .select_from(model)
        .outerjoin(link.table, link == model.id)
        .where(model.jurisdiction_id.in_(ids), model.held_on.between(period.first_day, period.last_day))
        .group_by(model.jurisdiction_id)
    )


def _collected(ids: list[int], start: datetime, end: datetime) -> sa.Select:
    return (
        sa.select(Request.filed_jurisdiction_id, sa.func.count())
        .where(Request.filed_jurisdiction_id.in_(ids), Request.created_at >= start, Request.created_at < end)
        .group_by(Request.filed_jurisdiction_id)
    )


def _closed(ids: list[int], start: datetime, end: datetime) -> sa.Select:
    """(jurisdiction, solved, typical cases) among the requests closed in the period."""
    solved = sa.func.sum(sa.case((Request.outcome == Outcome.SOLVED, 1), else_=0))
    typical = sa.func.sum(sa.case((Request.is_typical_case.is_(True), 1), else_=0))
    return (
        sa.select(Request.filed_jurisdiction_id, solved, typical)
        .where(Request.filed_jurisdiction_id.in_(ids), Request.closed_at >= start, Request.closed_at < end,
               sa.or_(Request.outcome == Outcome.SOLVED, Request.is_typical_case.is_(True)))
        .group_by(Request.filed_jurisdiction_id)
    )


def _escalated_to_city(ids: list[int], start: datetime, end: datetime) -> sa.Select:
    """Requests escalated in the period into a city-level congress; a request sent down and
    escalated again in the same period counts once."""
    to_city = sa.select(Jurisdiction.id).where(Jurisdiction.level == Level.CITY)
    return (
        sa.select(Request.filed_jurisdiction_id, sa.func.count(sa.distinct(Request.id)))
        .join(RequestEvent, RequestEvent.request_id == Request.id)
        .where(Request.filed_jurisdiction_id.in_(ids), RequestEvent.action == Action.ESCALATE,
               RequestEvent.jurisdiction_id.in_(to_city),
               RequestEvent.created_at >= start, RequestEvent.created_at < end)
        .group_by(Request.filed_jurisdiction_id)
    )


def _typical_cases(ids: list[int], start: datetime, end: datetime) -> list[TypicalCase]:
    rows = db.session.execute(
        sa.select(Request.reference, Request.title, Jurisdiction.name)
        .join(Jurisdiction, Jurisdiction.id == Request.filed_jurisdiction_id)
        .where(Request.filed_jurisdiction_id.in_(ids), Request.is_typical_case.is_(True),
               Request.closed_at >= start, Request.closed_at < end)
        .order_by(Request.closed_at, Request.id)
    )
    return [TypicalCase(*row) for row in rows]


# --- the spreadsheet ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """The form's header line: who reports, for which body, on which day."""

    unit: str  # 填报单位
    reporter: str  # 填报人
    day: date  # 填报日期


def form_unit(jurisdiction: Jurisdiction) -> str:
    """填报单位 in Chinese whatever the screen's language: 太仓市人大常委会."""
    with force_locale(FORM_LOCALE):
        return jurisdiction.congress_name


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


_THIN = Side(style="thin", color="000000")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="center", horizontal="center")


def report_workbook(report: MonthlyReport, signature: Signature) -> bytes:
    """The paper form as an .xlsx: title, 填报单位/填报人/填报日期, the header row
    (序号, 单位 and the six columns), one row per line, 合计, then the period and the
    typical cases."""
    headers = ["序号", "单位", *COLUMN_HEADERS.values()]
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = TITLE
    last_column = get_column_letter(len(headers))

    _append(sheet, [report.period.title])
    sheet.merge_cells(f"A1:{last_column}1")
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = Alignment(horizontal="center")

    _append(sheet, [f"填报单位：{signature.unit}", None, None, f"填报人：{signature.reporter}", None, None,
                    f"填报日期：{chinese_date(signature.day)}"])
    for cells in ("A2:C2", "D2:F2", f"G2:{last_column}2"):
        sheet.merge_cells(cells)

    _append(sheet, headers)
    sheet.row_dimensions[3].height = 75
    for number, line in enumerate(report.lines, start=1):
        _append(sheet, [number, line.form_label, *line.figures.values()])
    _append(sheet, [None, "合计", *report.total.values()])
    table_end = sheet.max_row
    for row in sheet.iter_rows(min_row=3, max_row=table_end):
        for cell in row:
            cell.border, cell.alignment = _BOX, _WRAP
            if cell.row in (3, table_end):
                cell.font = Font(bold=True)

    period = report.period
    _append(sheet, [])
    _append(sheet, [f"统计期间：{chinese_date(period.first_day)}至{chinese_date(period.last_day)}"])
    if report.typical_cases:
        _append(sheet, ["典型案例："])
        for number, case in enumerate(report.typical_cases, start=1):
            _append(sheet, [f"{number}. {case.title}（{case.reference}，{case.place}）"])

    sheet.column_dimensions["A"].width = 6
    sheet.column_dimensions["B"].width = 18
    for index in range(3, len(headers) + 1):
        sheet.column_dimensions[get_column_letter(index)].width = 16
    sheet.freeze_panes = "C4"
    set_up_printing(sheet, repeat_rows=3)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _append(sheet, values: list) -> None:
    """One row; text typed by people (names, titles) loses control characters and never
    becomes a formula."""
    sheet.append([ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value for value in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def export_filename(report: MonthlyReport) -> tuple[str, str]:
    """(Chinese name, ASCII fallback) of the download."""
    return (f"{TITLE}-{report.jurisdiction.name}-{report.period.key}.xlsx",
            f"monthly-report-{report.jurisdiction.division_code}-{report.period.key}.xlsx")

