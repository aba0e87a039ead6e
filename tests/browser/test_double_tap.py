"""Issue 7: a double tap, or a second tap while a slow answer is on its way, files ONE request
and makes ONE claim, and the person is shown the result, never an error page."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from liaison_app.extensions import db
from liaison_app.models import Request, RequestEvent
from liaison_app.workflow import Action, Status
from tests.browser.conftest import fill_filing_form, log_in
from tests.factories import Tree, make_qr_code, make_request

pytestmark = pytest.mark.browser

FILE_BUTTON = "#filing-form button[type=submit]"
CLAIM_BUTTON = "form[action$='/claim'] button[type=submit]"
DESCRIPTION = "园区道路路灯不亮已有两周，工人夜班下班不安全，希望尽快修复。"


@pytest.fixture
def tree(app):
    return Tree()


def fill_in(page):
    fill_filing_form(page, DESCRIPTION)  # and wait for the phone's check, which Send would abort


def requests_in_db() -> list[Request]:
    db.session.commit()  # end the test's read transaction to see what the server wrote
    return db.session.scalars(sa.select(Request)).all()


def claims_of(req) -> list[RequestEvent]:
    db.session.commit()
    return db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == req.id,
                                                            RequestEvent.action == Action.CLAIM)).all()


def centre_of(page, selector) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def tap_centre(page, selector):
    """A finger on the button, whatever state it is in (Playwright's own tap would wait for
    a disabled button to be enabled again)."""
    page.touchscreen.tap(*centre_of(page, selector))


class HeldPosts:
    """Holds every POST to `pattern` on its way to the server (a slow network), so that the
    test can tap again while the first is in flight, then lets them through."""

    def __init__(self, page, pattern):
        self.page, self.pattern, self.routes = page, pattern, []
        page.route(pattern, self._hold)

    def _hold(self, route):
        if route.request.method == "POST":
            self.routes.append(route)
        else:
            route.continue_()

    def wait_for(self, count):
        for _ in range(100):
            if len(self.routes) >= count:
                return
            self.page.wait_for_timeout(20)
        raise AssertionError(f"{count} POST(s) expected, {len(self.routes)} sent")

    def release(self):
        for route in self.routes:
            route.continue_()
        self.page.unroute(self.pattern)


def expect_one_tracking_page(page):
    page.wait_for_url("**/t/*")
    [req] = requests_in_db()
    assert page.url.endswith(f"/t/{req.tracking_token}")
    expect(page.locator(".tracking .reference")).to_contain_text(req.reference)
    assert req.description == DESCRIPTION
    return req


@pytest.fixture
def form_url(app):
    return f"/q/{make_qr_code().token}/file"


def test_a_double_tap_on_send_files_one_request(page, form_url):
    page.goto(form_url)
    fill_in(page)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith("/file") else None)

    page.dblclick(FILE_BUTTON)

    expect_one_tracking_page(page)
    assert len(posts) == 1  # the first tap disabled the button: the second sent nothing
    assert page.locator(".notice-error").count() == 0


def test_a_second_tap_while_the_first_is_on_its_way_files_one_request(page, form_url):
    page.goto(form_url)
    fill_in(page)
    held = HeldPosts(page, "**/q/*/file")

    page.tap(FILE_BUTTON)
    held.wait_for(1)
    expect(page.locator(FILE_BUTTON)).to_be_disabled()  # the phone shows it is on its way
    tap_centre(page, FILE_BUTTON)
    page.focus("#contact_name")
    page.keyboard.press("Enter")  # or the keyboard's 发送 key in a field
    page.wait_for_timeout(300)
    assert len(held.routes) == 1
    assert requests_in_db() == []
    held.release()

    expect_one_tracking_page(page)


def sent_twice(reached_server):
    """Without JavaScript nothing in the page stops a second post. Chromium itself drops a
    repeat of a form submission still loading, but other phone browsers send it: here each
    post the browser makes reaches the server twice, and the browser gets the second answer."""

    def handle(route):
        if route.request.method != "POST":
            return route.continue_()
        for _ in range(2):
            answer = route.fetch(max_redirects=0)
            reached_server.append(answer.status)
        route.fulfill(response=answer)

    return handle


def test_without_javascript_a_form_sent_twice_files_one_request(new_context, form_url):
    """The form's idempotency key makes the second post find the first one's request; both
    answers lead to the same tracking page."""
    page = new_context(java_script_enabled=False).new_page()
    page.goto(form_url)
    fill_in(page)
    reached_server = []
    page.route("**/q/*/file", sent_twice(reached_server))

    page.dblclick(FILE_BUTTON)

    req = expect_one_tracking_page(page)
    assert reached_server[:2] == [303, 303]
    assert req.status == Status.SUBMITTED
    expect(page.locator(".notice-success")).to_have_count(1)  # 已提交, shown once


# --- 认领 on the desk card ----------------------------------------------------------------------


@pytest.fixture
def waiting(tree):
    req = make_request(station=tree.station, deputy=tree.deputy)
    db.session.commit()
    return req


def expect_claimed_once(page, req, tree):
    expect(page.locator(".request-card .notice-success")).to_be_visible()
    assert page.locator(".notice-error").count() == 0
    expect(page.locator(".request-card .status")).to_have_text(str(Status.CLAIMED.label))
    assert page.locator(CLAIM_BUTTON).count() == 0
    [claim] = claims_of(req)
    db.session.refresh(req)
    assert req.status == Status.CLAIMED and req.claimant_id == tree.deputy_user.id
    assert claim.actor_user_id == tree.deputy_user.id


def test_a_double_tap_on_claim_claims_once(page, tree, waiting):
    log_in(page, tree.deputy_user.username)
    page.goto(f"/desk/requests/{waiting.id}")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    page.dblclick(CLAIM_BUTTON)

    expect_claimed_once(page, waiting, tree)
    assert len(posts) == 1


def test_a_second_tap_on_claim_while_the_first_is_on_its_way_claims_once(page, tree, waiting):
    log_in(page, tree.deputy_user.username)
    page.goto(f"/desk/requests/{waiting.id}")
    held = HeldPosts(page, "**/claim")

    page.tap(CLAIM_BUTTON)
    held.wait_for(1)
    tap_centre(page, CLAIM_BUTTON)
    page.wait_for_timeout(300)
    assert len(held.routes) == 1
    held.release()

    expect_claimed_once(page, waiting, tree)


def test_without_javascript_a_claim_sent_twice_claims_once_and_shows_the_claim(new_context, tree, waiting):
    """The second post finds the request claimed already, by the same deputy: the answer is
    the claimed card, not a refusal."""
    page = new_context(java_script_enabled=False).new_page()
    log_in(page, tree.deputy_user.username)
    page.goto(f"/desk/requests/{waiting.id}")
    reached_server = []
    page.route("**/claim", sent_twice(reached_server))

    page.dblclick(CLAIM_BUTTON)
    page.wait_for_url(f"**/desk/requests/{waiting.id}?done=claim")

    assert reached_server[:2] == [303, 303]
    expect_claimed_once(page, waiting, tree)
