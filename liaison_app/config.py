"""Settings: built-in defaults, then instance/config.py, then the environment."""

import os
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

# Settings read from the environment when present (strings; see _coerce).
ENV_SETTINGS = (
    "DATABASE_URL",
    "SECRET_KEY",
    "PUBLIC_BASE_URL",
    "BABEL_DEFAULT_LOCALE",
    "UPLOAD_FOLDER",
    "SESSION_COOKIE_SECURE",
    "NOTIFIER",
    "NOTIFY_WEBHOOK_URL",
    # Rate limits (liaison_app/limits.py)
    "REDIS_URL",
    "RATELIMIT_ENABLED",
    # Security (liaison_app/security.py)
    "HSTS_MAX_AGE",
    "PROXY_FIX_X_FOR",
    "PROXY_FIX_X_PROTO",
    "PROXY_FIX_X_HOST",
    "PROXY_FIX_X_PORT",
    "PROXY_FIX_X_PREFIX",
    "ALLOW_DEBUG",
    # Logs and privacy (liaison_app/logs.py, services/retention.py)
    "LOG_LEVEL",
    "LOG_FORMAT",
    "CONTACT_RETENTION_MONTHS",
    # The dashboard (services/dashboard_snapshots.py)
    "DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS",
    "DASHBOARD_SNAPSHOT_MIN_REQUESTS",
    "DASHBOARD_SNAPSHOT_PERIODS",
)


class ConfigError(RuntimeError):
    """The app cannot start with the settings it was given."""


