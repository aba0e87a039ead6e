"""The enterprise's filing form on a phone: mistakes are flagged as the field is left, before sending."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import make_qr_code

pytestmark = pytest.mark.browser


def test_a_wrong_credit_code_and_phone_are_flagged_when_the_field_is_left(page, app):
    code = make_qr_code()
    from liaison_app.extensions import db

    db.session.commit()
    page.goto(f"/q/{code.token}/file")

    page.fill("#uscc", "91320585MA1ABCDE")
    page.press("#uscc", "Tab")
    # A locator wait, not wait_for_function("..."): an expression string is eval'd in the page,
    # which the app's CSP (no unsafe-eval) rightly refuses.
    expect(page.locator("#error-uscc")).to_have_text(re.compile(r"\S"))
    page.fill("#contact_phone", "12345")
    page.press("#contact_phone", "Tab")
    expect(page.locator("#error-contact_phone")).to_have_text(re.compile(r"\S"))

    assert "18" in page.text_content("#error-uscc")  # 统一社会信用代码应为 18 位。
    assert page.input_value("#uscc") == "91320585MA1ABCDE"  # nothing typed is lost
    assert page.url.endswith("/file")  # not sent: checked in place
