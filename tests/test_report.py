"""The monthly report (一月一小结): counts against hand-built records, period boundaries in
China's time, a county's roll-up of its townships, the XLSX export, the activity form, and
who may see which jurisdiction's report."""

import io
import re
from datetime import date, datetime, timedelta, timezone

import openpyxl
import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import (
    Activity,
    ActivityKind,
    Level,
    Outcome,
    Request,
    RequestEvent,
    RequestKind,
    Role,
    Visit,
    VisitForm,
)
from liaison_app.services import report as reporting
from liaison_app.services.report import COLUMN_HEADERS, Figures, monthly_report, period_of
from liaison_app.workdays import CHINA, today_local
from liaison_app.workflow import Action, Actor, Status
from tests.factories import Tree, make_deputy, make_jurisdiction, make_request, make_station, make_user
from tests.test_desk import login

SEPTEMBER = period_of(2026, 9)
HEADERS = ["序号", "单位", *COLUMN_HEADERS.values()]


def china(year, month, day, hour=12, minute=0) -> datetime:
    """A moment in China's local time, as stored: naive UTC."""
    local = datetime(year, month, day, hour, minute, tzinfo=CHINA)
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def add_activity(jurisdiction, held_on, deputies=(), kind=ActivityKind.INSPECTION, title="视察工业园区"):
    activity = Activity(kind=kind, title=title, held_on=held_on, jurisdiction=jurisdiction, deputies=list(deputies))
    db.session.add(activity)
    db.session.commit()
    return activity


def add_visit(jurisdiction, held_on, deputies=(), form=VisitForm.VISIT):
    visit = Visit(form=form, held_on=held_on, jurisdiction=jurisdiction, deputies=list(deputies))
    db.session.add(visit)
    db.session.commit()
    return visit


def add_request(station, created_at, *, closed_at=None, outcome=None, typical=False, kind=RequestKind.REQUEST):
    req = make_request(station=station, created_at=created_at, closed_at=closed_at, outcome=outcome,
                       is_typical_case=typical, kind=kind)
    if closed_at is not None:
        req.status = Status.CLOSED
        db.session.commit()
    return req


def escalate(req, to, when):
    """An ESCALATE event into `to` at `when` (the trail as escalate_request writes it)."""
    db.session.add(RequestEvent(request=req, action=Action.ESCALATE, from_status=Status.SUBMITTED,
                                to_status=Status.SUBMITTED, actor_kind=Actor.STAFF, jurisdiction=to, created_at=when))
    db.session.commit()


