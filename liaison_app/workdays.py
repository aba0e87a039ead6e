"""Working days on the Chinese official calendar (with 调休 make-up days).

Which days are worked is decided, in this order, by:
1. the admin-editable holiday table (CalendarDay), when a date has an entry;
2. chinese-calendar, which knows the State Council's holidays and make-up days;
3. Monday to Friday, for a year the package does not know yet.

Outside an app context (a script, a unit test without the app) the table is not
consulted and the package and the weekday rule still answer.

Every deadline of a request is named and counted here (Deadline, *_due_on).
"""

import functools
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar
import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

CHINA = ZoneInfo("Asia/Shanghai")


def utc_start_of(day: date) -> datetime:
    """Midnight in China at the start of `day`, as the naive UTC that timestamps are stored in:
    what every "from this date to that date" filter compares with."""
    return datetime.combine(day, time.min, CHINA).astimezone(timezone.utc).replace(tzinfo=None)


def utc_from_local(moment: datetime) -> datetime:
    """A time typed in China (naive, as a form gives it) as the naive UTC it is stored in."""
    return moment.replace(tzinfo=CHINA).astimezone(timezone.utc).replace(tzinfo=None)


def local_date(moment: datetime) -> date:
    """The date in China of a stored (naive UTC) timestamp."""
    return moment.replace(tzinfo=timezone.utc).astimezone(CHINA).date()


def now_local() -> datetime:
    """The current time in China, where every deadline is counted."""
    return datetime.now(timezone.utc).astimezone(CHINA)


def today_local() -> date:
    """Today's date in China (8 hours ahead of UTC: 17:00Z is already tomorrow)."""
    return now_local().date()


def is_working_day(day: date) -> bool:
    """Whether offices work on `day` (one look-up in the holiday table)."""
    return _is_working_day(day, _load_overrides(day, day))


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (start itself not counted).

    The holiday table is read once for a window that comfortably covers the
    answer; only if admins have declared an unusually long run of holidays
    does the count run past it and read the next window.
    """
    return _count_forward(start, days, {}, start)


def add_working_days_to_each(starts: set[date], days: int) -> dict[date, date]:
    """add_working_days() for many start dates, reading the holiday table once for all."""
    if not starts:
        return {}
    loaded_through = max(starts) + timedelta(days=2 * days + 30)
    overrides = _load_overrides(min(starts), loaded_through)
    return {start: _count_forward(start, days, overrides, loaded_through) for start in starts}


def _count_forward(start: date, days: int, overrides: dict[date, bool], loaded_through: date) -> date:
    current, remaining = start, days
    while remaining > 0:
        current += timedelta(days=1)
        if current > loaded_through:
            # Room for weekends and a Spring Festival week (8-9 days off).
            loaded_through = current + timedelta(days=2 * remaining + 30)
            overrides.update(_load_overrides(current, loaded_through))
        if _is_working_day(current, overrides):
            remaining -= 1
    return current


class Deadline(StrEnum):
    """The deadlines of a request, each named for what is due by it wherever it is shown."""

    CLAIM = "claim"  # 认领期限: a deputy takes it up
    ACKNOWLEDGE = "acknowledge"  # 签收期限: the department signs for it
    RESPONSE = "response"  # 答复期限: the department answers
    RATING = "rating"  # 评价期限: the enterprise rates the answer

    @property
    def label(self):
        return DEADLINE_LABELS[self]


DEADLINE_LABELS = {
    Deadline.CLAIM: _l("Claim deadline"),
    Deadline.ACKNOWLEDGE: _l("Acknowledgement deadline"),
    Deadline.RESPONSE: _l("Response deadline"),
    Deadline.RATING: _l("Rating deadline"),
}


def claim_due_on(filed_on: date) -> date:
    """认领期限: a deputy must claim a request within CLAIM_DUE_WORKING_DAYS of filing."""
    return add_working_days(filed_on, current_app.config["CLAIM_DUE_WORKING_DAYS"])


def acknowledge_due_on(assigned_on: date) -> date:
    """签收期限: ACKNOWLEDGE_DUE_WORKING_DAYS working days after the day of assignment."""
    return add_working_days(assigned_on, current_app.config["ACKNOWLEDGE_DUE_WORKING_DAYS"])


def acknowledge_due_dates(assigned_days: set[date]) -> dict[date, date]:
    """acknowledge_due_on() for many assignment days, reading the holiday table once."""
    return add_working_days_to_each(assigned_days, current_app.config["ACKNOWLEDGE_DUE_WORKING_DAYS"])


def response_due_on(assigned_on: date) -> date:
    """答复期限: the handling unit's deadline, counted from assignment (交办), not
    from acknowledgement (签收), RESPONSE_DUE_WORKING_DAYS working days later."""
    return add_working_days(assigned_on, current_app.config["RESPONSE_DUE_WORKING_DAYS"])


def reopened_response_due_on(current: date | None, reopened_on: date) -> date:
    """答复期限 after the enterprise was not satisfied (企业不满意不收兵): a full response period
    from the reopening, but never earlier than the deadline the department was already given
    (the one the deputy set stands)."""
    fresh = response_due_on(reopened_on)
    return max(fresh, current) if current is not None else fresh


def rating_due_on(accepted_on: date) -> date:
    """评价期限: RATING_DAYS calendar days after the answer went to the enterprise."""
    return accepted_on + timedelta(days=current_app.config["RATING_DAYS"])


def package_years() -> tuple[int, int]:
    """The first and last year whose official holidays chinese-calendar knows."""
    known = chinese_calendar.holidays.keys()
    return min(known).year, max(known).year


def official_working_day(day: date) -> bool:
    """The package's answer (调休 included), or Monday to Friday for an unknown year."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def _is_working_day(day: date, overrides: dict[date, bool]) -> bool:
    override = overrides.get(day)
    return official_working_day(day) if override is None else override


def _load_overrides(first: date, last: date) -> dict[date, bool]:
    """The holiday table's entries from `first` to `last`, as {day: is_working_day}."""
    if not has_app_context():
        return {}
    from .extensions import db

    # Deadlines are computed in the middle of a service's changes: never flush them early.
    with db.session.no_autoflush:
        return {day: working for day, working in db.session.execute(_overrides_query(), {"first": first, "last": last})}


@functools.cache
def _overrides_query() -> sa.Select:
    """Built once (every filing asks it; building it anew costs a tenth of a millisecond)."""
    from .models import CalendarDay

    return sa.select(CalendarDay.day, CalendarDay.is_working_day).where(
        CalendarDay.day.between(sa.bindparam("first"), sa.bindparam("last")))
