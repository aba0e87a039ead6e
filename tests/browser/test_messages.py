"""消息 on a 360 px phone: the header's link and badge, the badge refreshed by the inbox's poll,
and a message tapped through to its request."""

import pytest

from liaison_app.extensions import db
from tests.factories import Tree, make_message, make_request
from tests.browser.conftest import accessibility_problems, log_in, small_tap_targets

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "INBOX_POLL_SECONDS": 1, "NOTIFY_DELIVER_IMMEDIATELY": False}


@pytest.fixture
def tree(app):
    return Tree()


def test_the_badge_is_a_tap_target_and_follows_the_inbox_poll(page, tree):
    req = make_request(deputy=tree.deputy)
    log_in(page, tree.deputy_user.username)
    page.goto("/desk/")
    link = page.locator("#messages-link")
    box = link.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44
    assert link.locator(".badge").count() == 0

    db.session.commit()  # end the test's read transaction before it writes beside the server
    make_message(tree.deputy_user, req)

    page.locator("#messages-link .badge").wait_for(timeout=5_000)  # the poll's answer brought it
    assert link.locator(".badge").inner_text() == "1"
    link.click()
    page.wait_for_url("**/desk/messages")
    page.locator(".message.unread button.message-open").click()
    page.wait_for_url(f"**/desk/requests/{req.id}")
    assert page.locator("#messages-link .badge").count() == 0


@pytest.mark.parametrize("path", ["/desk/messages", "/desk/settings/notifications",
                                  "/desk/settings/notifications/defaults"])
def test_the_pages_fit_a_phone_for_every_finger_and_screen_reader(page, tree, path):
    staff = tree.staff["county"]  # staff see all three pages
    make_message(staff, make_request(deputy=tree.deputy))
    db.session.commit()
    log_in(page, staff.username)

    page.goto(path)

    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    assert small_tap_targets(page) == []
    assert accessibility_problems(page) == []
