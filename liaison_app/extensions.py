"""Extensions are created once here and bound to the app in create_app()."""

from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

# Stable constraint names, so that migrations can alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Rate limits (liaison_app/limits.py binds it and holds the limits). Moving windows: "100 per
# hour" means in any 60 minutes. A failing Redis never stops the site: its errors are logged
# and the counts go on in memory until it answers again.
limiter = Limiter(key_func=get_remote_address, strategy="moving-window", swallow_errors=True,
                  in_memory_fallback_enabled=True, headers_enabled=False)
compress = Compress()


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, a busy timeout, and transactions we begin ourselves.

    pysqlite's own transaction handling is switched off so that we can emit
    BEGIN IMMEDIATE for write requests: a write that starts as a plain read
    transaction can fail at once with "database is locked" when it later needs
    the write lock, whatever the busy timeout.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        mode = "IMMEDIATE" if connection.get_execution_options().get("sqlite_immediate") else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")


def writes_late(view):
    """Mark a view that does slow work (argon2, 0.6 s) before it writes: it does not take the
    write lock up front like every other POST, but calls begin_write() itself when it writes,
    so that a dozen people logging in at once on SQLite do not queue behind each other's
    password checks (and time out)."""
    view.writes_late = True
    return view


def reads_only(view):
    """Mark a POST that writes nothing (the filing form's inline field checks): it never takes
    the write lock, so a phone checking a field neither waits behind a writer nor fails with
    "database is locked" while one holds the lock."""
    view.writes_late = True  # the same switch: no BEGIN IMMEDIATE before the view
    return view


def begin_write() -> None:
    """Start the session's transaction as a write transaction (BEGIN IMMEDIATE on SQLite).

    Call before the first query of a unit of work that will write. On other
    databases, and when a transaction is already open, it does nothing.
    """
    if db.session().in_transaction():
        return
    db.session.connection(execution_options={"sqlite_immediate": True})
