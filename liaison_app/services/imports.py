"""Bulk import and export of deputies, enterprises and handling units (批量导入导出).

County offices keep their registers in Excel. An upload is first checked (a dry
run): every row becomes a plan entry (create, update, unchanged or error) with
its problems by column, and nothing is written. The import then reads the same
file again, checks it again against the data as it is now, and writes all its
rows in one transaction or none. Rows are matched on natural keys, so importing
the same file twice changes nothing the second time:

- deputy: name + the jurisdiction whose congress elected them;
- enterprise: the USCC when given, otherwise the exact name;
- handling unit: jurisdiction + name.

An empty optional cell leaves an existing record's value as it is. Liaison staff
import and export only what lies in their jurisdiction (admin/scope.py decides).
"""

import codecs
import csv
import datetime as dt
import io
import json
import os
import re
import secrets
import time
import unicodedata
import warnings
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Optional

import openpyxl
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..extensions import begin_write, db
from ..models import Department, Deputy, DeputyKind, Enterprise, Jurisdiction, Station, User
from ..models.base import StrEnum
from ..validators import InvalidValue, normalise_uscc
from .paper import set_up_printing

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
# An .xlsx is a zip: refuse one that would unpack to far more than its cells need.
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_COLUMNS = 40
HEADER_SEARCH_ROWS = 10  # the header may sit below a title row or two
FLUSH_BATCH = 200  # rows sent to the database at a time inside the one transaction
STASH_SECONDS = 3600  # how long an upload waits between the dry run and the import
STATION_SEPARATORS = re.compile(r"[、;；,，\n]+")
PG_IMPORT_LOCK = 0x1D9057  # pg_advisory_xact_lock key: one import at a time on PostgreSQL


class ImportKind(StrEnum):
    DEPUTIES = "deputies"
    ENTERPRISES = "enterprises"
    DEPARTMENTS = "departments"

    @property
    def label(self):
        return KIND_LABELS[self]

    @property
    def sheet_name(self) -> str:
        """The register's Chinese name: sheet title and file names (data, not UI text)."""
        return SHEET_NAMES[self]


KIND_LABELS = {
    ImportKind.DEPUTIES: _l("Deputies"),
    ImportKind.ENTERPRISES: _l("Enterprises"),
    ImportKind.DEPARTMENTS: _l("Handling units"),
}
SHEET_NAMES = {ImportKind.DEPUTIES: "代表", ImportKind.ENTERPRISES: "企业", ImportKind.DEPARTMENTS: "承办单位"}


