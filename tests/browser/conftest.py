"""Browser tests: the real app on a localhost port, driven by Playwright in Debian's Chromium.

Playwright never downloads a browser of its own here: it launches /usr/bin/chromium
(`make chromium` installs it). Without Chromium or playwright the browser tests are
skipped with one clear reason, except with CI=true, where that is a failure.

The live server serves the test's `app` (so the database of the run, SQLite or
PostgreSQL, emptied after each test) with CSRF protection on, as in production.
"""

import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import _in_ci

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 360, "height": 740}, "locale": "zh-CN", "is_mobile": True, "has_touch": True}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the app in headless Chromium (tests/browser)")


def _why_no_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (make install-dev)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM} (make chromium)"
    return None


@pytest.fixture(scope="session")
def chromium():
    problem = _why_no_browser()
    if problem:
        if _in_ci():
            pytest.fail(f"{problem}; CI=true requires the browser tests.", pytrace=False)
        pytest.skip(f"browser tests skipped: {problem}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile of its own.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


class LiveServer:
    def __init__(self, app):
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        app.config["PUBLIC_BASE_URL"] = self.base_url
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def live_server(app):
    from liaison_app.extensions import db

    db.session.commit()  # what the test wrote is visible to the server's requests
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def js_errors():
    """Uncaught exceptions and console errors of the test's pages; the test fails if any
    is left at the end (a test that expects one removes it)."""
    errors = []
    yield errors
    assert not errors, f"JavaScript errors on the pages: {errors}"


@pytest.fixture
def browser_context(chromium, live_server, js_errors):
    context = chromium.new_context(base_url=live_server.base_url, **PHONE)
    context.set_default_timeout(10_000)
    watch(context, live_server.base_url, js_errors)
    yield context
    context.close()


def watch(context, base_url: str, errors: list) -> None:
    """Record on `errors` what a user should never meet on any page of `context`: uncaught
    exceptions, console errors, requests that failed or went to another origin (everything
    is self-hosted), and 5xx answers. A test that expects one removes it."""

    def on_request(request):
        url = request.url
        if not url.startswith((base_url, "data:", "blob:")):
            errors.append(f"external request: {url}")

    def on_response(response):
        if response.status >= 500:
            errors.append(f"HTTP {response.status}: {response.url}")

    def on_page(page):
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        page.on("console", lambda message: _console_error(message, errors))

    context.on("request", on_request)
    def on_failed(request):
        # ERR_ABORTED: the browser itself cancelled it (the page moved on: a poll, the icon).
        if "ERR_ABORTED" not in (request.failure or ""):
            errors.append(f"failed request: {request.url} ({request.failure})")

    context.on("requestfailed", on_failed)
    context.on("response", on_response)
    context.on("page", on_page)


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    yield page
    page.close()


@pytest.fixture
def new_context(chromium, live_server, js_errors):
    """Another person's browser (e.g. the county office's PC), watched like the first."""
    contexts = []

    def make(**options):
        settings = {**PHONE, **options}
        context = chromium.new_context(base_url=live_server.base_url, **settings)
        context.set_default_timeout(10_000)
        watch(context, live_server.base_url, js_errors)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def expect_browser_reported(page, js_errors, *fragments):
    """Take the errors the browser is expected to log (a 422 answer, a dropped request) off the list."""
    for _ in range(20):  # console messages reach the test a moment after the page logs them
        if all(any(fragment in e for e in js_errors) for fragment in fragments):
            break
        page.wait_for_timeout(100)
    for fragment in fragments:
        matching = [e for e in js_errors if fragment in e]
        assert matching, f"expected an error with {fragment!r} in {json.dumps(js_errors, ensure_ascii=False)}"
        for error in matching:
            js_errors.remove(error)


def log_in(page, username, password="correct horse battery"):
    """Log in through the login page, as a person would."""
    page.goto("/login")
    page.fill("#login", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def fill_filing_form(page, description: str) -> None:
    """The enterprise's filing form filled in as a worker would (no photo, no consent)."""
    page.check("input[name=kind][value=request]")
    page.fill("#enterprise_name", "太仓市恒丰精密机械有限公司")
    page.fill("#contact_name", "王海燕")
    page.fill("#contact_phone", "13812345678")
    page.select_option("#category", "infrastructure")
    page.fill("#description", description)
    # Leaving the phone field checked it (htmx); let that answer arrive, so that the Send tap
    # does not abort it (hx-sync), which htmx reports as a console error.
    page.wait_for_load_state("networkidle")


def _console_error(message, errors):
    if message.type == "error":
        errors.append(f"console: {message.text} ({message.location.get('url', '')})")


# --- what each page of a flow is checked for ------------------------------------------------------

OUTPUT = Path(__file__).resolve().parent.parent.parent / "test-output" / "screenshots"


@pytest.fixture
def shot(request):
    """shot(page, "claimed"): a full-page screenshot at the phone's size, numbered in the order
    taken, under test-output/screenshots/<test>/ (ignored by git) for a person to look at."""
    folder = OUTPUT / re.sub(r"[^\w.-]+", "_", request.node.name)
    if folder.exists():
        shutil.rmtree(folder)
    taken = []

    def take(page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take


_AXE = None


def accessibility_problems(page, context: str | None = None) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now, or of the part the
    CSS selector `context` picks (axe-core ships inside axe-playwright-python and is injected
    into the page: no network)."""
    global _AXE
    from axe_playwright_python.sync_playwright import Axe

    _AXE = _AXE or Axe()
    results = _AXE.run(page, context)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


# In the page: the interactive elements outside running text smaller than `minimum` CSS px
# either way (WCAG 2.5.5); checkboxes and radios count by the label that wraps them.
_SMALL_TARGETS = """minimum => {
  const small = [];
  const name = el => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`
      + ` "${(el.textContent || el.value || el.name || '').trim().replace(/\\s+/g, ' ').slice(0, 24)}"`;
  // A link is in running text when its block says more than its links and buttons do.
  const inRunningText = el => {
    if (el.tagName !== 'A') return false;
    let block = el.parentElement;
    while (block && getComputedStyle(block).display.startsWith('inline')) block = block.parentElement;
    let rest = block ? block.textContent : '';
    for (const other of block ? block.querySelectorAll('a, button, select, input') : []) {
      rest = rest.replace(other.textContent, '');
    }
    return rest.replace(/[\\s·|,，、›→←:：()（）]+/g, '').length > 0;
  };
  const seen = new Set();
  for (const el of document.querySelectorAll('a[href], button, select, textarea, summary, input:not([type=hidden])')) {
    let target = el;
    if (el.matches('input[type=checkbox], input[type=radio]')) target = el.closest('label') || el;
    if (seen.has(target) || target.closest('.honeypot, .visually-hidden') || inRunningText(target)) continue;
    seen.add(target);
    const box = target.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || getComputedStyle(target).visibility === 'hidden') continue;
    if (box.width < minimum - 0.5 || box.height < minimum - 0.5) {
      small.push(`${name(target)} ${Math.round(box.width)}×${Math.round(box.height)} px`);
    }
  }
  return small;
}"""


# In the page: what lies beyond the screen's edges, as a list of sentences (the honeypot and
# visually hidden text are off screen on purpose).
_WIDER = """() => {
  const width = document.documentElement.clientWidth;
  const problems = [];
  const name = el => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`
      + `${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''}`
      + ` "${(el.textContent || el.value || el.name || '').trim().replace(/\\s+/g, ' ').slice(0, 24)}"`;
  const hidden = el => el.closest('.honeypot, .visually-hidden');
  if (document.scrollingElement.scrollWidth > width) {
    problems.push(`the page scrolls sideways: ${document.scrollingElement.scrollWidth} px wide`);
  }
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || hidden(el)) continue;
    if (box.left < -0.5 || box.right > width + 0.5) {
      problems.push(`wider than the screen (${Math.round(box.left)}..${Math.round(box.right)} px): ${name(el)}`);
    }
  }
  return problems;
}"""


def wider_than_the_screen(page) -> list[str]:
    """The page scrolling sideways, and every element reaching past the screen's edges."""
    return page.evaluate(_WIDER)


def small_tap_targets(page, minimum: int = 44) -> list[str]:
    """Interactive elements outside running text under `minimum`×`minimum` CSS px."""
    return page.evaluate(_SMALL_TARGETS, minimum)


@pytest.fixture
def check_page(shot):
    """check_page(page, "step"): screenshot the step, then fail on accessibility violations
    (serious or critical) and on tap targets under 44 px."""

    def check(page, name: str) -> None:
        shot(page, name)
        problems = accessibility_problems(page)
        assert not problems, f"{name} ({page.url}): {problems}"
        small = small_tap_targets(page)
        assert not small, f"{name} ({page.url}): tap targets under 44 px: {small}"

    return check
