"""The oversight dashboard: its figures against hand-built requests, its charts against its
tables, who may see which jurisdiction, and a number of queries that does not grow."""

import html
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from liaison_app import access
from liaison_app.extensions import db
from liaison_app.models import Category, Jurisdiction, Outcome, Rating, Role, utcnow
from liaison_app.services import stats
from liaison_app.workdays import today_local
from liaison_app.workflow import Status
from tests.factories import (
    Tree, make_department, make_deputy, make_jurisdiction, make_request, make_station, make_user,
)
from tests.test_desk import login

PERIOD = stats.Period(date(2025, 3, 1), date(2025, 5, 31))
QUERY = "from=2025-03-01&to=2025-05-31"


def utc(text: str) -> datetime:
    """A naive UTC timestamp as stored ('2025-03-10 02:00')."""
    return datetime.fromisoformat(text)


@pytest.fixture
def tree(app):
    return Tree()


def request_at(station, *, status: Status = Status.SUBMITTED, **values):
    """A request filed at `station`, then put straight into `status`: the figures read the
    request's columns, not its trail."""
    req = make_request(station=station, **values)
    req.status = status
    db.session.commit()
    return req


def closed(tree, *, filed: str, claim_hours: float, close_days: float, outcome=Outcome.SOLVED,
           rating=Rating.SATISFIED, claimant=None, **overrides):
    """A request filed at the township's station, claimed and closed after the given times."""
    created = utc(filed)
    values = dict(created_at=created, status=Status.CLOSED, outcome=outcome, rating=rating,
                  claimant=claimant or tree.deputy_user, claimed_at=created + timedelta(hours=claim_hours),
                  closed_at=created + timedelta(days=close_days))
    values.update(overrides)
    return request_at(values.pop("station", tree.station), **values)


@pytest.fixture
def figures(tree):
    """Four closed requests, one in progress, one new, one withdrawn in the period; two that
    do not count (filed before it, filed in another county)."""
    unit = tree.departments["township"]
    closed(tree, filed="2025-03-10 02:00", claim_hours=2, close_days=4, department=unit,
           due_on=date(2025, 3, 20), replied_at=utc("2025-03-20 15:30"))  # 23:30 in China: on time
    closed(tree, filed="2025-03-12 02:00", claim_hours=6, close_days=10, rating=Rating.MOSTLY_SATISFIED,
           department=unit, due_on=date(2025, 3, 20), replied_at=utc("2025-03-20 16:30"),  # 00:30 next day: late
           category=Category.LABOUR)
    closed(tree, filed="2025-03-31 17:00", claim_hours=10, close_days=6, outcome=Outcome.EXPLAINED,  # 1 April in China
           rating=Rating.UNSATISFIED, category=Category.LABOUR)
    closed(tree, filed="2025-04-15 02:00", claim_hours=24, close_days=12, rating=Rating.UNRATED,
           station=tree.other_station)
    request_at(tree.station, created_at=utc("2025-05-02 02:00"), status=Status.IN_PROGRESS,
                 claimant=tree.deputy_user, claimed_at=utc("2025-05-02 06:00"))
    request_at(tree.station, created_at=utc("2025-05-03 02:00"))
    request_at(tree.station, created_at=utc("2025-05-04 02:00"), status=Status.WITHDRAWN,
                 closed_at=utc("2025-05-05 02:00"))
    closed(tree, filed="2025-02-27 02:00", claim_hours=1, close_days=1)  # before the period
    elsewhere = make_station(jurisdiction=make_jurisdiction(name="万安县"))
    request_at(elsewhere, created_at=utc("2025-03-15 02:00"))
    return tree


def test_the_headline_figures(app, figures):
    report = stats.dashboard(access.subtree_ids(figures.county.id), PERIOD)
    t = report.totals

    assert t.collected == 7
    assert (t.solved, t.closed_with_outcome, t.solve_rate) == (3, 4, 75.0)
    assert (t.on_time, t.due_replied, t.on_time_rate) == (1, 2, 50.0)
    assert (t.satisfied, t.mostly_satisfied, t.unsatisfied, t.unrated) == (1, 1, 1, 1)
    assert t.satisfaction_rate == pytest.approx(200 / 3)  # the unrated one is shown apart, not counted
    # claims after 2, 6, 10, 24 and 4 hours; closes after 4, 10, 6 and 12 days (the withdrawn one is no close)
    assert t.median_days_to_claim == pytest.approx(6 / 24)
    assert t.median_days_to_close == pytest.approx(8)


