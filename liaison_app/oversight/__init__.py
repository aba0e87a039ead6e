"""Oversight and reporting for the standing committee's liaison office: the three lists,
supervision, the monthly report and dashboards. Staff see their jurisdiction and below
(admin/scope.py decides); admins everything; deputies and unit officers get 403."""

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from ..models import Role

bp = Blueprint("oversight", __name__, url_prefix="/oversight")

# The oversight home's menu: each module adds its entries with add_menu_entry().
MENU: list[tuple[str, object]] = []


def add_menu_entry(endpoint: str, label) -> None:
    MENU.append((endpoint, label))


@bp.before_request
@login_required
def _require_staff():
    if current_user.role not in (Role.ADMIN, Role.STAFF):
        abort(403)


@bp.after_request
def _never_cache(response):
    response.cache_control.no_store = True
    return response


@bp.context_processor
def _menu():
    return {"oversight_menu": MENU}


@bp.get("/")
def home():
    return render_template("oversight/home.html")


# Each area registers its views on `bp` when imported here (one line per module).
from . import campaigns  # noqa: E402,F401
from . import dashboard  # noqa: E402,F401
from . import lists  # noqa: E402,F401
from . import receptions  # noqa: E402,F401
from . import report  # noqa: E402,F401
from . import supervision  # noqa: E402,F401