class World:
    """苏州市 > 太仓市 > 沙溪镇 and 浮桥镇, with a neighbouring 昆山市, and September 2026's records,
    some just outside the month on either side in China's time."""

    def __init__(self):
        tree = self.tree = Tree()
        self.city, self.county, self.shaxi = tree.city, tree.county, tree.township
        self.fuqiao = make_jurisdiction(name="浮桥镇", level=Level.TOWNSHIP, division_code="tz-fuqiao", parent=self.county)
        self.kunshan = make_jurisdiction(name="昆山市", level=Level.COUNTY, division_code="x-kunshan", parent=self.city)
        county_station = make_station(name="太仓市代表之家", jurisdiction=self.county)
        fuqiao_station = make_station(name="浮桥镇代表联络站", jurisdiction=self.fuqiao)
        kunshan_station = make_station(name="昆山市代表联络站", jurisdiction=self.kunshan)
        city_station = make_station(name="苏州市代表之家", jurisdiction=self.city)
        shaxi_station = tree.station
        d1, d2, d3 = tree.deputy, tree.colleague, tree.outsider
        self.fuqiao_deputy = make_deputy(fuqiao_station, name="沈浩")
        self.kunshan_deputy = make_deputy(kunshan_station, name="朱敏")
        self.kunshan_staff = make_user(Role.STAFF, jurisdiction=self.kunshan, display_name="昆山市工作人员")

        # 太仓市 itself: one inspection with three deputies, one request received at the county.
        add_activity(self.county, date(2026, 9, 15), [d1, d2, d3])
        add_request(county_station, china(2026, 9, 1, 0, 5))

        # 沙溪镇: activities on the last day (in) and either side of the month (out), two visits.
        add_activity(self.shaxi, date(2026, 9, 30), [d1], kind=ActivityKind.RECEPTION)
        add_activity(self.shaxi, date(2026, 10, 1), [d1, d2])
        add_activity(self.shaxi, date(2026, 8, 31), [d1, d2])
        add_visit(self.shaxi, date(2026, 9, 10), [d1, d2])
        add_visit(self.shaxi, date(2026, 9, 20), [], form=VisitForm.SYMPOSIUM)
        # Received at 23:30 on the last day, solved at once, a typical case: every column.
        self.typical = add_request(shaxi_station, china(2026, 9, 30, 23, 30), closed_at=china(2026, 9, 30, 23, 45),
                                   outcome=Outcome.SOLVED, typical=True)
        add_request(shaxi_station, china(2026, 10, 1, 0, 10))  # the next month's
        # Received the evening before the month began; solved and escalated to the city in it.
        late = add_request(shaxi_station, china(2026, 8, 31, 23, 50), closed_at=china(2026, 9, 5),
                           outcome=Outcome.SOLVED)
        escalate(late, self.county, china(2026, 9, 2))
        escalate(late, self.city, china(2026, 9, 6))
        add_request(shaxi_station, china(2026, 9, 12), closed_at=china(2026, 9, 13), outcome=Outcome.EXPLAINED)
        next_month_escalation = add_request(shaxi_station, china(2026, 9, 14))
        escalate(next_month_escalation, self.city, china(2026, 10, 1, 0, 10))
        add_request(shaxi_station, china(2026, 9, 15), kind=RequestKind.SUGGESTION)
        twice = add_request(shaxi_station, china(2026, 9, 16))  # escalated, sent down, escalated again
        escalate(twice, self.city, china(2026, 9, 17))
        escalate(twice, self.city, china(2026, 9, 25))
        only_county = add_request(shaxi_station, china(2026, 9, 18))
        escalate(only_county, self.county, china(2026, 9, 19))
        add_request(shaxi_station, china(2026, 9, 19), closed_at=china(2026, 10, 1, 0, 10), outcome=Outcome.SOLVED,
                    typical=True)  # closed in the next month
        add_request(shaxi_station, china(2026, 8, 1), closed_at=china(2026, 9, 1, 0, 5), typical=True,
                    outcome=Outcome.EXPLAINED)  # a typical case explained, not solved

        # 浮桥镇
        add_activity(self.fuqiao, date(2026, 9, 1), [self.fuqiao_deputy], kind=ActivityKind.RESEARCH)
        add_request(fuqiao_station, china(2026, 9, 8), closed_at=china(2026, 9, 9), outcome=Outcome.SOLVED)

        # Outside 太仓市: counted in neither line.
        add_activity(self.kunshan, date(2026, 9, 10), [self.kunshan_deputy])
        add_request(kunshan_station, china(2026, 9, 10), closed_at=china(2026, 9, 11), outcome=Outcome.SOLVED)
        add_request(city_station, china(2026, 9, 10))


# What the records above make of September 2026, worked out by hand.
COUNTY_ITSELF = Figures(activities=1, participations=3, collected=1)
SHAXI = Figures(activities=3, participations=3, collected=7, solved=2, escalated=2, typical_cases=2)
FUQIAO = Figures(activities=1, participations=1, collected=1, solved=1)


@pytest.fixture
def world(app):
    return World()


def lines_by_name(report):
    return {line.jurisdiction.name: line for line in report.lines}


# --- the figures ---------------------------------------------------------------------------


