"""Dashboards computed ahead of time (`flask refresh-dashboards`): the page shows the very
figures counting live would, says as of when, and counts live again once the stored ones are
too old, of another period, or of a format this version no longer reads."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import DashboardSnapshot, utcnow
from liaison_app.services import dashboard_snapshots
from tests.test_dashboard import (  # noqa: F401 (fixtures)
    PERIOD, QUERY, closed, crowded, figures, kpi, page_of, request_at, tree, utc,
)

AS_OF = re.compile(r'<p class="muted" id="dashboard-as-of">.*?</p>\n', re.S)


def results(page: str) -> str:
    """The figures of a dashboard page (what htmx swaps), without the line saying as of when."""
    return AS_OF.sub("", page[page.index('<div id="dashboard-results"'):])


def stored_jurisdictions() -> set[int]:
    return set(db.session.scalars(sa.select(DashboardSnapshot.jurisdiction_id)))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_stored_dashboard_shows_the_figures_counted_live(app, figures, lang):
    query = f"{QUERY}&lang={lang}"
    _response, live = page_of(app, figures.staff["county"], query)

    dashboard_snapshots.refresh(minimum=1, period=PERIOD)
    response, page = page_of(app, figures.staff["county"], query)

    assert response.status_code == 200
    assert 'id="dashboard-as-of"' in page and 'id="dashboard-as-of"' not in live
    assert results(page) == results(live)
    expected = "Figures as of" if lang == "en" else "数据截至"
    assert expected in AS_OF.search(page).group(0)


def test_the_lines_it_left_out_are_named_in_the_readers_language(app, crowded):
    _response, live = page_of(app, crowded.staff["county"], f"{QUERY}&lang=en")
    dashboard_snapshots.refresh(minimum=1, period=PERIOD)

    _response, english = page_of(app, crowded.staff["county"], f"{QUERY}&lang=en")
    _response, chinese = page_of(app, crowded.staff["county"], f"{QUERY}&lang=zh")

    assert results(english) == results(live)
    assert "2 other stations" in english and "其他 2 个联络站" in chinese
    assert "1 more department is in the league below these." in english


def test_only_jurisdictions_that_received_enough_are_stored(app, figures):
    # In the period: 7 requests at the township's two stations, 1 in 万安县 (a tree of its own).
    request_at(figures.station, created_at=utc("2025-05-20 02:00"), filed_jurisdiction=figures.county)
    done = dashboard_snapshots.refresh(minimum=7, period=PERIOD)

    levels = [figures.province, figures.city, figures.county, figures.township]
    assert {item.jurisdiction_id for item in done} == stored_jurisdictions() == {j.id for j in levels}
    assert {(item.name, item.collected) for item in done} == {
        ("江苏省", 8), ("苏州市", 8), ("太仓市", 8), ("沙溪镇", 7)}  # one was filed at the county itself

    dashboard_snapshots.refresh(minimum=8, period=PERIOD)
    assert stored_jurisdictions() == {j.id for j in levels[:3]}  # the township's was dropped

    response, page = page_of(app, figures.staff["township"], QUERY)
    assert response.status_code == 200 and 'id="dashboard-as-of"' not in page and kpi(page, "collected") == "7"


def test_what_changed_since_shows_once_the_stored_figures_are_too_old(app, figures):
    dashboard_snapshots.refresh(minimum=1, period=PERIOD)
    request_at(figures.station, created_at=utc("2025-05-20 02:00"))

    _response, page = page_of(app, figures.staff["county"], QUERY)
    assert kpi(page, "collected") == "7" and 'id="dashboard-as-of"' in page  # as of the refresh

    max_age = app.config["DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS"]
    db.session.execute(sa.update(DashboardSnapshot).values(computed_at=utcnow() - timedelta(seconds=max_age + 1)))
    db.session.commit()
    _response, page = page_of(app, figures.staff["county"], QUERY)
    assert kpi(page, "collected") == "8" and 'id="dashboard-as-of"' not in page

    dashboard_snapshots.refresh(minimum=1, period=PERIOD)
    _response, page = page_of(app, figures.staff["county"], QUERY)
    assert kpi(page, "collected") == "8" and 'id="dashboard-as-of"' in page


def test_another_period_and_an_old_format_are_counted_live(app, figures):
    dashboard_snapshots.refresh(minimum=1, period=PERIOD)

    _response, page = page_of(app, figures.staff["county"], "from=2025-03-01&to=2025-04-30")
    assert 'id="dashboard-as-of"' not in page and kpi(page, "collected") == "4"

    db.session.execute(sa.update(DashboardSnapshot).values(figures='{"format": 0}'))
    db.session.commit()
    _response, page = page_of(app, figures.staff["county"], QUERY)
    assert 'id="dashboard-as-of"' not in page and kpi(page, "collected") == "7"


def test_snapshots_can_be_turned_off(app, figures):
    dashboard_snapshots.refresh(minimum=1, period=PERIOD)
    app.config["DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS"] = 0

    _response, page = page_of(app, figures.staff["county"], QUERY)
    assert 'id="dashboard-as-of"' not in page and kpi(page, "collected") == "7"


def test_the_command_stores_the_last_twelve_months_of_large_jurisdictions(app, tree):
    now = utcnow()
    for days in (1, 2, 3):
        request_at(tree.station, created_at=now - timedelta(days=days))
    request_at(tree.station, created_at=now - timedelta(days=400))  # outside the last 12 months

    result = app.test_cli_runner().invoke(args=["refresh-dashboards", "--min-requests", "3"])

    assert result.exit_code == 0, result.output
    assert "沙溪镇" in result.output and "3 request(s)" in result.output
    assert result.output.strip().endswith("s.") and "4 dashboard(s) stored" in result.output
    _response, page = page_of(app, tree.staff["township"])
    assert 'id="dashboard-as-of"' in page and kpi(page, "collected") == "3"

    result = app.test_cli_runner().invoke(args=["refresh-dashboards", "--min-requests", "4"])
    assert "0 dashboard(s) stored" in result.output and stored_jurisdictions() == set()