def test_an_answer_counts_as_solved_only_once_the_request_is_closed(app, tree):
    request_at(tree.station, created_at=utc("2025-04-01 02:00"), status=Status.AWAITING_RATING,
                 outcome=Outcome.SOLVED, replied_at=utc("2025-04-03 02:00"))

    t = stats.dashboard(access.subtree_ids(tree.county.id), PERIOD).totals

    assert (t.collected, t.solved, t.closed_with_outcome, t.solve_rate) == (1, 0, 0, None)


def test_the_breakdowns(app, figures):
    report = stats.dashboard(access.subtree_ids(figures.township.id), PERIOD)

    months = {row.key: (row.figures.collected, row.figures.solved) for row in report.by_month}
    assert months == {"2025-03": (2, 2), "2025-04": (2, 1), "2025-05": (3, 0)}  # 31 March 17:00Z is April in China
    categories = {row.key: row.figures for row in report.by_category}
    assert set(categories) == {Category.FINANCE, Category.LABOUR}
    assert categories[Category.LABOUR].collected == 2
    assert categories[Category.LABOUR].median_days_to_close == pytest.approx(8)
    stations = {row.label: row.figures.collected for row in report.by_station}
    assert stations == {"沙溪镇代表联络站": 6, "浏河镇代表联络站": 1}
    assert report.by_station[0].figures.median_days_to_claim == pytest.approx(5 / 24)  # 2, 4, 6 and 10 hours
    assert [(d.name, d.claimed) for d in report.deputies] == [("顾振华", 5)]
    assert report.deputies[0].median_hours_to_claim == pytest.approx(6)


def test_the_league_table_needs_five_requests_and_ranks_by_on_time_rate(app, tree):
    prompt, slow, small = (make_department(name=n, jurisdiction=tree.county) for n in ("人社局", "住建局", "卫健委"))
    for department, count, late in ((prompt, 5, 0), (slow, 6, 3), (small, 4, 0)):
        for i in range(count):
            replied = utc("2025-04-10 02:00") + timedelta(days=1 if i < late else 0)
            request_at(tree.station, created_at=utc("2025-04-01 02:00"), department=department,
                         due_on=date(2025, 4, 10), replied_at=replied, status=Status.REPLIED)

    league = stats.dashboard(access.subtree_ids(tree.county.id), PERIOD).departments

    assert [(row.label, row.figures.collected, row.figures.on_time_rate) for row in league] == [
        ("人社局", 5, 100.0), ("住建局", 6, 50.0)]


def test_only_deputies_are_ranked_by_how_fast_they_claim(app, tree):
    closed(tree, filed="2025-04-01 02:00", claim_hours=3, close_days=2)
    closed(tree, filed="2025-04-01 02:00", claim_hours=1, close_days=2, claimant=tree.colleague_user)
    closed(tree, filed="2025-04-01 02:00", claim_hours=2, close_days=2, claimant=tree.staff["township"])

    deputies = stats.dashboard(access.subtree_ids(tree.county.id), PERIOD).deputies

    assert [(d.name, d.claimed, round(d.median_hours_to_claim, 3)) for d in deputies] == [
        ("刘春梅", 1, 1.0), ("顾振华", 1, 3.0)]


def test_medians_are_the_same_whichever_way_they_are_taken(app, figures):
    where = stats.received_in(access.subtree_ids(figures.county.id), PERIOD)
    expected = stats._medians_in_python(where)
    found = stats.medians(where)  # percentile_cont on PostgreSQL
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert found[key].claimed == value.claimed
        assert found[key].days_to_claim == pytest.approx(value.days_to_claim)
        assert found[key].days_to_close == pytest.approx(value.days_to_close)