def test_each_line_counts_its_records_and_the_total_adds_them_up(world):
    report = monthly_report(world.county, SEPTEMBER)

    assert [(line.jurisdiction.name, line.own) for line in report.lines] == [
        ("太仓市", True), ("沙溪镇", False), ("浮桥镇", False)]
    lines = lines_by_name(report)
    assert lines["太仓市"].figures == COUNTY_ITSELF
    assert lines["沙溪镇"].figures == SHAXI
    assert lines["浮桥镇"].figures == FUQIAO
    assert report.total == COUNTY_ITSELF + SHAXI + FUQIAO
    assert [case.title for case in report.typical_cases] == [world.typical.title, world.typical.title]


def test_the_figures_equal_counts_over_the_underlying_records(world):
    """The report against a plain count over every record of the county's subtree."""
    report = monthly_report(world.county, SEPTEMBER)
    ids = {world.county.id, world.shaxi.id, world.fuqiao.id}
    start, end = SEPTEMBER.utc_bounds()
    first, last = SEPTEMBER.first_day, SEPTEMBER.last_day

    def during(moment):
        return moment is not None and start <= moment < end

    held = [item for model in (Activity, Visit) for item in db.session.scalars(sa.select(model))
            if item.jurisdiction_id in ids and first <= item.held_on <= last]
    requests = [r for r in db.session.scalars(sa.select(Request)) if r.filed_jurisdiction_id in ids]
    city_ids = {world.city.id}
    expected = Figures(
        activities=len(held),
        participations=sum(len(item.deputies) for item in held),
        collected=sum(during(r.created_at) for r in requests),
        solved=sum(r.outcome is Outcome.SOLVED and during(r.closed_at) for r in requests),
        escalated=sum(any(e.action is Action.ESCALATE and e.jurisdiction_id in city_ids and during(e.created_at)
                          for e in r.events) for r in requests),
        typical_cases=sum(r.is_typical_case and during(r.closed_at) for r in requests),
    )
    assert report.total == expected


def test_a_countys_roll_up_equals_its_townships_own_reports(world):
    county = lines_by_name(monthly_report(world.county, SEPTEMBER))

    for township in (world.shaxi, world.fuqiao):
        own = monthly_report(township, SEPTEMBER)
        assert [line.own for line in own.lines] == [True]  # a township has no lines below it
        assert own.total == county[township.name].figures


def test_the_city_report_rolls_up_its_counties(world):
    report = monthly_report(world.city, SEPTEMBER)

    lines = lines_by_name(report)
    assert lines["太仓市"].figures == COUNTY_ITSELF + SHAXI + FUQIAO
    assert lines["昆山市"].figures == Figures(activities=1, participations=1, collected=1, solved=1)
    assert lines["苏州市"].own and lines["苏州市"].figures == Figures(collected=1)


def test_the_months_either_side_get_what_fell_outside(world):
    october = lines_by_name(monthly_report(world.county, period_of(2026, 10)))["沙溪镇"].figures
    august = lines_by_name(monthly_report(world.county, period_of(2026, 8)))["沙溪镇"].figures

    assert (october.activities, october.participations, october.collected) == (1, 2, 1)
    assert (october.solved, october.escalated, october.typical_cases) == (1, 1, 1)
    assert (august.activities, august.participations, august.collected) == (1, 2, 2)


def test_the_report_takes_the_same_number_of_queries_however_many_townships(app, world):
    def queries_for(jurisdiction):
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            monthly_report(jurisdiction, SEPTEMBER)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    before = queries_for(world.county)
    for n in range(5):
        township = make_jurisdiction(name=f"新镇{n}", level=Level.TOWNSHIP, division_code=f"t-new{n}",
                                     parent=world.county)
        add_request(make_station(jurisdiction=township), china(2026, 9, 3))
        add_activity(township, date(2026, 9, 3), [world.tree.deputy])
    db.session.expire_all()

    assert queries_for(world.county) == before


# --- the period --------------------------------------------------------------------------------


