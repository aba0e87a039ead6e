"""Settings: built-in defaults, then instance/config.py, then the environment."""

import base64
import json
import os
import socket
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
    "NOTIFY_DELIVER_IMMEDIATELY",  # off where `flask notify-worker` sends (README, Reaching people)
    # Group robots of places (services/robots.py, services/secrets.py)
    "SECRETS_KEY",
    "ROBOT_MESSAGES_PER_MINUTE",
    "ROBOT_ALLOWED_HOSTS",
    # Text messages (services/sms.py)
    "SMS_BACKEND",
    "SMS_SIGN_NAME",
    "SMS_ACCESS_KEY_ID",
    "SMS_ACCESS_KEY_SECRET",
    "SMS_SDK_APP_ID",
    "SMS_REGION",
    "SMS_ENDPOINT",
    "SMS_HTTP_URL",
    "SMS_HTTP_TOKEN",
    "SMS_TIMEOUT_SECONDS",
    "SMS_TEMPLATES",
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
    PUBLIC_BASE_URL = None  # None: where `flask run` serves (dev_server_base_url), http://127.0.0.1:5000
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
    # Try to send right after the commit; `flask notify-retry` (cron) sends the rest. False: the
    # app's workers only write messages and `flask notify-worker` (a process of its own) sends them.
    NOTIFY_DELIVER_IMMEDIATELY = True
    # In a request, the worker's courier thread sends it half a second later, in batches, so
    # that the answer never waits for the robot; False: the request sends it before answering.
    NOTIFY_DELIVER_IN_BACKGROUND = True

    # Group robots of places (services/robots.py; /admin/robots). Their webhook addresses (each
    # holds the robot's key) and DingTalk signing secrets are stored encrypted with Fernet
    # (services/secrets.py). The key is SECRETS_KEY when set (a Fernet key: urlsafe base64 of 32
    # bytes, from `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`),
    # else derived from SECRET_KEY, so an install needs no new setting. Beware: changing
    # SECRET_KEY without SECRETS_KEY set makes every stored robot address unreadable; the robots
    # page then says so per robot and asks for the address again. Values stored under the
    # SECRET_KEY-derived key stay readable after SECRETS_KEY is set (it only encrypts new ones).
    SECRETS_KEY = None
    # Each robot takes at most this many messages in any rolling minute (WeCom and DingTalk both
    # refuse the 21st); counted in Redis when REDIS_URL is set, so shared by workers and servers.
    ROBOT_MESSAGES_PER_MINUTE = 20
    # The hosts a robot's address may name (a private-cloud WeCom or DingTalk adds its own;
    # in the environment: separated by commas). Only 127.0.0.1 and localhost may use http.
    ROBOT_ALLOWED_HOSTS = ("qyapi.weixin.qq.com", "oapi.dingtalk.com")

    # Text messages (services/sms.py): one approved template per message kind, sent through
    # SMS_BACKEND. Keys and tokens belong in the environment or instance/config.py.
    SMS_BACKEND = "log"  # "log" (a line per message, number masked), "aliyun", "tencent" or "http"
    SMS_SIGN_NAME = None  # the approved signature (签名), e.g. 码上找代表; required by aliyun and tencent
    SMS_ACCESS_KEY_ID = None  # the Aliyun AccessKey ID, or the Tencent SecretId
    SMS_ACCESS_KEY_SECRET = None  # the Aliyun AccessKey secret, or the Tencent SecretKey
    SMS_SDK_APP_ID = None  # Tencent only: the SmsSdkAppId of the SMS application
    SMS_REGION = "ap-guangzhou"  # Tencent only: the API region
    SMS_ENDPOINT = None  # http(s)://host[:port] instead of the provider's public host (private cloud, tests)
    SMS_HTTP_URL = None  # "http": the gateway the JSON message is posted to
    SMS_HTTP_TOKEN = None  # "http": sent as "Authorization: Bearer <token>" when set
    SMS_TIMEOUT_SECONDS = 5  # to connect, and again to read the answer
    # {kind: {"code": "SMS_12345", "params": ["reference", "link"]}}; a kind not listed uses
    # "generic". In the environment: the same as JSON. "log" needs none.
    SMS_TEMPLATES = {}

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
    # 找回我的诉求 (/find): codes asked for per mobile number (the texts one phone can be sent)
    # and per client address (a factory shares one); only asks that made a code count.
    FIND_CODES_PER_PHONE = "1 per minute; 5 per hour; 10 per day"
    FIND_CODES_PER_IP = "10 per minute; 50 per hour"
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
    if isinstance(default, dict):
        return json.loads(value)  # a JSONDecodeError is a ValueError
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
                expected = "a JSON object" if isinstance(app.config.get(name), dict) else "a whole number"
                raise ConfigError(f"{name} must be {expected}, not {os.environ[name]!r}.") from None
    if test_config:
        app.config.update(test_config)
    if not app.config["PUBLIC_BASE_URL"]:
        app.config["PUBLIC_BASE_URL"] = dev_server_base_url(os.environ.get("FLASK_RUN_HOST"),
                                                            os.environ.get("FLASK_RUN_PORT"))
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = app.config["PUBLIC_BASE_URL"].startswith("https://")
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])
    _refuse_debug_in_production(app)
    unknown = set(app.config["DASHBOARD_SNAPSHOT_PERIODS"]) - set(Defaults.DASHBOARD_SNAPSHOT_PERIODS)
    if unknown:
        raise ConfigError(f"DASHBOARD_SNAPSHOT_PERIODS names no period {', '.join(sorted(unknown))}; "
                          f"the periods are {', '.join(Defaults.DASHBOARD_SNAPSHOT_PERIODS)}.")
    sms_problem = sms_settings_problem(app.config)
    if sms_problem:
        raise ConfigError(sms_problem)
    if app.config.get("SECRETS_KEY") and not _is_fernet_key(app.config["SECRETS_KEY"]):
        raise ConfigError("SECRETS_KEY must be a Fernet key (44 characters of urlsafe base64), e.g. from python -c "
                          "\"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\".")

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