class RowStatus(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    ERROR = "error"

    @property
    def label(self):
        return ROW_STATUS_LABELS[self]


ROW_STATUS_LABELS = {
    RowStatus.CREATE: _l("New"),
    RowStatus.UPDATE: _l("Update"),
    RowStatus.UNCHANGED: _l("Unchanged"),
    RowStatus.ERROR: _l("Problem"),
}


class ImportConflict(Exception):
    """Someone changed the same records while the import ran; nothing was written."""

    def __init__(self):
        super().__init__("import conflict")
        self.message = _l("The same records were changed by someone else meanwhile, so nothing was imported. "
                          "Please check the file again.")


# --- the file format --------------------------------------------------------------------------

DEPUTY_KINDS = {"人大代表": DeputyKind.DEPUTY, "街道议政代表": DeputyKind.STREET_REPRESENTATIVE}
DEPUTY_STATUSES = {"在任": True, "离任": False}
JURISDICTION_FORMS = "320585、太仓市、320585 太仓市"


@dataclass(frozen=True)
class Column:
    """One column of a register: its Chinese header (a data-format constant, as in row 1
    of the template and of an export), what to write in it, and an example value."""

    key: str
    header: str
    note: Any  # lazy string, shown on the template's notes sheet
    example: str
    width: int = 16
    required: bool = False
    choices: tuple[str, ...] = ()  # offered as a drop-down in Excel
    as_text: bool = False  # codes: keep Excel from turning them into numbers

    @property
    def match_key(self) -> str:
        return header_key(self.header)


def header_key(text: str) -> str:
    """姓名* / 代表层级（行政区划代码或名称） → 姓名 / 代表层级: spaces, full-width forms,
    the required mark and the bracketed hint do not matter."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")))
    return text.split("(")[0].strip("*")


_JURISDICTION_NOTE = _l("The division code, the name, or both, e.g. %(forms)s.", forms=JURISDICTION_FORMS)
_EMPTY_KEEPS = _l("Left empty: the default for a new record; an existing record keeps its value.")

COLUMNS: dict[ImportKind, tuple[Column, ...]] = {
    ImportKind.DEPUTIES: (
        Column("name", "姓名*", _l("Required. The deputy's full name."), "王建国", 12, required=True),
        Column("jurisdiction", "代表层级（行政区划代码或名称）*",
               _l("Required. The jurisdiction whose congress elected the deputy. %(forms)s", forms=_JURISDICTION_NOTE),
               "320585 太仓市", 30, required=True, as_text=True),
        Column("kind", "代表类别", _l("%(choices)s. %(empty)s", choices="人大代表 / 街道议政代表", empty=_EMPTY_KEEPS),
               "人大代表", 14, choices=tuple(DEPUTY_KINDS)),
        Column("stations", "所属联络站",
               _l("Existing liaison stations by their exact names, separated by commas or semicolons. The deputy's stations "
                  "become exactly these."), "沙溪镇庄西村代表联络站", 28),
        Column("specialties", "专业特长", _l("What the deputy knows well, e.g. finance or hiring."), "企业管理、融资", 20),
        Column("bio", "简介", _l("A short introduction for the deputy's page."), "太仓市某精密机械有限公司董事长", 40),
        Column("status", "状态", _l("%(choices)s. %(empty)s", choices="在任 / 离任", empty=_EMPTY_KEEPS), "在任", 8,
               choices=tuple(DEPUTY_STATUSES)),
    ),
    ImportKind.ENTERPRISES: (
        Column("name", "企业名称*", _l("Required. The registered name."), "太仓示例精密机械有限公司", 32, required=True),
        Column("uscc", "统一社会信用代码",
               _l("18 characters. When given it identifies the enterprise; otherwise the exact name does."),
               "91320585MA1N6T3Q5K", 22, as_text=True),
        Column("jurisdiction", "所属行政区划（代码或名称）",
               _l("Where the enterprise lies. %(forms)s Liaison staff must give one within their jurisdiction.",
                  forms=_JURISDICTION_NOTE), "320585101 沙溪镇", 26, as_text=True),
        Column("address", "地址", _l("The address of the premises."), "太仓市沙溪镇工业园区一路1号", 36),
        Column("industry", "行业", _l("The industry, e.g. machinery."), "机械制造", 14),
        Column("park", "园区", _l("The industrial park the enterprise lies in, if any: visit campaigns can target "
                                  "one park."), "沙溪镇工业园区", 20),
    ),
    ImportKind.DEPARTMENTS: (
        Column("name", "单位名称*", _l("Required. The handling unit's full name."), "太仓市住房和城乡建设局", 32,
               required=True),
        Column("jurisdiction", "所属行政区划（代码或名称）*",
               _l("Required. The jurisdiction the unit belongs to. %(forms)s", forms=_JURISDICTION_NOTE),
               "320585 太仓市", 26, required=True, as_text=True),
    ),
}

MATCHING_NOTES = {
    ImportKind.DEPUTIES: _l("A row updates the deputy with the same name and jurisdiction, or adds a new one."),
    ImportKind.ENTERPRISES: _l("A row updates the enterprise with the same credit code (or, without a code, the "
                               "same exact name), or adds a new one."),
    ImportKind.DEPARTMENTS: _l("A row adds the unit unless one with the same name already belongs to the "
                               "jurisdiction."),
}


# --- reading a file ---------------------------------------------------------------------------


@dataclass
class Table:
    """The non-empty rows of a sheet as text, each with its number as Excel shows it."""

    rows: list[tuple[int, list[str]]]


def read_table(data: bytes, filename: str) -> Table:
    """The first sheet of an .xlsx, or a .csv in UTF-8 (with or without BOM) or GB18030;
    InvalidValue saying why when the file is refused."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidValue(_l("The file is larger than %(mb)d MB. Please split it.", mb=MAX_FILE_BYTES // 2**20))
    extension = os.path.splitext(filename or "")[1].lower()
    if extension == ".xls" or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidValue(_l("Old Excel files (.xls) cannot be read. In Excel, choose Save As and pick "
                              "Excel Workbook (.xlsx)."))
    if extension == ".xlsx":
        return _read_xlsx(data)
    if extension == ".csv":
        return _read_csv(data)
    raise InvalidValue(_l("Please choose an Excel workbook (.xlsx) or a CSV file (.csv)."))


def _unreadable_workbook() -> InvalidValue:
    return InvalidValue(_l("This file could not be read as an Excel workbook. Please save it again in Excel "
                           "as .xlsx, or as CSV."))


def _read_xlsx(data: bytes) -> Table:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise _unreadable_workbook() from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise InvalidValue(_l("The workbook holds too much data. Please split it."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it skips
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                sheet = workbook.worksheets[0]
                sheet.reset_dimensions()  # some programs write a wrong sheet size
                return _collect(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True))
            finally:
                workbook.close()
    except InvalidValue:
        raise
    except Exception:  # an untrusted file: whatever the parser trips over, the answer is the same
        raise _unreadable_workbook() from None


def _read_csv(data: bytes) -> Table:
    text = _decode_csv(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    try:
        return _collect(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        raise InvalidValue(_l("This CSV file is damaged (a quote is not closed). Please save it again.")) from None


def _decode_csv(data: bytes) -> str:
    """Excel on Chinese Windows saves CSV in GBK (a subset of GB18030); elsewhere UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        candidates, data = ("utf-8",), data[len(codecs.BOM_UTF8):]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise InvalidValue(_l("This file is not a CSV text file we can read. Please save it from Excel as "
                          "\"CSV UTF-8\" or as .xlsx."))


def _collect(rows: Iterable) -> Table:
    """The rows that hold something, as text; refuse a file with too many."""
    kept = []
    for number, values in enumerate(rows, start=1):
        cells = [cell_text(value) for value in values[:MAX_COLUMNS]]
        if any(cells):
            kept.append((number, cells))
            if len(kept) > MAX_ROWS + HEADER_SEARCH_ROWS:
                raise _too_many_rows()
    return Table(kept)


def _too_many_rows() -> InvalidValue:
    return InvalidValue(_l("The file has more than %(max)d rows. Please split it.", max=MAX_ROWS))


def cell_text(value) -> str:
    """A cell as the text a person sees: 320585 not 320585.0, trimmed, Unix line ends."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d") if value.time() == dt.time() else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


# --- the plan ---------------------------------------------------------------------------------


@dataclass
class PlanRow:
    """One data row of the file and what importing it would do."""

    number: int  # as Excel shows it: the header is row 1 in a template
    values: dict[str, str]  # the cell text by column key, for the columns the file has
    status: RowStatus = RowStatus.CREATE
    problems: dict[str, list] = field(default_factory=dict)  # column key → messages
    changed: set[str] = field(default_factory=set)  # column keys an update would change
    parsed: dict[str, Any] = field(default_factory=dict)
    target: Any = None  # the existing record it matches

    def given(self, key: str) -> bool:
        return bool(self.values.get(key))

    def add_problem(self, key: str, message) -> None:
        self.problems.setdefault(key, []).append(message)


@dataclass
class ImportPlan:
    """What an import of this file would do, row by row; `applied` once it was written."""

    kind: ImportKind
    filename: str
    columns: tuple[Column, ...]  # the template's columns the file has, in template order
    rows: list[PlanRow]
    notices: list = field(default_factory=list)
    register: Optional["Register"] = field(default=None, repr=False)
    applied: bool = False

    @property
    def counts(self) -> dict[RowStatus, int]:
        found = Counter(row.status for row in self.rows)
        return {status: found.get(status, 0) for status in RowStatus}

    @property
    def has_errors(self) -> bool:
        return any(row.status is RowStatus.ERROR for row in self.rows)

    @property
    def has_changes(self) -> bool:
        return any(row.status in (RowStatus.CREATE, RowStatus.UPDATE) for row in self.rows)

    @property
    def ready(self) -> bool:
        """Importing would write something and no row has a problem."""
        return self.has_changes and not self.has_errors


def plan_import(kind: ImportKind, data: bytes, filename: str, *, actor: User) -> ImportPlan:
    """The dry run: check every row against the database as it is now; writes nothing.

    A file that cannot be read at all (wrong type, no header row, too big) raises
    InvalidValue with the reason.
    """
    table = read_table(data, filename)
    return _plan(kind, table, filename, actor=actor)


def run_import(kind: ImportKind, data: bytes, filename: str, *, actor: User) -> ImportPlan:
    """导入: check the file again against the data as it is now and, when no row has a
    problem, write every row in one transaction. A row already recorded the same way
    is not touched, so a second run of the same file writes nothing.

    The returned plan has `applied` set when it was written; with problems it is
    returned unapplied and nothing is written.
    """
    table = read_table(data, filename)  # parse before taking the write lock
    # The POST's transaction has written nothing yet; end it so that the write lock is
    # held only from here on.
    db.session.rollback()
    begin_write()
    try:
        if db.session.get_bind().dialect.name == "postgresql":
            # Deputies have no unique key in the schema: two imports of the same file
            # at once would both create them. One import at a time.
            db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_IMPORT_LOCK)))
        plan = _plan(kind, table, filename, actor=actor)
        if not plan.ready:
            db.session.rollback()
            return plan
        _apply(plan)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ImportConflict() from None
    except BaseException:
        db.session.rollback()
        raise
    plan.applied = True
    return plan


