"""Issue 7: the closed loop on phones, one browser per person.

An enterprise worker scans a deputy's code and files a request with a photo; the deputy, who has
the inbox open, sees it arrive without a reload, claims it and hands it to a department; the
department's officer acknowledges and answers; the deputy accepts the answer; the enterprise is
not satisfied and the request comes back. A second request climbs from the township to the county
and the city and is answered there; staff who send it above their own level, with or without
JavaScript, land on their list. Every page of every step is screenshot and checked (axe-core
serious/critical, 44 px tap targets, links alone on a line) by `check`.
"""

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw

from liaison_app.extensions import db
from liaison_app.models import Outcome, Rating, Request
from liaison_app.workdays import today_local
from liaison_app.workflow import Action, Status
from tests.browser.conftest import fill_filing_form
from tests.factories import Tree, make_qr_code, make_request

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"  # make_user's default (tests/factories.py)
DESCRIPTION = "厂区门口的道路塌陷已有两周，货车进出困难，雨天积水严重，希望尽快修复。"
ANSWER = "已安排施工队于本周六修复厂区门口路面，并加装排水沟。"
NOT_SATISFIED = "路面只填了碎石，下雨后又出现坑洼。"
CITY_ANSWER = "依据苏州市道路管理规定，已列入市级道路改造计划，明年三月前完工。"
DESKTOP = {"viewport": {"width": 1280, "height": 800}, "is_mobile": False, "has_touch": False}


@pytest.fixture
def app_config():
    # As the browser tests' own (CSRF on), and the inbox asks for news every second.
    return {"WTF_CSRF_ENABLED": True, "INBOX_POLL_SECONDS": 1}


@pytest.fixture
def tree(app):
    tree = Tree()
    db.session.commit()
    return tree


@pytest.fixture
def check(check_page):
    """check_page (screenshot, axe, 44 px controls), and also the links that stand alone on their
    line (← 诉求, the reset-code link): a thumb aims at those as at buttons."""

    def run(page, name):
        check_page(page, name)
        small = page.evaluate("""() => [...document.querySelectorAll("main a, footer a")].filter(a => {
            const box = a.getBoundingClientRect();
            return box.height > 0 && box.height < 43.5
                && a.parentElement.textContent.trim() === a.textContent.trim();
        }).map(a => `${a.textContent.trim().slice(0, 20)} ${Math.round(a.getBoundingClientRect().height)}px`)""")
        assert not small, f"{name} ({page.url}): links on a line of their own under 44 px: {small}"

    return run


