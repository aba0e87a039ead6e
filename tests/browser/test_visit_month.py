"""Issue 6, done means: with the demo data a deputy opens 我的结对企业 on a 360 px phone, logs
a visit with two problems, and the staff see the coverage and the two new requests at once."""

import time

import pytest
import sqlalchemy as sa

from liaison_app import demo
from liaison_app.extensions import db
from liaison_app.models import Request, Visit, VisitCampaign
from liaison_app.services import campaigns
from liaison_app.workflow import Status

pytestmark = pytest.mark.browser

WELDERS = "车间缺少熟练焊工二十名，希望帮助对接职业院校开招聘会。"
ROAD = "厂区门口道路塌陷，货车进出困难，希望尽快修复。"


def log_in(page, username, password):
    page.goto("/login")
    page.fill("#login", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def fits_the_screen(page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def test_a_deputy_logs_a_visit_with_two_problems_and_staff_see_it_at_once(page, app, chromium, live_server):
    demo.seed_demo()
    password = {login.username: login.password for login in demo.LOGINS}
    campaign = db.session.scalar(sa.select(VisitCampaign).where(VisitCampaign.name.like("%太仓市%")))
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Request))
    visited_before = campaigns.coverage(campaign).total.visited
    db.session.commit()

    started = time.perf_counter()
    log_in(page, "deputy", password["deputy"])
    page.click("header summary")  # 菜单
    page.click("nav a[href='/desk/visits/pairings']")  # 我的结对企业, in the header's menu
    assert page.locator("article.pairing.is-visited").count() >= 1  # the demo deputy visited one already
    assert fits_the_screen(page)
    first_not_visited = page.locator("article.pairing:not(.is-visited)").first
    enterprise = first_not_visited.locator("h2").inner_text()
    first_not_visited.locator("a.button").click()  # 记一次走访, with the enterprise chosen

    page.select_option("#problems-0-category", "labour")
    page.fill("#problems-0-description", WELDERS)
    page.click("[data-add-problem]")
    page.select_option("#problems-1-category", "infrastructure")
    page.fill("#problems-1-description", ROAD)
    assert fits_the_screen(page)
    page.click("#visit-form button.primary[type=submit]")
    page.wait_for_selector(".notice-success", timeout=15_000)
    seconds = time.perf_counter() - started
    assert "2" in page.inner_text(".notice-success") and fits_the_screen(page)

    db.session.expire_all()
    visit = db.session.scalars(sa.select(Visit).order_by(Visit.id.desc())).first()
    assert [e.name for e in visit.enterprises] == [enterprise] and visit.campaign_id == campaign.id
    new = db.session.scalars(sa.select(Request).where(Request.visit_id == visit.id)).all()
    assert len(new) == 2 and db.session.scalar(sa.select(sa.func.count()).select_from(Request)) == before + 2
    assert {r.status for r in new} == {Status.CLAIMED}

    office = chromium.new_context(base_url=live_server.base_url, locale="zh-CN")  # the county office's PC
    staff = office.new_page()
    log_in(staff, "staff", password["staff"])
    staff.goto(f"/oversight/campaigns/{campaign.id}")
    assert staff.get_attribute("progress.coverage-bar", "value") == str(visited_before + 1)
    staff.goto(f"/oversight/campaigns/{campaign.id}/not-visited")
    assert enterprise not in staff.locator("main").inner_text()
    staff.goto("/desk/?tab=all")
    inbox = staff.locator("main").inner_text()
    assert all(r.reference in inbox for r in new)
    office.close()
    print(f"deputy's flow through the browser: {seconds:.1f} s")


def test_a_half_written_visit_survives_a_closed_page_and_is_gone_once_saved(page, app):
    """Signal lost in the factory: the page is closed and opened again, and the draft is back
    with its idempotency key (so a resend finds the same visit: tests/test_visits.py); once the
    server confirms, the draft is cleared."""
    demo.seed_demo()
    password = {login.username: login.password for login in demo.LOGINS}
    db.session.commit()
    log_in(page, "deputy", password["deputy"])
    page.goto("/desk/visits/pairings")
    page.locator("article.pairing a.button").first.click()
    form_url = page.url
    page.select_option("#problems-0-category", "labour")
    page.fill("#problems-0-description", WELDERS)
    page.click("[data-add-problem]")
    page.fill("#problems-1-description", ROAD)
    page.fill("#notes", "与总经理座谈，参观车间。")
    page.wait_for_function("() => Object.keys(localStorage).some(k => k.startsWith('liaison-draft:visit-new')"
                           " && localStorage.getItem(k).includes('货车进出困难'))")
    key = page.input_value("input[name=idempotency_key]")

    page.close()  # the phone's browser dropped the page
    again = page.context.new_page()
    again.goto(form_url)

    assert again.input_value("#problems-0-description") == WELDERS
    assert again.input_value("#problems-1-description") == ROAD
    assert again.input_value("#notes") == "与总经理座谈，参观车间。"
    assert again.input_value("input[name=idempotency_key]") == key
    again.select_option("#problems-1-category", "infrastructure")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Visit))
    db.session.commit()  # end the test's read: the server writes next
    again.click("#visit-form button.primary[type=submit]")
    again.wait_for_selector(".notice-success")
    again.goto(form_url)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == before + 1
    assert again.input_value("#problems-0-description") == ""  # saved: the draft is gone
