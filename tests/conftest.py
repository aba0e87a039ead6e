"""Fixtures: an app per test on SQLite (default) or PostgreSQL (`pytest --db postgresql`).

On PostgreSQL each run gets its own schema at TEST_DATABASE_URL, dropped at the end.
Without a reachable server the PostgreSQL run is skipped with one clear line,
except with CI=true, where that is a failure.
"""

import contextvars
import os
import secrets
import sys
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from flask import has_app_context
from flask.testing import FlaskClient

from liaison_app import create_app
from liaison_app.extensions import db

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pytest_addoption(parser):
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("LIAISON_TEST_DB", "sqlite"),
        help="database to run the suite on (default sqlite)",
    )


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _pg_base_url() -> str:
    from liaison_app.config import normalise_database_url

    return normalise_database_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL))


def pytest_sessionstart(session):
    if session.config.getoption("--db") != "postgresql":
        return
    try:
        engine = sa.create_engine(_pg_base_url())
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # any reason the server cannot be reached
        message = f"PostgreSQL at {_pg_base_url()} is not reachable ({type(error).__name__}: {error})"
        if _in_ci():
            pytest.exit(f"FAILED: {message}; CI=true requires the PostgreSQL run.", returncode=3)
        sys.stdout.write(f"\nSKIPPED the PostgreSQL run: {message}. Set TEST_DATABASE_URL to run it.\n")
        pytest.exit("PostgreSQL run skipped", returncode=0)


class TestDatabase:
    """One database for the whole run; `new_url()` gives further empty ones (migration tests)."""

    def __init__(self, kind, tmp_path_factory):
        self.kind = kind
        self.tmp_path_factory = tmp_path_factory
        self.schemas = []
        self.url = self.new_url()

    def new_url(self) -> str:
        if self.kind == "sqlite":
            return "sqlite:///" + str(self.tmp_path_factory.mktemp("db") / "test.sqlite")
        schema = f"test_{os.getpid()}_{secrets.token_hex(4)}"
        engine = sa.create_engine(_pg_base_url())
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        self.schemas.append(schema)
        separator = "&" if "?" in _pg_base_url() else "?"
        return f"{_pg_base_url()}{separator}options={quote(f'-csearch_path={schema}')}"

    def drop(self):
        if not self.schemas:
            return
        engine = sa.create_engine(_pg_base_url())
        with engine.begin() as connection:
            for schema in self.schemas:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def test_database(request, tmp_path_factory):
    database = TestDatabase(request.config.getoption("--db"), tmp_path_factory)
    app = create_app({"TESTING": True, "DATABASE_URL": database.url})
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    yield database
    database.drop()


class IsolatedClient(FlaskClient):
    """Each request runs as in production: in its own app context, so with its own
    `g`, locale and database session, not the test's.

    The test's transaction is ended first, so that the request sees what the test
    wrote and the test afterwards reads what the request wrote.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


def make_app(database_url, tmp_path, **overrides):
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "PUBLIC_BASE_URL": "https://liaison.example.cn",
        # Off for the suite (many logins and filings from one address); tests/test_rate_limits.py
        # and tests/test_login_throttle.py turn them on.
        "RATELIMIT_ENABLED": False,
        # Each scan written at once, no landing page kept: tests/test_qr_landing.py turns them on.
        "QR_SCAN_FLUSH_SECONDS": 0,
        "QR_LANDING_CACHE_SECONDS": 0,
        # Notifications sent by the request itself, before it answers, not a moment later by a
        # thread of the process: tests/test_notify.py turns the courier on.
        "NOTIFY_DELIVER_IN_BACKGROUND": False,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def app_config():
    """Override in a test module (or parametrize) to change the app's settings."""
    return {}


@pytest.fixture
def app(test_database, tmp_path, app_config):
    app = make_app(test_database.url, tmp_path, **app_config)
    with app.app_context():
        yield app
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


def _empty_all_tables():
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def htmx():
    """Headers of a request made by htmx."""
    return {"HX-Request": "true"}
