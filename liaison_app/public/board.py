"""The public board (公示栏): what was resolved at a station or in a jurisdiction, for anyone.

No login. Only closed requests whose enterprise agreed to publication and whose public
summary was approved (services/publication.py), and of them only what cannot name anybody:
the category, the approved summary (personal details removed when it was approved), the
department, the result, the days taken and the rating. The query selects those columns
alone, so a description, a contact, a USCC or a photo never even reaches the template.
"""

import re
from datetime import date, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import abort, make_response, render_template, request, session
from flask_babel import format_date
from flask_login import current_user

from .. import access
from ..extensions import db
from ..models import Department, Jurisdiction, Request, Station
from ..services import receptions, stats
from ..services.publication import PublicItem, days_between
from ..workdays import is_working_day, today_local
from ..workflow import Status
from . import bp

PER_PAGE = 20
MAX_PAGE = 500
CACHE_SECONDS = 60


@bp.get("/board/station/<int:station_id>")
def board_station(station_id: int):
    station = db.session.get(Station, station_id)
    if station is None or not station.active or not station.jurisdiction.active:
        abort(404)
    today = today_local()
    # A scheduled reception day (with who is on duty) when there is one; otherwise what the
    # station's free text says, when it says it simply.
    scheduled = receptions.next_reception(station)
    return _render_board(
        Request.station_id == station.id, lambda period: stats.received_at_station(station.id, period), today,
        station=station, deputies=[d for d in station.deputies if d.active], scheduled_reception=scheduled,
        next_reception="" if scheduled else reception_label(next_reception_day(station.reception_days, today)),
    )


@bp.get("/board/jurisdiction/<int:jurisdiction_id>")
def board_jurisdiction(jurisdiction_id: int):
    jurisdiction = db.session.get(Jurisdiction, jurisdiction_id)
    if jurisdiction is None or not jurisdiction.active:
        abort(404)
    ids = access.subtree_ids(jurisdiction.id)
    return _render_board(
        Request.filed_jurisdiction_id.in_(ids), lambda period: stats.received_in(ids, period), today_local(),
        jurisdiction=jurisdiction, stations=_active_stations(ids),
    )


def _active_stations(jurisdiction_ids: list[int]) -> list[Station]:
    """The stations whose boards a jurisdiction's board links to, in tree order."""
    return db.session.scalars(
        sa.select(Station).join(Jurisdiction, Station.jurisdiction_id == Jurisdiction.id)
        .where(Station.jurisdiction_id.in_(jurisdiction_ids), Station.active, Jurisdiction.active)
        .order_by(Jurisdiction.division_code, Station.id)
    ).all()


def _render_board(where, where_for_period, today: date, **context):
    page = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
    items, has_more = published(where, page)
    response = make_response(render_template(
        "public/board.html", items=items, page=page, has_more=has_more,
        months=stats.recent_months(where_for_period, today), **context,
    ))
    # Shared caches may keep the page a minute, unless it sets a cookie (a first visit, ?lang=)
    # or shows who is logged in.
    private = session.modified or "lang" in request.args or current_user.is_authenticated
    response.cache_control.public = not private
    response.cache_control.private = private
    response.cache_control.max_age = CACHE_SECONDS
    return response


# --- what is published -----------------------------------------------------------------------------


def published(where, page: int) -> tuple[list[PublicItem], bool]:
    """Closed, consented requests with a result and an approved summary, most recently
    closed first: one page and whether another follows."""
    rows = db.session.execute(
        sa.select(Request.id, Request.category, Request.public_summary, Department.name, Request.outcome,
                  Request.rating, Request.created_at, Request.closed_at)
        .outerjoin(Department, Request.department_id == Department.id)
        .where(where, Request.status == Status.CLOSED, Request.public_consent,
               Request.outcome.is_not(None), Request.closed_at.is_not(None),
               Request.public_summary_approved_at.is_not(None))
        .order_by(Request.closed_at.desc(), Request.id.desc())
        .offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)
    ).all()
    items = [
        PublicItem(row[0], row.category, row.public_summary.strip(), row.name, row.outcome, row.rating,
                   days_between(row.created_at, row.closed_at))
        for row in rows[:PER_PAGE]
    ]
    return items, len(rows) > PER_PAGE


# --- the next reception day -------------------------------------------------------------------------

_WEEKDAYS = "一二三四五六日天"
_WEEKLY = re.compile(r"^每周([一二三四五六日天])")
_MONTHLY = re.compile(r"^每月((?:\d{1,2}日[、，,和及]?)+)")


def next_reception_day(text: str, today: date) -> Optional[date]:
    """The next reception day when the station's text says it simply: 每周三 (a weekday) or
    每月5日、20日 (days of every month), moved to the next working day when the text says
    顺延. Anything else (每月第一个星期三, 单月20日) gives None and the text is shown as it is."""
    text = (text or "").strip()
    if match := _WEEKLY.match(text):
        weekday = min(_WEEKDAYS.index(match.group(1)), 6)
        day = today + timedelta(days=(weekday - today.weekday()) % 7)
    elif match := _MONTHLY.match(text):
        days = sorted({int(n) for n in re.findall(r"\d{1,2}", match.group(1)) if 1 <= int(n) <= 31})
        day = _next_monthly(days, today)
    else:
        return None
    if day is not None and "顺延" in text:
        while not is_working_day(day):
            day += timedelta(days=1)
    return day


def _next_monthly(days: list[int], today: date) -> Optional[date]:
    month = today.replace(day=1)
    for _ in range(3):  # this month or the next two (a 31st is missing from some months)
        for number in days:
            try:
                day = month.replace(day=number)
            except ValueError:
                continue
            if day >= today:
                return day
        month = stats.add_months(month, 1)
    return None


def reception_label(day: Optional[date]) -> str:
    return format_date(day, "full") if day else ""
