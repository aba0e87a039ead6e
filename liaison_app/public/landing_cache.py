"""The QR landing page's HTML, kept a few seconds in this worker for anonymous visitors.

Most scans come from phones that have never been here: no session cookie, nobody logged in,
nothing on the page that belongs to them. For those the page of a code in a language is the
same for everyone, so it is rendered once per QR_LANDING_CACHE_SECONDS (0: never kept) and
served from memory after that, without a query (the scan is still counted, services.qr).
Such a page carries no CSRF token (base.html, `shared_page`): it has no form, and the filing
form that it links to gets its own. Anyone with a session cookie or a remember-me cookie
(logged in, or a flashed message waiting) gets a page rendered for them.

A code revoked by an admin leaves this worker's cache at once (admin.qr); other workers
serve the old page until it expires, at most QR_LANDING_CACHE_SECONDS later, and so do
changes to a deputy, a station or a reception day. At most MAX_ENTRIES pages are kept (LRU).

A phone with no cookie at all asking for a page with no query string gets the whole answer
(status, headers, body, compressed as it asked) from `FastPath`, in front of Flask: the same
bytes Flask sent the first such phone, without the request's hooks (half of a kept page's
time went to them). Its scan is counted in the same buffer.
"""

import re
import threading
import time
from collections import OrderedDict
from typing import Optional

from flask import Flask, current_app, request
from flask_babel import get_locale
from werkzeug.wsgi import ClosingIterator

from ..models import utcnow
from ..workdays import today_local

from ..templating import is_htmx

MAX_ENTRIES = 2000


class PageCache:
    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self.lock = threading.Lock()
        self.pages: OrderedDict[tuple[str, str], tuple[float, object]] = OrderedDict()  # a page, or a whole answer

    def get(self, key: tuple[str, str]) -> Optional[object]:
        with self.lock:
            entry = self.pages.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self.pages[key]
                return None
            self.pages.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[str, str], value: object, seconds: float) -> None:
        with self.lock:
            self.pages[key] = (time.monotonic() + seconds, value)
            self.pages.move_to_end(key)
            while len(self.pages) > self.max_entries:
                self.pages.popitem(last=False)

    def forget(self, token: str) -> None:
        with self.lock:
            for key in [k for k in self.pages if k[0] == token]:
                del self.pages[key]


def _cache() -> PageCache:
    return current_app.extensions.setdefault("qr_landing_cache", PageCache())


def shareable() -> bool:
    """Whether this request may get (and fill) the shared page: caching on, a plain GET
    from a browser with neither a session nor a remember-me cookie."""
    config = current_app.config
    return bool(config["QR_LANDING_CACHE_SECONDS"]) and request.method == "GET" and not is_htmx() and not (
        config["SESSION_COOKIE_NAME"] in request.cookies
        or config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    )


def _key(token: str) -> tuple[str, str]:
    return (token, str(get_locale()))


def get(token: str) -> Optional[str]:
    return _cache().get(_key(token))


def put(token: str, html: str) -> None:
    _cache().put(_key(token), html, current_app.config["QR_LANDING_CACHE_SECONDS"])


def forget(token: str) -> None:
    """A revoked code's pages, in every language, leave this worker's cache."""
    _cache().forget(token)


# --- the whole answer, before Flask -------------------------------------------------------

_LANDING_PATH = re.compile(r"/q/([A-Za-z0-9_-]{1,64})")
SHARED_ANSWER = "liaison.landing_shared"  # set in the environ by the view that served a shared page


class FastPath:
    """WSGI middleware: the kept answer of a landing page for a phone without cookies."""

    def __init__(self, app: Flask, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app

    def __call__(self, environ, start_response):
        key = self._key(environ)
        if key is None:
            return self.wsgi_app(environ, start_response)
        cache = self.app.extensions.get("qr_landing_cache")
        buffer = self.app.extensions.get("qr_scan_buffer")
        kept = cache.get(key) if cache is not None and buffer is not None else None
        if kept is None:
            return self._keep(key, environ, start_response)
        status, headers, body = kept
        buffer.add(key[0], utcnow(), today_local())  # counted as services.qr.record_scan does
        start_response(status, list(headers))
        seconds = self.app.config["QR_SCAN_FLUSH_SECONDS"]
        return ClosingIterator([body], [buffer.flush] if buffer.due(seconds) else [])

    def _key(self, environ) -> Optional[tuple[str, str]]:
        """(token, "answer:" + Accept-Encoding) for a plain GET of a landing page from a phone
        with no cookie (so no session, no remembered language: the default one) and no htmx."""
        config = self.app.config
        if (environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING") or environ.get("HTTP_COOKIE")
                or environ.get("HTTP_HX_REQUEST") or not config["QR_LANDING_CACHE_SECONDS"]
                or not config["QR_SCAN_FLUSH_SECONDS"]):
            return None
        match = _LANDING_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None:
            return None
        return match.group(1), "answer:" + environ.get("HTTP_ACCEPT_ENCODING", "")

    def _keep(self, key, environ, start_response):
        """Let Flask answer; keep the answer when the view says it is the shared page and it
        sets no cookie."""
        answer = {}

        def keeping_start_response(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, keeping_start_response)
        if not environ.get(SHARED_ANSWER):
            return body
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        headers = answer.get("headers") or []
        if answer.get("status", "").startswith("200") and not any(
                name.lower() == "set-cookie" for name, _value in headers):
            self.app.extensions["qr_landing_cache"].put(
                key, (answer["status"], tuple(headers), data), self.app.config["QR_LANDING_CACHE_SECONDS"])
        return [data]


def install(app: Flask) -> None:
    app.wsgi_app = FastPath(app, app.wsgi_app)
