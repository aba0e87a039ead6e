"""The enterprise's side: QR landing pages, filing, tracking, 我的诉求 (no login)."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from . import views  # noqa: E402,F401
from . import board  # noqa: E402,F401
from . import recover  # noqa: E402,F401
