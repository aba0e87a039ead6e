"""The desk: deputies, liaison staff and handling-unit officers work requests here."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("desk", __name__, url_prefix="/desk")


@bp.before_request
@login_required
def _require_login():
    """Every desk page needs a logged-in user; roles are checked by the access rules."""
    return None


@bp.after_request
def _never_cache(response):
    # Logged-in pages hold personal data: never kept by a shared phone's browser cache.
    response.cache_control.no_store = True
    return response


from . import views  # noqa: E402,F401
from . import receptions  # noqa: E402,F401
from . import visits  # noqa: E402,F401
from . import intake  # noqa: E402,F401
from . import messages  # noqa: E402,F401
from . import preferences  # noqa: E402,F401
