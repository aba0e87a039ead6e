"""Simplified Chinese by default, a complete English interface, and a complete catalogue."""

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "liaison_app" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def test_every_message_in_the_code_is_translated(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
         "-o", str(pot), "--omit-header", "."],
        cwd=ROOT, check=True, capture_output=True,
    )
    wanted = {m.id for m in read_po(pot.open("rb")) if m.id}
    with CATALOGUE.open("rb") as handle:
        catalogue = {m.id: m.string for m in read_po(handle) if m.id}

    assert sorted(map(str, wanted - catalogue.keys())) == []
    assert sorted(str(m) for m in wanted if not all(catalogue[m] if isinstance(catalogue[m], tuple) else [catalogue[m]])) == []


def test_chinese_is_the_default(client):
    page = client.get("/").get_data(as_text=True)

    assert '<html lang="zh-CN">' in page
    assert "码上找代表" in page and "我的诉求" in page


def test_english_is_one_tap_away_and_remembered(client):
    page = client.get("/?lang=en").get_data(as_text=True)
    assert "Deputy Liaison" in page and "My requests" in page

    page = client.get("/mine").get_data(as_text=True)
    assert "My requests" in page and "我的诉求" not in page

    page = client.get("/?lang=zh_CN").get_data(as_text=True)
    assert "我的诉求" in page


def test_an_unknown_language_falls_back_to_chinese(client):
    assert "码上找代表" in client.get("/?lang=xx").get_data(as_text=True)
