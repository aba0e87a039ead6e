"""Static files under fingerprinted names, cached for a year.

`url_for('static', filename='css/app.css')` gives `/static/css/app.1a2b3c4d.css`, the eight
hex digits being the start of the file's sha256. That name is served with
`Cache-Control: public, max-age=31536000, immutable`: a phone fetches it once, and a release
that changes the file changes its name. The files on disk keep their plain names (vendor files
stay byte for byte as pinned); the plain name still works, cached for a few minutes only. A
fingerprint that is not the file's current one (a page from before a release) is redirected
to the current name.

Hashes are computed once per file and version on disk (size and modification time), so a
file edited while the app runs gets a new name at once.
"""

import functools
import hashlib
import os
import re
from typing import Optional

from flask import Flask, current_app, redirect, request, send_from_directory, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

ONE_YEAR = 365 * 24 * 3600
PLAIN_NAME_MAX_AGE = 300  # the unfingerprinted name: a stale copy lasts five minutes at most
HASH_LENGTH = 8
FINGERPRINTED = re.compile(rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<suffix>\.[A-Za-z0-9]+)$")


def register(app: Flask) -> None:
    app.url_defaults(_fingerprint_static_urls)
    app.view_functions["static"] = serve_static
    app.session_interface = _SessionNotForStaticFiles()


class _SessionNotForStaticFiles(SecureCookieSessionInterface):
    """Flask-Login looks into the session after every request, and Flask then sends
    Vary: Cookie; on a static file that would make the browser fetch it again whenever a
    cookie changes (the first form sets one). Static files never change the session."""

    def save_session(self, app, session, response):
        if request.endpoint != "static":
            super().save_session(app, session, response)

    def get_signing_serializer(self, app):
        # Flask builds the cookie's serializer anew twice a request (open and save), a tenth
        # of a cached landing page's time: kept while the keys stay the same.
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = getattr(self, "_serializer", None)
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]


def fingerprinted(filename: str) -> Optional[str]:
    """css/app.css → css/app.1a2b3c4d.css, or None when there is no such file."""
    stem, suffix = os.path.splitext(filename)
    digest = file_hash(filename)
    if digest is None or not suffix:
        return None
    return f"{stem}.{digest}{suffix}"


def file_hash(filename: str) -> Optional[str]:
    """The first HASH_LENGTH hex digits of the static file's sha256, or None without the file."""
    path = safe_join(current_app.static_folder, filename)  # None for a path leaving the folder
    if path is None or not os.path.isfile(path):
        return None
    stat = os.stat(path)
    return _sha256_prefix(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=512)
def _sha256_prefix(path: str, _size: int, _mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:HASH_LENGTH]


def _fingerprint_static_urls(endpoint: str, values: dict) -> None:
    if endpoint == "static" and "filename" in values:
        values["filename"] = fingerprinted(values["filename"]) or values["filename"]


def serve_static(filename: str):
    """Replaces Flask's static view: a fingerprinted name for a year, the plain one briefly."""
    folder = current_app.static_folder
    match = FINGERPRINTED.match(filename)
    if match is not None and file_hash(filename) is None:
        plain = match["stem"] + match["suffix"]
        digest = file_hash(plain)
        if digest is None:
            raise NotFound()
        if digest != match["hash"]:
            # An older (or made-up) version: the current one, without the long cache.
            return redirect(url_for("static", filename=plain), 302)
        response = send_from_directory(folder, plain, max_age=ONE_YEAR)  # public, max-age
        response.cache_control.immutable = True
        return response
    return send_from_directory(folder, filename, max_age=PLAIN_NAME_MAX_AGE)