def test_an_empty_period_has_no_rates(app, tree):
    report = stats.dashboard(access.subtree_ids(tree.county.id), PERIOD)
    t = report.totals
    assert t.collected == 0 and t.solve_rate is None and t.on_time_rate is None and t.satisfaction_rate is None
    assert t.median_days_to_claim is None and report.deputies == [] and report.departments == []
    assert [row.key for row in report.by_month] == ["2025-03", "2025-04", "2025-05"]


# --- over HTTP ---------------------------------------------------------------------------------


def page_of(app, user, query=""):
    client = app.test_client()
    login(client, user)
    response = client.get(f"/oversight/dashboard?{query}")
    return response, response.get_data(as_text=True)


def kpi(page, name):
    return re.search(rf'id="kpi-{name}"[^>]*><dt>[^<]*</dt><dd>([^<]*)(?:<span|</dd>)', page).group(1)


def rate_basis(page, name):
    """What a rate counts, shown under it (解决率 75.0 % / 已办结 4 件中解决 3 件)."""
    return re.search(rf'id="kpi-{name}".*?<span class="rate-basis">([^<]*)</span>', page, re.S).group(1)


def test_staff_see_their_county_with_the_definitions(app, figures):
    response, page = page_of(app, figures.staff["county"], QUERY)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert (kpi(page, "collected"), kpi(page, "solved"), kpi(page, "solve-rate")) == ("7", "3", "75.0 %")
    assert (kpi(page, "on-time-rate"), kpi(page, "satisfaction-rate"), kpi(page, "unrated")) == ("50.0 %", "66.7 %", "1")
    assert float(kpi(page, "days-to-claim")) == pytest.approx(0.25, abs=0.06)
    assert kpi(page, "days-to-close") == "8.0"
    assert "<details>" in page  # the definitions
    # Each rate says what it counts where it is shown, not only behind 统计口径.
    assert rate_basis(page, "solve-rate") == "已办结 4 件中解决 3 件"
    assert rate_basis(page, "on-time-rate") == "有期限的 2 件答复中按期 1 件"
    assert rate_basis(page, "satisfaction-rate") == "3 个评价中满意或基本满意 2 个"


def test_the_default_is_the_users_jurisdiction_over_the_last_twelve_months(app, tree):
    now = utcnow()
    request_at(tree.station, created_at=now - timedelta(days=3))
    request_at(tree.station, created_at=now - timedelta(days=400))

    response, page = page_of(app, tree.staff["township"])

    assert response.status_code == 200 and kpi(page, "collected") == "1"
    first = stats.add_months(today_local().replace(day=1), -11)
    assert f'name="from" value="{first.isoformat()}"' in page
    assert len(re.findall(r'<tr data-key="\d{4}-\d{2}">', page)) == 12


def test_an_admin_starts_at_the_first_top_level_jurisdiction_and_may_choose_any(app, figures):
    first = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.parent_id.is_(None))
                              .order_by(Jurisdiction.division_code).limit(1))
    response, page = page_of(app, figures.admin, QUERY + "&lang=en")
    assert response.status_code == 200
    assert f"<title>Dashboard · {first.name}" in page

    response, page = page_of(app, figures.admin, f"jurisdiction={figures.county.id}&{QUERY}")
    assert response.status_code == 200 and kpi(page, "collected") == "7"


def test_staff_of_another_county_get_404_and_see_nothing_of_it(app, figures):
    stranger = make_user(Role.STAFF, jurisdiction=make_jurisdiction(name="万安县"))

    response, _page = page_of(app, stranger, f"jurisdiction={figures.county.id}&{QUERY}")
    assert response.status_code == 404

    response, page = page_of(app, stranger, QUERY)
    assert response.status_code == 200 and kpi(page, "collected") == "0"
    assert "沙溪镇代表联络站" not in page and "顾振华" not in page

    response, _page = page_of(app, figures.staff["township"], f"jurisdiction={figures.county.id}")
    assert response.status_code == 404  # a level above is outside a township's scope


