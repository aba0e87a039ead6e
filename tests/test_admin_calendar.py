"""Admins declare holidays and make-up working days for years chinese-calendar does not know."""

from datetime import date

import pytest

from liaison_app.workdays import add_working_days
from tests.factories import Tree
from tests.test_desk import login


@pytest.fixture
def admin(app):
    tree = Tree()
    client = app.test_client()
    login(client, tree.admin)
    client.tree = tree
    return client


def test_a_declared_holiday_moves_deadlines_in_an_unknown_year(admin):
    before = add_working_days(date(2099, 9, 30), 1)  # 2099-09-30 is a Wednesday
    assert before == date(2099, 10, 1)

    response = admin.post("/admin/calendar", data={"day": "2099-10-01", "kind": "holiday", "name": "国庆节"})

    assert response.status_code == 303
    assert add_working_days(date(2099, 9, 30), 1) == date(2099, 10, 2)
    page = admin.get("/admin/calendar?year=2099").get_data(as_text=True)
    assert "国庆节" in page and "2099-10-01" in page and "内置日历只包括" in page


def test_removing_a_day_restores_the_official_calendar(admin):
    admin.post("/admin/calendar", data={"day": "2099-10-01", "kind": "holiday", "name": "国庆节"})

    admin.post("/admin/calendar/2099-10-01/clear")

    assert add_working_days(date(2099, 9, 30), 1) == date(2099, 10, 1)


def test_bad_input_is_refused_next_to_the_field(admin):
    response = admin.post("/admin/calendar", data={"day": "not-a-date", "kind": "holiday", "name": "x" * 41})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="error-day"' in page and "最多 40 个字" in page


def test_only_admins_edit_the_calendar(app, admin):
    staff = app.test_client()
    login(staff, admin.tree.staff["county"])
    assert staff.get("/admin/calendar").status_code == 403
    assert staff.post("/admin/calendar", data={"day": "2099-10-01", "kind": "holiday"}).status_code == 403