def dev_server_base_url(host: str | None, port: str | None) -> str:
    """Where `flask run --host HOST --port PORT` (FLASK_RUN_HOST/PORT, as `make run HOST=0.0.0.0
    PORT=8080` sets them) is reached: on all addresses, at this machine's LAN address, so that
    a phone on the same Wi-Fi can open the QR links printed for it."""
    host, port = host or "127.0.0.1", port or "5000"
    if host in {"0.0.0.0", "::"}:
        host = lan_address()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def lan_address() -> str:
    """The address packets to another network would leave from: connecting a UDP socket picks
    the route and sends nothing. 127.0.0.1 on a machine without a network."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 1))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


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


SMS_BACKENDS = ("log", "aliyun", "tencent", "http")
# The settings each provider cannot send without.
_SMS_REQUIRED = {
    "aliyun": ("SMS_ACCESS_KEY_ID", "SMS_ACCESS_KEY_SECRET", "SMS_SIGN_NAME"),
    "tencent": ("SMS_ACCESS_KEY_ID", "SMS_ACCESS_KEY_SECRET", "SMS_SIGN_NAME", "SMS_SDK_APP_ID", "SMS_REGION"),
    "http": ("SMS_HTTP_URL",),
}


def sms_settings_problem(config) -> str | None:
    """What is wrong with the SMS_* settings, or None; checked at start and by sms.get_backend()."""
    backend = (config.get("SMS_BACKEND") or "log").strip().lower()
    if backend not in SMS_BACKENDS:
        return f"SMS_BACKEND must be one of {', '.join(SMS_BACKENDS)}, not {config.get('SMS_BACKEND')!r}."
    missing = [name for name in _SMS_REQUIRED.get(backend, ()) if not config.get(name)]
    if missing:
        return (f"SMS_BACKEND is {backend!r} but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                "not set: set them in the environment or instance/config.py.")
    for name in ("SMS_ENDPOINT", "SMS_HTTP_URL"):
        url = config.get(name)
        if url and not (urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname):
            return f"{name} must be an http(s) URL such as http://127.0.0.1:8123, not {url!r}."
    try:
        if float(config.get("SMS_TIMEOUT_SECONDS")) <= 0:
            raise ValueError
    except (TypeError, ValueError):
        return f"SMS_TIMEOUT_SECONDS must be a positive number of seconds, not {config.get('SMS_TIMEOUT_SECONDS')!r}."
    templates = config.get("SMS_TEMPLATES") or {}
    if not isinstance(templates, dict):
        return 'SMS_TEMPLATES must map each message kind to {"code": "SMS_12345", "params": ["reference", "link"]}.'
    for kind, entry in templates.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("code"), str) and entry["code"]
                and isinstance(entry.get("params", []), list)
                and all(isinstance(param, str) for param in entry.get("params", []))):
            return (f'SMS_TEMPLATES[{kind!r}] must be {{"code": "SMS_12345", "params": ["reference", "link"]}}, '
                    f"not {entry!r}.")
    return None


def _is_fernet_key(value) -> bool:
    try:
        return isinstance(value, str) and len(base64.urlsafe_b64decode(value.encode("ascii"))) == 32
    except ValueError:  # binascii.Error and non-ASCII text are ValueErrors
        return False


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
