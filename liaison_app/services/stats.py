"""Figures for the oversight dashboard and the public board, aggregated in SQL.

A fixed handful of queries whatever the number of requests: counts come from GROUP BY
queries; medians from percentile_cont on PostgreSQL and, on SQLite (which has none),
from one query of durations whose medians are taken in Python. Read only.

Definitions (the dashboard prints them):
- collected: requests received (filed) in the jurisdiction and below, in the period;
- solved: of those, the ones closed with the outcome "solved";
- solve rate: solved / closed with an outcome (solved or explained);
- on-time rate: of those that had a department's due date and were replied to, the
  share replied on or before the due date (the reply's date in China);
- satisfaction: (satisfied + mostly satisfied) / (satisfied + mostly satisfied +
  unsatisfied); 未评价 (closed without a rating) is counted apart, never as satisfied;
  a rating staff took by phone (电话回访) counts as the enterprise's own, and how many
  of the ratings were so taken is counted too (rated_by_phone);
- days to claim / to close: medians of claimed_at - created_at and, for closed
  requests, closed_at - created_at.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, Optional, Sequence

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from ..extensions import db
from ..models import Category, Department, Deputy, Outcome, PhoneRating, Rating, Request, Role, Station, User
from ..workdays import CHINA, utc_start_of
from ..workflow import Status

LEAGUE_MINIMUM = 5  # a department enters the league table with this many requests
# A breakdown shows at most this many lines: a province has 5,000 stations, 5,000 departments and
# 30,000 deputies, which drawn in full made a 23 MB page. Stations beyond it are summed in one line.
TOP_ROWS = 20
OTHERS = "others"  # the key of the line that sums the stations beyond TOP_ROWS
MAX_MONTHS = 60
DEFAULT_MONTHS = 12  # the dashboard's default period: this month and the 11 before it


# --- SQL in China time, on either database -----------------------------------------------------


class local_date(FunctionElement):
    """The date, in China, of a naive-UTC timestamp."""

    type = sa.Date()
    name = "local_date"
    inherit_cache = True


class days_between(FunctionElement):
    """(end - start) in days, as a float."""

    type = sa.Float()
    name = "days_between"
    inherit_cache = True


def _args(element, compiler, **kw) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(local_date)
def _local_date(element, compiler, **kw):
    (moment,) = _args(element, compiler, **kw)
    return f"CAST(({moment}) AT TIME ZONE 'UTC' AT TIME ZONE '{CHINA.key}' AS DATE)"


@compiles(local_date, "sqlite")
def _local_date_sqlite(element, compiler, **kw):
    # China has kept UTC+8 all year since 1991: a fixed shift is exact.
    return f"date({_args(element, compiler, **kw)[0]}, '+8 hours')"


@compiles(days_between)
def _days_between(element, compiler, **kw):
    start, end = _args(element, compiler, **kw)
    return f"CAST(EXTRACT(EPOCH FROM ({end}) - ({start})) / 86400.0 AS DOUBLE PRECISION)"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    start, end = _args(element, compiler, **kw)
    return f"(julianday({end}) - julianday({start}))"


# --- periods ---------------------------------------------------------------------------------------


def add_months(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)



@dataclass(frozen=True)
class Period:
    """From `start` to `end`, both included, as dates in China."""

    start: date
    end: date

    @classmethod
    def last_months(cls, count: int, today: date) -> Period:
        """This month and the count - 1 before it, up to today."""
        return cls(add_months(today.replace(day=1), -(count - 1)), today)

    def bounds(self) -> tuple[datetime, datetime]:
        return utc_start_of(self.start), utc_start_of(self.end + timedelta(days=1))

    def months(self) -> list[str]:
        return [f"{first:%Y-%m}" for first in self._firsts()]

    def month_of(self, moment) -> sa.ColumnElement:
        """'2026-11', the month in China of a timestamp of the period: compared against
        the months' first instants, so nothing is converted row by row."""
        firsts = self._firsts()
        ends = [utc_start_of(add_months(first, 1)) for first in firsts]
        return sa.case(*((moment < end, f"{first:%Y-%m}") for first, end in zip(firsts, ends)))

    def _firsts(self) -> list[date]:
        firsts, month = [], self.start.replace(day=1)
        while month <= self.end:
            firsts.append(month)
            month = add_months(month, 1)
        return firsts


class Preset(NamedTuple):
    """A period staff pick by name; the dashboard links to each, and large jurisdictions have
    each one counted ahead of time (services/dashboard_snapshots.py)."""

    key: str
    label: Any  # a lazy string
    period: Period


