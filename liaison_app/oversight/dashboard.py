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
    jurisdiction = _chosen_jurisdiction()
    today = today_local()
    period, problem = _chosen_period(today)
    presets = stats.presets(today)
    report, as_of, counted_live = None, None, False
    if jurisdiction:
        # A large jurisdiction's figures, computed ahead of time (flask refresh-dashboards), or live.
        stored = dashboard_snapshots.stored(jurisdiction.id, period)
        if stored:
            report, as_of = stored.dashboard, stored.computed_at
        else:
            report = stats.dashboard(access.subtree_ids(jurisdiction.id), period)
            # Dates of one's own, in a jurisdiction whose named periods are stored: say why it was slow.
            counted_live = (all(preset.period != period for preset in presets)
                            and dashboard_snapshots.is_large(jurisdiction.id))
    # htmx swaps the figures, and the form out of band: its dates and marked period follow them.
    template = "oversight/dashboard/_update.html" if is_htmx() else "oversight/dashboard/index.html"
    return render_template(template, report=report, jurisdiction=jurisdiction, period=period, problem=problem,
                           presets=presets, as_of=as_of, counted_live=counted_live,
                           choices=scope.jurisdiction_menu(current_user, jurisdiction), charts=charts,
                           league_minimum=stats.LEAGUE_MINIMUM, top_rows=stats.TOP_ROWS)


def _chosen_jurisdiction() -> Optional[Jurisdiction]:
    """Within the user's scope (404 outside it); None only when no jurisdiction exists yet."""
    chosen = request.args.get("jurisdiction", type=int)
    if chosen is not None:
        return scope.get_in_scope_or_404(current_user, Jurisdiction, chosen)
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