def test_calendar_months_by_default():
    assert (period_of(2026, 9).first_day, period_of(2026, 9).last_day) == (date(2026, 9, 1), date(2026, 9, 30))
    assert period_of(2024, 2).last_day == date(2024, 2, 29)
    # 00:00 in China is 16:00 UTC the day before.
    assert period_of(2026, 9).utc_bounds() == (datetime(2026, 8, 31, 16), datetime(2026, 9, 30, 16))
    assert reporting.period_containing(date(2026, 12, 31)).key == "2026-12"


def test_a_cutoff_day_shifts_the_month():
    assert (period_of(2026, 11, 20).first_day, period_of(2026, 11, 20).last_day) == (date(2026, 10, 21),
                                                                                  date(2026, 11, 20))
    assert period_of(2026, 1, 20).first_day == date(2025, 12, 21)
    assert (period_of(2026, 3, 30).first_day, period_of(2026, 2, 30).last_day) == (date(2026, 3, 1),
                                                                                date(2026, 2, 28))
    assert reporting.period_containing(date(2026, 11, 20), 20).key == "2026-11"
    assert reporting.period_containing(date(2026, 11, 21), 20).key == "2026-12"
    assert reporting.period_containing(date(2026, 12, 21), 20).key == "2027-01"
    assert period_of(2026, 11, 20).previous() == period_of(2026, 10, 20)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-01", "", "1999-12", "2026-11-01"])
def test_a_malformed_month_is_refused(text):
    with pytest.raises(reporting.InvalidPeriod):
        reporting.parse_period(text)


class TestCutoffDay:
    """Taizhou sends by the 20th: with REPORT_CUTOFF_DAY = 20, "2026-10" runs 21 Sep to 20 Oct."""

    @pytest.fixture
    def app_config(self):
        return {"REPORT_CUTOFF_DAY": 20}

    def test_the_period_runs_from_the_day_after_the_cutoff(self, app):
        tree = Tree()
        station = tree.station
        for held_on in (date(2026, 9, 20), date(2026, 9, 21), date(2026, 10, 20), date(2026, 10, 21)):
            add_activity(tree.township, held_on, [tree.deputy])
        for moment in (china(2026, 9, 20, 23, 50), china(2026, 9, 21, 0, 5), china(2026, 10, 20, 23, 30),
                       china(2026, 10, 21, 0, 10)):
            add_request(station, moment)
        period = reporting.parse_period("2026-10", reporting.cutoff_day())

        figures = monthly_report(tree.county, period).total

        assert (period.first_day, period.last_day) == (date(2026, 9, 21), date(2026, 10, 20))
        assert (figures.activities, figures.participations, figures.collected) == (2, 2, 2)

    def test_the_page_defaults_to_the_period_today_falls_in(self, app, client):
        tree = Tree()
        login(client, tree.staff["county"])

        page = client.get("/oversight/report").get_data(as_text=True)

        current = reporting.period_containing(today_local(), 20)
        assert current.title in page
        assert current.first_day.isoformat() in page and current.last_day.isoformat() in page


# --- the page and the spreadsheet ----------------------------------------------------------------


def cells(row):
    return [cell.value for cell in row]


def test_the_page_shows_the_form_with_its_header_and_exact_columns(client, world):
    login(client, world.tree.staff["county"])

    response = client.get(f"/oversight/report?jurisdiction={world.county.id}&month=2026-09")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "一月一小结（2026年9月）" in page
    assert "填报单位" in page and "太仓市人大常委会" in page and "填报人" in page and "太仓市工作人员" in page
    assert "填报日期" in page and today_local().isoformat() in page
    for header in COLUMN_HEADERS.values():
        assert f"<th scope=\"col\" class=\"num\">{header}</th>" in page
    assert "太仓市（本级）" in page and "合计" in page
    assert world.typical.title in page
    # On a phone each line is a card: every figure is labelled with its column's words.
    assert re.search(r'<td class="num" data-label="收集意见建议数量（件）">\d+</td>', page)