def photo_jpeg() -> bytes:
    """A small real photograph-like JPEG: a grey road with a dark pothole."""
    image = Image.new("RGB", (320, 240), (150, 150, 145))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 160, 320, 240), fill=(90, 120, 60))
    draw.ellipse((110, 90, 220, 150), fill=(40, 35, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def log_in(page, user, check=None):
    page.goto("/login")
    if check:
        check(page, "login")
    page.fill("#login", user.username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def fresh(request_id) -> Request:
    db.session.commit()  # end the test's read transaction: see what the server wrote
    db.session.expire_all()
    return db.session.get(Request, request_id)


def all_requests() -> list[Request]:
    db.session.commit()  # end the test's read transaction: see what the server wrote
    return db.session.scalars(sa.select(Request)).all()


def card_status(page) -> str:
    return page.inner_text(".request-card .status").strip()


def tracking_status(page) -> str:
    return page.inner_text(".tracking h1.status").strip()


def trail(page, selector=".trail") -> list[str]:
    """The trail's entries as shown: each entry's headline."""
    return [text.strip() for text in page.locator(f"{selector} li strong").all_inner_texts()]


def act(page, name):
    """Press a one-button action of the card (认领, 签收) and wait for the card to come back."""
    press(page, f".request-card form[action$='/{name}'] button[type=submit]")


def open_action(page, name):
    """Unfold an action with a form (交办, 答复, 上报…) on the card."""
    page.click(f".request-card details.action:has(form[action$='/{name}']) > summary")
    page.locator(f".request-card form[action$='/{name}']").wait_for(state="visible")


def send_action(page, name):
    press(page, f".request-card form[action$='/{name}'] button[type=submit]")


def press(page, button):
    """Click a button of the card and wait until htmx has put the answer in its place,
    which must say it was done."""
    page.eval_on_selector(".request-card", "card => { card.dataset.before = 'yes'; }")
    page.click(button)
    page.locator(".request-card:not([data-before])").wait_for()
    assert page.locator(".request-card .notice-error").count() == 0, page.inner_text(".request-card .notice-error")
    assert page.locator(".request-card .notice-success").count() == 1


def action_names(page) -> set[str]:
    return {action.rsplit("/", 1)[-1] for action in
            page.eval_on_selector_all(".request-card .actions form", "forms => forms.map(f => f.action)")}


def test_filed_by_qr_worked_answered_and_reopened_when_the_enterprise_is_not_satisfied(
        page, new_context, tree, check):
    code = make_qr_code(deputy=tree.deputy)
    department = tree.departments["township"]
    db.session.commit()

    # The deputy has the inbox open on the phone before anything is filed.
    deputy = new_context().new_page()
    log_in(deputy, tree.deputy_user, check)
    assert deputy.url.endswith("/desk/")
    assert deputy.locator(".request-list li").count() == 0
    check(deputy, "deputy-inbox-empty")
    deputy.evaluate("window.stillTheSamePage = true")  # gone if the page were reloaded

    # 1. The enterprise worker scans the deputy's code.
    page.goto(f"/q/{code.token}")
    assert page.inner_text("h1") == "顾振华"
    check(page, "landing")
    page.click(f"a.button[href='/q/{code.token}/file']")
    page.wait_for_url(f"**/q/{code.token}/file")
    check(page, "form")
    fill_filing_form(page, DESCRIPTION)
    page.set_input_files("#photos", files=[{"name": "路面.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}])
    page.check("#public_consent")
    check(page, "form-filled")
    page.click("#filing-form button[type=submit]")
    page.wait_for_url("**/t/*")

    [req] = all_requests()
    assert page.url.endswith(f"/t/{req.tracking_token}")
    assert (req.status, req.addressed_deputy_id, req.description) == (Status.SUBMITTED, tree.deputy.id, DESCRIPTION)
    assert len(req.attachments) == 1 and req.attachments[0].content_type == "image/jpeg"
    tracking_url = page.url
    assert page.inner_text(".tracking .reference strong") == req.reference
    assert tracking_status(page) == "已收到，等待代表受理"
    assert trail(page) == ["已提交"]
    photo = page.locator(".tracking .photos img")
    assert photo.count() == 1
    photo.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=photo.element_handle())
    check(page, "tracking-received")

    # 2. It appears in the deputy's open inbox by itself, then: 认领, 交办 with a deadline.
    row = deputy.locator(f"#request-{req.id}-row")
    row.wait_for()
    assert deputy.evaluate("window.stillTheSamePage === true")
    assert req.reference in row.inner_text() and "待受理" in row.inner_text()
    assert deputy.inner_text("#inbox-list nav a[aria-current=page] .count") == "1"
    check(deputy, "deputy-inbox-new-request")
    row.locator("a").click()
    deputy.wait_for_url(f"**/desk/requests/{req.id}")
    assert card_status(deputy) == "待受理" and req.reference in deputy.inner_text(".request-card .reference")
    assert deputy.locator(".request-card .photos img").count() == 1
    check(deputy, "deputy-card")

    act(deputy, "claim")
    assert card_status(deputy) == "已认领"
    assert trail(deputy) == ["已提交", "已认领"]
    assert fresh(req.id).claimant_id == tree.deputy_user.id
    check(deputy, "deputy-claimed")

    due = today_local() + timedelta(days=10)
    open_action(deputy, "assign")
    deputy.select_option("#assign-department", label=department.name)
    deputy.fill("#assign-due_on", due.isoformat())
    deputy.fill("#assign-note", "请尽快到现场查看。")
    check(deputy, "deputy-assign-form")
    send_action(deputy, "assign")
    assert card_status(deputy) == "待签收"
    assert trail(deputy) == ["已提交", "已认领", f"已交办至 {department.name}"]
    assert due.isoformat() in deputy.inner_text(".request-card .facts")  # 办理期限, as chosen
    assigned = fresh(req.id)
    assert (assigned.status, assigned.department_id, assigned.due_on) == (Status.ASSIGNED, department.id, due)
    check(deputy, "deputy-assigned")

    # 3. The department's officer: 签收, then 答复.
    officer = new_context().new_page()
    log_in(officer, tree.officers["township"], check)
    assert officer.url.endswith("/desk/unit")
    unit_row = officer.locator(f"#request-{req.id}-row")
    assert "待签收" in unit_row.inner_text()
    check(officer, "unit-home")
    unit_row.locator("a").click()
    officer.wait_for_url(f"**/desk/requests/{req.id}")
    assert action_names(officer) == {"acknowledge", "return"}
    check(officer, "unit-card")
    act(officer, "acknowledge")
    assert card_status(officer) == "办理中"
    assert fresh(req.id).status is Status.IN_PROGRESS
    check(officer, "unit-acknowledged")

    open_action(officer, "respond")
    officer.check("input[name=respond-outcome][value=solved]")
    officer.fill("#respond-text", ANSWER)
    check(officer, "unit-respond-form")
    send_action(officer, "respond")
    assert card_status(officer) == "待审核"
    assert fresh(req.id).outcome is Outcome.SOLVED
    check(officer, "unit-responded")

    # 4. The deputy who claimed it accepts the answer (审核).
    deputy.reload()
    assert card_status(deputy) == "待审核"
    assert ANSWER in deputy.inner_text(".trail")
    check(deputy, "deputy-to-review")
    open_action(deputy, "accept")
    send_action(deputy, "accept")
    assert card_status(deputy) == "待评价"
    assert fresh(req.id).status is Status.AWAITING_RATING
    check(deputy, "deputy-accepted")

    # 5. The enterprise: 不满意, and it comes back.
    page.goto(tracking_url)
    assert tracking_status(page) == "已答复，请评价"
    assert ANSWER in page.inner_text(".tracking .trail")
    check(page, "tracking-rate")
    page.check("input[name=rating][value=unsatisfied]")
    page.fill("#comment", NOT_SATISFIED)
    check(page, "tracking-rate-filled")
    page.click(".tracking form.rating button[type=submit]")
    page.locator(".tracking form.rating").wait_for(state="detached")
    assert tracking_status(page) == "承办单位办理中"
    assert trail(page)[-1] == "企业不满意，重新办理"
    assert NOT_SATISFIED in page.inner_text(".tracking .trail")
    assert page.inner_text(".tracking .reference strong") == req.reference
    check(page, "tracking-reopened")
    page.reload()  # the same on a later visit
    assert tracking_status(page) == "承办单位办理中" and page.locator("form.rating").count() == 0

    reopened = fresh(req.id)
    assert (reopened.status, reopened.rating, reopened.is_supervised) == (Status.IN_PROGRESS, Rating.UNSATISFIED, True)
    assert (reopened.claimant_id, reopened.department_id) == (tree.deputy_user.id, department.id)
    assert reopened.events[-1].action is Action.REOPEN_UNSATISFIED

    deputy.reload()
    assert card_status(deputy) == "办理中"
    assert "督办" in deputy.inner_text(".request-card .flag")
    assert "不满意" in deputy.inner_text(".request-card .facts") and NOT_SATISFIED in deputy.inner_text(".request-card")
    assert trail(deputy)[-1] == "企业不满意，重新办理"
    check(deputy, "deputy-reopened")

    officer.goto("/desk/unit?tab=in_progress")
    assert "办理中" in officer.locator(f"#request-{req.id}-row").inner_text()
    check(officer, "unit-reopened-list")
    officer.click(f"#request-{req.id}-row a")
    officer.wait_for_url(f"**/desk/requests/{req.id}")
    assert card_status(officer) == "办理中" and "respond" in action_names(officer)
    check(officer, "unit-reopened-card")


def test_escalated_twice_and_answered_from_the_city(page, new_context, tree, check):
    req = make_request(deputy=tree.deputy, category="infrastructure", title="园区主干道改造",
                       description="园区主干道跨越两个镇，路面破损严重，镇里无力单独改造，希望上级统筹。")
    db.session.commit()
    page.goto(f"/t/{req.tracking_token}")
    assert tracking_status(page) == "已收到，等待代表受理"
    check(page, "tracking-received")

    # The township: the deputy claims it and escalates it to the county.
    deputy = new_context().new_page()
    log_in(deputy, tree.deputy_user)
    deputy.goto(f"/desk/requests/{req.id}")
    act(deputy, "claim")
    open_action(deputy, "escalate")
    deputy.fill("#escalate-reason", "涉及跨镇道路规划，超出镇级权限。")
    check(deputy, "township-escalate-form")
    send_action(deputy, "escalate")
    assert card_status(deputy) == "待受理"
    assert "太仓市人大常委会" in deputy.inner_text(".request-card .facts")
    assert action_names(deputy) == set()  # the county holds it now
    check(deputy, "township-escalated")
    assert fresh(req.id).jurisdiction_id == tree.county.id

    # The county office (a desktop PC): 待认领 lists it; claims, escalates to the city.
    county = new_context(**DESKTOP).new_page()
    log_in(county, tree.staff["county"])
    assert county.url.endswith("/desk/")
    county_row = county.locator(f"#request-{req.id}-row")
    assert "待受理" in county_row.inner_text()
    check(county, "county-inbox")
    county_row.locator("a").click()
    county.wait_for_url(f"**/desk/requests/{req.id}")
    assert "沙溪镇人大" in county.inner_text(".request-card .facts")  # escalated from the township
    check(county, "county-card")
    act(county, "claim")
    open_action(county, "escalate")
    county.fill("#escalate-reason", "需市级统筹道路改造计划。")
    county.click(".request-card form[action$='/escalate'] button[type=submit]")
    # Above the county now: its staff keep the card, read only, to tell the enterprise its result.
    county.locator(".request-card .notice-success", has_text="已上报上一级。").wait_for()
    assert card_status(county) == "待受理"
    assert action_names(county) == set()
    check(county, "county-escalated")
    county.goto("/desk/?tab=above")
    assert county.locator(f"#request-{req.id}-row").count() == 1
    at_city = fresh(req.id)
    assert (at_city.status, at_city.jurisdiction_id, at_city.claimant_id) == (Status.SUBMITTED, tree.city.id, None)

    # The city's staff on a phone: claims and answers directly, then accepts its own answer.
    city = new_context().new_page()
    log_in(city, tree.staff["city"])
    city.goto("/desk/?tab=queue")
    city.click(f"#request-{req.id}-row a")
    city.wait_for_url(f"**/desk/requests/{req.id}")
    assert {"claim", "send_down"} <= action_names(city)
    check(city, "city-card")
    act(city, "claim")
    assert {"answer", "assign"} <= action_names(city) and "escalate" in action_names(city)
    open_action(city, "answer")
    city.check("input[name=answer-outcome][value=explained]")
    city.fill("#answer-text", CITY_ANSWER)
    check(city, "city-answer-form")
    send_action(city, "answer")
    assert card_status(city) == "待审核"
    open_action(city, "accept")
    send_action(city, "accept")
    assert card_status(city) == "待评价"
    check(city, "city-accepted")

    top = fresh(req.id)
    assert (top.status, top.jurisdiction_id, top.outcome) == (Status.AWAITING_RATING, tree.city.id, Outcome.EXPLAINED)
    assert [e.jurisdiction_id for e in top.events if e.action in (Action.FILE, Action.ESCALATE)] == [
        tree.township.id, tree.county.id, tree.city.id]

    # The enterprise sees every level and the city's answer.
    page.reload()
    assert tracking_status(page) == "已答复，请评价"
    assert page.inner_text(".tracking .reference strong") == req.reference
    assert trail(page) == ["已提交", "已认领", "已上报至 太仓市人大常委会", "已认领", "已上报至 苏州市人大常委会",
                           "已认领", "已答复", "已审核，请评价"]
    assert CITY_ANSWER in page.inner_text(".tracking .trail")
    assert "苏州市人大常委会" in page.inner_text(".tracking")
    check(page, "tracking-answered-by-city")

    # The deputy it came from still follows it, with nothing left to do.
    deputy.reload()
    assert card_status(deputy) == "待评价" and action_names(deputy) == set()
    check(deputy, "township-follows")


def test_without_javascript_staff_who_escalate_above_their_level_keep_the_card(new_context, tree, shot):
    # The county office's old PC, scripts off: the plain form post must end on a page, not on a 404.
    req = make_request(deputy=tree.deputy, jurisdiction=tree.county)
    db.session.commit()
    office = new_context(java_script_enabled=False, **DESKTOP).new_page()
    log_in(office, tree.staff["county"])
    office.goto(f"/desk/requests/{req.id}")
    office.click(".request-card form[action$='/claim'] button[type=submit]")
    office.wait_for_url(f"**/desk/requests/{req.id}?done=claim")
    assert card_status(office) == "已认领"
    office.click(".request-card details.action:has(form[action$='/escalate']) > summary")
    office.fill("#escalate-reason", "需市级统筹。")
    office.click(".request-card form[action$='/escalate'] button[type=submit]")
    office.wait_for_url(f"**/desk/requests/{req.id}?done=escalate")  # still in sight, read only
    assert office.inner_text(".request-card .notice-success") == "已上报上一级。"
    assert action_names(office) == set()
    shot(office, "county-escalated-no-js")  # axe needs scripts: the same page is checked in the test above
    assert (fresh(req.id).jurisdiction_id, fresh(req.id).status) == (tree.city.id, Status.SUBMITTED)
