"""接待日: staff schedule reception days with deputies on duty (a day or a monthly series that
moves off holidays and skips clashes, rotating duty); deputies see their duty days; the
station's and the deputy's QR pages and the public board show the next reception day.

Time is frozen at 2026-08-25 (a Tuesday) in China; chinese-calendar 1.11.0 knows 2026:
Saturday 09-05 is off, Sunday 09-20 is a make-up working day, 10-01..10-07 are National Day.
"""

import re
from datetime import date, datetime, time, timezone

import pytest
import sqlalchemy as sa
import time_machine
from sqlalchemy import event

from liaison_app.extensions import db
from liaison_app.models import (
    CalendarDay, ReceptionDay, Role, Visit, VisitForm, reception_duties,
)
from liaison_app.services import receptions as service
from liaison_app.services import report as reporting
from liaison_app.workdays import CHINA
from tests.factories import (
    Tree, make_deputy, make_jurisdiction, make_qr_code, make_station, make_user,
)
from tests.test_desk import login

TODAY = date(2026, 8, 25)


@pytest.fixture(autouse=True)
def frozen():
    moment = datetime.combine(TODAY, time(10, 0), CHINA).astimezone(timezone.utc)
    with time_machine.travel(moment, tick=False):
        yield


@pytest.fixture
def tree(app):
    """The township's station has four active deputies (and one who left)."""
    tree = Tree()
    tree.third = make_deputy(tree.station, name="王建国")
    tree.fourth = make_deputy(tree.station, name="赵敏")
    tree.former = make_deputy(tree.station, name="已离任代表", active=False)
    return tree


def client_of(app, user=None, *, english=True):
    client = app.test_client()
    if user is not None:
        login(client, user)
    if english:
        client.get("/?lang=en")  # remembered in a cookie
    return client


def staff_client(app, tree):
    return client_of(app, tree.staff["county"])


def fresh(day: ReceptionDay) -> ReceptionDay:
    db.session.expire_all()
    return db.session.get(ReceptionDay, day.id)


def schedule(station, held_on, deputies=(), actor=None, **values) -> ReceptionDay:
    actor = actor or make_user(Role.ADMIN)
    values = {"starts_at": time(9, 0), "ends_at": time(11, 30), **values}
    return service.schedule_reception(station, actor=actor, held_on=held_on, deputy_ids=[d.id for d in deputies],
                                      **values)


def make_day(station, held_on, deputies=(), **values) -> ReceptionDay:
    """A reception day written directly (e.g. one already past), without the service's checks."""
    day = ReceptionDay(station=station, held_on=held_on, deputies=list(deputies), **values)
    db.session.add(day)
    db.session.commit()
    return day


def day_form(tree, **overrides):
    values = {"held_on": "2026-09-10", "starts_at": "14:30", "ends_at": "17:00", "note": "二楼接待室",
              "deputies": [tree.deputy.id, tree.colleague.id, tree.third.id]}
    values.update(overrides)
    return values


def days_at(station) -> list[ReceptionDay]:
    return list(db.session.scalars(sa.select(ReceptionDay).where(ReceptionDay.station_id == station.id)
                                   .order_by(ReceptionDay.held_on)))


def names(day: ReceptionDay) -> list[str]:
    return [d.name for d in day.deputies]


# --- one day --------------------------------------------------------------------------------------


def test_staff_schedule_a_day_with_three_deputies_on_duty(app, tree):
    client = staff_client(app, tree)

    response = client.post(f"/oversight/receptions/stations/{tree.station.id}/new", data=day_form(tree))

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/oversight/receptions/stations/{tree.station.id}")
    [day] = days_at(tree.station)
    assert (day.held_on, day.starts_at, day.ends_at, day.note) == (date(2026, 9, 10), time(14, 30), time(17), "二楼接待室")
    assert names(day) == ["顾振华", "刘春梅", "王建国"]
    assert day.created_by_id == tree.staff["county"].id
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2026-09-10 Thursday" in page and "14:30–17:00" in page and "王建国" in page
    assert 'data-flag="short"' not in page