@pytest.mark.parametrize("role", ["deputy", "unit"])
def test_deputies_and_unit_officers_get_403(app, tree, role):
    user = tree.deputy_user if role == "deputy" else tree.officers["county"]
    response, _page = page_of(app, user)
    assert response.status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/oversight/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_htmx_gets_the_figures_alone(app, figures, htmx):
    client = app.test_client()
    login(client, figures.staff["county"])

    page = client.get(f"/oversight/dashboard?{QUERY}", headers=htmx).get_data(as_text=True)

    assert page.lstrip().startswith('<div id="dashboard-results"')
    assert "<html" not in page

    # The Back button's reload of a page htmx pushed to the history puts it in place of the body.
    restore = {**htmx, "HX-History-Restore-Request": "true"}
    page = client.get(f"/oversight/dashboard?{QUERY}", headers=restore).get_data(as_text=True)
    assert "<html" in page and 'id="dashboard-filters"' in page


@pytest.mark.parametrize("query,notice", [
    ("from=31.03.2025", "2026-01-31"),
    ("from=2025-05-31&to=2025-03-01", None),
    ("from=1990-01-01&to=2025-05-31", "60"),
])
def test_dates_are_read_kindly(app, figures, query, notice):
    response, page = page_of(app, figures.staff["county"], query + "&lang=en")
    assert response.status_code == 200
    if notice is None:
        assert kpi(page, "collected") == "7"  # the two dates were swapped
    else:
        assert 'class="notice notice-warning"' in page and notice in page


# --- the charts ----------------------------------------------------------------------------------


def svgs(page):
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


def table_rows(page, table_id, field):
    table = re.search(rf'<table class="data[^"]*" id="{table_id}">(.*?)</table>', page, flags=re.S).group(1)
    rows = re.findall(r'<tr data-key="[^"]*"><th scope="row">(.*?)</th>(.*?)</tr>', table, flags=re.S)
    values = {}
    for label, cells in rows:
        value = re.search(rf'data-field="{field}">([^<]*)<', cells).group(1)
        values[html.unescape(re.sub(r"^\d+\. ", "", label.strip()))] = value.replace(" %", "")
    return values


def bars(svg, css_class="bar"):
    root = ET.fromstring(svg)
    namespace = "{http://www.w3.org/2000/svg}"
    return {rect.get("data-label"): rect.get("data-value") for rect in root.iter(f"{namespace}rect")
            if rect.get("class") == css_class}


@pytest.fixture
def charted(figures):
    """The figures, with enough replies from the township's department to rank it."""
    for _ in range(3):
        request_at(figures.station, created_at=utc("2025-04-01 02:00"), department=figures.departments["township"],
                   due_on=date(2025, 4, 10), replied_at=utc("2025-04-09 02:00"), status=Status.REPLIED)
    return figures


def test_every_chart_is_accessible_svg_without_script_or_style(app, charted):
    _response, page = page_of(app, charted.staff["county"], QUERY + "&lang=en")

    found = svgs(page)
    assert len(found) == 5
    for svg in found:
        root = ET.fromstring(svg)  # well-formed XML
        assert root.get("role") == "img" and root.get("aria-label")
        namespace = "{http://www.w3.org/2000/svg}"
        assert root.find(f"{namespace}title") is not None and root.find(f"{namespace}desc") is not None
        assert "<script" not in svg and "style=" not in svg
        assert not re.search(r"\son[a-z]+=", svg)


def test_each_chart_shows_the_numbers_of_the_table_beside_it(app, charted):
    _response, page = page_of(app, charted.staff["county"], QUERY + "&lang=en")
    charts = {re.search(r'id="([^"]+)"', svg).group(1): svg for svg in svgs(page)}

    month_table = table_rows(page, "chart-by-month-table", "collected")
    assert bars(charts["chart-by-month"], "bar collected") == month_table
    assert bars(charts["chart-by-month"], "bar solved") == table_rows(page, "chart-by-month-table", "solved")
    assert month_table == {"2025-03": "2", "2025-04": "5", "2025-05": "3"}
    assert bars(charts["chart-by-category"]) == table_rows(page, "chart-by-category-table", "collected")
    assert bars(charts["chart-by-station"]) == table_rows(page, "chart-by-station-table", "collected")
    assert bars(charts["chart-departments"]) == table_rows(page, "chart-departments-table", "on_time_rate")
    assert table_rows(page, "chart-departments-table", "on_time_rate") == {"沙溪镇住建局": "80.0"}
    assert bars(charts["chart-deputies"]) == table_rows(page, "chart-deputies-table", "median_hours_to_claim")


