"""Friendly error pages in the user's language; never a stack trace."""

import logging
import uuid

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .extensions import db
from .templating import is_htmx

log = logging.getLogger("liaison.errors")


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
        db.session.rollback()
        return _page(500, _("Something went wrong on our side. Nothing you sent was lost if you "
                            "saw no confirmation; please try again. Error id: %(id)s", id=error_id))


def _is_ours(error) -> bool:
    """404s raised with our own description (werkzeug's default text is English-only)."""
    return bool(error.description) and error.description != type(error).description


def _page(status: int, message: str):
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return render_template(template, status=status, message=message), status
