"""Posters, table cards and the QR images: decoded with a real QR decoder (zxing-cpp),
rendered for every demo deputy, batched per station and jurisdiction, printable as A4."""

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image, ImageDraw

from liaison_app import qrimages
from liaison_app.extensions import db
from liaison_app.models import Deputy, Placement, QRCode, Station, User, utcnow
from tests.factories import Tree, make_deputy, make_qr_code, make_station
from tests.test_desk import login

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://liaison.example.cn"  # PUBLIC_BASE_URL in tests/conftest.py
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def tree(app):
    return Tree()


def decode(image: Image.Image) -> list:
    return zxingcpp.read_barcodes(image.convert("L"))


def rasterize(svg: str, scale: int = 8) -> Image.Image:
    """Paint the one-path SVG of qrimages (unit squares "Mx,yHx'Vy'Hxz") into a bitmap,
    so that the decoder reads exactly what a browser or print shop would draw."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    image = Image.new("L", (int(width * scale), int(height * scale)), 255)
    draw = ImageDraw.Draw(image)
    (path,) = root.iter(f"{SVG}path")
    squares = re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H[\d.]+z", path.get("d"))
    assert squares and len("".join("".join(s) for s in squares)) > 0
    for x0, y0, x1, y1 in squares:
        draw.rectangle([float(x0) * scale, float(y0) * scale, float(x1) * scale - 1, float(y1) * scale - 1], fill=0)
    return image


def svgs_in(page: str) -> list[str]:
    return re.findall(r"<svg viewBox=.*?</svg>", page, flags=re.S)


# --- the images ------------------------------------------------------------------------------


def test_the_png_download_decodes_to_the_codes_url_at_300_dpi_and_at_least_6_cm(app, client, tree):
    code = make_qr_code(deputy=tree.deputy)
    login(client, tree.admin)

    response = client.get(f"/admin/qr/codes/{code.id}.png")

    image = Image.open(io.BytesIO(response.data))
    assert image.format == "PNG"
    assert [round(v) for v in image.info["dpi"]] == [300, 300]
    assert image.width == image.height and image.width / 300 * 2.54 >= 6.0
    (barcode,) = decode(image)
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    assert barcode.text == f"{BASE}/q/{code.token}"
    assert barcode.ec_level == "Q"  # survives a dirty, torn poster


def test_the_svg_download_is_a_valid_svg_of_the_same_url(app, client, tree):
    code = make_qr_code(station=tree.station)
    login(client, tree.admin)

    response = client.get(f"/admin/qr/codes/{code.id}.svg")

    assert response.mimetype == "image/svg+xml"
    assert response.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(response.data)
    assert root.tag == f"{SVG}svg" and root.get("width") == "70mm" and root.get("height") == "70mm"
    (barcode,) = decode(rasterize(response.data.decode()))
    assert barcode.text == f"{BASE}/q/{code.token}" and barcode.ec_level == "Q"


@pytest.mark.parametrize("length", [11, 24])
def test_every_token_length_is_encoded_at_level_q_with_a_quiet_zone(length):
    url = f"{BASE}/q/{'x' * length}"

    (barcode,) = decode(Image.open(io.BytesIO(qrimages.png_bytes(url))))

    assert barcode.text == url and barcode.ec_level == "Q"
    root = ET.fromstring(str(qrimages.inline_svg(url)))
    first_square = re.match(r"M(\d+),(\d+)", next(root.iter(f"{SVG}path")).get("d"))
    assert first_square.groups() == ("4", "4")


def test_the_inline_svg_has_no_fixed_size_and_no_id():
    svg = str(qrimages.inline_svg(f"{BASE}/q/abc"))

    root = ET.fromstring(svg)
    assert root.get("width") is None and root.get("height") is None
    assert ' id="' not in svg  # a batch holds hundreds of them


def test_a_codes_svg_is_encoded_once_however_many_pages_show_it(app, client, tree, monkeypatch):
    make_qr_code(deputy=tree.deputy)
    make_qr_code(station=tree.station)
    encoded = []
    original = qrimages._symbol
    monkeypatch.setattr(qrimages, "_symbol", lambda url: encoded.append(url) or original(url))
    qrimages.inline_svg.cache_clear()
    login(client, tree.admin)

    for _ in range(3):
        assert client.get(f"/admin/qr/jurisdictions/{tree.county.id}/posters").status_code == 200
        assert client.get(f"/admin/qr/stations/{tree.station.id}/cards").status_code == 200

    assert len(encoded) == len(set(encoded)) == 2


# --- posters for the demo data ------------------------------------------------------------------


def test_a_poster_renders_for_every_demo_deputy_with_the_right_url(app, client, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    login(client, db.session.scalar(sa.select(User).where(User.username == "admin")))
    deputies = db.session.scalars(sa.select(Deputy).where(Deputy.active)).all()
    assert len(deputies) >= 30

    for deputy in deputies:
        live = db.session.scalars(sa.select(QRCode).where(QRCode.deputy_id == deputy.id,
                                                          QRCode.revoked_at.is_(None))).all()
        assert live, deputy.name  # the demo gives every deputy a code
        response = client.get(f"/admin/qr/deputies/{deputy.id}/posters")
        page = response.get_data(as_text=True)
        assert response.status_code == 200, deputy.name
        assert page.count('class="sheet poster"') == len(live)
        assert deputy.name in page and deputy.title in page  # e.g. 太仓市人大代表, 娄东街道议政代表
        assert "扫码找代表 · 码上提诉求" in page
        assert deputy.primary_station.name in page and deputy.specialties in page
        for code, svg in zip(sorted(live, key=lambda c: c.id), svgs_in(page)):
            url = f"{BASE}/q/{code.token}"
            assert url in page
            (barcode,) = decode(rasterize(svg, scale=4))
            assert barcode.text == url, deputy.name


def test_the_wanan_deputy_poster_names_the_county_congress(app, client, runner):
    runner.invoke(args=["seed-demo"])
    login(client, db.session.scalar(sa.select(User).where(User.username == "staff-wanan")))
    luo = db.session.scalar(sa.select(Deputy).where(Deputy.name == "罗文华"))

    page = client.get(f"/admin/qr/deputies/{luo.id}/posters").get_data(as_text=True)

    assert "万安县人大代表" in page and "万安县人大常委会" in page
    assert "万安县工业园区代表联络站" in page and "每月5日、20日" in page
    assert "园区主干道 · 园区主干道宣传栏" in page  # the park-road code gets its own poster


def test_the_park_station_batch_leaves_out_the_city_deputy_for_county_staff(app, client, runner):
    runner.invoke(args=["seed-demo"])
    login(client, db.session.scalar(sa.select(User).where(User.username == "staff-wanan")))
    park = db.session.scalar(sa.select(Station).where(Station.name == "万安县工业园区代表联络站"))
    peng = db.session.scalar(sa.select(Deputy).where(Deputy.name == "彭志远"))  # elected by 吉安市
    peng_codes = db.session.scalars(sa.select(QRCode.token).where(QRCode.deputy_id == peng.id)).all()

    page = client.get(f"/admin/qr/stations/{park.id}/posters").get_data(as_text=True)

    assert "由其所属人大的工作人员打印：彭志远" in page
    assert not any(token in page for token in peng_codes)
    assert page.count('class="sheet poster"') >= 12  # the station's own codes and its county deputies'


# --- batches ----------------------------------------------------------------------------------


def test_a_station_poster_lists_its_active_deputies(app, client, tree):
    make_deputy(tree.station, name="已离任代表", active=False)
    code = make_qr_code(station=tree.station)
    login(client, tree.admin)

    page = client.get(f"/admin/qr/stations/{tree.station.id}/posters?code={code.id}").get_data(as_text=True)

    poster = page[page.index(f'id="qrcode-{code.id}-poster"'):]
    assert "沙溪镇代表联络站" in poster and "工业园区一路1号" in poster and "每月5日、20日" in poster
    assert "顾振华" in poster and "刘春梅" in poster and "已离任代表" not in poster
    assert page.count('class="sheet poster"') == 1
    assert "还没有在用的二维码" not in page  # reprinting one poster says nothing about the deputies'


def test_the_jurisdiction_batch_has_every_live_code_below_it_one_per_page(app, client, tree):
    township_codes = [make_qr_code(station=tree.station), make_qr_code(deputy=tree.deputy),
                      make_qr_code(deputy=tree.deputy, placement=Placement.ENTERPRISE_GATE, label="恒拓门口")]
    county_deputy = make_deputy(tree.station, name="钱卫东", congress_jurisdiction=tree.county)
    county_code = make_qr_code(deputy=county_deputy)
    revoked = make_qr_code(deputy=tree.deputy, revoked_at=utcnow())
    gone = make_qr_code(deputy=make_deputy(tree.station, name="离任者", active=False))
    elsewhere = make_qr_code(station=make_station())
    login(client, tree.staff["county"])

    page = client.get(f"/admin/qr/jurisdictions/{tree.county.id}/posters").get_data(as_text=True)

    printed = re.findall(r'id="qrcode-(\d+)-poster"', page)
    assert sorted(map(int, printed)) == sorted(c.id for c in [*township_codes, county_code])
    assert all(f"/q/{c.token}" not in page for c in (revoked, gone, elsewhere))
    # the deputies without any live code are named, with a link to issue one
    assert f'href="/admin/qr/deputies/{tree.colleague.id}"' in page
    assert "以下对象还没有在用的二维码" in page and "浏河镇代表联络站" in page


def test_a_placement_filter_prints_only_those_codes(app, client, tree):
    make_qr_code(deputy=tree.deputy)
    gate = make_qr_code(deputy=tree.deputy, placement=Placement.ENTERPRISE_GATE, label="恒拓门口")
    login(client, tree.admin)

    page = client.get(f"/admin/qr/deputies/{tree.deputy.id}/cards?placement=enterprise_gate").get_data(as_text=True)

    assert re.findall(r'id="qrcode-(\d+)-card"', page) == [str(gate.id)]
    others = client.get(f"/admin/qr/stations/{tree.station.id}/cards?placement=park_road").get_data(as_text=True)
    assert "以下对象在园区主干道还没有在用的二维码" in others and "顾振华" in others
    assert client.get(f"/admin/qr/deputies/{tree.deputy.id}/cards?placement=roof").status_code == 404


def test_table_cards_are_four_to_an_a4_page(app, client, tree):
    for _ in range(9):
        make_qr_code(station=tree.station, placement=Placement.ENTERPRISE_GATE, label="企业门口")
    login(client, tree.admin)

    page = client.get(f"/admin/qr/stations/{tree.station.id}/cards").get_data(as_text=True)

    sheets = page.split('<section class="sheet cards-sheet">')[1:]
    assert [sheet.count('class="card-quarter"') for sheet in sheets] == [4, 4, 1]
    assert page.count("扫码找代表 · 码上提诉求") == 9


def test_an_inactive_deputy_prints_nothing_and_says_so(app, client, tree):
    make_qr_code(deputy=tree.deputy)
    tree.deputy.active = False
    db.session.commit()
    login(client, tree.admin)

    page = client.get(f"/admin/qr/deputies/{tree.deputy.id}/posters").get_data(as_text=True)

    assert 'class="sheet poster"' not in page and "顾振华 已停用，不打印" in page


# --- print pages: A4, self-hosted, ready for a strict CSP ------------------------------------------


def test_print_pages_are_self_contained_and_need_no_inline_style_or_script(app, client, tree):
    make_qr_code(deputy=make_deputy(tree.station, photo="portrait.jpg"))
    make_qr_code(station=tree.station)
    login(client, tree.admin)

    for kind in ("posters", "cards"):
        page = client.get(f"/admin/qr/stations/{tree.station.id}/{kind}").get_data(as_text=True)
        assert "<script" not in page and " style=" not in page and "<style" not in page
        references = re.findall(r'(?:src|href)="([^"]*)"', page)
        assert references and all(ref.startswith("/") for ref in references), references
        assert re.search(r'"/static/css/print\.[0-9a-f]{8}\.css"', page)  # fingerprinted (liaison_app/assets.py)
    assert "/deputies/" in page and "/photo" in client.get(
        f"/admin/qr/stations/{tree.station.id}/posters").get_data(as_text=True)


def test_the_print_stylesheet_is_a4_and_keeps_every_code_at_least_6_cm_wide():
    css = (ROOT / "liaison_app/static/css/print.css").read_text()

    assert re.search(r"@page\s*{\s*size:\s*A4 portrait;\s*margin:\s*0;", css)
    widths = [float(w) for selector, body in re.findall(r"([^{}]*\.qr\b[^{}]*){([^}]*)}", css)
              if " svg" not in selector for w in re.findall(r"width:\s*([\d.]+)mm", body)]
    assert widths and min(widths) >= 60
    assert re.search(r"\.sheet\s*{[^}]*width:\s*210mm;[^}]*height:\s*297mm;", css)
    assert "break-after: page" in css