# --- scale ---------------------------------------------------------------------------------------------


def count_queries(app, client, path):
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return len(statements)


def test_the_number_of_queries_does_not_grow_with_the_requests(app, tree):
    client = app.test_client()
    login(client, tree.staff["county"])
    departments = [make_department(jurisdiction=tree.county) for _ in range(3)]

    def add(n):
        for i in range(n):
            closed(tree, filed=f"2025-04-{1 + i % 28:02d} 02:00", claim_hours=1 + i, close_days=2,
                   department=departments[i % 3], category=list(Category)[i % 12],
                   station=(tree.station, tree.other_station)[i % 2],
                   claimant=(tree.deputy_user, tree.colleague_user)[i % 2])

    add(3)
    few = count_queries(app, client, f"/oversight/dashboard?{QUERY}")
    add(40)
    many = count_queries(app, client, f"/oversight/dashboard?{QUERY}")

    assert few == many
    # 12 to count live, the ratings taken by phone, the look-up of a stored dashboard, (dates of
    # one's own) whether the jurisdiction has any, and the header's count of unread 消息
    assert many <= 15


# --- bounded breakdowns --------------------------------------------------------------------------------


@pytest.fixture
def crowded(tree, monkeypatch):
    """Four stations, five deputies and three ranked departments, with room for two lines each."""
    monkeypatch.setattr(stats, "TOP_ROWS", 2)
    monkeypatch.setattr(stats, "DEPUTY_BATCH", 2)  # the quickest claimants are looked up two at a time
    stations = [tree.station, tree.other_station,
                *(make_station(name=f"{name}代表联络站", jurisdiction=tree.township) for name in ("璜泾镇", "城厢镇"))]
    claimants = [tree.staff["township"], tree.outsider_user, tree.colleague_user, tree.deputy_user,
                 make_user(Role.DEPUTY, deputy=make_deputy(tree.station, name="张伟"))]
    units = [make_department(name=name, jurisdiction=tree.county) for name in ("人社局", "住建局", "卫健委")]
    for index, (station, count) in enumerate(zip(stations, (4, 3, 2, 1))):
        for i in range(count):
            closed(tree, filed="2025-04-01 02:00", claim_hours=1 + index, close_days=2, station=station,
                   claimant=claimants[index + (i % 2)])
    closed(tree, filed="2025-04-01 02:00", claim_hours=9, close_days=2, station=stations[3], claimant=claimants[4])
    for unit, late in zip(units, (0, 1, 2)):
        for i in range(5):
            request_at(tree.station, created_at=utc("2025-04-02 02:00"), department=unit, due_on=date(2025, 4, 10),
                       replied_at=utc("2025-04-10 02:00") + timedelta(days=1 if i < late else 0), status=Status.REPLIED)
    return tree


def test_a_breakdown_shows_its_busiest_lines_and_sums_the_others(app, crowded):
    report = stats.dashboard(access.subtree_ids(crowded.county.id), PERIOD)

    assert [(row.label, row.figures.collected) for row in report.by_station[:2]] == [
        ("沙溪镇代表联络站", 4 + 15), ("浏河镇代表联络站", 3)]
    others = report.by_station[2]
    with force_locale("en"):
        assert (others.key, str(others.label), others.figures.collected) == (stats.OTHERS, "2 other stations", 4)
    assert others.figures.median_days_to_claim is None  # medians do not add up
    assert [row.label for row in report.departments] == ["人社局", "住建局"] and report.more_departments == 1
    # Staff claim quickest but are not ranked; then the two quickest deputies, looked up two at a time.
    assert [(d.name, d.claimed, round(d.median_hours_to_claim, 3)) for d in report.deputies] == [
        ("陈立新", 4, 1.5), ("刘春梅", 2, 2.5)]
    assert report.more_deputies