def test_the_english_page_shows_the_form_in_english_with_its_chinese_under_it(client, world):
    login(client, world.tree.staff["county"])

    page = client.get(f"/oversight/report?jurisdiction={world.county.id}&month=2026-09&lang=en").get_data(as_text=True)

    assert 'Monthly summary for 2026-09<span class="gloss" lang="zh-CN">一月一小结（2026年9月）</span>' in page
    assert ('Opinions and suggestions collected<span class="gloss" lang="zh-CN">收集意见建议数量（件）</span>'
            in page)
    assert 'data-label="Problems solved"' in page
    # The month picker speaks English punctuation.
    assert ">2026-09 (2026-09-01 – 2026-09-30)</option>" in page and "（2026-09-01" not in page


def test_htmx_gets_the_report_alone(client, world, htmx):
    login(client, world.tree.staff["county"])

    page = client.get(f"/oversight/report?jurisdiction={world.shaxi.id}&month=2026-09", headers=htmx)

    assert page.get_data(as_text=True).lstrip().startswith('<section id="monthly-report"')


def test_the_export_has_the_paper_forms_layout(client, world):
    login(client, world.tree.staff["county"])

    response = client.get(f"/oversight/report.xlsx?jurisdiction={world.county.id}&month=2026-09&lang=en")

    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = response.headers["Content-Disposition"]
    assert "attachment" in disposition and "filename*=UTF-8''" in disposition and ".xlsx" in disposition
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = [cells(row) for row in sheet.iter_rows()]
    assert rows[0][0] == "一月一小结（2026年9月）"
    # The form is Chinese even when the screen is in English.
    assert rows[1][0] == "填报单位：太仓市人大常委会"
    assert rows[1][3] == "填报人：太仓市工作人员"
    today = today_local()
    assert rows[1][6] == f"填报日期：{today.year}年{today.month}月{today.day}日"
    assert rows[2] == HEADERS
    assert rows[3] == [1, "太仓市（本级）", *COUNTY_ITSELF.values()]
    assert rows[4] == [2, "沙溪镇", *SHAXI.values()]
    assert rows[5] == [3, "浮桥镇", *FUQIAO.values()]
    assert rows[6] == [None, "合计", *(COUNTY_ITSELF + SHAXI + FUQIAO).values()]
    text = [row[0] for row in rows[7:] if row[0]]
    assert "统计期间：2026年9月1日至2026年9月30日" in text
    assert "典型案例：" in text and any(world.typical.title in line for line in text)


def test_every_export_opens_with_the_right_headers(client, world):
    login(client, world.tree.admin)

    for jurisdiction in (world.tree.province, world.city, world.county, world.shaxi, world.kunshan):
        response = client.get(f"/oversight/report.xlsx?jurisdiction={jurisdiction.id}&month=2026-09")
        assert response.status_code == 200, jurisdiction.name
        workbook = openpyxl.load_workbook(io.BytesIO(response.data))
        rows = [cells(row) for row in workbook.active.iter_rows()]
        assert rows[0][0] == "一月一小结（2026年9月）"
        assert rows[1][0].startswith("填报单位：") and rows[1][3].startswith("填报人：")
        assert rows[1][6].startswith("填报日期：")
        assert rows[2] == HEADERS
        total = next(row for row in rows if row[1] == "合计")
        lines = rows[3:rows.index(total)]
        assert lines[0][1] == f"{jurisdiction.name}（本级）"
        assert [sum(line[i] for line in lines) for i in range(2, 8)] == total[2:]


def test_a_formula_typed_as_a_title_stays_text(client, world):
    req = add_request(world.tree.station, china(2026, 9, 3), closed_at=china(2026, 9, 4), typical=True)
    req.title = "=HYPERLINK(\"http://x\")"
    db.session.commit()
    login(client, world.tree.staff["county"])

    data = client.get(f"/oversight/report.xlsx?jurisdiction={world.county.id}&month=2026-09").data

    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


# --- who may see which report ----------------------------------------------------------------------


