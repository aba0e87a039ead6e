"""Third-party browser files are vendored unmodified, with licence, version and checksum."""

import hashlib
import json
from pathlib import Path

import pytest

VENDOR = Path(__file__).resolve().parent.parent / "liaison_app" / "static" / "vendor"
PACKAGES = sorted(p for p in VENDOR.iterdir() if p.is_dir())


def test_htmx_2_0_is_vendored():
    meta = json.loads((VENDOR / "htmx" / "VERSION.json").read_text())
    assert meta["version"].startswith("2.0.")


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_vendored_file_matches_its_pinned_sha256_and_has_a_licence(package):
    meta = json.loads((package / "VERSION.json").read_text())
    digest = hashlib.sha256((package / meta["file"]).read_bytes()).hexdigest()
    assert digest == meta["sha256"]
    assert (package / "LICENSE").read_text().strip()


def test_pages_load_nothing_from_other_origins(client):
    from tests.factories import make_qr_code

    code = make_qr_code()
    for path in ("/", f"/q/{code.token}", f"/q/{code.token}/file", "/mine"):
        page = client.get(path).get_data(as_text=True)
        assert "//cdn" not in page and "unpkg" not in page and "jsdelivr" not in page
        for attr in ("src=", "href=\"http"):
            for chunk in page.split(attr)[1:]:
                assert not chunk.lstrip("\"'").startswith(("http:", "https:", "//"))