def _plan(kind: ImportKind, table: Table, filename: str, *, actor: User) -> ImportPlan:
    register = REGISTERS[kind]()
    header_index, positions, notices = _locate_header(table, register.columns)
    rows = [PlanRow(number, {key: (cells[i] if i < len(cells) else "") for key, i in positions.items()})
            for number, cells in table.rows[header_index + 1:]]
    rows, skipped = _without_example(rows, register.columns)
    if skipped is not None:
        notices.append(_l("Row %(row)d is the template's example and was skipped.", row=skipped))
    if not rows:
        raise InvalidValue(_l("The file has no rows to import below its header row."))
    if len(rows) > MAX_ROWS:
        raise _too_many_rows()

    context = _Context(actor)
    for row in rows:
        register.check(row, context)
    register.load_existing(rows, context)
    _match(register, rows, context)
    columns = tuple(c for c in register.columns if c.key in positions)
    return ImportPlan(kind, filename, columns, rows, notices, register=register)


def _locate_header(table: Table, columns: tuple[Column, ...]):
    """The first row (of the first few) holding every required header: the positions of
    the template's columns in it, and a notice for each column that is not the template's."""
    required = {c.match_key for c in columns if c.required}
    for index, (_number, cells) in enumerate(table.rows[:HEADER_SEARCH_ROWS]):
        keys = [header_key(cell) for cell in cells]
        if not required <= set(keys):
            continue
        positions, notices = {}, []
        for column in columns:
            if column.match_key in keys:
                positions[column.key] = keys.index(column.match_key)
        known = {c.match_key for c in columns}
        for cell, key in zip(cells, keys):
            if key and key not in known:
                notices.append(_l("The column \"%(header)s\" is not in the template and was ignored.", header=cell))
        return index, positions, notices
    missing = "、".join(c.header.rstrip("*") for c in columns if c.required)
    raise InvalidValue(_l("No header row found. The first row must hold the template's column names, at least: "
                          "%(columns)s. Please start from the downloaded template.", columns=missing))


