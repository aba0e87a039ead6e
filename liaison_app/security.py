"""Headers on every answer, and the reverse proxy in front of the app.

The Content-Security-Policy allows nothing inline: every script and style is a file under
static/, htmx runs with allowEval off and its indicator styles in static/css/app.css, and the
server-drawn SVG (charts, QR codes) uses presentation attributes, never style attributes.
tests/test_security_headers.py scans the templates and scripts so that this stays true.
"""

from flask import Flask, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
))

PROXY_FIX_SETTINGS = {
    "x_for": "PROXY_FIX_X_FOR",
    "x_proto": "PROXY_FIX_X_PROTO",
    "x_host": "PROXY_FIX_X_HOST",
    "x_port": "PROXY_FIX_X_PORT",
    "x_prefix": "PROXY_FIX_X_PREFIX",
}


def register(app: Flask) -> None:
    hops = {argument: int(app.config[name]) for argument, name in PROXY_FIX_SETTINGS.items()}
    if any(hops.values()):
        # request.is_secure, remote_addr and url_root then follow the proxy's X-Forwarded-* headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for older browsers
        headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure and app.config["HSTS_MAX_AGE"]:
            headers.setdefault("Strict-Transport-Security", f"max-age={int(app.config['HSTS_MAX_AGE'])}")
        if _logged_in() and request.endpoint != "static":
            # What a deputy or a unit sees must not stay in a shared or back-button cache.
            response.cache_control.no_store = True
            response.cache_control.public = False
            response.cache_control.max_age = None
        return response


def _logged_in() -> bool:
    """From the session alone (Flask-Login's key), so that it costs no query and works
    while the database is away."""
    return "_user_id" in session
