"""Every page a user reaches, on a 360×740 phone, in both languages.

Each role starts where it lands and follows the links a person could tap (one page per
kind of address), and every page is held to the same bar: nothing wider than the screen,
the header in one row, every tap target outside running text at least 44×44 px, the page's
primary action on the first screen, and no serious or critical axe violation.
"""

import re
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Request
from tests.browser.conftest import accessibility_problems, small_tap_targets, wider_than_the_screen

pytestmark = pytest.mark.browser

HEIGHT = 740  # the first screen of a 360×740 phone
HEADER_MAX = 60  # one row of 44 px targets and its padding
PAGES_PER_ROLE = 70

# Addresses never followed: they leave the page (downloads, pictures, logging out) or
# only change the language, which the test sets itself.
NOT_PAGES = re.compile(r"(\.xlsx|\.png|\.svg|\.pdf|/photo|/logout|[?&]lang=|/healthz|/static/)")

# (address pattern, CSS selector of the action the page exists for): it must be on the
# first screen without scrolling.
PRIMARY_ACTIONS = (
    (re.compile(r"^/q/[^/]+$"), "[data-primary-action]"),
    (re.compile(r"^/login$"), "main button[type=submit]"),
    (re.compile(r"^/find$"), "main button[type=submit]"),
    (re.compile(r"^/desk/$"), "#inbox-list .tab"),
)


@pytest.fixture
def demo(runner, app):
    import json

    result = runner.invoke(args=["seed-demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    return {
        "passwords": {user["username"]: user["password"] for user in data["users"]},
        "landings": [urlsplit(url).path for url in data["qr_urls"]],
    }


def tracking_paths() -> list[str]:
    """The enterprise's view of a request at each stage the demo holds."""
    tokens = db.session.execute(
        sa.select(Request.status, sa.func.min(Request.tracking_token)).group_by(Request.status)
    ).all()
    return [f"/t/{token}" for _, token in tokens]


def kind_of(path: str) -> str:
    """One page per kind of address: numbers and tokens stand for any."""
    path = re.sub(r"/t/[^/]+", "/t/*", path)
    path = re.sub(r"/q/[^/]+", "/q/*", path)
    return re.sub(r"\d+", "N", path)


def walk(page, starts: list[str], base_url: str) -> tuple[dict[str, list[str]], set[str]]:
    """Visit the start pages, then the pages their links lead to, one of each kind; return
    what was wrong on each page and the kinds of page seen."""
    queue = list(starts)
    done_kinds, visited, problems = set(), set(), {}
    while queue and len(done_kinds) < PAGES_PER_ROLE:
        path = queue.pop(0)
        kind = kind_of(path)
        if path in visited or (kind in done_kinds and path not in starts):
            continue
        done_kinds.add(kind)
        visited.add(path)
        response = page.goto(path)
        if response is None or response.status >= 400 or urlsplit(page.url).path != urlsplit(path).path:
            continue  # a redirect lands on a page of its own kind, visited in its turn
        found = wider_than_the_screen(page)
        found += [f"tap target under 44×44: {target}" for target in small_tap_targets(page)]
        found += _header_problems(page) + _primary_action_problems(page, path)
        found += accessibility_problems(page)
        if found:
            problems[path] = sorted(set(found), key=found.index)
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
            target = urljoin(base_url + path, href)
            if not target.startswith(base_url) or NOT_PAGES.search(target):
                continue
            parts = urlsplit(target)
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if kind_of(parts.path) not in done_kinds:
                queue.append(local)
    return problems, done_kinds


def _header_problems(page) -> list[str]:
    header = page.locator("header.topbar")
    if not header.count():
        return []  # a sheet made for the printer (QR posters), not a page
    height = header.bounding_box()["height"]
    return [f"the header is {round(height)} px high (more than one row)"] if height > HEADER_MAX else []


def _primary_action_problems(page, path: str) -> list[str]:
    for pattern, selector in PRIMARY_ACTIONS:
        if pattern.search(urlsplit(path).path):
            action = page.locator(selector).first
            if not action.count():
                return [f"no primary action ({selector})"]
            box = action.bounding_box()
            if box is None or box["y"] + box["height"] > HEIGHT:
                return [f"the primary action {selector} is below the first screen (y = {box and round(box['y'])})"]
    return []


def report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{path}\n  " + "\n  ".join(found) for path, found in problems.items())


ROLES = ("deputy", "staff", "unit", "admin")


# The least number of kinds of page each walk must reach, so that a broken link or login
# cannot make the tour pass by seeing nothing.
REACHES = {"public": 8, "deputy": 12, "staff": 40, "unit": 5, "admin": 45}


@pytest.fixture(autouse=True)
def _one_database(request):
    if request.config.getoption("--db") != "sqlite":
        pytest.skip("a page's layout is the same on every database: the phone tour runs in the SQLite pass")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_public_page_fits_a_phone(new_context, live_server, demo, lang):
    page = new_context().new_page()
    page.goto(f"/?lang={lang}")
    starts = ["/", *demo["landings"], *tracking_paths(), "/mine", "/find", "/login"]
    problems, kinds = walk(page, starts, live_server.base_url)
    assert not problems, report(problems)
    assert len(kinds) >= REACHES["public"], sorted(kinds)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
@pytest.mark.parametrize("username", ROLES)
def test_every_page_of_a_role_fits_a_phone(new_context, live_server, demo, username, lang):
    page = new_context().new_page()
    page.goto(f"/login?lang={lang}")
    page.fill("#login", username)
    page.fill("#password", demo["passwords"][username])
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    problems, kinds = walk(page, [urlsplit(page.url).path], live_server.base_url)
    assert not problems, report(problems)
    assert len(kinds) >= REACHES[username], sorted(kinds)
    print(username, lang, len(kinds), "kinds of page")
