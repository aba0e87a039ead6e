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


# --- punctuation: full width in Chinese, ASCII in English (issue 17) -----------------------------

import ast  # noqa: E402
import html as html_module  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402

from liaison_app.workflow import Action  # noqa: E402
from tests.factories import Tree, make_request  # noqa: E402
from tests.test_desk import login  # noqa: E402

PLACEHOLDER = re.compile(r"%\(\w+\)[-+ #0]*\d*(?:\.\d+)?[sdf]|%%|\{\w*\}")
CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
# An ASCII colon ending a label, or an ASCII bracket, touching Chinese text.
ASCII_IN_CHINESE = re.compile(rf"[{CJK}]\s*:(?: |$)|[{CJK}]\s*[()]|[()]\s*[{CJK}]")
# What never belongs in English copy: the Chinese enumeration comma, full-width brackets and colons.
CHINESE_IN_ENGLISH = re.compile(r"[、（）：【】]")
LIAISON = ROOT / "liaison_app"


def catalogue():
    with CATALOGUE.open("rb") as handle:
        return [m for m in read_po(handle) if m.id]


def texts(value):
    return list(value) if isinstance(value, (tuple, list)) else [value]


def test_the_chinese_catalogue_uses_full_width_punctuation():
    bad = [string for message in catalogue() for string in texts(message.string)
           if string and re.search(f"[{CJK}]", string)
           and (ASCII_IN_CHINESE.search(PLACEHOLDER.sub("", string)) or re.search(r"[()]|: ", PLACEHOLDER.sub("X", string)))]
    assert bad == []


def test_english_messages_have_no_chinese_punctuation():
    bad = [msgid for message in catalogue() for msgid in texts(message.id) if CHINESE_IN_ENGLISH.search(msgid)]
    assert bad == []


def _docstrings_and_patterns(tree):
    """Constants that never reach a user: docstrings and regular expressions."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body \
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            skipped.add(id(node.body[0].value))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re":
            skipped.update(id(arg) for arg in node.args)
    return skipped


def test_chinese_literals_in_the_code_use_full_width_punctuation():
    bad = []
    for path in sorted(LIAISON.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _docstrings_and_patterns(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in skipped:
                continue
            text = PLACEHOLDER.sub("", node.value)
            # Chinese copy: more Chinese characters than Latin letters ("signing (加签)" is English).
            if len(re.findall(f"[{CJK}]", text)) > len(re.findall(r"[A-Za-z]", text)) and ASCII_IN_CHINESE.search(text):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert bad == []


def test_templates_put_no_ascii_colon_or_bracket_around_translated_words():
    """{{ _("Address") }}: … shows 地址: … on a Chinese page; |colon and |parens say it in each language."""
    label_then_ascii = re.compile(r"""_\((?:"[^"]*"|'[^']*')[^)]*\)\s*\}\}\s*(?::|\()|\(\{\{\s*_\(""")
    bad = []
    for path in sorted((LIAISON / "templates").rglob("*.html")):
        source = path.read_text(encoding="utf-8")
        for match in label_then_ascii.finditer(source):
            bad.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
        # The literal words between tags (comments, expressions and English msgids taken out).
        literal = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|<[^>]*>", " ", source, flags=re.S)
        bad.extend(f"{path.relative_to(ROOT)}: {match.group(0)!r}" for match in ASCII_IN_CHINESE.finditer(literal))
    assert bad == []


OVERSIGHT_PAGES = ["/oversight/dashboard", "/oversight/report", "/oversight/lists/problems", "/oversight/lists/claims",
                   "/oversight/lists/public", "/oversight/key", "/oversight/overdue"]


def visible_text(page: str) -> str:
    """The page's words as shown: no scripts, tags or attributes; the Chinese glosses of the
    English report (lang="zh-CN") left out."""
    body = page.split("<body", 1)[1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r'<span class="gloss" lang="zh-CN">.*?</span>', " ", body, flags=re.S)
    body = re.sub(r'<option value="[^"]*"[^>]*>[\u3000\s]*', " ", body)  # place names in menus
    return html_module.unescape(re.sub(r"<[^>]+>", " ", body))


@pytest.fixture
def supervised(app):
    from liaison_app.services import workflow as wf

    tree = Tree()
    req = make_request(deputy=tree.deputy)
    wf.supervise(req, actor=tree.staff["county"], key=True, leader="王建国")
    return tree


@pytest.mark.parametrize("path", OVERSIGHT_PAGES)
def test_the_oversight_pages_use_each_languages_punctuation(client, supervised, path):
    login(client, supervised.staff["county"])

    chinese = visible_text(client.get(path + "?lang=zh_CN").get_data(as_text=True))
    english = visible_text(client.get(path + "?lang=en").get_data(as_text=True))

    assert ASCII_IN_CHINESE.findall(chinese) == []
    assert CHINESE_IN_ENGLISH.findall(english) == [], english
