"""Rate limits (Flask-Limiter) and the login lockout.

What is limited, each in a setting (config.py, README "Rate limits and lockout"):

- the login form, per client address (LOGIN_LIMIT_PER_IP): every POST counts, right or wrong,
  because each costs an argon2 check (0.6 s of a core) and floods of them are the cheapest way
  to take the site down;
- failed logins per account (LOGIN_FAILURES_PER_ACCOUNT, 100 in a rolling hour): the next
  attempt is refused, even with the right password, until the oldest failure is an hour old;
- filings, per client address and per QR code (FILING_LIMIT_PER_IP, FILING_LIMIT_PER_CODE);
- tracking links that do not exist, per client address (TRACKING_MISSES_PER_IP): a guesser
  is stopped while the people who open their own links (found, so not counted) are not.
- codes asked for by 找回我的诉求 (/find), per number and per client address
  (FIND_CODES_PER_PHONE, FIND_CODES_PER_IP): a number is not flooded with texts, nor the
  SMS bill run up; the tries at each code are counted in the database (services/find.py).

Why the account lock cannot keep a deputy out: anyone can type a deputy's phone number and
a hundred wrong passwords, so a lock that lasted, or that applied to every device, would be a
way to shut deputies out of their work. The lock therefore only lasts the rolling hour, and a
phone that has logged in to the account before carries a "known device" cookie (signed,
HttpOnly, tied to the user id and the current password) that exempts it from the per-account
count altogether: on it the deputy logs in during an attack, and its own failures (a typo)
count only against its address. Changing the password makes the old cookies worthless, so a
stolen cookie is no way around the lock for long. A password set with a one-time reset (which an
admin hands over after checking who asks) ends the lock at once, so that the deputy can log in
on a new phone (forget_failed_logins). Guessing from known devices is still bounded
by the per-address limits, and argon2 makes each guess slow.

Factory workers share one NATed address: 50 of them filing from the same canteen must not be
refused, so the per-address limits are generous; the per-code and per-account ones, which no
crowd shares, are the strict ones.

The counts live in Redis when REDIS_URL is set (shared by every worker process), in memory
otherwise. When Redis fails the app keeps serving: Flask-Limiter logs it and counts in memory
until Redis answers again.
"""

import hashlib
import hmac
import logging
import math
import time
from typing import Optional

from flask import current_app, g, make_response, render_template, request
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import parse_many
from werkzeug.exceptions import NotFound

from .extensions import limiter

log = logging.getLogger("liaison.auth")

ACCOUNT_SCOPE = "account"  # the scope of the per-account failure limit (tells the 429 page which)
KNOWN_DEVICES_MAX = 5  # accounts remembered by one device (a shared office computer)


def init_limits(app) -> None:
    """Bind the limiter to the app: Redis when REDIS_URL is set, memory otherwise."""
    config = app.config
    config["RATELIMIT_STORAGE_URI"] = config.get("REDIS_URL") or "memory://"
    config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1}
                      if config.get("REDIS_URL") else {})
    # One Limiter serves every app of the process (the tests make one per test); Flask-Limiter
    # keeps a few things from the first app it was bound to, which each app sets again here.
    limiter._key_prefix = config["RATELIMIT_KEY_PREFIX"]
    limiter._storage_options = dict(config["RATELIMIT_STORAGE_OPTIONS"])
    limiter._storage_dead = False
    limiter.init_app(app)
    app.register_error_handler(429, too_many_requests)


def setting(name: str):
    """A limit read from the settings when the request comes (so tests can change it)."""
    return lambda: current_app.config[name]


# --- keys --------------------------------------------------------------------------------


def client_address() -> str:
    """The client's address (ProxyFix sets it from X-Forwarded-For behind nginx)."""
    return request.remote_addr or "unknown"


def qr_code_key() -> str:
    return "code:" + str((request.view_args or {}).get("token", "-"))


def login_account_key() -> str:
    """The account the login form names, however it was spelled (any case, any phone
    spelling); a login that names nobody is counted under its own text."""
    user = _login_user()
    if user is not None:
        return f"user:{user.id}"
    return "login:" + ((request.form.get("login") or "").strip().lower()[:64] or "-")


def _login_user():
    if "limits_login_user" not in g:
        from .services.users import find_user

        g.limits_login_user = find_user((request.form.get("login") or "")[:64])
    return g.limits_login_user


def _from_known_device() -> bool:
    user = _login_user()
    return user is not None and is_known_device(user)


def _login_failed(_response) -> bool:
    return g.get("login_failed", False)


