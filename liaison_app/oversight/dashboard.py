"""The dashboard (数据看板): what was collected and solved, how fast and how well, for a
jurisdiction and everything below it, by month, category, station, department and deputy."""

from datetime import date
from typing import Optional

import sqlalchemy as sa
from flask import render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import access, charts
from ..admin import scope
from ..extensions import db
from ..models import Jurisdiction, Role
from ..services import dashboard_snapshots, stats
from ..templating import is_htmx
from ..workdays import today_local
from . import add_menu_entry, bp

EARLIEST = date(2000, 1, 1)


@bp.get("/dashboard")
def dashboard():
    """?jurisdiction=&from=&to= (dates, China time); by default the user's own
    jurisdiction (an admin's: the first top-level one) over the last 12 months."""
    default = _default_jurisdiction()
    jurisdiction = _chosen_jurisdiction(default)
    today = today_local()
    period, problem = _chosen_period(today)
    presets = stats.presets(today)
    current_preset = _current_preset(presets, period)
    report, as_of, counted_live = None, None, False
    if jurisdiction:
        # A large jurisdiction's figures, computed ahead of time (flask refresh-dashboards), or live.
        stored = dashboard_snapshots.stored(jurisdiction.id, period)
        if stored:
            report, as_of = stored.dashboard, stored.computed_at
        else:
            report = stats.dashboard(access.subtree_ids(jurisdiction.id), period)
            # Dates of one's own, in a jurisdiction whose named periods are stored: say why it was slow.
            counted_live = current_preset is None and dashboard_snapshots.is_large(jurisdiction.id)
    # htmx swaps the figures, and the form out of band: its dates and marked period follow them.
    template = "oversight/dashboard/_update.html" if is_htmx() else "oversight/dashboard/index.html"
    # Narrowed beyond the default view: another jurisdiction, dates of one's own.
    active_filters = (jurisdiction != default) + (current_preset is None)
    return render_template(template, report=report, jurisdiction=jurisdiction, period=period, problem=problem,
                           presets=presets, current_preset=current_preset, active_filters=active_filters,
                           as_of=as_of, counted_live=counted_live,
                           choices=scope.jurisdiction_menu(current_user, jurisdiction), charts=charts,
                           league_minimum=stats.LEAGUE_MINIMUM, top_rows=stats.TOP_ROWS)


def _current_preset(presets: list[stats.Preset], period: stats.Period) -> Optional[stats.Preset]:
    """The named period shown: the one picked (?preset=) if it covers these dates, else the
    first that does. Two can cover the same days (the last 12 months and this year, in
    December); exactly one is marked."""
    matching = [preset for preset in presets if preset.period == period]
    picked = request.args.get("preset")
    return next((preset for preset in matching if preset.key == picked), matching[0] if matching else None)


def _chosen_jurisdiction(default: Optional[Jurisdiction]) -> Optional[Jurisdiction]:
    """Within the user's scope (404 outside it); None only when no jurisdiction exists yet."""
    chosen = request.args.get("jurisdiction", type=int)
    if chosen is not None:
        return scope.get_in_scope_or_404(current_user, Jurisdiction, chosen)
    return default


def _default_jurisdiction() -> Optional[Jurisdiction]:
    """A staff member's own jurisdiction, an admin's first top-level one."""
    if current_user.role is Role.STAFF:
        return current_user.jurisdiction
    return db.session.scalar(
        sa.select(Jurisdiction).where(Jurisdiction.parent_id.is_(None))
        .order_by(Jurisdiction.active.desc(), Jurisdiction.division_code).limit(1)
    )


def _chosen_period(today: date) -> tuple[stats.Period, Optional[str]]:
    """?from= and ?to= as YYYY-MM-DD; what cannot be read falls back to the last 12 months."""
    default = stats.Period.last_months(stats.DEFAULT_MONTHS, today)
    raw_start, raw_end = request.args.get("from", ""), request.args.get("to", "")
    if not raw_start and not raw_end:
        return default, None
    try:
        start = date.fromisoformat(raw_start) if raw_start else default.start
        end = date.fromisoformat(raw_end) if raw_end else today
    except ValueError:
        return default, _l("Dates are written like 2026-01-31. The last 12 months are shown.")
    start, end = min(start, end), max(start, end)
    end = min(max(end, EARLIEST), today)
    start = min(start, end)
    earliest = stats.add_months(end.replace(day=1), -(stats.MAX_MONTHS - 1))
    if start < earliest:
        return stats.Period(earliest, end), _l("At most %(num)d months are shown at once.", num=stats.MAX_MONTHS)
    return stats.Period(start, end), None


add_menu_entry("oversight.dashboard", _l("Dashboard"))