def presets(today: date) -> list[Preset]:
    """The named periods as of `today` (a date in China), the default first."""
    this_month = today.replace(day=1)
    last_year = today.year - 1
    return [
        Preset("last-12-months", _l("Last 12 months"), Period.last_months(DEFAULT_MONTHS, today)),
        Preset("this-month", _l("This month"), Period(this_month, today)),
        Preset("last-month", _l("Last month"), Period(add_months(this_month, -1), this_month - timedelta(days=1))),
        Preset("this-year", _l("This year"), Period(date(today.year, 1, 1), today)),
        Preset("last-year", _l("Last year"), Period(date(last_year, 1, 1), date(last_year, 12, 31))),
    ]


# --- figures -----------------------------------------------------------------------------------------


def _rate(part: int, whole: int) -> Optional[float]:
    return None if not whole else 100.0 * part / whole


@dataclass(frozen=True)
class Figures:
    """The counts of one group of requests, their rates and median durations (days)."""

    collected: int = 0
    solved: int = 0
    closed_with_outcome: int = 0
    due_replied: int = 0
    on_time: int = 0
    satisfied: int = 0
    mostly_satisfied: int = 0
    unsatisfied: int = 0
    unrated: int = 0
    rated_by_phone: int = 0  # of the three above, taken by staff in a 电话回访
    median_days_to_claim: Optional[float] = None
    median_days_to_close: Optional[float] = None

    def __add__(self, other: Figures) -> Figures:
        """Counts add up; medians do not, so the sum has none."""
        return Figures(**{name: getattr(self, name) + getattr(other, name) for name in COUNTS})

    @property
    def rated(self) -> int:
        return self.satisfied + self.mostly_satisfied + self.unsatisfied

    @property
    def solve_rate(self) -> Optional[float]:
        return _rate(self.solved, self.closed_with_outcome)

    @property
    def on_time_rate(self) -> Optional[float]:
        return _rate(self.on_time, self.due_replied)

    @property
    def satisfaction_rate(self) -> Optional[float]:
        return _rate(self.satisfied + self.mostly_satisfied, self.rated)


COUNTS = tuple(f.name for f in fields(Figures) if f.type == "int")


@dataclass(frozen=True)
class Row:
    """A line of a breakdown: what it groups by, how to name it, and its figures."""

    key: Any
    label: Any
    figures: Figures


@dataclass(frozen=True)
class DeputyRow:
    """A deputy's responsiveness: requests claimed and the median hours to claim them."""

    deputy_id: int
    name: str
    claimed: int
    median_hours_to_claim: Optional[float]


@dataclass(frozen=True)
class Dashboard:
    period: Period
    totals: Figures
    by_month: list[Row]
    by_category: list[Row]
    by_station: list[Row]  # the TOP_ROWS busiest, then one line (key OTHERS) summing the rest
    departments: list[Row]  # the TOP_ROWS first of the league
    deputies: list[DeputyRow] = field(default_factory=list)  # the TOP_ROWS quickest
    more_departments: int = 0  # in the league beyond those shown
    more_deputies: bool = False  # whether deputies beyond those shown claimed requests too
    other_stations: int = 0  # how many stations the OTHERS line of by_station sums


def _count(condition) -> sa.ColumnElement:
    return sa.func.count(sa.case((condition, 1)))


_RATED = (Rating.SATISFIED, Rating.MOSTLY_SATISFIED, Rating.UNSATISFIED)
# The requests whose rating now is one taken by phone, found from the few phone ratings rather
# than by reading Request.rated_by_phone from every row: that column is not in the figures'
# index, and reading it would turn the dashboard's index-only scan into table reads.
_rated_now = aliased(Request)
_RATED_BY_PHONE = (sa.select(PhoneRating.request_id).join(_rated_now, _rated_now.id == PhoneRating.request_id)
                   .where(_rated_now.rated_by_phone))


def _figure_columns() -> list[sa.ColumnElement]:
    closed = Request.status == Status.CLOSED
    replied_with_due = sa.and_(Request.due_on.is_not(None), Request.replied_at.is_not(None))
    return [
        sa.func.count().label("collected"),
        _count(sa.and_(closed, Request.outcome == Outcome.SOLVED)).label("solved"),
        _count(sa.and_(closed, Request.outcome.is_not(None))).label("closed_with_outcome"),
        _count(replied_with_due).label("due_replied"),
        _count(sa.and_(replied_with_due, local_date(Request.replied_at) <= Request.due_on)).label("on_time"),
        *(_count(Request.rating == rating).label(rating.value) for rating in Rating),
        _count(sa.and_(Request.rating.in_(_RATED), Request.id.in_(_RATED_BY_PHONE))).label("rated_by_phone"),
    ]


