"""The tracking page on a 360 x 740 phone, in Chinese and in English: with a rating due, the answer
and the rating come first; the tracking link copies with one tap (and stays selectable without
JavaScript); nothing is wider than the screen; axe finds nothing serious or critical."""

import pytest

from liaison_app.extensions import db
from tests.browser.conftest import accessibility_problems, small_tap_targets, wider_than_the_screen
from tests.browser.test_closed_loop import tree  # noqa: F401 (fixture)
from tests.test_tracking_story import awaiting_rating

pytestmark = pytest.mark.browser

SCREEN = 740
LANGUAGES = [("", "已复制"), ("en", "Copied")]


@pytest.fixture
def rating_due(tree):
    req = awaiting_rating(tree, answer="已协调银行续贷，过桥资金本周到位。")
    db.session.commit()
    return req


def open_tracking(context, req, lang):
    page = context.new_page()
    page.goto(f"/t/{req.tracking_token}" + (f"?lang={lang}" if lang else ""))
    return page


def bottom(page, selector) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box["y"] + box["height"]


@pytest.mark.parametrize("lang, copied", LANGUAGES)
def test_the_answer_and_the_rating_are_on_the_first_screen(new_context, rating_due, shot, lang, copied):
    page = open_tracking(new_context(), rating_due, lang)
    shot(page, f"rating-due-{lang or 'zh'}")

    assert bottom(page, "#answer .description") <= SCREEN
    assert bottom(page, "#rating input[name=rating]") <= SCREEN
    assert not wider_than_the_screen(page)
    assert not accessibility_problems(page)
    assert not small_tap_targets(page)


@pytest.mark.parametrize("lang, copied", LANGUAGES)
def test_the_copy_button_copies_the_tracking_link(new_context, rating_due, live_server, lang, copied):
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = open_tracking(context, rating_due, lang)
    button = page.locator("button[data-copy]")

    box = button.bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44
    button.click()

    link = f"{live_server.base_url}/t/{rating_due.tracking_token}"
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert button.inner_text() == copied
    assert page.inner_text(".copy-status") == copied


def test_the_copy_button_is_back_after_the_card_is_swapped_in_again(new_context, rating_due):
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = open_tracking(context, rating_due, "")

    page.fill("#text", "补充：银行要求再提供一份担保函。")
    page.click("form[action$='/info'] button[type=submit]")

    page.locator(".notice-success").wait_for()
    page.locator("button[data-copy]").wait_for(state="visible", timeout=2000)


def test_without_javascript_the_link_stays_selectable_and_no_dead_button_shows(new_context, rating_due, live_server):
    page = open_tracking(new_context(java_script_enabled=False), rating_due, "")

    assert not page.locator("button[data-copy]").is_visible()
    link_box = page.locator(".link-box")
    assert link_box.inner_text() == f"{live_server.base_url}/t/{rating_due.tracking_token}"
    assert link_box.evaluate("el => getComputedStyle(el).userSelect") != "none"
    assert not wider_than_the_screen(page)
