"""A half-written filing survives a closed page or a dropped signal (static/js/draft.js)."""

import time

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Request
from tests.browser.conftest import expect_browser_reported
from tests.factories import make_qr_code

pytestmark = pytest.mark.browser

DESCRIPTION = "今年订单增加，车间缺少熟练焊工二十名，希望帮助对接职业院校的招聘会。"
STORAGE_DISABLED = {
    # Blocked site data: merely touching window.localStorage throws.
    "blocked": """Object.defineProperty(window, "localStorage", {
        get() { throw new DOMException("The operation is insecure.", "SecurityError"); } });""",
    # Old Safari private mode: storage is there, but full from the start.
    "full": """Storage.prototype.setItem = function () {
        throw new DOMException("The quota has been exceeded.", "QuotaExceededError"); };""",
}


@pytest.fixture
def code(app):
    return make_qr_code()


@pytest.fixture
def form_url(code):
    return f"/q/{code.token}/file"


def fill_in(page, *, phone="13812345678", description=DESCRIPTION):
    page.check("input[name=kind][value=suggestion]")
    page.fill("#enterprise_name", "太仓市恒丰精密机械有限公司")
    page.fill("#contact_name", "王海燕")
    page.fill("#contact_phone", phone)
    page.select_option("#category", "labour")
    page.fill("#description", description)
    page.check("#public_consent")


def stored_drafts(page) -> dict:
    return page.evaluate("""() => Object.fromEntries(Object.keys(localStorage)
        .filter(k => k.startsWith("liaison-draft:")).map(k => [k, JSON.parse(localStorage.getItem(k))]))""")


def wait_for_draft(page, **expected):
    """Until the draft of the page holds these values (saving waits for a pause in typing)."""
    page.wait_for_function(
        """expected => Object.keys(localStorage).filter(k => k.startsWith("liaison-draft:")).some(k => {
               const fields = JSON.parse(localStorage.getItem(k)).fields;
               return Object.entries(expected).every(([name, value]) => fields[name] === value);
           })""",
        arg=expected,
    )


def idempotency_key(page) -> str:
    return page.input_value("input[name=idempotency_key]")


def requests_in_db() -> list[Request]:
    db.session.commit()  # end the test's read transaction to see what the server wrote
    return db.session.scalars(sa.select(Request)).all()


def expect_notice(page):
    notice = page.locator(".draft-notice")
    notice.wait_for()
    return notice


def test_typed_fields_come_back_after_the_page_is_reloaded(page, form_url):
    page.goto(form_url)
    fill_in(page)
    wait_for_draft(page, description=DESCRIPTION)
    key = idempotency_key(page)

    page.reload()

    notice = expect_notice(page)
    assert notice.inner_text().startswith(page.get_attribute("#filing-form", "data-draft-restored-text"))
    assert page.input_value("#enterprise_name") == "太仓市恒丰精密机械有限公司"
    assert page.input_value("#contact_name") == "王海燕"
    assert page.input_value("#contact_phone") == "13812345678"
    assert page.input_value("#category") == "labour"
    assert page.input_value("#description") == DESCRIPTION
    assert page.is_checked("input[name=kind][value=suggestion]")
    assert page.is_checked("#public_consent")
    assert idempotency_key(page) == key  # a resubmission is recognised as the same filing
    [draft] = stored_drafts(page).values()
    assert "csrf_token" not in draft["fields"] and "photos" not in draft["fields"]


def test_discard_empties_the_form_and_forgets_the_draft(page, form_url):
    page.goto(form_url)
    fill_in(page)
    wait_for_draft(page, description=DESCRIPTION)
    page.reload()
    expect_notice(page)

    page.click("[data-draft-discard]")

    assert page.locator(".draft-notice").count() == 0
    assert page.input_value("#description") == ""
    assert page.is_checked("input[name=kind][value=request]")  # the form's own default again
    assert stored_drafts(page) == {}
    page.reload()
    assert page.input_value("#enterprise_name") == ""
    assert page.locator(".draft-notice").count() == 0


def test_a_form_sent_back_with_errors_keeps_the_servers_values(page, form_url, js_errors):
    page.goto(form_url)
    fill_in(page, phone="123")
    wait_for_draft(page, contact_phone="123")
    # An older draft in storage (another tab, say) must not overwrite what was sent.
    page.evaluate("""() => { for (const k of Object.keys(localStorage)) {
        const draft = JSON.parse(localStorage.getItem(k));
        draft.fields.description = "an older text from another tab";
        localStorage.setItem(k, JSON.stringify(draft)); } }""")

    page.click("#filing-form button[type=submit]")

    page.locator("#contact_phone[aria-invalid=true]").wait_for()  # htmx swapped in the 422 form
    assert page.input_value("#description") == DESCRIPTION
    assert page.input_value("#contact_phone") == "123"
    assert page.locator(".draft-notice").count() == 0
    wait_for_draft(page, description=DESCRIPTION)  # the server's values are the draft now
    expect_browser_reported(page, js_errors, "status of 422")

    page.reload()  # a GET: the empty form gets the draft back
    expect_notice(page)
    assert page.input_value("#description") == DESCRIPTION


