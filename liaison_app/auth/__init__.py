"""Logging in and out, and one's own password (deputies, staff, units, admins)."""

from flask import Blueprint, url_for

from ..models import Role, User

bp = Blueprint("auth", __name__)


@bp.app_template_global()
def home_url(user: User) -> str:
    """Where each role starts its work: units their assigned items, everyone else the inbox."""
    if user.role is Role.UNIT:
        return url_for("desk.unit_home")
    return url_for("desk.inbox")


@bp.after_request
def _never_cache(response):
    # Login forms and account pages are never kept by a shared phone's browser cache.
    response.cache_control.no_store = True
    return response


from . import reset, views  # noqa: E402,F401
