"""Dashboards of large jurisdictions, computed ahead of time.

A province's dashboard counts and times every request of its year (900,000 of them): about 5 s
even from the covering index, whereas staff expect the page at once. `flask refresh-dashboards`
(cron, every 10 minutes) computes, for each jurisdiction that received at least
DASHBOARD_SNAPSHOT_MIN_REQUESTS requests in the default period (the last 12 months), the
dashboard of every named period staff pick (stats.presets: last 12 months, this month, last month,
this year, last year; DASHBOARD_SNAPSHOT_PERIODS chooses which), and stores them here. The page
shows a stored dashboard of the same jurisdiction and dates, however they were chosen, when it is
younger than DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS, and says as of when; otherwise (dates of one's
own, a small jurisdiction, cron not running) it computes the figures live, as before.

A snapshot is JSON of numbers, dates and names: labels that are translated (categories, "other
stations") are made again when it is read, in the reader's language.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from .. import access
from ..extensions import begin_write, db
from ..models import Category, DashboardSnapshot, Jurisdiction, Request, utcnow
from ..workdays import today_local
from . import stats

FORMAT = 2  # bumped when the JSON's shape changes: older snapshots are then ignored (2: rated_by_phone)


@dataclass(frozen=True)
class Stored:
    """A dashboard read back from a snapshot, and when it was computed (naive UTC)."""

    dashboard: stats.Dashboard
    computed_at: datetime


# --- JSON ------------------------------------------------------------------------------------------


def _figures(figures: stats.Figures) -> dict:
    return asdict(figures)


def _row(row: stats.Row, label) -> dict:
    return {"key": row.key, "label": label, "figures": _figures(row.figures)}


def to_json(dashboard: stats.Dashboard) -> str:
    others = [row for row in dashboard.by_station if row.key == stats.OTHERS]
    return json.dumps({
        "format": FORMAT,
        "start": dashboard.period.start.isoformat(),
        "end": dashboard.period.end.isoformat(),
        "totals": _figures(dashboard.totals),
        "by_month": [_row(row, None) for row in dashboard.by_month],
        "by_category": [_row(row, None) for row in dashboard.by_category],
        "by_station": [_row(row, row.label) for row in dashboard.by_station if row.key != stats.OTHERS],
        # The stations beyond the busiest: their count (the label is made again) and their sums.
        "other_stations": ({"count": dashboard.other_stations, "figures": _figures(others[0].figures)}
                           if others else None),
        "departments": [_row(row, row.label) for row in dashboard.departments],
        "deputies": [asdict(row) for row in dashboard.deputies],
        "more_departments": dashboard.more_departments,
        "more_deputies": dashboard.more_deputies,
    }, ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> Optional[stats.Dashboard]:
    """The dashboard the JSON holds; None when it was written in another format."""
    data = json.loads(text)
    if data.get("format") != FORMAT:
        return None
    period = stats.Period(date.fromisoformat(data["start"]), date.fromisoformat(data["end"]))
    by_category = []
    for row in data["by_category"]:
        category = Category(row["key"])
        by_category.append(stats.Row(category, category.label, _read_figures(row["figures"])))
    by_station = [stats.Row(row["key"], row["label"], _read_figures(row["figures"])) for row in data["by_station"]]
    if data["other_stations"]:
        others = data["other_stations"]
        by_station.append(stats.Row(stats.OTHERS, _l("%(num)d other stations", num=others["count"]),
                                    _read_figures(others["figures"])))
    return stats.Dashboard(
        period=period,
        totals=_read_figures(data["totals"]),
        by_month=[stats.Row(row["key"], row["key"], _read_figures(row["figures"])) for row in data["by_month"]],
        by_category=by_category,
        by_station=by_station,
        departments=[stats.Row(row["key"], row["label"], _read_figures(row["figures"])) for row in data["departments"]],
        deputies=[stats.DeputyRow(**row) for row in data["deputies"]],
        more_departments=data["more_departments"],
        more_deputies=data["more_deputies"],
        other_stations=data["other_stations"]["count"] if data["other_stations"] else 0,
    )


def _read_figures(data: dict) -> stats.Figures:
    return stats.Figures(**data)  # written by asdict() in this FORMAT


# --- reading ---------------------------------------------------------------------------------------


def _young_enough() -> Optional[sa.ColumnElement]:
    """The condition a snapshot must meet to be shown; None when none may be
    (DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS is 0)."""
    max_age = current_app.config["DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS"]
    return DashboardSnapshot.computed_at >= utcnow() - timedelta(seconds=max_age) if max_age else None


def stored(jurisdiction_id: int, period: stats.Period) -> Optional[Stored]:
    """The snapshot of this jurisdiction and period, if one is young enough to show."""
    young = _young_enough()
    if young is None:
        return None
    row = db.session.execute(
        sa.select(DashboardSnapshot.figures, DashboardSnapshot.computed_at).where(
            DashboardSnapshot.jurisdiction_id == jurisdiction_id,
            DashboardSnapshot.period_start == period.start,
            DashboardSnapshot.period_end == period.end,
            young,
        )
    ).first()
    if row is None:
        return None
    dashboard = from_json(row.figures)
    return Stored(dashboard, row.computed_at) if dashboard is not None else None


def is_large(jurisdiction_id: int) -> bool:
    """Whether the jurisdiction has young enough snapshots: its other periods take seconds."""
    young = _young_enough()
    return young is not None and db.session.scalar(sa.select(sa.exists().where(
        DashboardSnapshot.jurisdiction_id == jurisdiction_id, young)))


# --- computing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    """One dashboard stored: a jurisdiction (and what it received in the default period) over a
    named period."""

    jurisdiction_id: int
    name: str
    collected: int
    key: str
    period: stats.Period
    seconds: float


def stored_presets(today: date) -> list[stats.Preset]:
    """The named periods DASHBOARD_SNAPSHOT_PERIODS asks for, each distinct period once (on 1
    January "this month" and "this year" are the same days)."""
    wanted = current_app.config["DASHBOARD_SNAPSHOT_PERIODS"]  # known keys: checked by load_config
    chosen: dict[stats.Period, stats.Preset] = {}
    for preset in stats.presets(today):
        if preset.key in wanted:
            chosen.setdefault(preset.period, preset)
    return list(chosen.values())


def large_jurisdictions(period: stats.Period, minimum: int) -> list[tuple[Jurisdiction, int]]:
    """Jurisdictions that received at least `minimum` requests in the period, counting what was
    filed below them (one GROUP BY, added up the tree in Python), largest first."""
    start, end = period.bounds()
    filed = dict(db.session.execute(
        sa.select(Request.filed_jurisdiction_id, sa.func.count())
        .where(Request.created_at >= start, Request.created_at < end)
        .group_by(Request.filed_jurisdiction_id)
    ).all())
    parents = dict(db.session.execute(sa.select(Jurisdiction.id, Jurisdiction.parent_id)).all())
    received: dict[int, int] = {}
    for jurisdiction_id, count in filed.items():
        seen = set()
        while jurisdiction_id is not None and jurisdiction_id not in seen:  # a cycle never loops
            seen.add(jurisdiction_id)
            received[jurisdiction_id] = received.get(jurisdiction_id, 0) + count
            jurisdiction_id = parents.get(jurisdiction_id)
    wanted = {j: n for j, n in received.items() if n >= minimum}
    if not wanted:
        return []
    places = db.session.scalars(sa.select(Jurisdiction).where(Jurisdiction.id.in_(wanted))).all()
    return sorted(((j, wanted[j.id]) for j in places), key=lambda item: (-item[1], item[0].id))


def refresh(minimum: Optional[int] = None, today: Optional[date] = None) -> list[Refreshed]:
    """Compute and store the dashboard of every large jurisdiction over every stored named
    period as of `today` (China; default: now); drop all other snapshots, such as yesterday's
    "this month". Large means at least `minimum` requests in the default period. Each dashboard
    is committed on its own, so readers see each new snapshot as soon as it is ready and a
    failure half-way keeps what was done."""
    minimum = current_app.config["DASHBOARD_SNAPSHOT_MIN_REQUESTS"] if minimum is None else minimum
    today = today or today_local()
    presets = stored_presets(today)
    places = large_jurisdictions(stats.Period.last_months(stats.DEFAULT_MONTHS, today), minimum)
    db.session.rollback()  # the reads above took no lock; each write below is its own transaction
    done = []
    for jurisdiction, collected in places:
        subtree = access.subtree_ids(jurisdiction.id)
        for preset in presets:
            began = time.perf_counter()
            dashboard = stats.dashboard(subtree, preset.period)
            seconds = time.perf_counter() - began
            _store(jurisdiction.id, dashboard, seconds)
            done.append(Refreshed(jurisdiction.id, jurisdiction.name, collected, preset.key, preset.period, seconds))
    kept_places = [place.id for place, _collected in places] or [0]
    # Without any period stored (an empty DASHBOARD_SNAPSHOT_PERIODS) every snapshot goes.
    kept_periods = [sa.and_(DashboardSnapshot.period_start == preset.period.start,
                            DashboardSnapshot.period_end == preset.period.end) for preset in presets]
    begin_write()
    db.session.execute(sa.delete(DashboardSnapshot).where(
        sa.or_(DashboardSnapshot.jurisdiction_id.not_in(kept_places), sa.not_(sa.or_(sa.false(), *kept_periods)))))
    db.session.commit()
    return done


def _store(jurisdiction_id: int, dashboard: stats.Dashboard, seconds: float) -> None:
    text = to_json(dashboard)
    db.session.rollback()  # end the read transaction of the computation (its 256 MB work_mem too)
    begin_write()
    period = dashboard.period
    db.session.execute(sa.delete(DashboardSnapshot).where(
        DashboardSnapshot.jurisdiction_id == jurisdiction_id,
        DashboardSnapshot.period_start == period.start,
        DashboardSnapshot.period_end == period.end,
    ))
    db.session.add(DashboardSnapshot(jurisdiction_id=jurisdiction_id, period_start=period.start,
                                     period_end=period.end, computed_at=utcnow(), seconds=round(seconds, 3),
                                     figures=text))
    db.session.commit()
