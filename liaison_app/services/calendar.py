"""The holiday table (节假日表): admins declare holidays and make-up working days
for years, or changes, that chinese-calendar does not know."""

from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..extensions import begin_write, db
from ..models import CalendarDay

MAX_NAME_LENGTH = 40


class InvalidCalendarDay(ValueError):
    """The entry cannot be saved as given; nothing was written."""


def set_calendar_day(day: date, is_working_day: bool, name: str = "") -> CalendarDay:
    """Declare `day` a holiday (e.g. 国庆节) or a working day (e.g. 调休上班).

    The entry replaces any earlier one for that date and overrides chinese-calendar.
    Deadlines already set on requests keep their dates; new ones follow the entry.
    """
    name = " ".join(name.split())
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidCalendarDay(f"The name may have at most {MAX_NAME_LENGTH} characters.")
    begin_write()
    try:
        entry = db.session.get(CalendarDay, day) or _insert(day, is_working_day, name)
        entry.is_working_day = is_working_day
        entry.name = name
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return entry


def clear_calendar_day(day: date) -> bool:
    """Remove the entry for `day`, so chinese-calendar decides again. False if there was none."""
    begin_write()
    try:
        removed = db.session.execute(sa.delete(CalendarDay).where(CalendarDay.day == day)).rowcount
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return removed > 0


def calendar_days_in(year: int) -> list[CalendarDay]:
    """The holiday table's entries of one year, in date order."""
    query = sa.select(CalendarDay).where(CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31)))
    return list(db.session.scalars(query.order_by(CalendarDay.day)))


def _insert(day: date, is_working_day: bool, name: str) -> CalendarDay:
    entry = CalendarDay(day=day, is_working_day=is_working_day, name=name)
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:
        # Another admin saved the same date a moment ago: this, the later save, wins.
        entry = db.session.get(CalendarDay, day, populate_existing=True)
    return entry
