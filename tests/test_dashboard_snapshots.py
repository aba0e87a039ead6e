"""Dashboards computed ahead of time (`flask refresh-dashboards`): every named period of a large
jurisdiction is stored, the page shows the very figures counting live would, says as of when,
and counts live again once the stored ones are too old, of dates of one's own (saying why it may
be slow), or of a format this version no longer reads."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from liaison_app import ConfigError, create_app
from liaison_app.extensions import db
from liaison_app.models import DashboardSnapshot, utcnow
from liaison_app.services import dashboard_snapshots, stats
from liaison_app.workdays import today_local
from tests.test_dashboard import (  # noqa: F401 (fixtures)
    PERIOD, QUERY, TODAY, closed, crowded, figures, kpi, on_the_figures_last_day, page_of, preset_links,
    request_at, tree, utc,
)

AS_OF = re.compile(r'<p class="muted" id="dashboard-as-of">.*?</p>\n', re.S)
COUNTED_LIVE = 'id="dashboard-counted-live"'
# The named periods as of the figures' last day, as the page's links ask for them.
PRESETS = {key: f"from={period.start}&to={period.end}" for key, _label, period in stats.presets(TODAY)}
LAST_MONTH, THIS_MONTH = PRESETS["last-month"], PRESETS["this-month"]


def results(page: str) -> str:
    """The figures of a dashboard page (what htmx swaps), without the line saying as of when."""
    return AS_OF.sub("", page[page.index('<div id="dashboard-results"'):])


def stored_jurisdictions() -> set[int]:
    return set(db.session.scalars(sa.select(DashboardSnapshot.jurisdiction_id)))


def stored_periods(jurisdiction) -> set[tuple[str, str]]:
    return {(start.isoformat(), end.isoformat()) for start, end in db.session.execute(
        sa.select(DashboardSnapshot.period_start, DashboardSnapshot.period_end)
        .where(DashboardSnapshot.jurisdiction_id == jurisdiction.id))}


def periods_of(today, *keys) -> set[tuple[str, str]]:
    return {(p.start.isoformat(), p.end.isoformat()) for key, _label, p in stats.presets(today) if key in keys}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_named_period_is_stored_and_shows_the_figures_counted_live(app, figures, lang):
    user = figures.staff["county"]
    live = {key: page_of(app, user, f"{query}&lang={lang}")[1] for key, query in PRESETS.items()}
    assert kpi(live["last-month"], "collected") == "2" and kpi(live["this-month"], "collected") == "3"

    done = dashboard_snapshots.refresh(minimum=1, today=TODAY)

    assert [item.key for item in done if item.jurisdiction_id == figures.county.id] == list(PRESETS)
    assert stored_periods(figures.county) == periods_of(TODAY, *PRESETS)
    for key, query in PRESETS.items():
        response, page = page_of(app, user, f"{query}&lang={lang}")
        assert response.status_code == 200
        assert 'id="dashboard-as-of"' in page and 'id="dashboard-as-of"' not in live[key], key
        assert results(page) == results(live[key]), key
        assert COUNTED_LIVE not in page
        assert ("Figures as of" if lang == "en" else "数据截至") in AS_OF.search(page).group(0)


def test_the_lines_it_left_out_are_named_in_the_readers_language(app, crowded):
    _response, live = page_of(app, crowded.staff["county"], f"{LAST_MONTH}&lang=en")
    dashboard_snapshots.refresh(minimum=1, today=TODAY)

    _response, english = page_of(app, crowded.staff["county"], f"{LAST_MONTH}&lang=en")
    _response, chinese = page_of(app, crowded.staff["county"], f"{LAST_MONTH}&lang=zh")

    assert 'id="dashboard-as-of"' in english and results(english) == results(live)
    assert "2 other stations" in english and "其他 2 个联络站" in chinese
    assert "1 more department is in the league below these." in english


def test_only_jurisdictions_that_received_enough_in_the_last_twelve_months_are_stored(app, figures):
    # In the 12 months to TODAY: 8 requests at the township's two stations, 1 filed at the county
    # itself, 1 in 万安县 (a tree of its own).
    request_at(figures.station, created_at=utc("2025-05-20 02:00"), filed_jurisdiction=figures.county)
    done = dashboard_snapshots.refresh(minimum=8, today=TODAY)

    levels = [figures.province, figures.city, figures.county, figures.township]
    assert {item.jurisdiction_id for item in done} == stored_jurisdictions() == {j.id for j in levels}
    assert {(item.name, item.collected) for item in done} == {
        ("江苏省", 9), ("苏州市", 9), ("太仓市", 9), ("沙溪镇", 8)}
    assert len(done) == 4 * len(PRESETS)

    dashboard_snapshots.refresh(minimum=9, today=TODAY)
    assert stored_jurisdictions() == {j.id for j in levels[:3]}  # the township's were dropped

    response, page = page_of(app, figures.staff["township"], LAST_MONTH)
    assert response.status_code == 200 and 'id="dashboard-as-of"' not in page and kpi(page, "collected") == "2"


def test_what_changed_since_shows_once_the_stored_figures_are_too_old(app, figures):
    dashboard_snapshots.refresh(minimum=1, today=TODAY)
    request_at(figures.station, created_at=utc("2025-05-20 02:00"))

    _response, page = page_of(app, figures.staff["county"], THIS_MONTH)
    assert kpi(page, "collected") == "3" and 'id="dashboard-as-of"' in page  # as of the refresh

    max_age = app.config["DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS"]
    db.session.execute(sa.update(DashboardSnapshot).values(computed_at=utcnow() - timedelta(seconds=max_age + 1)))
    db.session.commit()
    _response, page = page_of(app, figures.staff["county"], THIS_MONTH)
    assert kpi(page, "collected") == "4" and 'id="dashboard-as-of"' not in page

    dashboard_snapshots.refresh(minimum=1, today=TODAY)
    _response, page = page_of(app, figures.staff["county"], THIS_MONTH)
    assert kpi(page, "collected") == "4" and 'id="dashboard-as-of"' in page


@pytest.mark.parametrize("lang,line", [
    ("zh", "自选时段为实时统计，大范围可能需要数秒；常用时段已预先统计。"),
    ("en", "Dates of your own are counted live, which can take a few seconds for a jurisdiction this large; "
           "the named periods above are counted ahead of time."),
])
def test_dates_of_ones_own_are_counted_live_and_a_large_jurisdiction_says_why(app, figures, lang, line):
    request_at(figures.station, created_at=utc("2025-05-20 02:00"), filed_jurisdiction=figures.county)
    dashboard_snapshots.refresh(minimum=9, today=TODAY)  # the county (9 requests), not the township (8)

    _response, page = page_of(app, figures.staff["county"], f"{QUERY}&lang={lang}")
    assert 'id="dashboard-as-of"' not in page and kpi(page, "collected") == "8"
    assert f'<p class="muted" {COUNTED_LIVE}>{line}</p>' in page

    _response, page = page_of(app, figures.staff["county"], f"{LAST_MONTH}&lang={lang}")
    assert 'id="dashboard-as-of"' in page and COUNTED_LIVE not in page  # a named period: stored
    _response, page = page_of(app, figures.staff["township"], f"{QUERY}&lang={lang}")
    assert kpi(page, "collected") == "7" and COUNTED_LIVE not in page  # a small jurisdiction: nothing to say


def test_an_old_format_is_counted_live(app, figures):
    dashboard_snapshots.refresh(minimum=1, today=TODAY)
    db.session.execute(sa.update(DashboardSnapshot).values(figures='{"format": 0}'))
    db.session.commit()

    _response, page = page_of(app, figures.staff["county"], LAST_MONTH)
    assert 'id="dashboard-as-of"' not in page and kpi(page, "collected") == "2"


def test_periods_no_longer_named_are_dropped(app, figures):
    db.session.add(DashboardSnapshot(jurisdiction_id=figures.county.id, period_start=PERIOD.start,
                                     period_end=PERIOD.end, figures="{}"))  # dates of one's own, stored once
    db.session.commit()
    dashboard_snapshots.refresh(minimum=1, today=TODAY)
    assert stored_periods(figures.county) == periods_of(TODAY, *PRESETS)

    tomorrow = TODAY + timedelta(days=1)  # 1 June: May is now last month, and this month one day
    dashboard_snapshots.refresh(minimum=1, today=tomorrow)

    assert stored_periods(figures.county) == periods_of(tomorrow, *PRESETS)
    assert ("2025-04-01", "2025-04-30") not in stored_periods(figures.county)  # the month before last
    _response, page = page_of(app, figures.staff["county"], LAST_MONTH)
    assert 'id="dashboard-as-of"' not in page and kpi(page, "collected") == "2"


def test_the_setting_chooses_the_named_periods_stored(app, figures, on_the_figures_last_day):
    dashboard_snapshots.refresh(minimum=1, today=TODAY)
    app.config["DASHBOARD_SNAPSHOT_PERIODS"] = ("last-12-months", "last-month")

    done = dashboard_snapshots.refresh(minimum=1, today=TODAY)

    assert {item.key for item in done} == {"last-12-months", "last-month"}
    assert stored_periods(figures.county) == periods_of(TODAY, "last-12-months", "last-month")
    _response, page = page_of(app, figures.staff["county"], THIS_MONTH)
    # Counted live, but a named period: nothing to say about dates of one's own.
    assert 'id="dashboard-as-of"' not in page and COUNTED_LIVE not in page and kpi(page, "collected") == "3"


def test_on_new_years_day_this_month_and_this_year_are_computed_once(app, figures):
    new_year = TODAY.replace(year=2026, month=1, day=1)
    request_at(figures.station, created_at=utc("2025-12-31 17:00"))  # 1 January in China

    done = dashboard_snapshots.refresh(minimum=1, today=new_year)

    assert [item.key for item in done if item.jurisdiction_id == figures.county.id] == [
        "last-12-months", "this-month", "last-month", "last-year"]  # "this year" is the same day
    _response, page = page_of(app, figures.staff["county"], "from=2026-01-01&to=2026-01-01")
    assert 'id="dashboard-as-of"' in page and kpi(page, "collected") == "1"


def test_an_unknown_period_in_the_setting_stops_the_app(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_SNAPSHOT_PERIODS", "last-12-months, last-week")
    monkeypatch.setattr("flask.Config.from_pyfile", lambda self, *a, **k: False)  # ignore instance/config.py

    with pytest.raises(ConfigError, match="DASHBOARD_SNAPSHOT_PERIODS names no period last-week"):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite",
                    "UPLOAD_FOLDER": str(tmp_path / "uploads")})


def test_snapshots_can_be_turned_off(app, figures):
    dashboard_snapshots.refresh(minimum=1, today=TODAY)
    app.config["DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS"] = 0

    _response, page = page_of(app, figures.staff["county"], LAST_MONTH)
    assert 'id="dashboard-as-of"' not in page and kpi(page, "collected") == "2"
    _response, page = page_of(app, figures.staff["county"], QUERY)
    assert COUNTED_LIVE not in page


def test_the_command_stores_the_named_periods_of_large_jurisdictions(app, tree):
    now = utcnow()
    for days in (1, 2, 3):
        request_at(tree.station, created_at=now - timedelta(days=days))
    request_at(tree.station, created_at=now - timedelta(days=400))  # outside the last 12 months
    periods = dashboard_snapshots.stored_presets(today_local())

    result = app.test_cli_runner().invoke(args=["refresh-dashboards", "--min-requests", "3"])

    assert result.exit_code == 0, result.output
    assert f"沙溪镇 ({tree.township.id}): 3 request(s) in the last 12 months" in result.output
    for preset in periods:
        line = f"  {preset.key} ({preset.period.start} to {preset.period.end}): "
        assert result.output.count(line) == 4, line  # the township and the three levels above it
    assert result.output.strip().endswith("s.") and f"{4 * len(periods)} dashboard(s) stored" in result.output
    _response, page = page_of(app, tree.staff["township"])
    assert 'id="dashboard-as-of"' in page and kpi(page, "collected") == "3"

    result = app.test_cli_runner().invoke(args=["refresh-dashboards", "--min-requests", "4"])
    assert "0 dashboard(s) stored" in result.output and stored_jurisdictions() == set()
