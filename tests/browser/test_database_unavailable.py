"""The database locked while a worker sends the filing form (SQLite, another writer holds the
lock past the busy timeout): the phone says plainly that nothing was saved, keeps what was typed,
and sending again files the request once — with htmx and with scripts off."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from liaison_app.extensions import db
from liaison_app.models import Request
from tests.browser.conftest import expect_browser_reported, fill_filing_form
from tests.factories import image_bytes, make_qr_code
from tests.test_database_unavailable import write_lock_held

pytestmark = pytest.mark.browser

DESCRIPTION = "厂区门口的道路坑洼，雨天积水，货车进出困难，希望尽快修补。"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "SQLITE_BUSY_TIMEOUT_MS": 100}


@pytest.fixture
def code(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock; PostgreSQL is tested in tests/test_database_unavailable.py")
    code = make_qr_code()
    db.session.commit()
    return code


def fill_in(page, code, *, with_photo: bool):
    page.goto(f"/q/{code.token}/file")
    fill_filing_form(page, DESCRIPTION)
    if with_photo:
        page.set_input_files("#photos", files=[{"name": "路面.jpg", "mimeType": "image/jpeg",
                                                "buffer": image_bytes(size=(320, 240))}])


def filed() -> list[Request]:
    db.session.rollback()  # a fresh snapshot: the live server wrote meanwhile
    return db.session.scalars(sa.select(Request)).all()


def test_with_htmx_the_form_stays_as_filled_in_and_goes_again_with_its_photo(page, code, js_errors):
    fill_in(page, code, with_photo=True)

    with write_lock_held():
        page.click("#filing-form button[type=submit]")
        expect(page.locator("#request-error")).to_contain_text("数据库暂时无法访问，您的诉求没有保存。")

    expect(page.locator("#request-error")).to_contain_text("重新提交是安全的")
    expect(page.locator("#request-error")).to_be_in_viewport()  # scrolled up to it from the Send button
    expect_browser_reported(page, js_errors, "HTTP 503", "status of 503", "Response Status Error Code 503")
    assert page.url.endswith("/file") and filed() == []
    assert page.input_value("#description") == DESCRIPTION
    assert page.eval_on_selector("#photos", "input => input.files.length") == 1

    page.click("#filing-form button[type=submit]")
    page.wait_for_url("**/t/*")

    [req] = filed()
    assert req.description == DESCRIPTION and len(req.attachments) == 1
    assert page.url.endswith(f"/t/{req.tracking_token}")


def test_without_javascript_the_retry_page_sends_the_same_filing_once(new_context, code, js_errors):
    page = new_context(java_script_enabled=False).new_page()
    fill_in(page, code, with_photo=False)

    with write_lock_held():
        page.click("#filing-form button[type=submit]")
        page.wait_for_load_state()

    expect(page.locator("main")).to_contain_text("您填写的内容已保留，请稍后点击“重新提交”。")
    expect_browser_reported(page, js_errors, "HTTP 503", "status of 503")
    assert filed() == []

    page.click("main button[type=submit]")  # 重新提交
    page.wait_for_url("**/t/*")

    [req] = filed()
    assert req.description == DESCRIPTION and page.url.endswith(f"/t/{req.tracking_token}")
