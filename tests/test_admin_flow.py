"""The issue's "done means": an admin imports a spreadsheet of deputies, prints their
posters, and a phone scanning a printed code reaches the right deputy."""

import io

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from liaison_app.extensions import db
from liaison_app.models import Deputy, QRCode
from tests.factories import Tree
from tests.test_desk import login
from tests.test_imports import DEPUTY_HEADERS, check, code, token_of, xlsx_bytes


@pytest.fixture
def app_config(tmp_path):
    return {"IMPORT_FOLDER": str(tmp_path / "imports")}


def test_import_deputies_print_their_posters_and_scan_one(app, client):
    tree = Tree()
    admin = app.test_client()
    login(admin, tree.admin)
    rows = [["钱志刚", code(tree.township), "人大代表", "沙溪镇代表联络站", "劳动用工", "", "在任"],
            ["孙丽", code(tree.township), "人大代表", "沙溪镇代表联络站", "企业融资", "", "在任"]]
    page = check(admin, "deputies", xlsx_bytes(DEPUTY_HEADERS, rows)).get_data(as_text=True)
    assert admin.post("/admin/imports/run", data={"token": token_of(page)}).status_code == 303

    posters = f"/admin/qr/jurisdictions/{tree.township.id}/posters"
    assert "钱志刚" in admin.get(posters).get_data(as_text=True)  # listed as having no code yet
    assert admin.post(f"/admin/qr/jurisdictions/{tree.township.id}/issue-missing").status_code == 303
    sheets = admin.get(posters).get_data(as_text=True)

    db.session.expire_all()
    qian = db.session.scalar(sa.select(Deputy).where(Deputy.name == "钱志刚"))
    [qr] = db.session.scalars(sa.select(QRCode).where(QRCode.deputy_id == qian.id)).all()
    url = f"https://liaison.example.cn/q/{qr.token}"
    assert url in sheets and "<svg" in sheets
    png = admin.get(f"/admin/qr/codes/{qr.id}.png")
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)).convert("L"))
    assert barcode.text == url

    landing = client.get(barcode.text.removeprefix("https://liaison.example.cn")).get_data(as_text=True)
    assert "钱志刚" in landing and "劳动用工" in landing
