"""Deadlines count working days: chinese-calendar's holidays and 调休, overridden by
the admin-editable holiday table, and Monday to Friday for years the package does not know.

The 2025 and 2026 National Day dates are the package's (chinese-calendar 1.11.0):
2025: 10-01..10-08 off, Sunday 09-28 and Saturday 10-11 worked;
2026: 10-01..10-07 off, Sunday 09-20 and Saturday 10-10 worked.
"""

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine
from flask import has_app_context
from sqlalchemy import event

from liaison_app.extensions import db
from liaison_app.models import CalendarDay
from liaison_app.services.calendar import (
    InvalidCalendarDay,
    calendar_days_in,
    clear_calendar_day,
    set_calendar_day,
)
from liaison_app.workdays import (
    CHINA,
    add_working_days,
    claim_due_on,
    is_working_day,
    package_years,
    response_due_on,
    today_local,
)
from tests.test_notify import file_a_request

# A year chinese-calendar does not know (nor will soon): Mon-Fri plus the table.
UNKNOWN_YEAR = 2099


def china_time(text: str) -> datetime:
    """An instant given as a China wall-clock time, e.g. "2026-09-30 09:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


# --- chinese-calendar: holidays and make-up working days -------------------------------------


@pytest.mark.parametrize(
    ("filed_on", "due"),
    [
        (date(2025, 9, 30), date(2025, 10, 9)),  # Tuesday before 国庆+中秋 (8 days off)
        (date(2026, 9, 30), date(2026, 10, 8)),  # Wednesday before 国庆 (7 days off)
    ],
)
def test_a_claim_filed_on_the_last_working_day_before_national_day_is_due_after_it(app, filed_on, due):
    assert claim_due_on(filed_on) == due


def test_a_filing_on_that_day_gets_its_claim_deadline_after_the_holiday(app):
    with time_machine.travel(china_time("2026-09-30 16:30"), tick=False):
        request = file_a_request()

    assert request.claim_due_on == date(2026, 10, 8)


def test_a_make_up_working_saturday_counts(app):
    assert is_working_day(date(2026, 10, 10))  # Saturday, 调休上班
    assert add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)
    assert is_working_day(date(2026, 9, 20))  # Sunday, 调休上班
    assert add_working_days(date(2026, 9, 19), 1) == date(2026, 9, 20)


def test_seven_working_days_from_an_assignment_spanning_national_day(app):
    # Tue 09-29 assigned: 09-30, 10-08, 10-09, Sat 10-10, 10-12, 10-13, 10-14.
    assert response_due_on(date(2026, 9, 29)) == date(2026, 10, 14)


def test_the_deadlines_follow_the_settings(app):
    app.config.update(CLAIM_DUE_WORKING_DAYS=2, RESPONSE_DUE_WORKING_DAYS=3)

    assert claim_due_on(date(2026, 9, 30)) == date(2026, 10, 9)
    assert response_due_on(date(2026, 9, 29)) == date(2026, 10, 9)


def test_zero_working_days_is_the_start_itself(app):
    assert add_working_days(date(2026, 10, 1), 0) == date(2026, 10, 1)


# --- the holiday table ---------------------------------------------------------------------


def test_an_entry_makes_a_normal_day_a_holiday(app):
    set_calendar_day(date(2026, 11, 2), False, "临时停工")  # a Monday

    assert not is_working_day(date(2026, 11, 2))
    assert add_working_days(date(2026, 10, 30), 1) == date(2026, 11, 3)


def test_an_entry_makes_a_weekend_day_a_working_day(app):
    set_calendar_day(date(2026, 11, 7), True, "调休上班")  # a Saturday

    assert is_working_day(date(2026, 11, 7))
    assert add_working_days(date(2026, 11, 6), 1) == date(2026, 11, 7)


def test_an_entry_overrides_the_packages_make_up_day_and_clearing_it_restores_it(app):
    set_calendar_day(date(2026, 10, 10), False, "不再调休")
    assert add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 12)

    assert clear_calendar_day(date(2026, 10, 10)) is True
    assert add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)
    assert clear_calendar_day(date(2026, 10, 10)) is False


def test_a_year_the_package_does_not_know_uses_monday_to_friday_plus_the_table(app):
    assert package_years()[1] < UNKNOWN_YEAR
    # Without entries: Wed 09-30 → Thu 10-01; Fri 10-09 → Mon 10-12.
    assert add_working_days(date(UNKNOWN_YEAR, 9, 30), 1) == date(UNKNOWN_YEAR, 10, 1)
    assert add_working_days(date(UNKNOWN_YEAR, 10, 9), 1) == date(UNKNOWN_YEAR, 10, 12)

    for day in range(1, 8):
        set_calendar_day(date(UNKNOWN_YEAR, 10, day), False, "国庆节")
    set_calendar_day(date(UNKNOWN_YEAR, 10, 10), True, "调休上班")

    assert claim_due_on(date(UNKNOWN_YEAR, 9, 30)) == date(UNKNOWN_YEAR, 10, 8)
    assert add_working_days(date(UNKNOWN_YEAR, 10, 9), 1) == date(UNKNOWN_YEAR, 10, 10)
    assert response_due_on(date(UNKNOWN_YEAR, 9, 30)) == date(UNKNOWN_YEAR, 10, 15)


def test_setting_a_day_again_replaces_its_entry(app):
    set_calendar_day(date(2027, 10, 1), False, "国庆节")
    set_calendar_day(date(2027, 10, 1), True, "  调休  上班 ")

    [entry] = calendar_days_in(2027)
    assert (entry.day, entry.is_working_day, entry.name) == (date(2027, 10, 1), True, "调休 上班")


def test_a_name_longer_than_the_column_is_refused_before_anything_is_written(app):
    with pytest.raises(InvalidCalendarDay):
        set_calendar_day(date(2027, 10, 1), False, "节" * 41)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 0


def test_the_table_is_read_once_per_deadline_not_once_per_day(app):
    set_calendar_day(date(2026, 11, 2), False, "临时停工")
    statements = []

    def remember(_conn, _cursor, statement, *_args):
        if "calendar_days" in statement:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        assert add_working_days(date(2026, 9, 1), 60) == date(2026, 12, 1)
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert len(statements) == 1


def test_a_long_run_of_declared_holidays_reads_further_windows_and_stays_right(app):
    # 90 weekdays off from New Year push the next working day past the first window read.
    day, off = date(UNKNOWN_YEAR, 1, 1), 0
    while off < 90:
        if day.weekday() < 5:
            db.session.add(CalendarDay(day=day, is_working_day=False, name="停工"))
            off += 1
        day += timedelta(days=1)
    db.session.commit()
    while day.weekday() >= 5:
        day += timedelta(days=1)

    assert add_working_days(date(UNKNOWN_YEAR - 1, 12, 31), 1) == day


def test_without_an_app_the_package_alone_decides():
    assert not has_app_context()
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert is_working_day(date(2026, 10, 10))
    assert add_working_days(date(UNKNOWN_YEAR, 10, 9), 1) == date(UNKNOWN_YEAR, 10, 12)


# --- today in China --------------------------------------------------------------------------


def test_today_follows_asia_shanghai_not_utc():
    with time_machine.travel(datetime(2026, 9, 30, 15, 59, tzinfo=timezone.utc), tick=False):
        assert today_local() == date(2026, 9, 30)
    with time_machine.travel(datetime(2026, 9, 30, 17, 0, tzinfo=timezone.utc), tick=False):
        assert today_local() == date(2026, 10, 1)  # already National Day in China


def test_overdue_is_derived_from_the_claim_deadline_in_china_time(app):
    with time_machine.travel(china_time("2026-09-30 10:00"), tick=False):
        request = file_a_request()

    with time_machine.travel(china_time("2026-10-08 23:59"), tick=False):
        assert not request.is_overdue
    with time_machine.travel(china_time("2026-10-09 00:00"), tick=False):  # 10-08 16:00 UTC
        assert request.is_overdue


# --- flask calendar-day --------------------------------------------------------------------


def test_the_cli_sets_lists_and_clears_entries(runner):
    result = runner.invoke(args=["calendar-day", "set", "2027-10-01", "--holiday", "--name", "国庆节"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["calendar-day", "set", "2027-10-09", "--workday", "--name", "调休上班"])
    assert result.exit_code == 0, result.output

    assert not is_working_day(date(2027, 10, 1))
    assert is_working_day(date(2027, 10, 9))
    listing = runner.invoke(args=["calendar-day", "list", "--year", "2027"]).output
    assert "2027-10-01 Fri holiday     国庆节" in listing
    assert "2027-10-09 Sat working day 调休上班" in listing

    result = runner.invoke(args=["calendar-day", "clear", "2027-10-01"])
    assert result.exit_code == 0 and "Cleared 2027-10-01" in result.output
    assert "2027-10-01" not in runner.invoke(args=["calendar-day", "list", "--year", "2027"]).output


def test_the_cli_needs_holiday_or_workday_and_a_real_date(runner):
    assert runner.invoke(args=["calendar-day", "set", "2027-10-01"]).exit_code == 2
    assert runner.invoke(args=["calendar-day", "set", "2027-13-01", "--holiday"]).exit_code == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 0
