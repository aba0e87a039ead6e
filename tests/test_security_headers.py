"""Headers on every answer (CSP without unsafe-*, nosniff, referrer, HSTS over HTTPS only,
no-store for logged-in users), ProxyFix from the settings, secure cookies, and nothing inline
in the templates, scripts or server-drawn SVG that the CSP would block."""

import html
import io
import json
import re
from pathlib import Path

import pytest

from liaison_app import ConfigError, charts, create_app, qrimages
from liaison_app.charts import Series
from liaison_app.models import Role
from tests.factories import make_qr_code, make_user
from tests.test_auth import log_in, set_cookies
from tests.test_desk import login
from tests.test_filing import form_data

APP_DIR = Path(__file__).resolve().parent.parent / "liaison_app"
HTTPS = {"base_url": "https://liaison.example.cn"}


def csp(response) -> dict:
    """The policy as {directive: [sources]}."""
    policy = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in policy.split(";") if part.strip())}


def assert_security_headers(response):
    policy = csp(response)
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'"]  # no data: — the favicon and every picture are files
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def no_store(response) -> bool:
    return bool(response.cache_control.no_store)


@pytest.fixture
def deputy(app):
    return make_user(Role.DEPUTY)


# --- every kind of answer carries the headers ---------------------------------------------


def test_an_anonymous_page_has_the_headers_and_may_be_cached(client):
    response = client.get("/")

    assert response.status_code == 200
    assert_security_headers(response)
    assert not no_store(response)
    assert "Strict-Transport-Security" not in response.headers  # plain http


def test_a_logged_in_users_pages_are_never_stored(client, deputy):
    login(client, deputy)

    for path in ("/desk/", "/", "/mine"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)
        assert no_store(response), path


def test_logging_in_answers_with_no_store(client, deputy):
    response = log_in(client, deputy.username)

    assert response.status_code == 303
    assert no_store(response)


def test_static_files_keep_their_caching_for_a_logged_in_user(client, deputy):
    login(client, deputy)

    response = client.get("/static/css/app.css")

    assert response.status_code == 200
    assert not no_store(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_htmx_fragment_has_the_headers(client, htmx):
    response = client.post("/validate/uscc", data={"uscc": "123"}, headers=htmx)

    assert response.status_code == 200
    assert_security_headers(response)


def test_a_logged_in_htmx_fragment_is_not_stored(client, deputy, htmx):
    login(client, deputy)

    response = client.get("/desk/", headers=htmx)

    assert response.status_code == 200
    assert_security_headers(response)
    assert no_store(response)


def test_a_404_has_the_headers(client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert_security_headers(response)


def test_a_500_has_the_headers(app, client):
    def broken():
        raise RuntimeError("boom")

    app.add_url_rule("/broken", view_func=broken)

    response = client.get("/broken")

    assert response.status_code == 500
    assert_security_headers(response)


# --- HTTPS and the proxy --------------------------------------------------------------------


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/").headers

    response = client.get("/", **HTTPS)

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_a_forwarded_proto_header_is_ignored_without_proxy_fix(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})

    assert "Strict-Transport-Security" not in response.headers


class TestBehindAProxy:
    @pytest.fixture
    def app_config(self):
        return {"PROXY_FIX_X_FOR": 1, "PROXY_FIX_X_PROTO": 1}

    def test_https_at_the_proxy_gets_hsts(self, client):
        response = client.get("/", headers={"X-Forwarded-Proto": "https"})

        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"

    def test_the_client_address_is_the_forwarded_one(self, app, client):
        from flask import request

        app.add_url_rule("/address", view_func=lambda: request.remote_addr or "")

        response = client.get("/address", headers={"X-Forwarded-For": "203.0.113.9"},
                              environ_base={"REMOTE_ADDR": "10.0.0.2"})

        assert response.get_data(as_text=True) == "203.0.113.9"


class TestHstsOff:
    @pytest.fixture
    def app_config(self):
        return {"HSTS_MAX_AGE": 0}

    def test_no_hsts_when_switched_off(self, client):
        assert "Strict-Transport-Security" not in client.get("/", **HTTPS).headers


def _app_from_environment(monkeypatch, tmp_path, **env):
    monkeypatch.setattr("flask.Config.from_pyfile", lambda self, *a, **k: False)  # ignore instance/config.py
    for name, value in {"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/env.sqlite",
                        "UPLOAD_FOLDER": str(tmp_path / "uploads"), **env}.items():
        monkeypatch.setenv(name, value)
    return create_app()


def test_proxy_settings_come_from_the_environment_as_numbers(monkeypatch, tmp_path):
    app = _app_from_environment(monkeypatch, tmp_path, PROXY_FIX_X_FOR="2", PROXY_FIX_X_PROTO="1")

    assert app.config["PROXY_FIX_X_FOR"] == 2 and app.config["PROXY_FIX_X_PROTO"] == 1
    assert app.wsgi_app.x_for == 2 and app.wsgi_app.x_proto == 1


def test_a_proxy_setting_that_is_not_a_number_stops_the_start(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="PROXY_FIX_X_FOR must be a whole number"):
        _app_from_environment(monkeypatch, tmp_path, PROXY_FIX_X_FOR="yes")


# --- cookies ----------------------------------------------------------------------------------


def test_https_cookies_are_secure_httponly_and_lax(app, client):
    """The tests' PUBLIC_BASE_URL is https://…: every cookie the app sets is Secure."""
    user = make_user(Role.DEPUTY)
    code = make_qr_code()

    cookies = set_cookies(log_in(client, user.username, remember="y"))
    cookies |= set_cookies(client.get("/?lang=en"))
    cookies |= set_cookies(client.post(f"/q/{code.token}/file", data=form_data()))

    assert set(cookies) >= {"session", "remember_token", "lang", "my_requests"}
    for name, cookie in cookies.items():
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie


class TestLocalHttp:
    @pytest.fixture
    def app_config(self):
        return {"PUBLIC_BASE_URL": "http://127.0.0.1:5000"}

    def test_cookies_are_not_secure_on_a_local_http_address(self, app, client):
        cookies = set_cookies(log_in(client, make_user(Role.DEPUTY).username, remember="y"))
        cookies |= set_cookies(client.get("/?lang=en"))

        assert set(cookies) >= {"session", "remember_token", "lang"}
        for cookie in cookies.values():
            assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie


class TestSecureSetExplicitly:
    @pytest.fixture
    def app_config(self):
        return {"SESSION_COOKIE_SECURE": False}

    def test_an_explicit_setting_wins_over_the_https_address(self, app, client):
        cookie = set_cookies(log_in(client, make_user(Role.DEPUTY).username))["session"]

        assert "Secure" not in cookie and "HttpOnly" in cookie


# --- nothing inline that the CSP would block ------------------------------------------------

INLINE_IN_MARKUP = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "style block": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"""\sstyle\s*=\s*["'{]""", re.I),
    "event handler attribute": re.compile(r"""\s(on[a-z]+|hx-on(:[\w:-]+)?)\s*=\s*["']""", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}