def _figures_of(row) -> Figures:
    """The counts of a row of _figure_columns() (its mapping made once: Row._mapping builds one
    at each use, nine times a row for a province's 10,000 stations and departments)."""
    mapping = row._mapping
    return Figures(**{name: mapping[name] for name in COUNTS})


def _grouped(keys: tuple, where: Sequence) -> dict[tuple, Figures]:
    """One GROUP BY query: the figures for each combination of `keys` among the requests
    that `where` selects."""
    query = sa.select(*keys, *_figure_columns()).where(*where).group_by(*keys)
    return {tuple(row[: len(keys)]): _figures_of(row) for row in db.session.execute(query)}


def _grouped_sets(key_sets: Sequence[tuple], where: Sequence) -> list[dict[tuple, Figures]]:
    """_grouped() for each tuple of keys: on PostgreSQL in one pass over the rows (GROUPING
    SETS; at a province's scale the pass is most of the cost), on SQLite one query each."""
    if not _is_postgresql():
        return [_grouped(keys, where) for keys in key_sets]
    columns = [key for keys in key_sets for key in keys]
    query = sa.select(*columns, sa.func.grouping(*columns), *_figure_columns()).where(*where).group_by(
        sa.func.grouping_sets(*(sa.tuple_(*keys) for keys in key_sets)))
    # grouping() has a bit set for each column a row is not grouped by, the first column highest.
    width, masks, offset = len(columns), {}, 0
    for index, keys in enumerate(key_sets):
        grouped_by = sum(1 << (width - 1 - position) for position in range(offset, offset + len(keys)))
        masks[(1 << width) - 1 - grouped_by] = (index, offset, len(keys))
        offset += len(keys)
    results: list[dict[tuple, Figures]] = [{} for _keys in key_sets]
    for row in db.session.execute(query):
        index, start, length = masks[row[width]]
        results[index][tuple(row[start:start + length])] = _figures_of(row)
    return results


def _totals(grouped: dict[tuple, Figures], position: int) -> dict[Any, Figures]:
    """Roll a breakdown up to one of its keys (a key seen once keeps its figures as they are:
    a province's 5,000 stations and 5,000 departments are each one group already)."""
    totals: dict[Any, Figures] = {}
    for key, figures in grouped.items():
        total = totals.get(key[position])
        totals[key[position]] = figures if total is None else total + figures
    return totals


def received_in(jurisdiction_ids: Sequence[int], period: Period) -> list:
    """Requests received (收集) in these jurisdictions during the period.

    On PostgreSQL the (jurisdiction, date, ...) index that carries every column the
    dashboard reads drives the scan, index-only. On SQLite the period's range on
    created_at does: through the index of the jurisdiction (hence `+ 0`, which sets it
    aside) SQLite would fetch the rows of a county holding most requests one by one,
    several times slower than in order.
    """
    start, end = period.bounds()
    jurisdiction = Request.filed_jurisdiction_id
    if not _is_postgresql():
        jurisdiction = jurisdiction + 0
    return [jurisdiction.in_(jurisdiction_ids), Request.created_at >= start, Request.created_at < end]


def received_at_station(station_id: int, period: Period) -> list:
    start, end = period.bounds()
    return [Request.station_id == station_id, Request.created_at >= start, Request.created_at < end]


# --- medians ------------------------------------------------------------------------------------------

# What medians are grouped by; ("all", None) is the whole selection.
MEDIAN_GROUPS = ("category", "station_id", "claimant_id")


@dataclass(frozen=True)
class Medians:
    days_to_claim: Optional[float] = None
    days_to_close: Optional[float] = None
    claimed: int = 0  # how many claims the median to claim is taken over


def _durations(where: Sequence) -> sa.Select:
    """Per request: its category (as stored text), station, claimant, days to claim and to close."""
    closed = sa.and_(Request.status == Status.CLOSED, Request.closed_at.is_not(None))
    return sa.select(
        sa.type_coerce(Request.category, sa.String).label("category"), Request.station_id, Request.claimant_id,
        sa.case((Request.claimed_at.is_not(None), days_between(Request.created_at, Request.claimed_at))).label("claim"),
        sa.case((closed, days_between(Request.created_at, Request.closed_at))).label("close"),
    ).where(*where, sa.or_(Request.claimed_at.is_not(None), closed))