@pytest.mark.parametrize("overrides,field,message", [
    ({"held_on": "2026-08-24"}, "held_on", "The date cannot be in the past."),
    ({"ends_at": "14:00"}, "ends_at", "The end must be later than the start."),
    ({"held_on": ""}, "held_on", "Please give a date."),
    ({"starts_at": "nine"}, "starts_at", "Not a valid time value."),
])
def test_bad_input_is_refused_next_to_its_field_and_everything_typed_is_kept(app, tree, overrides, field, message):
    client = staff_client(app, tree)

    response = client.post(f"/oversight/receptions/stations/{tree.station.id}/new", data=day_form(tree, **overrides))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="error-{field}" role="alert">{message}<' in page
    assert 'value="二楼接待室"' in page
    for deputy in (tree.deputy, tree.colleague, tree.third):
        assert f'name="deputies" value="{deputy.id}" checked' in page
    assert f'name="deputies" value="{tree.fourth.id}">' in page
    assert days_at(tree.station) == []


def test_only_the_stations_active_deputies_may_be_put_on_duty(app, tree):
    client = staff_client(app, tree)

    for stranger in (tree.outsider, tree.former):
        response = client.post(f"/oversight/receptions/stations/{tree.station.id}/new",
                               data=day_form(tree, deputies=[tree.deputy.id, stranger.id]))
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert 'id="error-deputies" role="alert">Please choose deputies from the list.<' in page
    assert days_at(tree.station) == []
    assert "已离任代表" not in client.get(f"/oversight/receptions/stations/{tree.station.id}/new").get_data(as_text=True)


def test_fewer_deputies_than_the_minimum_is_allowed_and_flagged_short(app, tree):
    client = staff_client(app, tree)

    response = client.post(f"/oversight/receptions/stations/{tree.station.id}/new",
                           data=day_form(tree, deputies=[tree.deputy.id]))

    assert response.status_code == 303
    page = client.get(f"/oversight/receptions/stations/{tree.station.id}").get_data(as_text=True)
    assert 'data-flag="short">Short of deputies: 1 of 3<' in page
    overview = client.get("/oversight/receptions").get_data(as_text=True)
    assert "1 day short of deputies" in overview and "Next: 2026-09-10 Thursday" in overview


def test_a_second_day_on_the_same_date_is_refused_but_another_station_may_have_it(app, tree):
    schedule(tree.station, date(2026, 9, 10), [tree.deputy])
    client = staff_client(app, tree)

    response = client.post(f"/oversight/receptions/stations/{tree.station.id}/new", data=day_form(tree))

    assert response.status_code == 422
    assert "This station already has a reception day on that date." in response.get_data(as_text=True)
    assert len(days_at(tree.station)) == 1
    other = client.post(f"/oversight/receptions/stations/{tree.other_station.id}/new",
                        data=day_form(tree, deputies=[tree.outsider.id]))
    assert other.status_code == 303