def test_staff_see_their_jurisdiction_and_below_only(app, world):
    county_staff, township_staff = app.test_client(), app.test_client()
    login(county_staff, world.tree.staff["county"])
    login(township_staff, world.tree.staff["township"])
    kunshan = app.test_client()
    login(kunshan, world.kunshan_staff)

    assert county_staff.get(f"/oversight/report?jurisdiction={world.shaxi.id}").status_code == 200
    assert township_staff.get(f"/oversight/report?jurisdiction={world.county.id}").status_code == 404
    assert kunshan.get(f"/oversight/report?jurisdiction={world.county.id}&month=2026-09").status_code == 404
    assert kunshan.get(f"/oversight/report.xlsx?jurisdiction={world.county.id}&month=2026-09").status_code == 404
    assert kunshan.get(f"/oversight/report?jurisdiction={world.kunshan.id}").status_code == 200
    # By default a staff member gets their own jurisdiction.
    assert "沙溪镇（本级）" in township_staff.get("/oversight/report").get_data(as_text=True)


def test_deputies_and_unit_officers_get_403(app, world):
    before = activity_count()
    for user in (world.tree.deputy_user, world.tree.officers["county"]):
        client = app.test_client()
        login(client, user)
        assert client.get("/oversight/report").status_code == 403
        assert client.get("/oversight/report.xlsx").status_code == 403
        assert client.get("/oversight/activities").status_code == 403
        assert client.post("/oversight/activities/new", data={"title": "x"}).status_code == 403
    assert activity_count() == before


def test_a_malformed_month_is_400(client, world):
    login(client, world.tree.staff["county"])
    assert client.get("/oversight/report?month=2026-13").status_code == 400
    assert client.get("/oversight/report.xlsx?month=abc").status_code == 400


# --- recording activities --------------------------------------------------------------------------


@pytest.fixture
def staff(app, world):
    client = app.test_client()
    login(client, world.tree.staff["county"])
    return client


def activity_form(world, **overrides):
    data = {"kind": "inspection", "title": "视察浮桥镇企业用工", "held_on": "2026-09-22",
            "jurisdiction": str(world.fuqiao.id), "deputies": [str(world.fuqiao_deputy.id), str(world.tree.deputy.id)],
            "notes": "走访三家企业"}
    data.update(overrides)
    return data


def activity_count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count(Activity.id)))


def test_recording_an_activity_counts_it_in_the_report(staff, world):
    before = lines_by_name(monthly_report(world.county, SEPTEMBER))["浮桥镇"].figures

    response = staff.post("/oversight/activities/new", data=activity_form(world))

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/oversight/activities")
    activity = db.session.scalar(sa.select(Activity).where(Activity.title == "视察浮桥镇企业用工"))
    assert activity.kind is ActivityKind.INSPECTION and activity.held_on == date(2026, 9, 22)
    assert {d.id for d in activity.deputies} == {world.fuqiao_deputy.id, world.tree.deputy.id}
    after = lines_by_name(monthly_report(world.county, SEPTEMBER))["浮桥镇"].figures
    assert (after.activities, after.participations) == (before.activities + 1, before.participations + 2)
    assert "视察浮桥镇企业用工" in staff.get("/oversight/activities").get_data(as_text=True)


@pytest.mark.parametrize("overrides, field, message", [
    ({"title": "  "}, "title", "请填写此项。"),
    ({"title": "长" * 121}, "title", "最多 120 个字。"),
    ({"held_on": ""}, "held_on", "请填写日期。"),
    ({"held_on": (today_local() + timedelta(days=3)).isoformat()}, "held_on", "活动举行后才能登记：日期不能晚于今天。"),
    ({"kind": "party"}, "kind", "请选择一项。"),
    ({"jurisdiction": ""}, "jurisdiction", "请选择一项。"),
    ({"jurisdiction": "outside"}, "jurisdiction", "请从列表中选择行政区划。"),
    ({"deputies": ["999999"]}, "deputies", "请从列表中选择代表。"),
])
def test_bad_input_is_refused_in_chinese_and_nothing_is_written(staff, world, overrides, field, message):
    before = activity_count()

    response = staff.post("/oversight/activities/new", data=activity_form(world, **overrides))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请修改下面标出的内容" in page
    assert f'id="error-{field}" role="alert">{message}' in page
    assert activity_count() == before