def _without_example(rows: list[PlanRow], columns: tuple[Column, ...]):
    """The template's example row, if left as it is, is not data."""
    first = rows[0] if rows else None
    if first is not None and all(first.values.get(c.key) == c.example for c in columns):
        return rows[1:], first.number
    return rows, None


def _match(register: "Register", rows: list[PlanRow], context: "_Context") -> None:
    """Find each row's record, spot rows that say the same thing twice, and settle each status."""
    first_with_key: dict[Hashable, int] = {}
    first_with_target: dict[int, int] = {}
    for row in rows:
        found = register.key(row)
        if found is not None:
            key, column = found
            if key in first_with_key:
                row.add_problem(column, register.duplicate_message(first_with_key[key]))
            else:
                first_with_key[key] = row.number
        if not row.problems:
            _settle(register, row, context, first_with_target)
        if row.problems:
            row.status = RowStatus.ERROR


def _settle(register: "Register", row: PlanRow, context: "_Context", first_with_target: dict[int, int]) -> None:
    """New, an update or unchanged; two rows meaning the same record is a problem."""
    existing = register.find(row, context)
    if row.problems:
        return
    if existing is None:
        register.check_new(row, context)
        row.status = RowStatus.CREATE
    elif existing.id in first_with_target:
        row.add_problem("name", register.duplicate_message(first_with_target[existing.id]))
    else:
        first_with_target[existing.id] = row.number
        row.target = existing
        row.changed = register.changes(row, existing, context)
        row.status = RowStatus.UPDATE if row.changed else RowStatus.UNCHANGED


def _apply(plan: ImportPlan) -> None:
    register = plan.register
    pending = 0
    for row in plan.rows:
        if row.status is RowStatus.CREATE:
            db.session.add(register.create(row))
        elif row.status is RowStatus.UPDATE:
            register.update(row, row.target)
        else:
            continue
        pending += 1
        if pending >= FLUSH_BATCH:
            db.session.flush()
            pending = 0
    db.session.flush()


# --- what the importing user may touch, and the lookups every register shares ------------------


def managed_jurisdiction_ids(actor: User) -> Optional[list[int]]:
    """admin/scope.py decides; imported here, as the admin package imports its views."""
    from ..admin import scope

    return scope.managed_jurisdiction_ids(actor)


class _Context:
    """The actor's scope and the jurisdictions and stations a file may name."""

    def __init__(self, actor: User):
        ids = managed_jurisdiction_ids(actor)
        self.scope: Optional[set[int]] = None if ids is None else set(ids)
        jurisdictions = list(db.session.scalars(sa.select(Jurisdiction)))
        self.by_code = {j.division_code: j for j in jurisdictions}
        self.by_name: dict[str, list[Jurisdiction]] = defaultdict(list)
        for j in jurisdictions:
            self.by_name[j.name].append(j)
        self._stations: Optional[dict[str, list[Station]]] = None

    def in_scope(self, jurisdiction_id: Optional[int]) -> bool:
        return self.scope is None or jurisdiction_id in self.scope

    def jurisdiction(self, row: PlanRow, key: str) -> Optional[Jurisdiction]:
        """The jurisdiction a cell names by code, name or both, within scope; else a problem."""
        text = " ".join(row.values[key].split())
        found = self.by_code.get(text)
        if found is None:
            named = self.by_name.get(text, [])
            if len(named) > 1:
                named = [j for j in named if self.in_scope(j.id)] or named
            if len(named) > 1:
                row.add_problem(key, _l("Several jurisdictions are called %(name)s: please give the division code.",
                                        name=text))
                return None
            found = named[0] if named else None
        if found is None:
            code, _, name = text.partition(" ")
            found = self.by_code.get(code) if name else None
            if found is not None and found.name != name:
                row.add_problem(key, _l("Division code %(code)s is %(name)s, not %(given)s.",
                                        code=code, name=found.name, given=name))
                return None
        if found is None:
            row.add_problem(key, _l("No jurisdiction has this division code or name."))
            return None
        if not self.in_scope(found.id):
            row.add_problem(key, _l("This is outside your jurisdiction."))
            return None
        return found

    def stations_named(self, name: str) -> list[Station]:
        if self._stations is None:
            query = sa.select(Station).order_by(Station.id)
            if self.scope is not None:
                query = query.where(Station.jurisdiction_id.in_(self.scope))
            self._stations = defaultdict(list)
            for station in db.session.scalars(query):
                self._stations[station.name].append(station)
        return self._stations.get(name, [])