def medians(where: Sequence, groups: Sequence[str] = MEDIAN_GROUPS) -> dict[tuple[str, Any], Medians]:
    """Median days to claim and to close for the whole selection and per value of each of
    `groups` (on SQLite every one of MEDIAN_GROUPS: one pass in Python takes them all)."""
    if _is_postgresql():
        return _medians_in_postgresql(where, groups)
    return _medians_in_python(where)


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _medians_in_python(where: Sequence) -> dict[tuple[str, Any], Medians]:
    claims: dict[tuple[str, Any], list[float]] = defaultdict(list)
    closes: dict[tuple[str, Any], list[float]] = defaultdict(list)
    # Core rows, not ORM ones: this can be a row per request of a county's year.
    for category, station_id, claimant_id, to_claim, to_close in db.session.connection().execute(_durations(where)):
        groups = (("all", None), ("category", category), ("station_id", station_id), ("claimant_id", claimant_id))
        for group in groups:
            if to_claim is not None:
                claims[group].append(to_claim)
            if to_close is not None:
                closes[group].append(to_close)
    return {group: Medians(_median(claims.get(group)), _median(closes.get(group)), len(claims.get(group, ())))
            for group in claims.keys() | closes.keys()}


def _median(values: Optional[list[float]]) -> Optional[float]:
    return statistics.median(values) if values else None


def _medians_in_postgresql(where: Sequence, groups: Sequence[str]) -> dict[tuple[str, Any], Medians]:
    """The same figures in one query: GROUPING SETS with percentile_cont(0.5), which is the
    median as statistics.median takes it (the mean of the middle two of an even count).
    Each grouping sorts every row once more."""
    durations = _durations(where).subquery()
    keys = [durations.c[name] for name in groups]
    query = sa.select(
        *keys, sa.func.grouping(*keys),
        sa.func.percentile_cont(0.5).within_group(durations.c.claim),
        sa.func.percentile_cont(0.5).within_group(durations.c.close),
        sa.func.count(durations.c.claim),
    ).group_by(sa.func.grouping_sets(*(sa.tuple_(key) for key in keys), sa.text("()")))
    # grouping() has a bit set for each key a row is not grouped by, the first key highest.
    width = len(keys)
    names = {(1 << width) - 1 - (1 << (width - 1 - i)): name for i, name in enumerate(groups)}
    names[(1 << width) - 1] = "all"
    result = {}
    for row in db.session.execute(query):
        group = names[row[width]]
        key = None if group == "all" else row[list(groups).index(group)]
        result[group, key] = Medians(row[width + 1], row[width + 2], row[width + 3])
    return result


def _with_medians(figures: Figures, found: Optional[Medians]) -> Figures:
    found = found or Medians()
    return replace(figures, median_days_to_claim=found.days_to_claim, median_days_to_close=found.days_to_close)


# --- the dashboard --------------------------------------------------------------------------------------


def dashboard(jurisdiction_ids: Sequence[int], period: Period) -> Dashboard:
    """Every figure of the oversight dashboard for requests received in these jurisdictions:
    the counts by month × category, by station and by department (one pass on PostgreSQL), the
    medians, and small look-ups of names, whatever the number of requests."""
    where = received_in(jurisdiction_ids, period)
    _tune_for_aggregates()
    month_category, by_station_id, by_department_id = _grouped_sets(
        [(period.month_of(Request.created_at), Request.category), (Request.station_id,), (Request.department_id,)],
        where)
    # On PostgreSQL the stations' medians are taken apart, for the stations shown only.
    found = medians(where, ("category", "claimant_id") if _is_postgresql() else MEDIAN_GROUPS)

    months = _totals(month_category, 0)
    by_month = [Row(month, month, months.get(month, Figures())) for month in period.months()]
    totals = _with_medians(sum((row.figures for row in by_month), Figures()), found.get(("all", None)))

    categories = _totals(month_category, 1)
    by_category = [Row(c, c.label, _with_medians(categories[c], found.get(("category", c.value))))
                   for c in Category if c in categories]

    stations = _totals(by_station_id, 0)
    by_station = _busiest_stations(stations, found, where)

    departments = _totals(by_department_id, 0)
    ranked = {department_id: f for department_id, f in departments.items()
              if department_id is not None and f.collected >= LEAGUE_MINIMUM}
    department_names = _names(Department, departments)
    league = sorted(
        (Row(department_id, department_names[department_id], f) for department_id, f in ranked.items()),
        key=lambda row: (row.figures.on_time_rate is None, -(row.figures.on_time_rate or 0),
                         -row.figures.collected, row.label),
    )
    deputies, more_deputies = _deputies(found)
    return Dashboard(period, totals, by_month, by_category, by_station, league[:TOP_ROWS], deputies,
                     more_departments=max(len(league) - TOP_ROWS, 0), more_deputies=more_deputies,
                     other_stations=max(len(stations) - TOP_ROWS, 0))