class Defaults:
    SECRET_KEY = None
    DATABASE_URL = None  # None: SQLite file in the instance folder
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")
    UPLOAD_FOLDER = None  # None: instance/uploads
    IMPORT_FOLDER = None  # None: instance/imports (a checked spreadsheet waits here for its import)

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SQLITE_BUSY_TIMEOUT_MS = 5000

    # Deadlines (working days on the Chinese official calendar).
    CLAIM_DUE_WORKING_DAYS = 1
    RESPONSE_DUE_WORKING_DAYS = 7  # from assignment, not acknowledgement
    ACKNOWLEDGE_DUE_WORKING_DAYS = 1  # 签收期限, from assignment: later it is overdue on the supervision page
    RATING_DAYS = 7  # calendar days the enterprise has to rate; then closed as 未评价

    # The desk's request lists (inbox, department home) ask the server for changes this often,
    # so that a new request appears without a reload. Each open list costs one small query per
    # interval; the browser tests set 1 to see a filing arrive at once.
    INBOX_POLL_SECONDS = 30

    # 接待日: deputies on duty a reception day should have (Wan'an: at least three). Fewer
    # may be scheduled; the schedule then marks the day as short (短缺).
    RECEPTION_MIN_DEPUTIES = 3

    # The monthly report (一月一小结): None or 0 counts calendar months; a day such as 20
    # makes the month "2026-11" run from 21 October to 20 November (Taizhou sends by the 20th).
    REPORT_CUTOFF_DAY = None

    # Outbound notifications (services/notify.py). "log" writes a line per message;
    # "webhook" posts JSON to NOTIFY_WEBHOOK_URL, e.g. a WeCom or DingTalk group robot
    # (its URL holds the robot's key: set it in the environment or instance/config.py).
    NOTIFIER = "log"
    NOTIFY_WEBHOOK_URL = None
    NOTIFY_TIMEOUT_SECONDS = 5
    NOTIFY_MAX_ATTEMPTS = 5  # then the message is marked failed
    NOTIFY_RETRY_SECONDS = 60  # the first retry's delay; it doubles with each attempt
    # Try to send right after the commit; `flask notify-retry` (cron) sends the rest.
    NOTIFY_DELIVER_IMMEDIATELY = True
    # In a request, the worker's courier thread sends it half a second later, in batches, so
    # that the answer never waits for the robot; False: the request sends it before answering.
    NOTIFY_DELIVER_IN_BACKGROUND = True

    # Logs and privacy (liaison_app/logs.py, services/retention.py). Every line: UTC time, level,
    # logger, user (id:username or anonymous), client IP, message; phone numbers and USCCs
    # masked, line breaks escaped. LOG_LEVEL is the app's loggers' ("liaison.*") level.
    LOG_LEVEL = "INFO"
    LOG_FORMAT = None  # None: logs.DEFAULT_FORMAT; the fields user and ip are available
    LOG_TO_STDERR = None  # None: on, except under TESTING (pytest's caplog takes the records)
    # Contact names and phones of requests closed or withdrawn more than this many months ago
    # are anonymised by `flask anonymise-closed` (cron, daily). None or 0: kept.
    CONTACT_RETENTION_MONTHS = 24

    # Compression (flask-compress, see extensions.py): text answers over ~500 bytes go out
    # brotli-compressed (gzip for clients without br); photos, XLSX and PDF never (already
    # compressed). Static files are streamed; flask-compress leaves gzip out for streams by
    # default, but its gzip stream is sound (tests/test_compression.py), and some clients take
    # nothing else.
    COMPRESS_MIMETYPES = ["text/html", "text/css", "text/javascript", "application/javascript",
                          "application/json", "image/svg+xml"]
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_ALGORITHM_STREAMING = ["br", "gzip"]
    COMPRESS_MIN_SIZE = 500
    COMPRESS_BR_LEVEL = 5  # flask-compress's 4 makes htmx larger than gzip does; 5 costs ~2 ms for it

    # Three photos of at most 8 MB each plus the text fields; a bigger body is refused
    # with 413 before it is read.
    MAX_PHOTOS = 3
    MAX_PHOTO_BYTES = 8 * 1024 * 1024
    MAX_CONTENT_LENGTH = 3 * 8 * 1024 * 1024 + 512 * 1024
    # Decoding more pixels than this is treated as a decompression bomb.
    MAX_PHOTO_PIXELS = 40_000_000
    # Stored photos are re-encoded no larger than this on their long side.
    PHOTO_MAX_SIDE = 2048

    # A worker may take a long time to type on a factory floor; the form still keeps
    # the text if the token expires (see public.views).
    WTF_CSRF_TIME_LIMIT = 12 * 3600
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # None: Secure when PUBLIC_BASE_URL is https:// (see load_config). The language and
    # my_requests cookies follow it too.
    SESSION_COOKIE_SECURE = None
    # "Remember me" on a deputy's phone; REMEMBER_COOKIE_SECURE follows SESSION_COOKIE_SECURE
    # unless set (see load_config).
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"

    # The phone remembers the requests filed from it (我的诉求) in this cookie.
    MY_REQUESTS_COOKIE = "my_requests"
    MY_REQUESTS_MAX = 30
    MY_REQUESTS_LIFETIME = timedelta(days=730)
    LANGUAGE_COOKIE = "lang"

    # Rate limits and the login lockout (liaison_app/limits.py; README "Rate limits and
    # lockout"). Limits in the `limits` notation, several joined by ";"; windows roll (any 60
    # minutes, not clock hours). Up to 50 workers of a factory share one NATed address: the
    # per-address limits are generous, the per-account and per-code ones strict.
    RATELIMIT_ENABLED = True
    REDIS_URL = None  # redis://127.0.0.1:6379/0: counts shared by all worker processes; memory otherwise
    RATELIMIT_KEY_PREFIX = "liaison"
    LOGIN_LIMIT_PER_IP = "20 per minute; 200 per hour"  # every login POST, right or wrong
    LOGIN_FAILURES_PER_ACCOUNT = "100 per hour"  # then refused, except on a known device
    FILING_LIMIT_PER_IP = "30 per minute; 300 per hour"
    FILING_LIMIT_PER_CODE = "20 per minute; 100 per hour"
    TRACKING_MISSES_PER_IP = "30 per 10 minutes"  # /t/<token> links that do not exist
    # A device that logged in to an account is exempt from its failure limit (see limits.py).
    KNOWN_DEVICE_COOKIE = "known_device"
    KNOWN_DEVICE_LIFETIME = timedelta(days=365)

    # Security (liaison_app/security.py). Behind a reverse proxy, the number of proxies that
    # set each X-Forwarded-* header (werkzeug's ProxyFix); 0 trusts none of them. With nginx
    # in front: PROXY_FIX_X_FOR=1 and PROXY_FIX_X_PROTO=1.
    PROXY_FIX_X_FOR = 0
    PROXY_FIX_X_PROTO = 0
    PROXY_FIX_X_HOST = 0
    PROXY_FIX_X_PORT = 0
    PROXY_FIX_X_PREFIX = 0
    # The QR landing page (public/views.py, issue #9). Scans are counted in each worker's memory
    # and written every this many seconds (0: one write per scan); a killed worker loses at
    # most these seconds of scan counts, never a request (services/qr.py ScanBuffer).
    QR_SCAN_FLUSH_SECONDS = 5
    # An anonymous visitor's landing page is kept this many seconds per code and language in
    # each worker (0: never); a revoked code leaves it at once in the admin's worker, in the
    # others after this long (public/landing_cache.py).
    QR_LANDING_CACHE_SECONDS = 30
    # `flask refresh-dashboards` (cron, every 10 minutes) stores, for each jurisdiction that
    # received at least this many requests in the last 12 months, its dashboard of each of these
    # named periods (the keys of stats.presets, all of them here; in the environment: separated
    # by commas). The page shows a stored one while it is younger than this (0: always compute
    # live); other dates are counted at each visit.
    DASHBOARD_SNAPSHOT_MIN_REQUESTS = 20000
    DASHBOARD_SNAPSHOT_PERIODS = ("last-12-months", "this-month", "last-month", "this-year", "last-year")
    DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS = 20 * 60
    # Strict-Transport-Security on answers over HTTPS; 0 sends none.
    HSTS_MAX_AGE = 365 * 24 * 3600
    # Debug mode (FLASK_DEBUG=1, DEBUG = True) shows stack traces: it is refused unless the app
    # is served at a local address (PUBLIC_BASE_URL http://127.0.0.1 or localhost) or this is set.
    ALLOW_DEBUG = False