def _check_text(row: PlanRow, key: str, max_length: int, *, required_message=None) -> Optional[str]:
    value = row.values.get(key, "")
    if not value:
        if required_message is not None:
            row.add_problem(key, required_message)
        return None
    if len(value) > max_length:
        row.add_problem(key, _l("At most %(max)d characters.", max=max_length))
        return None
    return value


def _check_choice(row: PlanRow, key: str, choices: dict):
    value = row.values.get(key, "")
    if not value:
        return None
    if value not in choices:
        row.add_problem(key, _l("Please write one of: %(choices)s.", choices="、".join(choices)))
        return None
    return choices[value]


def _differs(stored, given) -> bool:
    """Text as stored against a cell: surrounding spaces and line ends do not count."""
    return cell_text(stored or "") != given


def jurisdiction_cell(jurisdiction: Optional[Jurisdiction]) -> str:
    """320585 太仓市: the code identifies it, the name is there for people."""
    return f"{jurisdiction.division_code} {jurisdiction.name}" if jurisdiction is not None else ""


# --- the three registers ----------------------------------------------------------------------


class Register:
    """What one kind of record needs for import and export: checking a row, finding the
    record it means, telling what would change, writing it, and listing it."""

    kind: ImportKind

    @property
    def columns(self) -> tuple[Column, ...]:
        return COLUMNS[self.kind]

    def check(self, row: PlanRow, context: _Context) -> None:
        raise NotImplementedError

    def load_existing(self, rows: list[PlanRow], context: _Context) -> None:
        raise NotImplementedError

    def key(self, row: PlanRow) -> Optional[tuple[Hashable, str]]:
        """The row's natural key and the column to blame for a duplicate; None when unknown."""
        raise NotImplementedError

    def duplicate_message(self, first_row: int):
        raise NotImplementedError

    def find(self, row: PlanRow, context: _Context):
        raise NotImplementedError

    def check_new(self, row: PlanRow, context: _Context) -> None:
        jurisdiction = row.parsed.get("jurisdiction")
        if jurisdiction is not None and not jurisdiction.active:
            row.add_problem("jurisdiction", _l("This jurisdiction is no longer in use."))

    def changes(self, row: PlanRow, existing, context: _Context) -> set[str]:
        raise NotImplementedError

    def create(self, row: PlanRow):
        raise NotImplementedError

    def update(self, row: PlanRow, existing) -> None:
        raise NotImplementedError

    def export_rows(self, actor: User) -> Iterable[dict[str, str]]:
        raise NotImplementedError


class DeputyRegister(Register):
    kind = ImportKind.DEPUTIES

    def check(self, row, context):
        row.parsed["name"] = _check_text(row, "name", 40, required_message=_l("Name is missing."))
        if row.given("jurisdiction"):
            row.parsed["jurisdiction"] = context.jurisdiction(row, "jurisdiction")
        else:
            row.add_problem("jurisdiction", _l("The jurisdiction whose congress elected the deputy is missing."))
        row.parsed["kind"] = _check_choice(row, "kind", DEPUTY_KINDS)
        row.parsed["active"] = _check_choice(row, "status", DEPUTY_STATUSES)
        row.parsed["specialties"] = _check_text(row, "specialties", 200)
        row.parsed["bio"] = _check_text(row, "bio", 4000)
        if row.given("stations"):
            row.parsed["stations"] = self._stations(row, context)

    @staticmethod
    def _stations(row: PlanRow, context: _Context) -> list[Station]:
        stations = []
        for name in dict.fromkeys(part.strip() for part in STATION_SEPARATORS.split(row.values["stations"])):
            if not name:
                continue
            found = context.stations_named(name)
            if len(found) > 1:
                row.add_problem("stations", _l("Several stations are named %(name)s; please rename one of them "
                                               "first.", name=name))
            elif not found:
                row.add_problem("stations", _l("No liaison station named %(name)s within your jurisdiction.",
                                               name=name))
            else:
                stations.append(found[0])
        return stations

    def load_existing(self, rows, context):
        ids = {row.parsed["jurisdiction"].id for row in rows if row.parsed.get("jurisdiction")}
        names = {row.parsed["name"] for row in rows if row.parsed.get("name")}
        query = (sa.select(Deputy).options(selectinload(Deputy.stations))
                 .where(Deputy.congress_jurisdiction_id.in_(ids), Deputy.name.in_(names)).order_by(Deputy.id))
        self.existing: dict[tuple, list[Deputy]] = defaultdict(list)
        for deputy in db.session.scalars(query):
            self.existing[(deputy.name, deputy.congress_jurisdiction_id)].append(deputy)

    def key(self, row):
        if row.parsed.get("name") and row.parsed.get("jurisdiction"):
            return (row.parsed["name"], row.parsed["jurisdiction"].id), "name"
        return None

    def duplicate_message(self, first_row):
        return _l("Row %(row)d already has this deputy (same name and jurisdiction).", row=first_row)

    def find(self, row, context):
        (key, _column) = self.key(row)
        found = self.existing.get(key, [])
        if len(found) > 1:
            row.add_problem("name", _l("%(count)d deputies of this name are recorded for this jurisdiction and "
                                       "cannot be told apart; please edit them one by one.", count=len(found)))
            return None
        return found[0] if found else None

    def changes(self, row, deputy, context):
        parsed, changed = row.parsed, set()
        if parsed["kind"] is not None and parsed["kind"] != deputy.kind:
            changed.add("kind")
        if parsed["active"] is not None and parsed["active"] != deputy.active:
            changed.add("status")
        for key in ("specialties", "bio"):
            if parsed[key] is not None and _differs(getattr(deputy, key), parsed[key]):
                changed.add(key)
        if "stations" in parsed:
            # Stations outside the importer's jurisdiction are not theirs to take away.
            parsed["stations_kept"] = [s for s in deputy.stations if not context.in_scope(s.jurisdiction_id)]
            mine = {s.id for s in deputy.stations} - {s.id for s in parsed["stations_kept"]}
            if mine != {s.id for s in parsed["stations"]}:
                changed.add("stations")
        return changed

    def create(self, row):
        parsed = row.parsed
        return Deputy(
            name=parsed["name"],
            congress_jurisdiction=parsed["jurisdiction"],
            kind=parsed["kind"] or DeputyKind.DEPUTY,
            specialties=parsed["specialties"] or "",
            bio=parsed["bio"] or "",
            active=True if parsed["active"] is None else parsed["active"],
            stations=list(parsed.get("stations", [])),
        )

    def update(self, row, deputy):
        parsed = row.parsed
        if "kind" in row.changed:
            deputy.kind = parsed["kind"]
        if "status" in row.changed:
            deputy.active = parsed["active"]
        for key in ("specialties", "bio"):
            if key in row.changed:
                setattr(deputy, key, parsed[key])
        if "stations" in row.changed:
            deputy.stations = parsed["stations_kept"] + list(parsed["stations"])

    def export_rows(self, actor):
        ids = managed_jurisdiction_ids(actor)
        query = (sa.select(Deputy).join(Deputy.congress_jurisdiction)
                 .options(selectinload(Deputy.stations), selectinload(Deputy.congress_jurisdiction))
                 .order_by(Jurisdiction.division_code, Deputy.name, Deputy.id))
        if ids is not None:
            query = query.where(Deputy.congress_jurisdiction_id.in_(ids))
        kinds = {kind: label for label, kind in DEPUTY_KINDS.items()}
        for deputy in db.session.scalars(query):
            stations = [s.name for s in deputy.stations if ids is None or s.jurisdiction_id in ids]
            yield {
                "name": deputy.name,
                "jurisdiction": jurisdiction_cell(deputy.congress_jurisdiction),
                "kind": kinds[deputy.kind],
                "stations": "、".join(stations),
                "specialties": deputy.specialties,
                "bio": deputy.bio,
                "status": "在任" if deputy.active else "离任",
            }