def test_htmx_gets_the_form_alone_with_its_errors(app, tree, htmx):
    client = staff_client(app, tree)

    response = client.post(f"/oversight/receptions/stations/{tree.station.id}/new",
                           data=day_form(tree, ends_at="08:00"), headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.lstrip().startswith('<form id="reception-form"') and "<html" not in page
    ok = client.post(f"/oversight/receptions/stations/{tree.station.id}/new", data=day_form(tree), headers=htmx)
    assert ok.status_code == 200 and ok.headers["HX-Redirect"].endswith(f"/stations/{tree.station.id}")


# --- a monthly series ---------------------------------------------------------------------------


def series_form(**overrides):
    values = {"days": "5日、20日", "first_month": "2026-09", "months": "3", "starts_at": "09:00", "ends_at": "11:30",
              "note": ""}
    values.update(overrides)
    return values


def test_a_series_moves_holidays_to_the_next_working_day_and_skips_a_clash(app, tree):
    schedule(tree.station, date(2026, 10, 20), [tree.deputy])
    client = staff_client(app, tree)

    response = client.post(f"/oversight/receptions/stations/{tree.station.id}/series", data=series_form())

    assert response.status_code == 303
    held = [d.held_on for d in days_at(tree.station)]
    # 09-05 is a Saturday → Monday 09-07; Sunday 09-20 is a make-up working day and stays;
    # 10-05 falls in National Day → 10-08; 10-20 was already scheduled and is left out.
    assert held == [date(2026, 9, 7), date(2026, 9, 20), date(2026, 10, 8), date(2026, 10, 20),
                    date(2026, 11, 5), date(2026, 11, 20)]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "5 reception days scheduled." in page
    assert "Saturday, September 5, 2026 is not a working day: moved to Monday, September 7, 2026." in page
    assert "Monday, October 5, 2026 is not a working day: moved to Thursday, October 8, 2026." in page
    assert "Left out Tuesday, October 20, 2026: already scheduled." in page


def test_a_series_follows_the_holiday_table_for_a_year_the_package_does_not_know(app, tree):
    admin = make_user(Role.ADMIN)
    db.session.add(CalendarDay(day=date(2027, 1, 1), is_working_day=False, name="元旦"))
    db.session.commit()

    result = service.schedule_series(tree.station, actor=admin, days_of_month=[1], first_month=date(2027, 1, 1),
                                     months=2, starts_at=time(9), ends_at=time(11))

    # Friday 2027-01-01 declared a holiday → Monday 01-04; Monday 2027-02-01 stays.
    assert [d.held_on for d in result.scheduled] == [date(2027, 1, 4), date(2027, 2, 1)]
    assert result.moved == [(date(2027, 1, 1), date(2027, 1, 4))]


def test_a_series_leaves_out_the_days_already_past_this_month(app, tree):
    result = service.schedule_series(tree.station, actor=make_user(Role.ADMIN), days_of_month=[5, 31],
                                     first_month=date(2026, 8, 1), months=2, starts_at=time(9), ends_at=time(11))

    # 08-05 is past; 08-31 is a Monday; September has no 31st: its last day, Wednesday 09-30.
    assert [d.held_on for d in result.scheduled] == [date(2026, 8, 31), date(2026, 9, 7), date(2026, 9, 30)]
    assert [day for day, _ in result.skipped] == [date(2026, 8, 5)]


def test_duty_rotates_so_that_each_day_has_the_minimum(app, tree):
    result = service.schedule_series(tree.station, actor=make_user(Role.ADMIN), days_of_month=[10, 24],
                                     first_month=date(2026, 9, 1), months=2, starts_at=time(9), ends_at=time(11))

    on_duty = [names(day) for day in result.scheduled]
    assert on_duty == [["顾振华", "刘春梅", "王建国"], ["顾振华", "刘春梅", "赵敏"],
                       ["顾振华", "王建国", "赵敏"], ["刘春梅", "王建国", "赵敏"]]
    assert not any(service.is_short(day) for day in result.scheduled)
    # A further series carries on the rotation where the schedule left it.
    more = service.schedule_series(tree.station, actor=make_user(Role.ADMIN), days_of_month=[10],
                                   first_month=date(2026, 11, 1), months=1, starts_at=time(9), ends_at=time(11))
    assert names(more.scheduled[0]) == ["顾振华", "刘春梅", "王建国"]


def test_a_station_with_two_deputies_gets_both_every_day_flagged_short(app, tree):
    small = make_station(name="万安县工业园区代表联络站", jurisdiction=tree.township)
    make_deputy(small, name="甲代表")
    make_deputy(small, name="乙代表")
    client = staff_client(app, tree)

    page = client.get(f"/oversight/receptions/stations/{small.id}/series").get_data(as_text=True)
    assert "This station has 2 active deputies: every day will be short of deputies." in page
    response = client.post(f"/oversight/receptions/stations/{small.id}/series", data=series_form(months="1"))

    assert response.status_code == 303
    days = days_at(small)
    assert [names(d) for d in days] == [["甲代表", "乙代表"]] * 2
    schedule_page = client.get(f"/oversight/receptions/stations/{small.id}").get_data(as_text=True)
    assert schedule_page.count('data-flag="short">Short of deputies: 2 of 3<') == 2


@pytest.mark.parametrize("overrides,field,message", [
    ({"days": "5, 32"}, "days", "Days of the month run from 1 to 31."),
    ({"days": "每月"}, "days", "Please give days of the month, e.g. 5, 20."),
    ({"months": "13"}, "months", "From 1 to 12 months."),
    ({"first_month": "2026-07"}, "first_month", "The series cannot start in a month that is over."),
    ({"ends_at": "09:00"}, "ends_at", "The end must be later than the start."),
])
def test_a_bad_series_is_refused_and_keeps_what_was_typed(app, tree, overrides, field, message):
    client = staff_client(app, tree)

    response = client.post(f"/oversight/receptions/stations/{tree.station.id}/series",
                           data=series_form(note="一楼大厅", **overrides))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="error-{field}" role="alert">{message}<' in page
    assert 'value="一楼大厅"' in page and f'value="{overrides.get("days", "5日、20日")}"' in page
    assert days_at(tree.station) == []


# --- changing and cancelling --------------------------------------------------------------------


def test_staff_change_who_is_on_duty_and_the_times(app, tree):
    day = schedule(tree.station, date(2026, 9, 10), [tree.deputy, tree.colleague, tree.third])
    client = staff_client(app, tree)

    form = client.get(f"/oversight/receptions/{day.id}/edit").get_data(as_text=True)
    assert f'name="deputies" value="{tree.third.id}" checked' in form and 'value="09:00"' in form
    response = client.post(f"/oversight/receptions/{day.id}/edit", data={
        "starts_at": "14:00", "ends_at": "16:30", "note": "", "deputies": [tree.colleague.id, tree.fourth.id]})

    assert response.status_code == 303
    day = fresh(day)
    assert (day.starts_at, day.ends_at, names(day)) == (time(14), time(16, 30), ["刘春梅", "赵敏"])


def test_cancelling_keeps_the_day_marked_cancelled(app, tree, htmx):
    day = schedule(tree.station, date(2026, 9, 10), [tree.deputy])
    other = schedule(tree.station, date(2026, 9, 24), [tree.deputy])
    client = staff_client(app, tree)

    response = client.post(f"/oversight/receptions/{day.id}/cancel")

    assert response.status_code == 303
    assert fresh(day).cancelled_at is not None
    page = client.get(f"/oversight/receptions/stations/{tree.station.id}").get_data(as_text=True)
    line = page[page.index(f'id="receptionday-{day.id}"'):page.index(f'id="receptionday-{other.id}"')]
    assert 'data-flag="cancelled">Cancelled<' in line and "Cancel this day" not in line
    # htmx swaps the line; cancelling twice is refused and changes nothing.
    swapped = client.post(f"/oversight/receptions/{other.id}/cancel", headers=htmx)
    assert swapped.status_code == 200 and 'data-flag="cancelled"' in swapped.get_data(as_text=True)
    again = client.post(f"/oversight/receptions/{other.id}/cancel", headers=htmx)
    assert again.status_code == 409
    assert "This reception day was cancelled: it can no longer be changed." in again.get_data(as_text=True)
    edit = client.post(f"/oversight/receptions/{day.id}/edit", data={"starts_at": "10:00", "ends_at": "11:00"})
    assert edit.status_code == 409 and fresh(day).starts_at == time(9)


def test_a_cancelled_date_can_be_scheduled_again(app, tree):
    day = schedule(tree.station, date(2026, 9, 10), [tree.deputy])
    service.cancel_reception(day, actor=tree.admin)

    again = schedule(tree.station, date(2026, 9, 10), [tree.colleague], starts_at=time(14), ends_at=time(16))

    assert again.id == day.id and again.cancelled_at is None and names(again) == ["刘春梅"]


def held(day: ReceptionDay, deputies) -> Visit:
    """The reception logged as a visit of form reception (as the visit log does)."""
    visit = Visit(form=VisitForm.RECEPTION, held_on=day.held_on, jurisdiction=day.station.jurisdiction,
                  station=day.station, deputies=list(deputies))
    db.session.add(visit)
    day.visit = visit
    db.session.commit()
    return visit


def test_a_held_reception_cannot_be_cancelled_or_changed_and_links_its_visit(app, tree):
    day = schedule(tree.station, date(2026, 8, 25), [tree.deputy, tree.colleague, tree.third])
    visit = held(day, day.deputies)
    client = staff_client(app, tree)

    response = client.post(f"/oversight/receptions/{day.id}/cancel")

    assert response.status_code == 303
    assert fresh(day).cancelled_at is None
    page = client.get(f"/oversight/receptions/stations/{tree.station.id}").get_data(as_text=True)
    assert "This reception has been held and logged: it can no longer be changed." in page
    assert f'data-flag="held"><a href="/desk/visits/{visit.id}">Held and logged</a>' in page
    assert "Cancel this day" not in page
    with pytest.raises(service.ReceptionError):
        service.cancel_reception(fresh(day), actor=tree.admin)


def test_a_reception_logged_as_a_visit_counts_one_activity_and_three_participations(app, tree):
    period = reporting.period_containing(TODAY, None)
    before = reporting.monthly_report(tree.township, period).total
    day = schedule(tree.station, TODAY, [tree.deputy, tree.colleague, tree.third])

    held(day, day.deputies)

    after = reporting.monthly_report(tree.township, period).total
    assert (after.activities - before.activities, after.participations - before.participations) == (1, 3)


def test_every_change_is_logged(app, tree, caplog):
    caplog.set_level("INFO", logger="liaison.receptions")
    day = schedule(tree.station, date(2026, 9, 10), [tree.deputy])
    service.update_reception(day, actor=tree.admin, starts_at=time(10), ends_at=time(11), deputy_ids=[])
    service.cancel_reception(day, actor=tree.admin)

    messages = [r.getMessage() for r in caplog.records]
    assert any(f"reception day {day.id}" in m and "scheduled" in m for m in messages)
    assert any(f"reception day {day.id} changed" in m for m in messages)
    assert any(f"reception day {day.id}" in m and "cancelled" in m for m in messages)


# --- what the public sees -------------------------------------------------------------------------


def test_the_stations_code_shows_the_next_reception_day_and_who_is_on_duty(app, tree):
    cancelled = schedule(tree.station, date(2026, 9, 7), [tree.fourth])
    service.cancel_reception(cancelled, actor=tree.admin)
    make_day(tree.station, date(2026, 8, 20), [tree.fourth])  # past
    schedule(tree.station, date(2026, 9, 10), [tree.deputy, tree.colleague, tree.third], starts_at=time(14, 30),
             ends_at=time(17))
    code = make_qr_code(station=tree.station)

    page = client_of(app).get(f"/q/{code.token}").get_data(as_text=True)

    block = page[page.index('id="next-reception"'):]
    block = block[:block.index("</section>")]
    assert "Thursday, September 10, 2026" in block and "14:30–17:00" in block
    assert "沙溪镇代表联络站" in block and "工业园区一路1号" in block
    for name in ("顾振华", "刘春梅", "王建国"):
        assert f"<span>{name}</span>" in block
    assert "赵敏" not in block and "September 7" not in page


def test_the_landing_page_shows_it_in_chinese(app, tree):
    schedule(tree.station, date(2026, 9, 10), [tree.deputy])
    code = make_qr_code(station=tree.station)

    page = client_of(app, english=False).get(f"/q/{code.token}").get_data(as_text=True)

    assert "2026年9月10日星期四" in page and "下次接待日" in page


def test_no_reception_block_without_a_scheduled_day(app, tree):
    code = make_qr_code(station=tree.station)
    make_day(tree.station, date(2026, 8, 20), [tree.deputy])

    page = client_of(app).get(f"/q/{code.token}").get_data(as_text=True)

    assert 'id="next-reception"' not in page


def test_a_deputys_code_shows_their_next_duty_day(app, tree):
    schedule(tree.station, date(2026, 9, 3), [tree.colleague, tree.third])
    schedule(tree.station, date(2026, 9, 17), [tree.deputy, tree.colleague], starts_at=time(8, 30))
    mine = make_qr_code(deputy=tree.deputy)
    idle = make_qr_code(deputy=tree.fourth)

    page = client_of(app).get(f"/q/{mine.token}").get_data(as_text=True)

    block = page[page.index('id="next-reception"'):]
    assert "Thursday, September 17, 2026" in block and "08:30–11:30" in block
    assert "<span>顾振华</span>" in block and "<span>刘春梅</span>" in block
    assert 'id="next-reception"' not in client_of(app).get(f"/q/{idle.token}").get_data(as_text=True)


def test_a_reception_that_has_ended_today_is_no_longer_the_next(app, tree):
    ended = schedule(tree.station, TODAY, [tree.deputy])  # 09:00–11:30
    later = schedule(tree.station, date(2026, 9, 10), [tree.colleague])
    code = make_qr_code(station=tree.station)

    during = client_of(app).get(f"/q/{code.token}").get_data(as_text=True)
    evening = datetime.combine(TODAY, time(18, 2), CHINA)
    with time_machine.travel(evening, tick=False):
        assert service.next_reception(tree.station).id == later.id
        assert service.next_duty(tree.deputy) is None and service.next_duty(tree.colleague).id == later.id
        after = client_of(app).get(f"/q/{make_qr_code(station=tree.station).token}").get_data(as_text=True)

    assert ended.held_on == TODAY and "Tuesday, August 25, 2026" in during
    assert "August 25" not in after and "Thursday, September 10, 2026" in after


def test_a_deputys_page_never_sets_the_stations_text_beside_a_duty_elsewhere(app, tree):
    tree.station.reception_days = "每月10日、25日"
    tree.deputy.stations.append(tree.other_station)
    db.session.commit()
    code = make_qr_code(deputy=tree.deputy)

    usual = client_of(app).get(f"/q/{code.token}").get_data(as_text=True)
    make_day(tree.other_station, date(2026, 9, 3), [tree.deputy], starts_at=time(9), ends_at=time(11))
    scheduled = client_of(app).get(f"/q/{make_qr_code(deputy=tree.deputy).token}").get_data(as_text=True)

    assert re.search(r'id="usual-reception">Reception days at the station: 每月10日、25日<', usual)
    assert "每月10日、25日" not in scheduled
    block = scheduled[scheduled.index('id="next-reception"'):]
    assert "Thursday, September 3, 2026" in block and "浏河镇代表联络站" in block


def count_queries(app, path) -> int:
    statements = []

    def record(*args):
        statements.append(args[2])

    client = client_of(app)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return len(statements)


def test_the_landing_page_takes_the_same_queries_however_many_deputies_are_on_duty(app, tree):
    big = make_station(jurisdiction=tree.township)
    small = make_station(jurisdiction=tree.township)
    big_deputies = [make_deputy(big) for _ in range(6)]
    small_deputies = [make_deputy(small) for _ in range(2)]
    schedule(big, date(2026, 9, 10), big_deputies)
    schedule(small, date(2026, 9, 10), small_deputies)
    empty = make_station(jurisdiction=tree.township)
    make_deputy(empty)

    counts = {name: count_queries(app, f"/q/{make_qr_code(station=station).token}")
              for name, station in (("big", big), ("small", small), ("empty", empty))}

    assert counts["big"] == counts["small"] <= counts["empty"] + 1


def test_the_public_board_shows_the_scheduled_day_instead_of_the_text(app, tree):
    tree.station.reception_days = "每周三下午"
    db.session.commit()
    schedule(tree.station, date(2026, 9, 10), [tree.deputy, tree.colleague, tree.third])

    page = client_of(app).get(f"/board/station/{tree.station.id}").get_data(as_text=True)

    assert "每周三下午" in page  # the station's own words stay
    block = page[page.index('id="next-reception"'):]
    block = block[:block.index("</section>")]
    assert "Thursday, September 10, 2026" in block and "<span>王建国</span>" in block
    assert 'id="board-next-reception"' not in page


# --- 我的值班 -----------------------------------------------------------------------------------


def test_my_duty_days_lists_only_the_deputys_own_days(app, tree):
    mine = schedule(tree.station, date(2026, 9, 10), [tree.deputy, tree.colleague])
    today = make_day(tree.other_station, TODAY, [tree.deputy, tree.outsider])  # a second station of his
    past = make_day(tree.station, date(2026, 8, 20), [tree.deputy])
    logged = make_day(tree.station, date(2026, 8, 6), [tree.deputy])
    held(logged, [tree.deputy])
    schedule(tree.station, date(2026, 9, 24), [tree.colleague, tree.third])  # not the deputy's
    cancelled = schedule(tree.station, date(2026, 10, 8), [tree.deputy])
    service.cancel_reception(cancelled, actor=tree.admin)

    page = client_of(app, tree.deputy_user).get("/desk/duties").get_data(as_text=True)

    assert page.count('class="reception-day"') == 3
    upcoming = page[page.index('id="duty-upcoming"'):page.index('id="duty-unlogged"')]
    assert f'id="receptionday-{mine.id}-duty"' in upcoming and "2026-09-10 Thursday" in upcoming
    assert f'id="receptionday-{today.id}-duty"' in upcoming and "浏河镇代表联络站" in upcoming
    assert "<span>刘春梅</span>" in upcoming and "<span>陈立新</span>" in upcoming
    assert "<span>顾振华</span>" not in upcoming  # the deputy is not their own fellow
    unlogged = page[page.index('id="duty-unlogged"'):]
    assert f'id="receptionday-{past.id}-duty"' in unlogged and "2026-08-20 Thursday" in unlogged
    for day in (today, past):
        assert f"/desk/visits/new?form=reception&amp;reception={day.id}" in page
    assert f"reception={mine.id}" not in page
    for other in ("2026-09-24", "2026-10-08", "2026-08-06"):
        assert other not in page


def test_todays_duty_can_be_logged_and_a_logged_one_cannot_again(app, tree):
    today = schedule(tree.station, TODAY, [tree.deputy, tree.colleague])
    later = schedule(tree.station, date(2026, 9, 10), [tree.deputy])
    client = client_of(app, tree.deputy_user)

    page = client.get("/desk/duties").get_data(as_text=True)
    assert f"reception={today.id}" in page and f"reception={later.id}" not in page
    assert '<span class="tag">Today</span>' in page
    link = f"/desk/visits/new?form=reception&reception={today.id}"
    assert link.replace("&", "&amp;") in page
    assert client.get(link).status_code == 200  # the visit log opens, filled in from the day
    held(today, today.deputies)
    page = client.get("/desk/duties").get_data(as_text=True)
    assert f"reception={today.id}" not in page and "Held and logged" in page


def test_other_roles_have_no_duty_page(app, tree):
    assert app.test_client().get("/desk/duties").status_code == 302
    for user in (tree.staff["township"], tree.officers["township"], tree.admin):
        response = client_of(app, user).get("/desk/duties")
        assert response.status_code == 302 and "/desk/duties" not in response.headers["Location"]
    assert client_of(app, tree.outsider_user).get("/desk/duties").status_code == 200


# --- access -------------------------------------------------------------------------------------------


def test_another_countys_staff_get_404_and_do_not_see_the_station(app, tree):
    wanan = make_jurisdiction(name="万安县", division_code="360828")
    wanan_staff = make_user(Role.STAFF, jurisdiction=wanan)
    day = schedule(tree.station, date(2026, 9, 10), [tree.deputy])
    client = client_of(app, wanan_staff)

    station = tree.station.id
    for path in (f"/oversight/receptions/stations/{station}", f"/oversight/receptions/stations/{station}/new",
                 f"/oversight/receptions/stations/{station}/series", f"/oversight/receptions/{day.id}/edit"):
        assert client.get(path).status_code == 404, path
    for path, data in ((f"/oversight/receptions/stations/{station}/new", day_form(tree, held_on="2026-09-11")),
                       (f"/oversight/receptions/stations/{station}/series", series_form()),
                       (f"/oversight/receptions/{day.id}/edit", {"starts_at": "10:00", "ends_at": "11:00"}),
                       (f"/oversight/receptions/{day.id}/cancel", {})):
        assert client.post(path, data=data).status_code == 404, path
    assert len(days_at(tree.station)) == 1 and fresh(day).cancelled_at is None
    overview = client.get("/oversight/receptions").get_data(as_text=True)
    assert "沙溪镇代表联络站" not in overview
    assert "沙溪镇代表联络站" in staff_client(app, tree).get("/oversight/receptions").get_data(as_text=True)


def test_the_service_refuses_a_station_outside_the_actors_area(app, tree):
    wanan_staff = make_user(Role.STAFF, jurisdiction=make_jurisdiction(name="万安县"))
    with pytest.raises(service.ReceptionError):
        schedule(tree.station, date(2026, 9, 10), [tree.deputy], actor=wanan_staff)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(reception_duties)) == 0


def test_the_oversight_home_links_the_reception_days(app, tree):
    page = staff_client(app, tree).get("/oversight/").get_data(as_text=True)
    assert 'href="/oversight/receptions"' in page


def test_the_next_reception_skips_cancelled_and_past_days(app, tree):
    make_day(tree.station, date(2026, 8, 20), [tree.deputy])
    today = schedule(tree.station, TODAY, [tree.deputy])
    assert service.next_reception(tree.station).id == today.id

    service.cancel_reception(today, actor=tree.admin)
    later = schedule(tree.station, date(2026, 9, 1), [tree.colleague])

    assert service.next_reception(tree.station).id == later.id
    assert service.next_duty(tree.deputy) is None and service.next_duty(tree.colleague).id == later.id


@pytest.mark.parametrize("english,message", [(False, "不是有效的时间值。"), (True, "Not a valid time value.")])
def test_wtforms_own_messages_speak_the_readers_language(app, tree, english, message):
    client = client_of(app, tree.staff["county"], english=english)

    response = client.post(f"/oversight/receptions/stations/{tree.station.id}/new",
                           data=day_form(tree, starts_at="nine"))

    assert response.status_code == 422
    assert f'id="error-starts_at" role="alert">{message}<' in response.get_data(as_text=True)
