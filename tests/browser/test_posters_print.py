"""Issue 7: an admin prints a station's posters and table cards. The print pages render on a
phone and as A4 paper, and every QR image on them decodes to the code's public URL."""

import io
import math
import re

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from liaison_app.extensions import db
from liaison_app.models import Placement, QRCode, utcnow
from tests.browser.conftest import log_in
from tests.factories import Tree, make_qr_code

pytestmark = pytest.mark.browser

A4_WIDTH_PX = 794  # 210 mm at 96 CSS px per inch: the window a print preview lays a sheet out in
A4_POINTS = (595, 842)  # a PDF page of 210 × 297 mm


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def codes(tree):
    """The station's own codes and one deputy's; the colleague has none yet; a revoked
    code must never be printed."""
    made = [
        make_qr_code(station=tree.station, placement=Placement.STATION),
        make_qr_code(station=tree.station, placement=Placement.PARK_ROAD, label="沙溪工业园纬三路"),
        make_qr_code(deputy=tree.deputy, placement=Placement.STATION),
        make_qr_code(deputy=tree.deputy, placement=Placement.ENTERPRISE_GATE, label="恒丰精密机械门口"),
    ]
    revoked = make_qr_code(deputy=tree.deputy, placement=Placement.STATION, revoked_at=utcnow())
    db.session.commit()
    return {"live": made, "revoked": revoked}


def fits_the_screen(page) -> bool:
    """Nothing wider than the phone's screen. (Compared with the viewport set on the context:
    on a phone, a page wider than the screen widens window.innerWidth too, zoomed out.)"""
    return page.evaluate("document.scrollingElement.scrollWidth") <= page.viewport_size["width"]


def live_urls(app, owner_filter) -> dict[str, str]:
    """token → the URL its QR image must carry: PUBLIC_BASE_URL + /q/<token>."""
    db.session.commit()  # end the test's read transaction: see what the server wrote
    rows = db.session.scalars(sa.select(QRCode).where(owner_filter, QRCode.revoked_at.is_(None))).all()
    return {c.token: f"{app.config['PUBLIC_BASE_URL']}/q/{c.token}" for c in rows}


def decoded_qr_images(page, selector=".qr") -> list[str]:
    """What a phone camera reads off each QR image as the browser draws it: each element is
    screenshotted on its own and decoded with zxing-cpp."""
    texts = []
    images = page.locator(selector)
    assert images.count() > 0
    for index in range(images.count()):
        element = images.nth(index)
        element.scroll_into_view_if_needed()
        png = element.screenshot(animations="disabled")
        image = Image.open(io.BytesIO(png)).convert("L")
        found = zxingcpp.read_barcodes(image)
        assert len(found) == 1, f"QR image {index + 1} of {images.count()} ({image.size}) did not decode"
        assert found[0].format == zxingcpp.BarcodeFormat.QRCode
        texts.append(found[0].text)
    return texts


def pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    """Width and height in points of each page of a PDF written by Chromium (Skia)."""
    assert pdf.startswith(b"%PDF-")
    boxes = re.findall(rb"/Type\s*/Page\b(?!s).*?/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]",
                       pdf, flags=re.S)
    return [(float(x1) - float(x0), float(y1) - float(y0)) for x0, y0, x1, y1 in boxes]


def expect_a4(pages):
    for width, height in pages:
        assert (round(width), round(height)) == A4_POINTS, pages


