"""A visit logged where the phone has no signal (a workshop, a basement) is kept on the
phone, says so, and is sent by itself once, when the signal returns or at the next visit
of the form (static/js/draft.js, data-draft-offline-text)."""

import pytest
import sqlalchemy as sa

from liaison_app import demo
from liaison_app.extensions import db
from liaison_app.models import Visit
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

NOTES = "车间没有信号：企业反映用工紧张，约定下周再来。"
KEPT = "没有网络，已保存在本机，恢复网络后会自动发送。"


def visits_with_notes() -> list[Visit]:
    db.session.commit()  # end the test's read transaction to see what the server wrote
    return db.session.scalars(sa.select(Visit).where(Visit.notes == NOTES)).all()


def open_the_visit_form(page) -> str:
    """As a deputy does: 我的结对企业, then 记一次走访 on an enterprise not yet visited."""
    demo.seed_demo()
    db.session.commit()
    password = {login.username: login.password for login in demo.LOGINS}["deputy"]
    log_in(page, "deputy", password)
    page.goto("/desk/visits/pairings")
    page.locator("article.pairing:not(.is-visited) a.button").first.click()
    page.locator("#visit-form").wait_for()
    return page.url


def save_without_signal(page, browser_context):
    page.fill("#notes", NOTES)
    browser_context.set_offline(True)
    page.click("#visit-form button.primary[type=submit]")
    notice = page.locator("#visit-form [data-draft-offline-notice]")
    notice.wait_for()
    assert notice.inner_text() == KEPT
    assert page.input_value("#notes") == NOTES  # nothing typed is lost
    assert visits_with_notes() == []


def test_a_visit_saved_without_signal_is_sent_once_the_signal_returns(page, browser_context):
    open_the_visit_form(page)
    save_without_signal(page, browser_context)

    browser_context.set_offline(False)

    page.locator(".notice-success").wait_for()  # the visit's page: 已记录走访
    assert "/desk/visits/" in page.url and not page.url.endswith("/new")
    page.wait_for_timeout(1000)  # a second `online` or a late resend would show up by now
    [visit] = visits_with_notes()
    assert visit.idempotency_key


def test_a_visit_kept_on_the_phone_is_sent_once_at_the_next_visit_of_the_form(page, browser_context):
    form_url = open_the_visit_form(page)
    save_without_signal(page, browser_context)
    page.close()  # the deputy moves on; the signal comes back later
    browser_context.set_offline(False)

    again = browser_context.new_page()
    again.goto(form_url)

    again.locator(".notice-success").wait_for()
    again.goto(form_url)  # and once more: nothing is left to send
    again.locator("#visit-form").wait_for()
    again.wait_for_timeout(1000)
    assert len(visits_with_notes()) == 1
    assert again.input_value("#notes") == ""
