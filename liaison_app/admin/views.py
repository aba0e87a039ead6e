"""Admin home."""

from flask import render_template

from . import bp


@bp.get("/")
def home():
    return render_template("admin/home.html")

from . import places  # noqa: E402,F401
from . import qr  # noqa
from . import imports  # noqa: E402,F401
from . import users, enterprises  # noqa: E402,F401
from . import calendar  # noqa: E402,F401
from . import robots  # noqa: E402,F401