INLINE_IN_SCRIPTS = {
    "eval": re.compile(r"\beval\s*\(|new\s+Function\s*\("),
    "style attribute": re.compile(r"""setAttribute\(\s*["']style|style\s*=\s*\\?["']|cssText"""),
    "handler attribute": re.compile(r"""setAttribute\(\s*["']on[a-z]+|\son[a-z]+\s*=\s*\\?["']"""),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def _inline_problems(text: str, patterns: dict) -> list[str]:
    return [f"{what}: {match.group(0)!r}" for what, pattern in patterns.items() for match in pattern.finditer(text)]


def test_no_template_has_inline_script_style_or_handlers():
    problems = {}
    for path in sorted((APP_DIR / "templates").rglob("*.html")):
        found = _inline_problems(path.read_text(encoding="utf-8"), INLINE_IN_MARKUP)
        if found:
            problems[str(path.relative_to(APP_DIR))] = found
    assert not problems


def test_our_scripts_write_no_inline_style_handlers_or_eval():
    scripts = sorted((APP_DIR / "static" / "js").glob("*.js"))
    assert scripts
    problems = {str(p.name): _inline_problems(p.read_text(encoding="utf-8"), INLINE_IN_SCRIPTS) for p in scripts}
    assert not {name: found for name, found in problems.items() if found}


def test_the_htmx_config_allows_no_eval_and_its_indicator_styles_are_in_our_stylesheet(client):
    page = client.get("/").get_data(as_text=True)
    config = json.loads(html.unescape(re.search(r'<meta name="htmx-config" content=\'([^\']*)\'>', page).group(1)))
    stylesheet = (APP_DIR / "static" / "css" / "app.css").read_text(encoding="utf-8")

    assert config["allowEval"] is False and config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False
    # Settling copies attributes with setAttribute: a style attribute would break the CSP.
    assert "style" not in config["attributesToSettle"]
    assert ".htmx-indicator" in stylesheet and ".htmx-request" in stylesheet


def test_server_drawn_svg_uses_no_style_attributes():
    pictures = [
        str(qrimages.inline_svg("https://liaison.example.cn/q/abc")),
        qrimages.svg_document("https://liaison.example.cn/q/abc").decode(),
        str(charts.bar_chart("bars", "按类别", "各类别的诉求数", ["用工", "融资"], [3, 0])),
        str(charts.column_chart("columns", "按月", "每月收到和办结的诉求", ["11月", "12月"],
                                [Series("收到", [3, 4]), Series("办结", [1, None], css_class="closed")])),
    ]
    for svg in pictures:
        assert "<svg" in svg
        assert not _inline_problems(svg, INLINE_IN_MARKUP), svg[:300]


def test_rendered_pages_have_nothing_inline(app, client, deputy):
    """What the macros and filters put on the pages, not only the template sources."""
    code = make_qr_code()
    photo = (io.BytesIO(b"not an image"), "a.jpg")
    pages = {
        "landing": client.get(f"/q/{code.token}"),
        "filing form": client.get(f"/q/{code.token}/file"),
        "filing form with errors": client.post(f"/q/{code.token}/file", data=form_data(contact_phone="1", photos=photo),
                                               content_type="multipart/form-data"),
        "login": client.get("/login"),
    }
    login(client, deputy)
    pages["desk"] = client.get("/desk/")

    for name, response in pages.items():
        assert response.status_code in (200, 422), name
        assert not _inline_problems(response.get_data(as_text=True), INLINE_IN_MARKUP), name
