"""公示 on a phone: the township's staff write the public summary of a closed request, see the
board's preview with the warning that the draft still names the enterprise and its contact, tick
the confirmation and approve it; anyone then reads it on the station's board. Each page is
checked (axe-core serious/critical, 44 px tap targets) by `check_page`."""

import pytest

from liaison_app.extensions import db
from tests.browser.conftest import log_in
from tests.factories import Tree
from tests.test_publication import ENTERPRISE, NAME, closed

pytestmark = pytest.mark.browser


@pytest.fixture
def tree(app):
    tree = Tree()
    db.session.commit()
    return tree


def press(page, button):
    """Click a button of the card and wait until htmx has put the new card in its place."""
    page.eval_on_selector(".request-card", "card => { card.dataset.before = 'yes'; }")
    page.click(button)
    page.locator(".request-card:not([data-before])").wait_for()


def test_staff_write_preview_and_approve_the_summary_that_the_board_then_shows(page, new_context, tree, check_page):
    req = closed(tree)
    db.session.commit()
    log_in(page, tree.staff["township"].username)
    page.goto(f"/desk/requests/{req.id}")
    section = f"#request-{req.id}-public-summary"
    assert "待撰写公示摘要" in page.inner_text(section)
    check_page(page, "publication-to-write")

    page.fill("#public_summary-problem", f"{ENTERPRISE}联系人{NAME}反映：银行贷款到期，续贷需要过桥资金")
    page.fill("#public_summary-result", "协调政策性转贷基金500万元，续贷已办妥")
    press(page, f"{section} form[action$='/public_summary'] button[type=submit]")

    preview = page.inner_text(f"{section} .board-item")
    assert "某企业联系人某某反映" in preview and ENTERPRISE not in preview and NAME not in preview
    assert "摘要中仍含有：联系人姓名和企业名称" in page.inner_text(f"{section} .notice-warning")
    check_page(page, "publication-preview")

    page.check("#approve_summary-confirm")
    press(page, f"{section} form[action$='/approve_summary'] button[type=submit]")
    assert "审核通过：摘要已上公示栏。" in page.inner_text(".request-card .notice-success")
    assert "已公示" in page.inner_text(section)

    visitor = new_context().new_page()
    visitor.goto(f"/board/station/{tree.station.id}")
    item = visitor.inner_text(f"#board-item-{req.id}")
    assert item == preview  # exactly what the card previewed
    check_page(visitor, "publication-board")
