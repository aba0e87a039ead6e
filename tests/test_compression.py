"""Issue 9: text answers go out compressed (brotli, or gzip for a client without it); photos and
spreadsheets, compressed already, go out as they are; downloads and conditional requests still work."""

import gzip
import io
import re

import brotli
import openpyxl
import pytest

from tests.factories import Tree, image_bytes, make_qr_code, make_request
from tests.test_desk import login
from tests.test_filing import form_data

DECOMPRESS = {"br": brotli.decompress, "gzip": gzip.decompress}


def without_tokens(html: bytes) -> bytes:
    """The CSRF token (signed with the time) and the form's idempotency key differ between
    two renderings of the form, and nothing else does."""
    html = re.sub(rb'"X-CSRFToken": "[^"]*"', b"", html)
    return re.sub(rb'<input[^>]*type="hidden"[^>]*>', b"", html)


@pytest.fixture
def tree(app):
    return Tree()


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_a_page_comes_back_compressed_and_decompresses_to_the_same_html(client, tree, encoding):
    code = make_qr_code(station=tree.station)
    plain = client.get(f"/q/{code.token}/file")

    response = client.get(f"/q/{code.token}/file", headers={"Accept-Encoding": encoding})

    assert response.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert response.headers["Content-Encoding"] == encoding
    assert int(response.headers["Content-Length"]) == len(response.data) < len(plain.data) / 2
    html = DECOMPRESS[encoding](response.data)
    assert without_tokens(html) == without_tokens(plain.data)
    assert {"HX-Request", "Cookie", "Accept-Encoding"} <= set(response.vary)


def test_brotli_is_preferred_when_the_browser_takes_both(client, tree):
    response = client.get("/", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})

    assert response.headers["Content-Encoding"] == "br"


def test_an_htmx_fragment_is_compressed_too(client, tree, htmx):
    login(client, tree.deputy_user)
    req = make_request(deputy=tree.deputy)

    response = client.get("/desk/", headers={**htmx, "Accept-Encoding": "br"})

    assert response.headers["Content-Encoding"] == "br"
    fragment = brotli.decompress(response.data).decode()
    assert req.reference in fragment and "<html" not in fragment


def test_a_short_answer_is_sent_as_it_is(client):
    response = client.post("/validate/uscc", data={"uscc": "123"}, headers={"Accept-Encoding": "br"})

    assert response.status_code == 200 and len(response.data) < 500
    assert "Content-Encoding" not in response.headers


def test_a_photo_is_not_compressed_again(client, tree):
    code = make_qr_code(deputy=tree.deputy)
    photo = image_bytes(size=(800, 600))
    filed = client.post(f"/q/{code.token}/file", data=form_data(photos=[(io.BytesIO(photo), "gate.jpg")]),
                        content_type="multipart/form-data")
    tracking = client.get(filed.headers["Location"]).get_data(as_text=True)
    photo_url = re.search(r'/t/[^"]+/photos/\d+', tracking).group(0)
    sent = client.get(photo_url)

    response = client.get(photo_url, headers={"Accept-Encoding": "br, gzip"})

    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert "Content-Encoding" not in response.headers
    assert response.data == sent.data and response.data[:2] == b"\xff\xd8"


def test_a_spreadsheet_download_is_not_compressed_and_opens(client, tree):
    make_request(deputy=tree.deputy)
    login(client, tree.staff["county"])

    response = client.get("/oversight/lists/claims.xlsx", headers={"Accept-Encoding": "br, gzip"})

    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.headers["Content-Disposition"].startswith("attachment;")
    openpyxl.load_workbook(io.BytesIO(response.data))


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_a_stylesheet_is_compressed_and_answers_a_conditional_request_with_304(app, client, encoding):
    css = open(app.static_folder + "/css/app.css", "rb").read()

    response = client.get("/static/css/app.css", headers={"Accept-Encoding": encoding})
    again = client.get("/static/css/app.css",
                       headers={"Accept-Encoding": encoding, "If-None-Match": response.headers["ETag"]})

    assert response.status_code == 200 and response.headers["Content-Encoding"] == encoding
    assert DECOMPRESS[encoding](response.data) == css
    assert again.status_code == 304 and not again.data