def _tracking_miss(response) -> bool:
    return response.status_code == 404


def find_phone_key() -> str:
    """The number 找回我的诉求 is asked for, however it was typed; keyed, so that the
    limiter's storage holds no phone number. A number that is not one counts under "-"
    (it is never charged: no code is made for it)."""
    from .validators import InvalidValue, normalise_phone

    try:
        phone = normalise_phone((request.form.get("phone") or "")[:40])
    except InvalidValue:
        return "phone:-"
    digest = hmac.new(current_app.secret_key.encode(), f"find-limit:{phone}".encode(), hashlib.sha256)
    return "phone:" + digest.hexdigest()[:32]


def _find_code_made(_response) -> bool:
    return g.get("find_code_made", False)


def note_find_code_made() -> None:
    """Count this request against the find-code limits (a code was made and, maybe, texted)."""
    g.find_code_made = True


# --- the limits, as decorators of the views ----------------------------------------------

login_per_address = limiter.limit(setting("LOGIN_LIMIT_PER_IP"), methods=["POST"], scope="address")
# The one-time code form costs an argon2 check too (its 5 tries per code are counted in the database).
reset_code_per_address = limiter.limit(setting("LOGIN_LIMIT_PER_IP"), methods=["POST"], scope="address")
login_failures_per_account = limiter.limit(
    setting("LOGIN_FAILURES_PER_ACCOUNT"), methods=["POST"], scope=ACCOUNT_SCOPE, key_func=login_account_key,
    deduct_when=_login_failed, exempt_when=_from_known_device,
)
filing_per_address = limiter.limit(setting("FILING_LIMIT_PER_IP"), methods=["POST"], scope="address")
filing_per_code = limiter.limit(setting("FILING_LIMIT_PER_CODE"), methods=["POST"], scope="code",
                                key_func=qr_code_key)
# 找回我的诉求: only the asks that made a code count (a typo in the number does not); the
# per-number limit is what keeps anyone from flooding a phone with texts.
find_codes_per_address = limiter.limit(setting("FIND_CODES_PER_IP"), methods=["POST"], scope="address",
                                       deduct_when=_find_code_made)
find_codes_per_phone = limiter.limit(setting("FIND_CODES_PER_PHONE"), methods=["POST"], scope="phone",
                                     key_func=find_phone_key, deduct_when=_find_code_made)
# Shared by every /t/<token>... page: misses anywhere count together.
tracking_misses = limiter.shared_limit(setting("TRACKING_MISSES_PER_IP"), scope="tracking-miss",
                                       deduct_when=_tracking_miss)


def forget_failed_logins(user_id: int) -> None:
    """End the account's lock at once (its failed logins counted in the rolling hour are
    cleared): called when a password is set with a one-time reset, which an admin gave to the
    person after checking who they are, so that they need not wait out the hour on a phone that
    never logged in before. The per-address counts stay. A storage that fails is logged and
    leaves the lock to run out on its own: a reset must not fail for it."""
    if not limiter.enabled:
        return
    # The identifiers Flask-Limiter counts the limit under: the key prefix (init_limits), the
    # key, then the endpoint and the scope (login_failures_per_account is not shared between
    # routes, nor kept per method). tests/test_login_throttle.py checks that they still match.
    config = current_app.config
    identifiers = [config["RATELIMIT_KEY_PREFIX"], f"user:{user_id}", f"auth.login:{ACCOUNT_SCOPE}"]
    try:
        for item in parse_many(config["LOGIN_FAILURES_PER_ACCOUNT"]):
            limiter.limiter.clear(item, *(part for part in identifiers if part))
    except Exception:
        log.warning("could not clear the failed logins of user %s", user_id, exc_info=True)


def note_failed_login() -> None:
    """Count this request against the account's failures (see login_failures_per_account)."""
    g.login_failed = True


# --- known devices -----------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="known-device")


def _device_entry(user) -> str:
    # The password's own "generation": a fingerprint of its hash, so that a new password (set
    # in any way) voids every cookie issued before. Keyed, so the cookie tells nothing of it.
    digest = hmac.new(current_app.secret_key.encode(), user.password_hash.encode(), hashlib.sha256)
    return f"{user.id}:{digest.hexdigest()[:20]}"


def _known_entries() -> list:
    raw = request.cookies.get(current_app.config["KNOWN_DEVICE_COOKIE"])
    if not raw:
        return []
    try:
        entries = _serializer().loads(raw, max_age=int(current_app.config["KNOWN_DEVICE_LIFETIME"].total_seconds()))
    except BadSignature:
        return []
    return [e for e in entries if isinstance(e, str)] if isinstance(entries, list) else []


