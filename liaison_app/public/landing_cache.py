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
"""

import threading
import time
from collections import OrderedDict
from typing import Optional

from flask import current_app, request
from flask_babel import get_locale

from ..templating import is_htmx

MAX_ENTRIES = 2000


class PageCache:
    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self.lock = threading.Lock()
        self.pages: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> Optional[str]:
        with self.lock:
            entry = self.pages.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self.pages[key]
                return None
            self.pages.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[str, str], html: str, seconds: float) -> None:
        with self.lock:
            self.pages[key] = (time.monotonic() + seconds, html)
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
