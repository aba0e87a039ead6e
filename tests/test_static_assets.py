"""Issue 9: static files are linked under fingerprinted names and cached for a year; a changed
file gets a new name; the plain name still works with a short cache."""

import hashlib
import os
import re
from pathlib import Path

from flask import url_for

from tests.factories import Tree, make_qr_code
from tests.test_desk import login

FINGERPRINTED = re.compile(r"/static/(?P<stem>[^\"?]+)\.(?P<hash>[0-9a-f]{8})(?P<suffix>\.[a-z]+)")


def static_refs(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]*)"', page)


def sha8(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def test_every_static_file_a_page_links_has_its_content_hash_in_its_name(app, client):
    code = make_qr_code()
    tree = Tree()
    login_client = app.test_client()
    login(login_client, tree.admin)
    pages = [client.get(path).get_data(as_text=True) for path in ("/", f"/q/{code.token}")]
    pages.append(login_client.get(f"/admin/qr/stations/{code.deputy.stations[0].id}/posters").get_data(as_text=True))

    refs = {ref for page in pages for ref in static_refs(page)}

    assert {"favicon", "css/app", "css/print", "vendor/htmx/htmx.min", "js/app"} <= {
        FINGERPRINTED.fullmatch(ref)["stem"] for ref in refs if FINGERPRINTED.fullmatch(ref)}
    for ref in refs:
        match = FINGERPRINTED.fullmatch(ref)
        assert match, f"{ref} is not fingerprinted"
        assert match["hash"] == sha8(Path(app.static_folder) / (match["stem"] + match["suffix"]))


def test_a_fingerprinted_name_is_cached_for_a_year_and_serves_the_file(app, client):
    page = client.get("/").get_data(as_text=True)
    css = next(ref for ref in static_refs(page) if "/css/app." in ref)

    response = client.get(css)

    assert response.status_code == 200 and response.mimetype == "text/css"
    assert response.data == (Path(app.static_folder) / "css/app.css").read_bytes()
    assert set(response.headers["Cache-Control"].replace(" ", "").split(",")) == {
        "public", "max-age=31536000", "immutable"}
    assert set(response.vary) == {"Accept-Encoding"}  # not Cookie: a new cookie must not refetch it


def test_the_plain_name_still_works_with_a_short_cache(app, client):
    response = client.get("/static/vendor/htmx/htmx.min.js")

    assert response.status_code == 200
    assert response.data == (Path(app.static_folder) / "vendor/htmx/htmx.min.js").read_bytes()
    assert response.cache_control.max_age == 300 and "immutable" not in response.headers["Cache-Control"]


def test_a_wrong_fingerprint_is_sent_to_the_current_name_and_an_unknown_file_is_404(app, client):
    current = f"/static/css/app.{sha8(Path(app.static_folder) / 'css/app.css')}.css"

    stale = client.get("/static/css/app.0123abcd.css")

    assert stale.status_code == 302 and stale.headers["Location"] == current
    assert "immutable" not in stale.headers.get("Cache-Control", "")
    assert client.get("/static/css/nothing.0123abcd.css").status_code == 404
    assert client.get("/static/css/nothing.css").status_code == 404


def test_changing_a_file_changes_its_url(app, tmp_path):
    app.static_folder = str(tmp_path)
    (tmp_path / "css").mkdir()
    stylesheet = tmp_path / "css" / "app.css"
    stylesheet.write_text("body { color: black; }")
    client = app.test_client()
    with app.test_request_context():
        before = url_for("static", filename="css/app.css")

    stylesheet.write_text("body { color: navy; }")
    os.utime(stylesheet, ns=(stylesheet.stat().st_atime_ns, stylesheet.stat().st_mtime_ns + 10**9))
    with app.test_request_context():
        after = url_for("static", filename="css/app.css")

    assert before != after
    assert after == f"/static/css/app.{sha8(stylesheet)}.css"
    assert client.get(after).data == b"body { color: navy; }"
    assert client.get(before).headers["Location"] == after


def test_a_file_that_is_not_there_keeps_its_plain_url(app):
    with app.test_request_context():
        assert url_for("static", filename="css/missing.css") == "/static/css/missing.css"