def test_the_confirmation_page_clears_the_draft_that_was_sent(page, form_url, code):
    page.goto(form_url)
    fill_in(page)
    wait_for_draft(page, description=DESCRIPTION)

    page.click("#filing-form button[type=submit]")
    page.wait_for_url("**/t/*")

    [req] = requests_in_db()
    assert page.url.endswith(f"/t/{req.tracking_token}")
    assert stored_drafts(page) == {}
    page.goto(form_url)
    assert page.input_value("#description") == ""
    assert page.locator(".draft-notice").count() == 0

    # A newer draft survives a later look at the first request's page.
    page.fill("#description", "第二件事：园区道路路灯不亮，晚上下班不安全。")
    wait_for_draft(page, description="第二件事：园区道路路灯不亮，晚上下班不安全。")
    page.goto(f"/t/{req.tracking_token}")
    assert len(stored_drafts(page)) == 1


def test_a_resubmission_after_a_lost_answer_files_the_request_once(page, form_url, js_errors):
    page.goto(form_url)
    fill_in(page)
    wait_for_draft(page, description=DESCRIPTION)
    key = idempotency_key(page)

    def answer_lost(route):
        if route.request.method != "POST":
            return route.continue_()
        route.fetch()  # the server files the request...
        route.abort("internetdisconnected")  # ...and the phone never hears back

    page.route("**/file", answer_lost)
    page.click("#filing-form button[type=submit]")
    page.wait_for_function("() => !document.querySelector('#filing-form button[type=submit]').disabled")
    page.unroute("**/file")
    assert len(requests_in_db()) == 1
    expect_browser_reported(page, js_errors, "ERR_INTERNET_DISCONNECTED", "htmx:sendError", "htmx:afterRequest")

    page.reload()  # the server hands out a fresh key; the draft brings the first one back
    expect_notice(page)
    assert idempotency_key(page) == key
    page.click("#filing-form button[type=submit]")
    page.wait_for_url("**/t/*")

    [req] = requests_in_db()
    assert req.idempotency_key == key
    assert page.url.endswith(f"/t/{req.tracking_token}")
    assert stored_drafts(page) == {}


def test_a_draft_older_than_a_week_is_dropped(page, form_url):
    page.goto(form_url)
    fill_in(page)
    wait_for_draft(page, description=DESCRIPTION)
    eight_days_ago = (time.time() - 8 * 86400) * 1000
    page.evaluate(f"""() => {{ for (const k of Object.keys(localStorage)) {{
        const draft = JSON.parse(localStorage.getItem(k));
        draft.saved = {eight_days_ago};
        localStorage.setItem(k, JSON.stringify(draft)); }} }}""")

    page.reload()

    assert page.input_value("#description") == ""
    assert page.locator(".draft-notice").count() == 0
    assert stored_drafts(page) == {}


@pytest.mark.parametrize("how", sorted(STORAGE_DISABLED))
def test_without_local_storage_the_form_still_files(page, form_url, how):
    page.add_init_script(STORAGE_DISABLED[how])
    page.goto(form_url)
    fill_in(page)
    page.wait_for_timeout(600)  # past the pause after which a draft would be saved

    page.reload()
    assert page.input_value("#description") == ""
    fill_in(page)
    page.click("#filing-form button[type=submit]")
    page.wait_for_url("**/t/*")

    assert len(requests_in_db()) == 1
    # js_errors (uncaught exceptions and console errors) must stay empty: checked at teardown.


ROWS_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="/static/js/draft.js" defer></script></head><body>
<form data-draft-key="rows" data-draft-restored-text="restored" data-draft-discard-text="discard">
  <input type="hidden" name="idempotency_key" value="server-key">
  <div id="rows"><input name="problems-0-description"></div>
  <button type="button" data-draft-add-row="problems">add</button>
</form>
<script>
  // Adds a row at once, or (?later) a moment later, as an htmx request would.
  document.querySelector("[data-draft-add-row]").addEventListener("click", () => {
    const add = () => {
      const input = document.createElement("input");
      input.name = "problems-" + document.querySelectorAll("#rows input").length + "-description";
      document.getElementById("rows").appendChild(input);
    };
    location.search === "?later" ? setTimeout(add, 150) : add();
  });
</script></body></html>"""


@pytest.mark.parametrize("query", ["", "?later"])
def test_rows_of_a_draft_are_added_before_it_is_restored(page, live_server, query):
    # A page of its own on the app's origin: the contract for forms with repeatable rows.
    page.route("**/draft-rows*", lambda route: route.fulfill(content_type="text/html", body=ROWS_PAGE))
    page.goto(f"/draft-rows{query}")
    page.click("[data-draft-add-row]")
    page.click("[data-draft-add-row]")
    page.locator("[name=problems-2-description]").wait_for()
    for row, text in enumerate(["停电", "缺工", "道路"]):
        page.fill(f"[name=problems-{row}-description]", text)
    wait_for_draft(page, **{"problems-2-description": "道路"})

    page.reload()

    expect_notice(page)
    assert [page.input_value(f"[name=problems-{row}-description]") for row in range(3)] == ["停电", "缺工", "道路"]
    assert page.locator("#rows input").count() == 3