class EnterpriseRegister(Register):
    kind = ImportKind.ENTERPRISES

    def check(self, row, context):
        row.parsed["name"] = _check_text(row, "name", 120, required_message=_l("The enterprise's name is missing."))
        row.parsed["uscc"] = None
        if row.given("uscc"):
            try:
                row.parsed["uscc"] = normalise_uscc(row.values["uscc"])
            except InvalidValue as error:
                row.add_problem("uscc", error.message)
        row.parsed["jurisdiction"] = context.jurisdiction(row, "jurisdiction") if row.given("jurisdiction") else None
        row.parsed["address"] = _check_text(row, "address", 200)
        row.parsed["industry"] = _check_text(row, "industry", 60)
        row.parsed["park"] = _check_text(row, "park", 80)

    def load_existing(self, rows, context):
        usccs = {row.parsed["uscc"] for row in rows if row.parsed.get("uscc")}
        names = {row.parsed["name"] for row in rows if row.parsed.get("name")}
        query = (sa.select(Enterprise).where(sa.or_(Enterprise.uscc.in_(usccs), Enterprise.name.in_(names)))
                 .order_by(Enterprise.id))
        self.by_uscc: dict[str, Enterprise] = {}
        self.by_name: dict[str, list[Enterprise]] = defaultdict(list)
        for enterprise in db.session.scalars(query):
            if enterprise.uscc:
                self.by_uscc[enterprise.uscc] = enterprise
            self.by_name[enterprise.name].append(enterprise)

    def key(self, row):
        if row.parsed.get("uscc"):
            return ("uscc", row.parsed["uscc"]), "uscc"
        if row.parsed.get("name") and not row.given("uscc"):
            return ("name", row.parsed["name"]), "name"
        return None

    def duplicate_message(self, first_row):
        return _l("Row %(row)d already has this enterprise (same credit code, or same name without a code).",
                  row=first_row)

    def find(self, row, context):
        uscc, name = row.parsed["uscc"], row.parsed["name"]
        if uscc:
            found = self.by_uscc.get(uscc)
            if found is None:
                # Filed through a QR code without the code: the import completes that record.
                candidates = [e for e in self.by_name.get(name, []) if not e.uscc]
                if len(candidates) > 1:
                    row.add_problem("name", _l("%(count)d enterprises of this name are recorded without a credit "
                                               "code and cannot be told apart.", count=len(candidates)))
                    return None
                found = candidates[0] if candidates else None
            column = "uscc"
        else:
            candidates = self.by_name.get(name, [])
            if len(candidates) > 1:
                row.add_problem("name", _l("%(count)d enterprises of this name are recorded: please give the credit "
                                           "code to tell them apart.", count=len(candidates)))
                return None
            found = candidates[0] if candidates else None
            column = "name"
        if found is not None and not context.in_scope(found.jurisdiction_id):
            row.add_problem(column, _l("This enterprise is recorded outside your jurisdiction."))
            return None
        return found

    def check_new(self, row, context):
        super().check_new(row, context)
        if context.scope is not None and row.parsed["jurisdiction"] is None and "jurisdiction" not in row.problems:
            row.add_problem("jurisdiction", _l("Please give the jurisdiction: a new enterprise must lie within yours."))

    def changes(self, row, enterprise, context):
        parsed, changed = row.parsed, set()
        if _differs(enterprise.name, parsed["name"]):
            changed.add("name")
        if parsed["uscc"] and enterprise.uscc != parsed["uscc"]:
            changed.add("uscc")
        if parsed["jurisdiction"] is not None and parsed["jurisdiction"].id != enterprise.jurisdiction_id:
            changed.add("jurisdiction")
        for key in ("address", "industry", "park"):
            if parsed[key] is not None and _differs(getattr(enterprise, key), parsed[key]):
                changed.add(key)
        return changed

    def create(self, row):
        parsed = row.parsed
        return Enterprise(name=parsed["name"], uscc=parsed["uscc"], jurisdiction=parsed["jurisdiction"],
                          address=parsed["address"] or "", industry=parsed["industry"] or "",
                          park=parsed["park"] or "")

    def update(self, row, enterprise):
        for key in row.changed:
            setattr(enterprise, key, row.parsed[key])

    def export_rows(self, actor):
        ids = managed_jurisdiction_ids(actor)
        query = (sa.select(Enterprise).options(selectinload(Enterprise.jurisdiction))
                 .order_by(Enterprise.name, Enterprise.id))
        if ids is not None:
            query = query.where(Enterprise.jurisdiction_id.in_(ids))
        for enterprise in db.session.scalars(query):
            yield {
                "name": enterprise.name,
                "uscc": enterprise.uscc or "",
                "jurisdiction": jurisdiction_cell(enterprise.jurisdiction),
                "address": enterprise.address,
                "industry": enterprise.industry,
                "park": enterprise.park,
            }


