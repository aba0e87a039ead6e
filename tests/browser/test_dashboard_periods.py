"""The dashboard's named periods on a phone: one tap shows a period's figures (htmx, no reload)
and the form's dates and marked period follow, whether a link or the form asked."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import accessibility_problems, log_in, small_tap_targets
from tests.test_dashboard import figures, on_the_figures_last_day, tree  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def marked(page):
    return page.locator("#dashboard-filters .presets [aria-current=true]")


def check_form(page, shot, name):
    """The page passes axe, its figures included (the tables that scroll sideways on a phone
    can be reached and scrolled by keyboard); every tap target is large enough."""
    shot(page, name)
    assert not accessibility_problems(page)
    assert not small_tap_targets(page)


def test_a_named_period_is_one_tap_and_the_form_follows(page, figures, on_the_figures_last_day, shot):
    log_in(page, figures.staff["county"].username)
    page.goto("/oversight/dashboard")
    expect(marked(page)).to_have_text(["近12个月"])
    check_form(page, shot, "last-12-months")
    # The row wraps rather than pushing the page sideways.
    width = page.viewport_size["width"]
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    for box in (link.bounding_box() for link in page.locator(".presets a").all()):
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
    page.evaluate("window.sameDocument = true")  # gone if the page were loaded again

    page.click("#dashboard-preset-last-month")

    expect(page.locator("#kpi-collected dd")).to_have_text("2")
    expect(page).to_have_url(re.compile(r"from=2025-04-01&to=2025-04-30$"))
    expect(page.locator("#dashboard-from")).to_have_value("2025-04-01")
    expect(page.locator("#dashboard-to")).to_have_value("2025-04-30")
    expect(marked(page)).to_have_text(["上月"])
    assert page.evaluate("window.sameDocument === true")
    check_form(page, shot, "last-month")

    # Dates of one's own, from the form (folded on a phone): no period is marked; the links still work after it.
    page.click("#dashboard-filter-summary")
    page.fill("#dashboard-from", "2025-03-01")
    page.fill("#dashboard-to", "2025-05-31")
    page.click("#dashboard-show")
    expect(page.locator("#kpi-collected dd")).to_have_text("7")
    expect(marked(page)).to_have_count(0)

    page.click("#dashboard-preset-this-month")
    expect(page.locator("#kpi-collected dd")).to_have_text("3")
    expect(page.locator("#dashboard-from")).to_have_value("2025-05-01")
    expect(marked(page)).to_have_text(["本月"])
    assert page.evaluate("window.sameDocument === true")

    # Back: the whole page as it was, not the figures alone.
    page.go_back()
    expect(page.locator("#kpi-collected dd")).to_have_text("7")
    expect(page.locator("#dashboard-from")).to_have_value("2025-03-01")
    expect(page.locator("h1")).to_have_count(1)
    expect(marked(page)).to_have_count(0)