def test_another_countys_jurisdiction_and_deputies_are_refused(staff, world):
    before = activity_count()
    outside = {"jurisdiction": str(world.kunshan.id)}
    foreign = {"deputies": [str(world.kunshan_deputy.id)]}

    for overrides in (outside, foreign):
        assert staff.post("/oversight/activities/new", data=activity_form(world, **overrides)).status_code == 422
    assert activity_count() == before


def test_htmx_gets_the_form_alone_with_its_errors(staff, world, htmx):
    response = staff.post("/oversight/activities/new", data=activity_form(world, title=""), headers=htmx)

    assert response.status_code == 422
    assert response.get_data(as_text=True).lstrip().startswith('<form id="activity-form"')


def test_editing_and_deleting_an_activity(staff, world):
    activity = add_activity(world.fuqiao, date(2026, 9, 5), [world.fuqiao_deputy])

    page = staff.get(f"/oversight/activities/{activity.id}/edit").get_data(as_text=True)
    assert "视察工业园区" in page and f'value="{world.fuqiao_deputy.id}" checked' in page

    response = staff.post(f"/oversight/activities/{activity.id}/edit",
                          data=activity_form(world, title="调研融资难", kind="research", deputies=[]))
    assert response.status_code == 303
    db.session.expire_all()
    activity = db.session.get(Activity, activity.id)
    assert (activity.title, activity.kind, activity.deputies) == ("调研融资难", ActivityKind.RESEARCH, [])

    before = activity_count()
    assert staff.post(f"/oversight/activities/{activity.id}/delete").status_code == 303
    assert activity_count() == before - 1
    assert db.session.scalar(sa.select(Activity).where(Activity.title == "调研融资难")) is None


def test_another_countys_activity_is_404(app, world):
    far = add_activity(world.kunshan, date(2026, 9, 5))
    client = app.test_client()
    login(client, world.tree.staff["county"])

    assert client.get(f"/oversight/activities/{far.id}/edit").status_code == 404
    assert client.post(f"/oversight/activities/{far.id}/edit", data=activity_form(world)).status_code == 404
    assert client.post(f"/oversight/activities/{far.id}/delete").status_code == 404
    assert "昆山市" not in client.get("/oversight/activities").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Activity, far.id) is not None


def test_the_deputy_search_keeps_the_ticked_and_stays_in_the_area(staff, world):
    url = f"/oversight/activities/deputies?deputy_q=沈&deputies={world.tree.deputy.id}"

    page = staff.get(url).get_data(as_text=True)

    assert page.lstrip().startswith('<div id="activity-deputies"')
    assert "沈浩" in page and f'value="{world.tree.deputy.id}" checked' in page
    assert "刘春梅" not in page  # not ticked, does not match
    assert "朱敏" not in staff.get("/oversight/activities/deputies?deputy_q=朱").get_data(as_text=True)
    assert "朱敏" not in staff.get(f"/oversight/activities/deputies?deputies={world.kunshan_deputy.id}").get_data(
        as_text=True)


def test_the_activity_list_narrows_to_a_report_line(staff, world):
    page = staff.get(f"/oversight/activities?jurisdiction={world.fuqiao.id}&month=2026-09").get_data(as_text=True)

    assert page.count('id="activity-') == 1 + 1  # the list itself and the one activity of 浮桥镇
    assert staff.get(f"/oversight/activities?jurisdiction={world.kunshan.id}").status_code == 404


def test_the_oversight_home_links_the_report_and_the_activities(staff):
    page = staff.get("/oversight/").get_data(as_text=True)
    assert "/oversight/report" in page and "/oversight/activities" in page