class DepartmentRegister(Register):
    kind = ImportKind.DEPARTMENTS

    def check(self, row, context):
        row.parsed["name"] = _check_text(row, "name", 80, required_message=_l("The unit's name is missing."))
        if row.given("jurisdiction"):
            row.parsed["jurisdiction"] = context.jurisdiction(row, "jurisdiction")
        else:
            row.add_problem("jurisdiction", _l("The jurisdiction the unit belongs to is missing."))

    def load_existing(self, rows, context):
        ids = {row.parsed["jurisdiction"].id for row in rows if row.parsed.get("jurisdiction")}
        query = sa.select(Department).where(Department.jurisdiction_id.in_(ids))
        self.existing = {(d.jurisdiction_id, d.name): d for d in db.session.scalars(query)}

    def key(self, row):
        if row.parsed.get("name") and row.parsed.get("jurisdiction"):
            return (row.parsed["jurisdiction"].id, row.parsed["name"]), "name"
        return None

    def duplicate_message(self, first_row):
        return _l("Row %(row)d already has this unit (same name and jurisdiction).", row=first_row)

    def find(self, row, context):
        return self.existing.get(self.key(row)[0])

    def changes(self, row, department, context):
        return set()  # the key is all there is

    def create(self, row):
        return Department(name=row.parsed["name"], jurisdiction=row.parsed["jurisdiction"])

    def update(self, row, department):
        pass

    def export_rows(self, actor):
        ids = managed_jurisdiction_ids(actor)
        query = (sa.select(Department).join(Department.jurisdiction).options(selectinload(Department.jurisdiction))
                 .order_by(Jurisdiction.division_code, Department.name))
        if ids is not None:
            query = query.where(Department.jurisdiction_id.in_(ids))
        for department in db.session.scalars(query):
            yield {"name": department.name, "jurisdiction": jurisdiction_cell(department.jurisdiction)}


# A register is made for each plan: it holds that plan's lookups of existing records.
REGISTERS: dict[ImportKind, type[Register]] = {
    ImportKind.DEPUTIES: DeputyRegister,
    ImportKind.ENTERPRISES: EnterpriseRegister,
    ImportKind.DEPARTMENTS: DepartmentRegister,
}


# --- workbooks: the template and the export ---------------------------------------------------

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="FCE4E4")
_REQUIRED_FONT = Font(bold=True, color="B42318")