def test_an_admin_prints_a_stations_posters_and_every_code_reads_right(app, page, codes, tree, check_page):
    station_codes = sa.or_(QRCode.station_id == tree.station.id,
                           QRCode.deputy_id.in_([tree.deputy.id, tree.colleague.id]))
    log_in(page, tree.admin.username)
    page.click("header summary")  # 菜单
    page.click("nav a[href='/admin/']")
    check_page(page, "admin-home")
    page.click("main a[href='/admin/qr']")
    check_page(page, "choose-jurisdiction")
    for place in (tree.province, tree.city, tree.county, tree.township):
        page.click(f"main a[href='/admin/qr?jurisdiction={place.id}']")
    check_page(page, "township-codes")
    page.click(f"main a[href='/admin/qr/stations/{tree.station.id}']")
    check_page(page, "station-codes")

    page.click(f"main a[href='/admin/qr/stations/{tree.station.id}/posters']")
    page.wait_for_url(f"**/admin/qr/stations/{tree.station.id}/posters")
    # The colleague has no code yet: the page says so and offers to issue one right there.
    assert tree.colleague.name in page.inner_text(".print-toolbar")
    assert page.locator("article.poster").count() == 4
    check_page(page, "posters-missing-one")
    page.click(".print-toolbar form button[type=submit]")
    expect(page.locator("article.poster")).to_have_count(5)
    assert tree.colleague.name not in page.inner_text(".print-toolbar")

    expected = live_urls(app, station_codes)
    assert len(expected) == 5 and codes["revoked"].token not in expected
    assert "1" in page.inner_text(".print-toolbar .print-note")  # 已生成 1 个二维码。
    check_page(page, "posters-phone")
    # On a phone the toolbar fits the screen, and the sheet preview too, shrunk to fit.
    assert fits_the_screen(page)
    # Each poster shows its own code, and the URL under it in words.
    for poster in page.locator("article.poster").all():
        assert poster.locator(".qr svg").count() == 1
    printed_words = page.locator(".qr-url").all_inner_texts()
    assert sorted(printed_words) == sorted(expected.values())
    assert sorted(decoded_qr_images(page)) == sorted(expected.values())

    # As paper: A4 print media on a window an A4 sheet wide; only the sheets are printed.
    page.set_viewport_size({"width": A4_WIDTH_PX, "height": 1123})
    page.emulate_media(media="print")
    assert not page.locator(".print-toolbar").is_visible()
    sheets = page.locator("article.poster").evaluate_all(
        "els => els.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])")
    assert all(abs(w - A4_WIDTH_PX) < 2 and abs(h - 1123) < 2 for w, h in sheets), sheets
    assert sorted(decoded_qr_images(page)) == sorted(expected.values())
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    pages = pdf_pages(pdf)
    assert len(pages) == len(expected)  # one page per poster, no blank or spilled page
    expect_a4(pages)
    page.emulate_media(media="screen")


def test_table_cards_print_four_to_a_sheet_and_every_code_reads_right(app, page, codes, tree, check_page):
    issued = [make_qr_code(deputy=tree.colleague, placement=Placement.ENTERPRISE_GATE, label=f"第{n}家企业门口")
              for n in range(1, 3)]
    db.session.commit()
    station_codes = sa.or_(QRCode.station_id == tree.station.id,
                           QRCode.deputy_id.in_([tree.deputy.id, tree.colleague.id]))
    expected = live_urls(app, station_codes)
    assert len(expected) == 6 and all(c.token in expected for c in issued)

    log_in(page, tree.admin.username)
    page.goto(f"/admin/qr/stations/{tree.station.id}")
    page.click(f"main a[href='/admin/qr/stations/{tree.station.id}/cards']")
    page.wait_for_url(f"**/admin/qr/stations/{tree.station.id}/cards")
    check_page(page, "cards-phone")
    assert fits_the_screen(page)
    assert page.locator(".cards-sheet").count() == 2
    assert page.locator(".cards-sheet").nth(0).locator(".card-quarter").count() == 4
    assert sorted(page.locator(".qr-url").all_inner_texts()) == sorted(expected.values())
    assert sorted(decoded_qr_images(page)) == sorted(expected.values())

    page.set_viewport_size({"width": A4_WIDTH_PX, "height": 1123})
    page.emulate_media(media="print")
    assert sorted(decoded_qr_images(page)) == sorted(expected.values())
    pages = pdf_pages(page.pdf(prefer_css_page_size=True, print_background=True))
    assert len(pages) == math.ceil(len(expected) / 4)
    expect_a4(pages)

    # Only the cards for enterprise gates, as the township's page offers them.
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"/admin/qr?jurisdiction={tree.township.id}")
    page.click("main a[href*='/cards?placement=enterprise_gate']")
    page.wait_for_url("**/cards?placement=enterprise_gate")
    gate = live_urls(app, sa.and_(station_codes, QRCode.placement == Placement.ENTERPRISE_GATE))
    assert len(gate) == 3
    assert sorted(decoded_qr_images(page)) == sorted(gate.values())
    check_page(page, "gate-cards-phone")
