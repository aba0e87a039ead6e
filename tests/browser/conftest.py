"""Browser tests: the real app on a localhost port, driven by Playwright in Debian's Chromium.

Playwright never downloads a browser of its own here: it launches /usr/bin/chromium
(`make chromium` installs it). Without Chromium or playwright the browser tests are
skipped with one clear reason, except with CI=true, where that is a failure.

The live server serves the test's `app` (so the database of the run, SQLite or
PostgreSQL, emptied after each test) with CSRF protection on, as in production.
"""

import os
import threading

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
def browser_context(chromium, live_server):
    context = chromium.new_context(base_url=live_server.base_url, **PHONE)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context, js_errors):
    page = browser_context.new_page()
    page.on("pageerror", lambda error: js_errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: _console_error(message, js_errors))
    yield page
    page.close()


def _console_error(message, errors):
    if message.type == "error":
        errors.append(f"console: {message.text} ({message.location.get('url', '')})")
