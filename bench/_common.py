"""What the benchmarks share: a scratch app and a timer of pages through it."""

import math
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from liaison_app import create_app  # noqa: E402
from liaison_app.extensions import db  # noqa: E402


def scratch_app(database_url=None, **config):
    """The real app on an emptied database: a temporary SQLite file unless a URL is given
    (that database is emptied with drop_all: point it at a scratch database)."""
    folder = tempfile.mkdtemp()
    settings = {"TESTING": True, "DATABASE_URL": database_url or f"sqlite:///{folder}/bench.sqlite",
                "UPLOAD_FOLDER": folder, "WTF_CSRF_ENABLED": False,
                "RATELIMIT_ENABLED": False}  # thousands of requests from one address
    settings.update(config)
    app = create_app(settings)
    with app.app_context():
        _empty(app)
        upgrade()  # the schema comes from the migrations, as in production
    return app


def _empty(app) -> None:
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def drop(app) -> None:
    with app.app_context():
        _empty(app)
        db.engine.dispose()


def log_in(client, session_id: str) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True


def timed(client, path: str, rounds: int) -> tuple[float, float, int]:
    """Server time of `rounds` GETs of one page: p50 and p95 in ms, and the page's size."""
    samples, size = [], 0
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        size = len(response.data)
    return (*percentiles(samples), size)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 (nearest rank) of some timings."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[math.ceil(len(ordered) * 0.95) - 1]
