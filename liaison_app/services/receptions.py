"""接待日: the days a station receives the public, with the deputies on duty.

Wan'an holds them twice a month with at least three deputies on duty
(RECEPTION_MIN_DEPUTIES). Staff schedule one day or a monthly series for a station of
their area, change who is on duty and the times, and cancel a day (it is kept, marked
cancelled, so the schedule shows what changed). Once held, a deputy logs the reception
as a visit of form reception; the day then points at that visit (visit_id) and the
monthly report counts it through the visit.

Each function that changes something checks what it is given, logs, and commits once; a
ReceptionError means nothing was written. Which stations the actor may use is decided
by admin/scope.py, as everywhere else.
"""

import calendar
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from ..admin import scope
from ..extensions import db
from ..models import Deputy, Jurisdiction, ReceptionDay, Station, User, reception_duties, utcnow
from ..workdays import add_working_days_to_each, now_local, today_local

log = logging.getLogger("liaison.receptions")

MAX_MONTHS = 12  # a series covers at most a year
NOTE_MAX = 200  # ReceptionDay.note


class ReceptionError(Exception):
    """Refused; `field` names the form field that caused it (None: the day's state)."""

    def __init__(self, message, field: Optional[str] = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


def min_deputies() -> int:
    return int(current_app.config["RECEPTION_MIN_DEPUTIES"])


def is_short(day: ReceptionDay) -> bool:
    """短缺: a day still to be held with fewer deputies on duty than the minimum."""
    return day.cancelled_at is None and len(day.deputies) < min_deputies()


def on_call(station: Station) -> list[Deputy]:
    """The station's active deputies, by id: whom duty may be given to, in rotation order."""
    return [d for d in station.deputies if d.active]


# --- what staff see ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StationSchedule:
    """One line of the overview: a station and what lies ahead of it."""

    station: Station
    next_day: Optional[date]
    upcoming: int
    short: int


def stations_overview(user: User, today: date) -> list[StationSchedule]:
    """The active stations of the user's area in tree order, each with its next reception
    day and how many upcoming days are short of deputies (three queries in all)."""
    stations = db.session.scalars(
        scope.limit_to_scope(user, sa.select(Station), Station.jurisdiction_id)
        .join(Jurisdiction, Station.jurisdiction_id == Jurisdiction.id)
        .where(Station.active, Jurisdiction.active)
        .options(joinedload(Station.jurisdiction))
        .order_by(Jurisdiction.division_code, Station.id)
    ).all()
    if not stations:
        return []
    days = (
        sa.select(ReceptionDay.station_id, ReceptionDay.held_on,
                  sa.func.count(reception_duties.c.deputy_id).label("on_duty"))
        .outerjoin(reception_duties, reception_duties.c.reception_day_id == ReceptionDay.id)
        .where(ReceptionDay.station_id.in_([s.id for s in stations]), ReceptionDay.cancelled_at.is_(None),
               ReceptionDay.held_on >= today)
        .group_by(ReceptionDay.id, ReceptionDay.station_id, ReceptionDay.held_on)
        .subquery()
    )
    short = sa.func.sum(sa.case((days.c.on_duty < min_deputies(), 1), else_=0))
    figures = {
        station_id: (first, count, int(short_count or 0))
        for station_id, first, count, short_count in db.session.execute(
            sa.select(days.c.station_id, sa.func.min(days.c.held_on), sa.func.count(), short)
            .group_by(days.c.station_id))
    }
    return [StationSchedule(s, *figures.get(s.id, (None, 0, 0))) for s in stations]


def station_schedule(station: Station, today: date, *, past_limit: int = 20) -> tuple[list, list]:
    """(upcoming days soonest first, the latest `past_limit` past days newest first), both
    with their deputies, cancelled ones included."""
    query = (sa.select(ReceptionDay).where(ReceptionDay.station_id == station.id)
             .options(selectinload(ReceptionDay.deputies)))
    upcoming = db.session.scalars(query.where(ReceptionDay.held_on >= today)
                                  .order_by(ReceptionDay.held_on).limit(200)).all()
    past = db.session.scalars(query.where(ReceptionDay.held_on < today)
                              .order_by(ReceptionDay.held_on.desc()).limit(past_limit)).all()
    return list(upcoming), list(past)


# --- what the public and deputies see ---------------------------------------------------------


def next_reception(station: Station, now: Optional[datetime] = None) -> Optional[ReceptionDay]:
    """The station's next reception day that is neither cancelled nor over (China's time),
    with its deputies (two queries)."""
    return db.session.scalar(
        sa.select(ReceptionDay)
        .where(ReceptionDay.station_id == station.id, ReceptionDay.cancelled_at.is_(None), _not_over(now))
        .order_by(ReceptionDay.held_on).limit(1)
        .options(selectinload(ReceptionDay.deputies))
    )


def _not_over(now: Optional[datetime]):
    """A reception day is "next" until it ends: a later day, or today before its end time."""
    now = now or now_local()
    return sa.or_(ReceptionDay.held_on > now.date(),
                  sa.and_(ReceptionDay.held_on == now.date(), ReceptionDay.ends_at > now.time()))


def duty_days(deputy: Deputy, *, from_day: date) -> sa.Select:
    """SELECT the days the deputy is on duty from `from_day` on, soonest first: not cancelled,
    at an active station, with the station and the fellow deputies loaded."""
    return (
        sa.select(ReceptionDay)
        .join(reception_duties, reception_duties.c.reception_day_id == ReceptionDay.id)
        .join(Station, Station.id == ReceptionDay.station_id)
        .where(reception_duties.c.deputy_id == deputy.id, ReceptionDay.cancelled_at.is_(None),
               ReceptionDay.held_on >= from_day, Station.active)
        .order_by(ReceptionDay.held_on, ReceptionDay.id)
        .options(joinedload(ReceptionDay.station), selectinload(ReceptionDay.deputies))
    )


def next_duty(deputy: Deputy, now: Optional[datetime] = None) -> Optional[ReceptionDay]:
    """The deputy's next duty day that is not over, for their QR landing page (two queries)."""
    now = now or now_local()
    return db.session.scalar(duty_days(deputy, from_day=now.date()).where(_not_over(now)).limit(1))


def unlogged_duty_days(deputy: Deputy, today: date, *, limit: int = 20) -> list[ReceptionDay]:
    """Past duty days of the deputy not yet logged as a visit, newest first."""
    query = (
        sa.select(ReceptionDay)
        .join(reception_duties, reception_duties.c.reception_day_id == ReceptionDay.id)
        .where(reception_duties.c.deputy_id == deputy.id, ReceptionDay.cancelled_at.is_(None),
               ReceptionDay.visit_id.is_(None), ReceptionDay.held_on < today)
        .order_by(ReceptionDay.held_on.desc(), ReceptionDay.id.desc()).limit(limit)
        .options(joinedload(ReceptionDay.station), selectinload(ReceptionDay.deputies))
    )
    return list(db.session.scalars(query))


# --- scheduling -----------------------------------------------------------------------------------


def schedule_reception(station: Station, *, actor: User, held_on: date, starts_at: time, ends_at: time,
                       deputy_ids: list[Optional[int]], note: str = "") -> ReceptionDay:
    """Schedule one reception day at `station` with the chosen deputies on duty. Fewer than
    the minimum is allowed (the schedule marks the day short). A date whose reception day
    was cancelled gets that day back with the new times and deputies."""
    _check_station(station, actor)
    if held_on < today_local():
        raise ReceptionError(_l("The date cannot be in the past."), "held_on")
    _check_times(starts_at, ends_at)
    deputies = _chosen_deputies(station, deputy_ids)
    day = db.session.scalar(sa.select(ReceptionDay).where(ReceptionDay.station_id == station.id,
                                                          ReceptionDay.held_on == held_on))
    if day is not None and day.cancelled_at is None:
        raise ReceptionError(_l("This station already has a reception day on that date."), "held_on")
    reinstated = day is not None
    if day is None:
        day = ReceptionDay(station=station, held_on=held_on, created_by=actor)
        db.session.add(day)
    day.starts_at, day.ends_at, day.note, day.cancelled_at = starts_at, ends_at, note.strip(), None
    day.deputies = deputies
    _commit()
    log.info("reception day %s at station %s on %s %s by user %s (%d deputies)", day.id, station.id, held_on,
             "reinstated" if reinstated else "scheduled", actor.id, len(deputies))
    return day


def parse_days_of_month(text: str) -> list[int]:
    """"5, 20", "5日、20日" or "5 20" → [5, 20]: days of the month from 1 to 31."""
    parts = [p for p in re.split(r"[^0-9]+", text or "") if p]
    if not parts:
        raise ReceptionError(_l("Please give days of the month, e.g. 5, 20."), "days")
    days = sorted({int(p) for p in parts})
    if days[0] < 1 or days[-1] > 31:
        raise ReceptionError(_l("Days of the month run from 1 to 31."), "days")
    return days


def series_dates(days_of_month: list[int], first_month: date, months: int) -> list[date]:
    """The dates a series asks for, before moving off holidays: each day of each month from
    `first_month`; a day the month lacks (31 in April) becomes its last day."""
    dates: list[date] = []
    for offset in range(months):
        index = first_month.year * 12 + first_month.month - 1 + offset
        year, month = index // 12, index % 12 + 1
        last = calendar.monthrange(year, month)[1]
        for number in days_of_month:
            day = date(year, month, min(number, last))
            if day not in dates:
                dates.append(day)
    return dates


@dataclass
class SeriesResult:
    """What schedule_series did: the days scheduled, the dates moved off a non-working day
    (asked, moved to) and those left out (date, reason)."""

    scheduled: list[ReceptionDay] = field(default_factory=list)
    moved: list[tuple[date, date]] = field(default_factory=list)
    skipped: list[tuple[date, object]] = field(default_factory=list)


def schedule_series(station: Station, *, actor: User, days_of_month: list[int], first_month: date, months: int,
                    starts_at: time, ends_at: time, note: str = "") -> SeriesResult:
    """Schedule the same days of every month (每月5日、20日) for `months` months from
    `first_month`. A date that is not a working day moves to the next working day (the
    official calendar with the holiday table's entries); a date already past, or whose
    station already has a reception day (cancelled ones included: they were cancelled on
    purpose), is left out and reported. Duty rotates through the station's active deputies,
    continuing after the days already scheduled, so each day has the minimum where the
    station has that many deputies."""
    _check_station(station, actor)
    if not days_of_month or days_of_month[0] < 1 or days_of_month[-1] > 31:
        raise ReceptionError(_l("Days of the month run from 1 to 31."), "days")
    today = today_local()
    first_month = first_month.replace(day=1)
    if first_month < today.replace(day=1):
        raise ReceptionError(_l("The series cannot start in a month that is over."), "first_month")
    if not 1 <= months <= MAX_MONTHS:
        raise ReceptionError(_l("From %(min)d to %(max)d months.", min=1, max=MAX_MONTHS), "months")
    _check_times(starts_at, ends_at)

    asked = series_dates(days_of_month, first_month, months)
    # The first working day on or after each date: one read of the holiday table for all.
    working = add_working_days_to_each({d - timedelta(days=1) for d in asked}, 1)
    existing = {day.held_on: day for day in db.session.scalars(
        sa.select(ReceptionDay).where(ReceptionDay.station_id == station.id,
                                      ReceptionDay.held_on.between(asked[0], max(working.values()))))}
    pool = on_call(station)
    per_day = min(min_deputies(), len(pool))
    already = db.session.scalar(sa.select(sa.func.count(ReceptionDay.id))
                                .where(ReceptionDay.station_id == station.id, ReceptionDay.cancelled_at.is_(None)))

    result = SeriesResult()
    for asked_on in asked:
        held_on = working[asked_on - timedelta(days=1)]
        if asked_on < today:
            result.skipped.append((asked_on, _l("already past")))
        elif any(d.held_on == held_on for d in result.scheduled):
            result.skipped.append((asked_on, _l("moved onto a day already in this series")))
        elif held_on in existing:
            reason = _l("a cancelled reception day") if existing[held_on].cancelled_at else _l("already scheduled")
            result.skipped.append((held_on, reason))
        else:
            start = (already + len(result.scheduled)) * per_day
            duty = [pool[(start + i) % len(pool)] for i in range(per_day)]
            result.scheduled.append(ReceptionDay(station=station, held_on=held_on, starts_at=starts_at,
                                                 ends_at=ends_at, note=note.strip(), created_by=actor,
                                                 deputies=sorted(duty, key=lambda d: d.id)))
            if held_on != asked_on:
                result.moved.append((asked_on, held_on))
    if result.scheduled:
        db.session.add_all(result.scheduled)
        _commit()
    log.info("reception series at station %s by user %s: %d scheduled (%s), %d skipped", station.id, actor.id,
             len(result.scheduled), ", ".join(str(d.id) for d in result.scheduled), len(result.skipped))
    return result


def update_reception(day: ReceptionDay, *, actor: User, starts_at: time, ends_at: time,
                     deputy_ids: list[Optional[int]], note: str = "") -> ReceptionDay:
    """Change who is on duty and the times of a day still to be held. A deputy already on
    duty stays choosable even if no longer active at the station."""
    _check_station(day.station, actor)
    _check_changeable(day)
    _check_times(starts_at, ends_at)
    deputies = _chosen_deputies(day.station, deputy_ids, kept=day.deputies)
    before = sorted(d.id for d in day.deputies)
    day.starts_at, day.ends_at, day.note = starts_at, ends_at, note.strip()
    day.deputies = deputies
    _commit()
    log.info("reception day %s changed by user %s: %s-%s, deputies %s -> %s", day.id, actor.id,
             starts_at.strftime("%H:%M"), ends_at.strftime("%H:%M"), before, [d.id for d in deputies])
    return day


def cancel_reception(day: ReceptionDay, *, actor: User) -> ReceptionDay:
    """Cancel a day not yet held. It stays on the schedule, marked cancelled, and leaves the
    public pages; a reception already logged cannot be cancelled."""
    _check_station(day.station, actor, need_active=False)
    _check_changeable(day)
    day.cancelled_at = utcnow()
    _commit()
    log.info("reception day %s at station %s on %s cancelled by user %s", day.id, day.station_id, day.held_on,
             actor.id)
    return day


def _check_station(station: Station, actor: User, *, need_active: bool = True) -> None:
    if not scope.in_scope(actor, station.jurisdiction_id):
        raise ReceptionError(_l("This station is outside your area."))
    if need_active and not station.active:
        raise ReceptionError(_l("This station is closed: no reception day can be scheduled there."))


def _check_changeable(day: ReceptionDay) -> None:
    if day.visit_id is not None:
        raise ReceptionError(_l("This reception has been held and logged: it can no longer be changed."))
    if day.cancelled_at is not None:
        raise ReceptionError(_l("This reception day was cancelled: it can no longer be changed."))


def _check_times(starts_at: time, ends_at: time) -> None:
    if ends_at <= starts_at:
        raise ReceptionError(_l("The end must be later than the start."), "ends_at")


def _chosen_deputies(station: Station, deputy_ids: list[Optional[int]], kept=()) -> list[Deputy]:
    allowed = {d.id: d for d in [*on_call(station), *kept]}
    wanted = set(deputy_ids)
    if not wanted <= allowed.keys():
        raise ReceptionError(_l("Please choose deputies from the list."), "deputies")
    return sorted((allowed[i] for i in wanted), key=lambda d: d.id)


def _commit() -> None:
    """Commit; another user's reception day on the same date (a race) is a clash."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ReceptionError(_l("This station already has a reception day on that date."), "held_on") from None