def test_the_page_says_what_it_left_out(app, crowded):
    _response, page = page_of(app, crowded.staff["county"], QUERY + "&lang=en")

    assert table_rows(page, "chart-by-station-table", "collected") == {
        "沙溪镇代表联络站": "19", "浏河镇代表联络站": "3", "2 other stations": "4"}
    assert "2 other stations" in page and 'id="stations-others-note"' in page
    assert "1 more department is in the league below these." in page
    assert "Only the 2 quickest deputies are shown." in page


# --- named periods ---------------------------------------------------------------------------------

TODAY = date(2025, 5, 31)  # the figures' last day: "last month" is their April, "this month" their May


@pytest.mark.parametrize("today,expected", [
    (date(2026, 12, 6), {"last-12-months": ("2026-01-01", "2026-12-06"), "this-month": ("2026-12-01", "2026-12-06"),
                         "last-month": ("2026-11-01", "2026-11-30"), "this-year": ("2026-01-01", "2026-12-06"),
                         "last-year": ("2025-01-01", "2025-12-31")}),
    # January: last month is the previous year's December
    (date(2026, 1, 20), {"last-12-months": ("2025-02-01", "2026-01-20"), "this-month": ("2026-01-01", "2026-01-20"),
                         "last-month": ("2025-12-01", "2025-12-31"), "this-year": ("2026-01-01", "2026-01-20"),
                         "last-year": ("2025-01-01", "2025-12-31")}),
    # The 1st of a month (a leap year's March): this month is one day, last month ends on the 29th
    (date(2024, 3, 1), {"last-12-months": ("2023-04-01", "2024-03-01"), "this-month": ("2024-03-01", "2024-03-01"),
                        "last-month": ("2024-02-01", "2024-02-29"), "this-year": ("2024-01-01", "2024-03-01"),
                        "last-year": ("2023-01-01", "2023-12-31")}),
    # New Year's Day: this month and this year are the same day
    (date(2027, 1, 1), {"last-12-months": ("2026-02-01", "2027-01-01"), "this-month": ("2027-01-01", "2027-01-01"),
                        "last-month": ("2026-12-01", "2026-12-31"), "this-year": ("2027-01-01", "2027-01-01"),
                        "last-year": ("2026-01-01", "2026-12-31")}),
])
def test_the_named_periods(app, today, expected):
    found = {key: (period.start.isoformat(), period.end.isoformat()) for key, _label, period in stats.presets(today)}

    assert found == expected
    assert list(found) == list(expected)  # in this order on the page, the default first
    assert stats.presets(today)[0].period == stats.Period.last_months(stats.DEFAULT_MONTHS, today)


def test_the_named_periods_are_named_in_the_readers_language(app):
    with force_locale("en"):
        assert [str(p.label) for p in stats.presets(TODAY)] == [
            "Last 12 months", "This month", "Last month", "This year", "Last year"]
    with force_locale("zh_Hans_CN"):
        assert [str(p.label) for p in stats.presets(TODAY)] == ["近12个月", "本月", "上月", "本年", "上一年"]


PRESET_LINK = re.compile(r'<a id="dashboard-preset-([\w-]+)" href="([^"]+)"[^>]*>([^<]*)</a>')


def preset_links(page) -> dict[str, tuple[str, bool, str]]:
    """{key: (href, marked, label)} of the named periods' links."""
    links = {}
    for match in PRESET_LINK.finditer(page):
        tag = match.group(0)
        marked = 'aria-current="true"' in tag
        assert marked == ("current" in re.search(r'class="([^"]*)"', tag).group(1).split())
        links[match.group(1)] = (html.unescape(match.group(2)), marked, match.group(3))
    return links


@pytest.fixture
def on_the_figures_last_day(monkeypatch):
    from liaison_app.oversight import dashboard as dashboard_view

    monkeypatch.setattr(dashboard_view, "today_local", lambda: TODAY)


