"""Friendly error pages in the user's language; never a stack trace."""

import logging
import uuid

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from .extensions import db
from .templating import is_htmx

log = logging.getLogger("liaison.errors")

# Retry-After of the "database unavailable" page: PostgreSQL restarts, or a SQLite writer holds the lock.
RETRY_AFTER_SECONDS = 10
# SQLite errors that pass (busy, locked, I/O); the rest ("no such table") are bugs: a 500.
_SQLITE_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN")


@event.listens_for(Engine, "commit")
def _note_commit(_connection):
    # Once COMMIT was sent, the database may hold what was sent even if the answer failed.
    if has_request_context():
        g.commit_attempted = True


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf_error(error):
        # Forms where people type a lot keep their text when the token has expired.
        from .public import views as public_views

        args = request.view_args or {}
        if request.endpoint == "public.request_file":
            return public_views.render_filing_after_csrf_error(args["token"])
        if request.endpoint == "public.tracking_add_info":
            return public_views.render_tracking_after_csrf_error(args["token"])
        return _page(400, _("Your session has expired. Please go back, reload the page and try again."))

    @app.errorhandler(413)
    def _too_large(_error):
        mb = app.config["MAX_PHOTO_BYTES"] // (1024 * 1024)
        return _page(413, _("What you sent is too large. Each photo may be at most %(mb)d MB, "
                            "and at most 3 photos can be sent. Please go back and choose smaller photos "
                            "(or a smaller file).", mb=mb))

    @app.errorhandler(HTTPException)
    def _http_error(error):
        messages = {
            404: _("This page does not exist."),
            405: _("This address cannot be used that way."),
        }
        message = error.description if error.code == 404 and _is_ours(error) else messages.get(error.code)
        return _page(error.code or 500, message or _("The request could not be handled."))

    @app.errorhandler(Exception)
    def _unexpected(error):
        error_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", error_id, request.method, request.path)
        _rollback()
        return _page(500, _("Something went wrong on our side. Nothing you sent was lost if you "
                            "saw no confirmation; please try again. Error id: %(id)s", id=error_id))

    @app.errorhandler(sa.exc.SQLAlchemyError)
    def _database_error(error):
        if not is_database_unavailable(error):
            return _unexpected(error)
        error_id = uuid.uuid4().hex[:12]
        log.warning("database unavailable %s on %s %s: %s", error_id, request.method, request.path,
                    str(getattr(error, "orig", None) or error).strip().splitlines()[0])
        _rollback()
        return _database_unavailable_page(error_id)


def is_database_unavailable(error: Exception) -> bool:
    """The database is away for a moment (restarted, connection dropped, pool exhausted, SQLite
    locked): the same request may well succeed a few seconds later."""
    if isinstance(error, (sa.exc.InterfaceError, sa.exc.TimeoutError)):
        return True
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa.exc.OperationalError):
        sqlite_error = getattr(error.orig, "sqlite_errorname", None)
        return sqlite_error is None or sqlite_error.startswith(_SQLITE_TRANSIENT)
    return False


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: the pool replaces it, the session starts afresh
        log.warning("rollback failed after an error", exc_info=True)
        db.session.remove()


def _database_unavailable_page(error_id: str):
    """503 with Retry-After. A sent form is said plainly to be unsaved (or unconfirmed, when the
    commit itself failed); the public filing comes back ready to send again."""
    saving = request.method not in ("GET", "HEAD", "OPTIONS")
    unconfirmed = g.get("commit_attempted", False)
    resend = None
    if saving and request.endpoint == "public.request_file":
        lines = [
            _("We could not confirm that your request was saved.") if unconfirmed
            else _("The database is briefly unavailable, so your request was not saved."),
            _("Your form is kept as you filled it in: press Send again in a moment.") if is_htmx()
            else _("What you typed is kept: press “Send again” in a moment."),
            _("Sending it again is safe: your request is filed only once."),
        ]
        resend = None if is_htmx() else _filing_to_resend()
    elif saving and unconfirmed:
        lines = [_("The database became unavailable while saving, so we cannot confirm that your change "
                   "was saved. Please reload the page in a moment to check before sending it again.")]
    elif saving:
        lines = [_("The database is briefly unavailable, so nothing you sent was saved. "
                   "Please go back and send it again in a moment.")]
    else:
        lines = [_("The database is briefly unavailable. Please reload the page in a moment.")]
    lines.append(_("Error id: %(id)s", id=error_id))
    body, status = _page(503, lines, resend=resend)
    return body, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _filing_to_resend() -> dict:
    """The filing's fields as they were sent (photos cannot be), to post again as they are."""
    return {
        "action": url_for(request.endpoint, **request.view_args),
        "fields": [(name, value) for name, value in request.form.items(multi=True)],
        "photos_dropped": any(f and f.filename for f in request.files.getlist("photos")),
    }


def _is_ours(error) -> bool:
    """404s raised with our own description (werkzeug's default text is English-only)."""
    return bool(error.description) and error.description != type(error).description


def _page(status: int, message, **context):
    """`message`: a sentence, or a list of them (one paragraph each)."""
    if status >= 500 and "_login_user" not in g:
        # Rendering would load the user (Flask-Login's context processor), and the database may
        # be what failed: the 5xx pages show nothing of the user (errors/error.html).
        g._login_user = current_app.login_manager.anonymous_user()
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return render_template(template, status=status, message=message, **context), status
