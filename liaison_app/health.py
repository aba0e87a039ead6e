"""GET /healthz: is the app up, and can it reach its database?"""

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify

from .extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger("liaison.health")


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
        database = "ok"
    except Exception:  # any failure to reach the database is "unavailable"
        log.exception("health check: database unavailable")
        db.session.rollback()
        database = "unavailable"
    healthy = database == "ok"
    response = jsonify(app="ok", database=database, status="ok" if healthy else "degraded")
    response.status_code = 200 if healthy else 503
    response.cache_control.no_store = True
    return response
