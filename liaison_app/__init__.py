"""码上找代表 (Deputy Liaison): the app factory."""

import functools
import os

from babel import Locale, support
from flask import Flask, current_app, has_request_context, redirect, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import login_url
from wtforms.i18n import messages_path

from . import logs
from .config import ConfigError, load_config
from .extensions import babel, begin_write, compress, configure_sqlite, csrf, db, login_manager, migrate

__all__ = ["create_app", "ConfigError"]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(test_config=None) -> Flask:
    """config → extensions → blueprints → error handlers → cli."""
    app = Flask(__name__, instance_path=os.path.join(REPO_ROOT, "instance"), instance_relative_config=True)
    load_config(app, test_config)
    logs.install(app)
    os.makedirs(app.instance_path, exist_ok=True)
    os.makedirs(app.config["UPLOAD_FOLDER"], exist_ok=True)

    _init_extensions(app)
    _init_requests(app)

    from . import admin, assets, auth, desk, errors, health, oversight, public, security, templating

    app.register_blueprint(public.bp)
    app.register_blueprint(desk.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(oversight.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(health.bp)
    errors.register(app)
    logs.register(app)
    public.landing_cache.install(app)  # in front of Flask (only ProxyFix before it): a kept landing page skips the rest
    security.register(app)
    assets.register(app)
    templating.register(app)

    from .cli import register as register_cli

    register_cli(app)
    return app


def _init_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (registers every table with the metadata)

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    migrate.init_app(app, db, directory=os.path.join(REPO_ROOT, "migrations"))
    csrf.init_app(app)
    from .limits import init_limits

    init_limits(app)  # after CSRF: a form refused for its token is not counted
    # Registered before the after-request hooks of the app and its blueprints, so it runs after
    # them: it compresses the finished answer and adds Accept-Encoding to the Vary they set.
    compress.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=lambda: "Asia/Shanghai")
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "warning"
    login_manager.localize_callback = str  # the lazy message, in the user's language
    login_manager.session_protection = "basic"  # "strong" would log out phones whose IP changes

    @login_manager.user_loader
    def _load_user(session_id: str):
        # The id carries the user's session generation: bumping it ends every session.
        from .models import User

        user_id, _, generation = session_id.partition(":")
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.active or str(user.session_generation) != generation:
            return None
        return user

    @login_manager.unauthorized_handler
    def _to_login():
        # htmx would swap the login page into a fragment: make the browser navigate instead.
        from .templating import is_htmx, redirect_after_post

        target = login_url("auth.login", next_url=request.full_path.rstrip("?"))
        return redirect_after_post(target) if is_htmx() else redirect(target)


def _select_locale() -> Locale:
    """?lang= chooses and is remembered in a cookie; otherwise BABEL_DEFAULT_LOCALE."""
    if not has_request_context():  # the CLI and jobs speak the default language
        return _parsed_locale(current_app.config["BABEL_DEFAULT_LOCALE"])
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang") or request.cookies.get(current_app.config["LANGUAGE_COOKIE"])
    return _parsed_locale(chosen if chosen in languages else current_app.config["BABEL_DEFAULT_LOCALE"])


@functools.lru_cache(maxsize=16)
def _wtforms_messages(identifier: str) -> support.Translations:
    """WTForms' own messages ("This field is required.") in one language, read once per
    process: Flask-WTF reads the catalogue from disk again for every request that makes a
    form, a quarter of a millisecond of each filing (docs/benchmarks.md)."""
    return support.Translations.load(messages_path(), [identifier], domain="wtforms")


class _WTFormsMessages:
    """WTForms' messages in the request's language, found when the first one is needed."""

    def ugettext(self, string: str) -> str:
        return _wtforms_messages(str(get_locale())).ugettext(string)

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_messages(str(get_locale())).ungettext(singular, plural, n)


_WTFORMS_MESSAGES = _WTFormsMessages()


@functools.lru_cache(maxsize=16)
def _parsed_locale(identifier: str) -> Locale:
    """Flask-Babel parses the selector's answer on every request, and babel's parse scans its
    whole list of locales: a third of a cached landing page's time (docs/benchmarks.md)."""
    return Locale.parse(identifier)


def _init_requests(app: Flask) -> None:
    @app.before_request
    def _start_write_transaction():
        # Every state change is a POST; on SQLite it takes the write lock up front, unless
        # the view takes it itself after slow work (extensions.writes_late).
        view = app.view_functions.get(request.endpoint)
        if request.method not in ("GET", "HEAD", "OPTIONS") and not getattr(view, "writes_late", False):
            begin_write()

    @app.before_request
    def _form_messages():
        # Where Flask-WTF keeps the request's WTForms catalogue (flask_wtf.i18n): ours, kept,
        # and looked up only when a form speaks (a landing page has none).
        request.wtforms_translations = _WTFORMS_MESSAGES

    @app.after_request
    def _remember_language(response):
        chosen = request.args.get("lang")
        if chosen in app.config["LANGUAGES"]:
            response.set_cookie(
                app.config["LANGUAGE_COOKIE"], chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                secure=app.config["SESSION_COOKIE_SECURE"],
            )
        if request.endpoint != "static":  # static files depend on neither htmx nor the language
            # As response.vary.add() twice, without parsing the header into a set each time.
            vary = response.headers.get("Vary")
            response.headers["Vary"] = "HX-Request, Cookie" if not vary else ", ".join(
                [vary] + [name for name in ("HX-Request", "Cookie") if name.lower() not in vary.lower()])
        return response

    @app.context_processor
    def _locale_context():
        locale = get_locale()
        return {"html_lang": "zh-CN" if locale and locale.language == "zh" else "en"}