def template_workbook(kind: ImportKind) -> bytes:
    """The import template: the header row, one example row, and a sheet of notes."""
    columns = COLUMNS[kind]
    workbook = _register_workbook(kind, [{c.key: c.example for c in columns}])
    notes = workbook.create_sheet("填写说明")
    notes.append([str(_l("Column")), str(_l("Required")), str(_l("What to write"))])
    for cell in notes[1]:
        cell.font = _HEADER_FONT
    for column in columns:
        notes.append([column.header, str(_l("Yes")) if column.required else "", str(column.note)])
    notes.append([])
    for line in (
        _l("Row 1 holds the column names: keep them. Row 2 is an example; it is skipped while left unchanged."),
        MATCHING_NOTES[kind],
        _l("An empty optional cell leaves an existing record's value as it is. Importing the same file again "
           "changes nothing."),
        _l("Save as .xlsx, or as CSV (UTF-8 or GBK). At most %(rows)d rows and %(mb)d MB per file.",
           rows=MAX_ROWS, mb=MAX_FILE_BYTES // 2**20),
    ):
        notes.append([str(line)])
    notes.column_dimensions["A"].width = 30
    notes.column_dimensions["B"].width = 8
    notes.column_dimensions["C"].width = 90
    for row in notes.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    set_up_printing(notes, repeat_rows=1)
    return workbook_bytes(workbook)


def export_workbook(kind: ImportKind, *, actor: User) -> bytes:
    """The register as the actor may see it, with the template's headers in row 1, so
    that it can be edited and imported again."""
    return workbook_bytes(_register_workbook(kind, REGISTERS[kind]().export_rows(actor)))


def _register_workbook(kind: ImportKind, rows: Iterable[dict[str, str]]) -> openpyxl.Workbook:
    columns = COLUMNS[kind]
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = kind.sheet_name
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font = _REQUIRED_FONT if column.required else _HEADER_FONT
        cell.fill = _HEADER_FILL
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.as_text:
            sheet.column_dimensions[letter].number_format = "@"
        if column.choices:
            choice = DataValidation(type="list", formula1='"' + ",".join(column.choices) + '"', allow_blank=True)
            sheet.add_data_validation(choice)
            choice.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
    sheet.freeze_panes = "A2"
    set_up_printing(sheet, repeat_rows=1)
    for number, values in enumerate(rows, start=2):
        for index, column in enumerate(columns, start=1):
            write_text(sheet, number, index, values.get(column.key, ""), as_text=column.as_text)
    return workbook


def write_text(sheet, row: int, column: int, value: str, *, as_text: bool) -> None:
    value = ILLEGAL_CHARACTERS_RE.sub("", value or "")  # control characters have no place in XML
    cell = sheet.cell(row=row, column=column, value=value or None)
    # Text typed by the public (an enterprise name) must never become a formula.
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    if as_text:
        cell.number_format = "@"
    if isinstance(value, str) and "\n" in value:
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def workbook_bytes(workbook: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- keeping an upload between the dry run and the import ---------------------------------------


@dataclass
class StashedUpload:
    kind: ImportKind
    filename: str
    data: bytes


_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


def _stash_folder() -> str:
    folder = current_app.config.get("IMPORT_FOLDER") or os.path.join(current_app.instance_path, "imports")
    os.makedirs(folder, exist_ok=True)
    return folder


def _stash_path(token: str, actor: User) -> Optional[str]:
    if not _TOKEN.match(token or ""):
        return None
    return os.path.join(_stash_folder(), f"{actor.id}-{token}.upload")


def stash_upload(kind: ImportKind, data: bytes, filename: str, *, actor: User) -> str:
    """Keep a checked file for an hour, for this user only; the token names it."""
    folder = _stash_folder()
    _remove_expired(folder)
    token = secrets.token_urlsafe(24)
    path = _stash_path(token, actor)
    meta = json.dumps({"kind": kind.value, "filename": filename}, ensure_ascii=True).encode()
    partial = path + ".part"
    with open(partial, "wb") as out:
        out.write(meta + b"\n" + data)
    os.replace(partial, path)
    return token


def load_upload(token: str, *, actor: User) -> StashedUpload:
    """The file this user checked under `token`; InvalidValue when it is gone or expired."""
    path = _stash_path(token, actor)
    gone = InvalidValue(_l("The checked file is no longer here (it was imported already, or more than an hour "
                           "has passed). Please upload it again."))
    if path is None or not os.path.exists(path):
        raise gone
    if time.time() - os.path.getmtime(path) > STASH_SECONDS:
        _remove(path)
        raise gone
    with open(path, "rb") as stored:
        meta, _, data = stored.read().partition(b"\n")
    details = json.loads(meta)
    return StashedUpload(ImportKind(details["kind"]), details["filename"], data)


def discard_upload(token: str, *, actor: User) -> None:
    path = _stash_path(token, actor)
    if path is not None:
        _remove(path)


def import_upload(token: str, *, actor: User) -> ImportPlan:
    """Import the file checked under `token` (see run_import); it is removed once written."""
    upload = load_upload(token, actor=actor)
    plan = run_import(upload.kind, upload.data, upload.filename, actor=actor)
    if plan.applied:
        discard_upload(token, actor=actor)
    return plan


def _remove_expired(folder: str) -> None:
    limit = time.time() - STASH_SECONDS
    for entry in os.scandir(folder):
        try:
            if entry.is_file() and entry.stat().st_mtime < limit:
                os.remove(entry.path)
        except OSError:
            pass  # another worker removed it first


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
