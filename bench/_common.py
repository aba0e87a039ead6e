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
    buffer = app.extensions.get("qr_scan_buffer")
    if buffer is not None:
        buffer.flush()  # now, not at exit (atexit) when its tables are gone
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


def last_request_id() -> int:
    """The newest request's id (0 in an empty database): what a benchmark files comes after it."""
    return db.session.scalar(sa.text("SELECT coalesce(max(id), 0) FROM requests"))


def remove_filings(app, after_id: int) -> int:
    """Delete the requests a benchmark filed (every id above `after_id`) with their trails,
    photos' rows and messages, so that a reused data set stays as `flask seed-scale` made it:
    otherwise each run's thousands of filings to the measured deputy make his inbox the next
    run's subject. Then VACUUM ANALYZE on PostgreSQL, whose statistics and visibility map
    would otherwise be left behind. Returns how many requests were removed."""
    with app.app_context():
        with db.engine.begin() as connection:
            for table in ("notifications", "attachments", "request_events"):
                connection.execute(sa.text(f"DELETE FROM {table} WHERE request_id > :after"), {"after": after_id})
            removed = connection.execute(sa.text("DELETE FROM requests WHERE id > :after"), {"after": after_id}).rowcount
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM (ANALYZE) requests, request_events, notifications"))
    return removed