def _coerce(value: str, default=None):
    if isinstance(default, int) and not isinstance(default, bool):
        return int(value)  # a ValueError names the value; load_config names the setting
    if isinstance(default, tuple):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off"}:
        return False
    return value


def load_config(app, test_config=None):
    """Fill app.config; raise ConfigError when a required setting is missing."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    for name in ENV_SETTINGS:
        if name in os.environ:
            try:
                app.config[name] = _coerce(os.environ[name], app.config.get(name))
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, not {os.environ[name]!r}.") from None
    if test_config:
        app.config.update(test_config)
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = app.config["PUBLIC_BASE_URL"].startswith("https://")
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])
    _refuse_debug_in_production(app)
    unknown = set(app.config["DASHBOARD_SNAPSHOT_PERIODS"]) - set(Defaults.DASHBOARD_SNAPSHOT_PERIODS)
    if unknown:
        raise ConfigError(f"DASHBOARD_SNAPSHOT_PERIODS names no period {', '.join(sorted(unknown))}; "
                          f"the periods are {', '.join(Defaults.DASHBOARD_SNAPSHOT_PERIODS)}.")

    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "liaison.sqlite")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(app.config["DATABASE_URL"])
    # PostgreSQL: no JIT compilation. It starts on any plan costed over jit_above_cost, which
    # at a province's size includes a deputy's inbox counts, and spends ~50 ms compiling a
    # query that runs in a few (bench/pages.py; docs/benchmarks.md).
    # Added to the URL's own options (a test schema's search_path travels there), not in
    # connect_args, which would replace them.
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config["SQLALCHEMY_DATABASE_URI"] = _without_jit(app.config["SQLALCHEMY_DATABASE_URI"])
    if not app.config.get("UPLOAD_FOLDER"):
        app.config["UPLOAD_FOLDER"] = os.path.join(app.instance_path, "uploads")
    # Uploads under static/ would be served by the web server as they are, to anyone.
    uploads, static = (os.path.realpath(p) for p in (app.config["UPLOAD_FOLDER"], app.static_folder))
    if os.path.commonpath([uploads, static]) == static:
        raise ConfigError(f"UPLOAD_FOLDER ({uploads}) must not lie under the static folder ({static}).")
    app.config["PUBLIC_BASE_URL"] = app.config["PUBLIC_BASE_URL"].rstrip("/")

    if not app.config.get("SECRET_KEY"):
        if app.debug or app.testing:
            app.config["SECRET_KEY"] = "dev-only-not-secret"
        else:
            raise ConfigError(
                "SECRET_KEY is not set. Set the SECRET_KEY environment variable or put "
                "SECRET_KEY = '...' in instance/config.py (make run writes one for you)."
            )


def _refuse_debug_in_production(app) -> None:
    """Debug mode shows stack traces (and `flask run --debug` an interactive console): only on
    a developer's own machine, never because FLASK_DEBUG or DEBUG was left on in production."""
    if not app.debug or app.testing or app.config["ALLOW_DEBUG"]:
        return
    host = urlsplit(app.config["PUBLIC_BASE_URL"]).hostname or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise ConfigError(
            f"Debug mode is on (FLASK_DEBUG or DEBUG) while the app is served at {app.config['PUBLIC_BASE_URL']}. "
            "Debug mode shows stack traces to users: turn it off, or set ALLOW_DEBUG=true on a test server."
        )


def _without_jit(url: str) -> str:
    """The PostgreSQL URL with `-c jit=off` added to its libpq options (kept if set)."""
    parsed = make_url(url)
    options = parsed.query.get("options", "")
    if "jit" in options:
        return url
    merged = f"{options} -c jit=off".strip()
    return parsed.update_query_dict({"options": merged}).render_as_string(hide_password=False)


def normalise_database_url(url: str) -> str:
    """Let operators write postgres:// or postgresql:// and still get psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
