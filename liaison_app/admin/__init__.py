"""Administration: places, people, imports and QR posters.

Admins manage everything; liaison staff manage what lies inside their own
jurisdiction (scope.py decides, in one place). Deputies and unit officers get 403.
"""

from flask import Blueprint, abort
from flask_login import current_user, login_required

from ..models import Role

bp = Blueprint("admin", __name__, url_prefix="/admin")

MANAGERS = (Role.ADMIN, Role.STAFF)

# The admin home's menu: each admin module adds its entries with add_menu_entry(), naming
# the roles that may open the page, so that nobody is shown a link that answers 403.
MENU: list[tuple[str, object, tuple[Role, ...]]] = []


def add_menu_entry(endpoint: str, label, roles: tuple[Role, ...] = MANAGERS) -> None:
    MENU.append((endpoint, label, roles))


@bp.context_processor
def _menu():
    return {"admin_menu": [(endpoint, label) for endpoint, label, roles in MENU if current_user.role in roles]}


@bp.before_request
@login_required
def _require_manager():
    if current_user.role not in MANAGERS:
        abort(403)


@bp.after_request
def _never_cache(response):
    response.cache_control.no_store = True
    return response


from . import views  # noqa: E402,F401