def _busiest_stations(stations: dict[Any, Figures], found: dict[tuple[str, Any], Medians],
                      where: Sequence) -> list[Row]:
    """The TOP_ROWS stations that collected most (names and, on PostgreSQL, medians looked up
    for those only), then one line summing the others (its medians unknown: they do not add up)."""
    busiest = sorted(stations.items(), key=lambda item: (-item[1].collected, item[0] is None, item[0] or 0))
    shown, rest = busiest[:TOP_ROWS], busiest[TOP_ROWS:]
    if shown and _is_postgresql():
        ids = [station_id for station_id, _f in shown]
        at_shown = sa.or_(Request.station_id.in_([i for i in ids if i is not None]),
                          Request.station_id.is_(None) if None in ids else sa.false())
        found = {key: m for key, m in medians([*where, at_shown], ("station_id",)).items() if key[0] == "station_id"}
    names = _names(Station, [station_id for station_id, _f in shown])
    rows = sorted(
        (Row(station_id, names.get(station_id), _with_medians(f, found.get(("station_id", station_id))))
         for station_id, f in shown),
        key=lambda row: (-row.figures.collected, row.label or ""),
    )
    if rest:
        rows.append(Row(OTHERS, _l("%(num)d other stations", num=len(rest)),
                        sum((f for _id, f in rest), Figures())))
    return rows


def _tune_for_aggregates() -> None:
    """On PostgreSQL, for the rest of this (read-only) transaction: room to count in hash tables
    and sort the medians' durations in memory. With the default 4 MB a province's year (900,000
    requests) was sorted on disk before it was counted: 7.7 s; hashed, 2.0 s (30 MB used; the
    planner, overestimating the groups, hashes only when it is allowed 256 MB)."""
    if _is_postgresql():
        db.session.execute(sa.text("SELECT set_config('work_mem', '256MB', true)"))


def _names(model, ids) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    return dict(db.session.execute(sa.select(model.id, model.name).where(model.id.in_(wanted))).all())


DEPUTY_BATCH = 200  # claimants looked up at a time, quickest first, until TOP_ROWS deputies are found


def _deputies(found: dict[tuple[str, Any], Medians]) -> tuple[list[DeputyRow], bool]:
    """The TOP_ROWS deputies who claimed requests of the selection quickest (median hours), and
    whether others were left out. Staff claim too; only deputies' accounts are listed. Accounts
    are looked up quickest first, a batch at a time: a province has 30,000 claimants."""
    claimants = sorted((m.days_to_claim, user_id) for (group, user_id), m in found.items()
                       if group == "claimant_id" and user_id is not None and m.days_to_claim is not None)
    ranked: list[tuple[float, str, DeputyRow]] = []
    for start in range(0, len(claimants), DEPUTY_BATCH):
        batch = claimants[start:start + DEPUTY_BATCH]
        if len(ranked) >= TOP_ROWS and batch[0][0] > ranked[TOP_ROWS - 1][0]:
            return [row for *_key, row in ranked[:TOP_ROWS]], True  # nobody later can enter the top
        days_of = {user_id: days for days, user_id in batch}
        people = db.session.execute(
            sa.select(User.id, Deputy.id, Deputy.name).join(Deputy, User.deputy_id == Deputy.id)
            .where(User.role == Role.DEPUTY, User.id.in_(days_of))
        ).all()
        ranked += [(days_of[user_id], name,
                    DeputyRow(deputy_id, name, found["claimant_id", user_id].claimed, days_of[user_id] * 24))
                   for user_id, deputy_id, name in people]
        ranked.sort(key=lambda item: item[:2])
    return [row for *_key, row in ranked[:TOP_ROWS]], len(ranked) > TOP_ROWS


# --- the public board -------------------------------------------------------------------------------------


def recent_months(where_for, today: date) -> list[Row]:
    """This month's and last month's figures (newest first). `where_for(period)` selects."""
    period = Period.last_months(2, today)
    months = _totals(_grouped((period.month_of(Request.created_at),), where_for(period)), 0)
    return [Row(month, month, months.get(month, Figures())) for month in reversed(period.months())]