def test_the_form_links_to_each_named_period_and_marks_the_one_shown(app, figures, on_the_figures_last_day):
    county = figures.county.id
    _response, page = page_of(app, figures.staff["county"], "lang=en")  # the default: the last 12 months

    links = preset_links(page)
    assert {key: href for key, (href, _marked, _label) in links.items()} == {
        "last-12-months": f"/oversight/dashboard?jurisdiction={county}&preset=last-12-months&from=2024-06-01&to=2025-05-31",
        "this-month": f"/oversight/dashboard?jurisdiction={county}&preset=this-month&from=2025-05-01&to=2025-05-31",
        "last-month": f"/oversight/dashboard?jurisdiction={county}&preset=last-month&from=2025-04-01&to=2025-04-30",
        "this-year": f"/oversight/dashboard?jurisdiction={county}&preset=this-year&from=2025-01-01&to=2025-05-31",
        "last-year": f"/oversight/dashboard?jurisdiction={county}&preset=last-year&from=2024-01-01&to=2024-12-31",
    }
    assert [key for key, (_href, marked, _label) in links.items() if marked] == ["last-12-months"]
    assert [label for _href, _marked, label in links.values()] == [
        "Last 12 months", "This month", "Last month", "This year", "Last year"]

    # Typed by hand, the same dates are the same period; other dates mark none.
    _response, page = page_of(app, figures.staff["county"], "from=2025-04-01&to=2025-04-30")
    assert [key for key, (_href, marked, _label) in preset_links(page).items() if marked] == ["last-month"]
    _response, page = page_of(app, figures.staff["county"], QUERY)
    assert not any(marked for _href, marked, _label in preset_links(page).values())


def test_in_december_one_period_is_marked_though_two_cover_the_same_days(app, figures, monkeypatch):
    from liaison_app.oversight import dashboard as dashboard_view

    monkeypatch.setattr(dashboard_view, "today_local", lambda: date(2025, 12, 7))
    user = figures.staff["county"]

    def marked(page):
        return [key for key, (_href, is_marked, _label) in preset_links(page).items() if is_marked]

    _response, page = page_of(app, user)
    links = preset_links(page)
    assert links["last-12-months"][0].split("&from=")[1] == links["this-year"][0].split("&from=")[1]
    assert marked(page) == ["last-12-months"]
    # The one tapped is the one marked; dates typed by hand mark the first that covers them.
    _response, page = page_of(app, user, links["this-year"][0].split("?", 1)[1])
    assert marked(page) == ["this-year"]
    _response, page = page_of(app, user, "from=2025-01-01&to=2025-12-07")
    assert marked(page) == ["last-12-months"]


def test_the_filters_are_folded_and_count_what_narrows_the_view(app, figures):
    user = figures.staff["county"]

    _response, page = page_of(app, user)
    assert re.search(r'<details class="filter-fold" id="dashboard-filter-fold"[^>]*>\s*<summary[^>]*>筛选（0）</summary>', page)
    _response, page = page_of(app, user, f"jurisdiction={figures.township.id}&{QUERY}")
    assert '>筛选（2）</summary>' in page


def test_following_a_named_period_with_htmx_swaps_the_figures_and_the_form(app, figures, htmx, on_the_figures_last_day):
    client = app.test_client()
    login(client, figures.staff["county"])
    _response, page = page_of(app, figures.staff["county"])
    href, _marked, _label = preset_links(page)["last-month"]

    answer = client.get(href, headers=htmx)
    fragment = answer.get_data(as_text=True)

    assert answer.status_code == 200 and "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="dashboard-results"') and kpi(fragment, "collected") == "2"
    form = re.search(r'<form [^>]*id="dashboard-filters".*?</form>', fragment, re.S).group(0)
    assert 'hx-swap-oob="true"' in form  # htmx puts it in place of the page's form
    assert 'name="from" value="2025-04-01"' in form and 'name="to" value="2025-04-30"' in form
    assert [key for key, (_href, marked, _label) in preset_links(form).items() if marked] == ["last-month"]
    assert f'<option value="{figures.county.id}" selected>' in form