def is_known_device(user) -> bool:
    """This device logged in to the account before, with its current password."""
    return _device_entry(user) in _known_entries()


def remember_device(response, user) -> None:
    """After a successful login (or password change): this device is known to the account."""
    mine = _device_entry(user)
    others = [e for e in _known_entries() if not e.startswith(f"{user.id}:")]
    config = current_app.config
    response.set_cookie(
        config["KNOWN_DEVICE_COOKIE"], _serializer().dumps([mine, *others][:KNOWN_DEVICES_MAX]),
        max_age=int(config["KNOWN_DEVICE_LIFETIME"].total_seconds()),
        httponly=True, samesite="Lax", secure=config["SESSION_COOKIE_SECURE"], path="/login",
    )


# --- the 429 answer ----------------------------------------------------------------------


def too_many_requests(error):
    """A friendly page in the user's language with Retry-After; forms come back as typed."""
    wait = _seconds_to_wait()
    minutes = max(1, round(wait / 60))
    scope = getattr(getattr(error, "limit", None), "scope", None)
    if request.endpoint == "auth.login":
        response = _login_refused(scope, minutes)
    elif request.endpoint == "auth.reset_code":
        response = _reset_code_refused(minutes)
    elif request.endpoint == "public.request_file":
        response = _filing_refused(minutes)
    elif request.endpoint == "public.find":
        response = _find_refused(scope, minutes)
    elif request.endpoint and request.endpoint.startswith("public.tracking"):
        response = _page(_("Too many tracking links that do not exist were opened from this network. "
                           "Please check your link and try again in %(minutes)d minutes.", minutes=minutes))
    else:
        response = _page(_("Too many requests. Please try again in %(minutes)d minutes.", minutes=minutes))
    answer = make_response(*response)
    answer.headers["Retry-After"] = str(wait)
    return answer


def _seconds_to_wait() -> int:
    """Until the breached limit lets one more request through (moving window: the oldest
    counted request leaves the window)."""
    try:
        current = limiter.current_limit
        if current is not None:
            return max(1, math.ceil(current.reset_at - time.time()))
    except Exception:  # the storage failed meanwhile: a minute is a fair guess
        log.warning("could not read the rate limit window", exc_info=True)
    return 60


def _login_refused(scope: Optional[str], minutes: int):
    from .auth.forms import LoginForm
    from .auth.views import _render

    login = (request.form.get("login") or "").strip()[:40]
    if scope == ACCOUNT_SCOPE:
        log.warning("login refused for %r: too many failed logins for this account within an hour", login)
        problem = _("Too many wrong passwords were typed for this account in the last hour, so it cannot log in "
                    "from this device for %(minutes)d minutes. On a phone where you logged in before you can "
                    "log in now.", minutes=minutes)
    else:
        log.warning("login refused for %r: too many login attempts from %s", login, client_address())
        problem = _("Too many login attempts from this network. Please try again in %(minutes)d minutes.",
                    minutes=minutes)
    return _render("auth/login.html", "auth/_login_form.html", form=LoginForm(), problem=problem, status=429)


def _reset_code_refused(minutes: int):
    from .auth.forms import ResetCodeForm
    from .auth.reset import _render_code_form

    log.warning("reset code refused for %r: too many attempts from %s",
                (request.form.get("login") or "").strip()[:40], client_address())
    form = ResetCodeForm()
    form.code.errors = [_("Too many attempts from this network. Please try again in %(minutes)d minutes.",
                          minutes=minutes)]
    return _render_code_form(form, status=429)


def _filing_refused(minutes: int):
    from .public import views as public_views

    message = _("Too many requests were sent from this network or with this code just now. Everything you "
                "typed is kept: please send it again in %(minutes)d minutes.", minutes=minutes)
    try:
        return public_views.render_filing_after_rate_limit(request.view_args["token"], message)
    except NotFound:
        return _page(message)


def _find_refused(scope: Optional[str], minutes: int):
    from .public import recover

    if scope == "phone":
        message = _("Codes were asked for this number too often. Please try again in %(minutes)d minutes.",
                    minutes=minutes)
    else:
        message = _("Too many codes were asked for from this network. Please try again in %(minutes)d minutes.",
                    minutes=minutes)
    return recover.render_find_after_rate_limit(message)


def _page(message: str):
    from .templating import is_htmx

    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return render_template(template, status=429, message=message), 429
