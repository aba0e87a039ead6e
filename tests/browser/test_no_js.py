"""Issue 7: with JavaScript disabled (an old phone, a strict browser, a script that failed to
load) an enterprise files a request, mistakes and all, and a deputy claims it."""

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from liaison_app.extensions import db
from liaison_app.models import Request, RequestEvent
from liaison_app.workflow import Action, Status
from tests.browser.conftest import PHONE, accessibility_problems, small_tap_targets
from tests.browser.conftest import expect_browser_reported, log_in
from tests.factories import Tree, image_bytes, make_qr_code, valid_uscc

pytestmark = pytest.mark.browser

DESCRIPTION = "厂区门口道路塌陷已有一个月，货车进出困难，雨天积水严重，希望尽快修复。"
TYPED = {
    "#enterprise_name": "太仓市恒丰精密机械有限公司",
    "#contact_name": "王海燕",
    "#description": DESCRIPTION,
}


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def check_page(chromium, live_server, shot):
    """check_page for a page without JavaScript: the screenshot and tap targets on the page
    itself; axe-core, which needs a page that runs scripts to do its work, on a twin page
    served the very same HTML at the same address (with the site's scripts emptied, so that
    what is checked is what a browser without them shows)."""
    twins = chromium.new_context(base_url=live_server.base_url, **PHONE)
    twins.route("**/*.js", lambda route: route.fulfill(status=200, content_type="text/javascript", body=""))

    def check(page, name):
        shot(page, name)
        small = small_tap_targets(page)
        assert not small, f"{name} ({page.url}): tap targets under 44 px: {small}"
        url, html = page.url, page.content()
        twin = twins.new_page()
        twin.route(lambda u: u == url, lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=html))
        twin.goto(url)
        problems = accessibility_problems(twin)
        twin.close()
        assert not problems, f"{name} ({url}): {problems}"

    yield check
    twins.close()


@pytest.fixture
def no_js(new_context):
    context = new_context(java_script_enabled=False)
    return context.new_page()


def photo(name="road.jpg"):
    return {"name": name, "mimeType": "image/jpeg", "buffer": image_bytes(size=(320, 240))}


def test_without_javascript_a_request_is_filed_corrected_and_claimed(no_js, tree, check_page, js_errors,
                                                                     new_context):
    page = no_js
    code = make_qr_code(deputy=tree.deputy)
    uscc = valid_uscc()
    db.session.commit()

    posts = []  # (kind, URL): with scripts off, every post is the page's own navigation
    page.on("request", lambda r: posts.append((r.resource_type, r.url)) if r.method == "POST" else None)
    page.goto(f"/q/{code.token}")
    expect(page.locator("main")).to_contain_text(tree.deputy.name)
    check_page(page, "landing")
    page.click(f"main a[href='/q/{code.token}/file']")
    page.wait_for_url(f"**/q/{code.token}/file")
    check_page(page, "form")

    # Everything filled in, but the phone number is one digit short.
    page.check("input[name=kind][value=suggestion]")
    for selector, value in TYPED.items():
        page.fill(selector, value)
    page.fill("#uscc", uscc)
    page.fill("#contact_phone", "1381234567")
    page.select_option("#category", "infrastructure")
    page.set_input_files("#photos", photo())
    page.check("#public_consent")
    page.click("#filing-form button[type=submit]")
    page.wait_for_load_state()

    # Sent back (422) as a whole page: the message by the field, every typed value kept.
    assert page.url.endswith(f"/q/{code.token}/file")
    expect(page.locator("#contact_phone")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-contact_phone")).not_to_be_empty()
    expect(page.locator("#filing-form .notice-error")).to_be_visible()
    for selector, value in TYPED.items():
        assert page.input_value(selector) == value, selector
    assert page.input_value("#uscc") == uscc
    assert page.input_value("#contact_phone") == "1381234567"
    assert page.input_value("#category") == "infrastructure"
    assert page.is_checked("input[name=kind][value=suggestion]")
    assert page.is_checked("#public_consent")
    expect(page.locator("#filing-form .notice-warning")).to_be_visible()  # choose the photo again
    expect_browser_reported(page, js_errors, "status of 422")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Request)) == 0
    check_page(page, "form-sent-back")

    page.fill("#contact_phone", "13812345678")
    page.set_input_files("#photos", photo())
    page.click("#filing-form button[type=submit]")
    page.wait_for_url("**/t/*")

    db.session.commit()
    [req] = db.session.scalars(sa.select(Request)).all()
    assert page.url.endswith(f"/t/{req.tracking_token}")
    assert (req.enterprise.name, req.contact_name, req.description) == (
        TYPED["#enterprise_name"], TYPED["#contact_name"], DESCRIPTION)
    assert req.enterprise.uscc == uscc and req.public_consent and req.addressed_deputy_id == tree.deputy.id
    assert len(req.attachments) == 1
    expect(page.locator("main")).to_contain_text(req.reference)
    expect(page.locator(".tracking .photos img")).to_have_count(1)
    check_page(page, "tracking")
    assert [kind for kind, _url in posts] == ["document", "document"]  # not htmx's xhr

    # 我的诉求 remembers it on this phone, without an account.
    page.click("header summary")  # 菜单: a <details>, no script needed
    page.click("nav a[href='/mine']")
    page.wait_for_url("**/mine")
    expect(page.locator(f"main a[href='/t/{req.tracking_token}']")).to_contain_text(req.reference)
    check_page(page, "mine")
    page.click("header a.brand")
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    check_page(page, "home")
    tracking_url = f"/t/{req.tracking_token}"

    # The deputy, on a phone without JavaScript too.
    deputy = new_context(java_script_enabled=False).new_page()
    log_in(deputy, tree.deputy_user.username)
    check_page(deputy, "deputy-inbox")
    deputy.click(f"main a[href='/desk/requests/{req.id}']")
    deputy.wait_for_url(f"**/desk/requests/{req.id}")
    check_page(deputy, "deputy-card")
    deputy.click("form[action$='/claim'] button[type=submit]")
    deputy.wait_for_url(f"**/desk/requests/{req.id}?done=claim")

    expect(deputy.locator(".request-card .notice-success")).to_be_visible()
    expect(deputy.locator(".request-card .status")).to_have_text(str(Status.CLAIMED.label))
    check_page(deputy, "deputy-claimed")
    db.session.commit()
    db.session.refresh(req)
    assert req.status == Status.CLAIMED and req.claimant_id == tree.deputy_user.id
    claims = db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == req.id,
                                                              RequestEvent.action == Action.CLAIM)).all()
    assert len(claims) == 1

    # The enterprise's page says so on its next look.
    page.goto(tracking_url)
    expect(page.locator(".tracking h1.status")).to_have_text(str(Status.CLAIMED.public_label))
