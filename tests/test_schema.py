"""The schema comes from migrations, and the migrations match the models."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from liaison_app.extensions import db
from tests.conftest import make_app


def test_upgrade_from_empty_creates_exactly_the_models_schema(test_database, tmp_path):
    app = make_app(test_database.new_url(), tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            drift = compare_metadata(context, db.metadata)
            tables = set(sa.inspect(connection).get_table_names())
        db.engine.dispose()

    assert drift == []
    assert {t.name for t in db.metadata.sorted_tables} | {"alembic_version"} == tables


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(app):
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_a_write_request_takes_the_sqlite_write_lock_up_front(app):
    """BEGIN IMMEDIATE: while a POST is in its transaction, a second writer waits."""
    if db.engine.dialect.name != "sqlite":
        return
    import sqlite3

    path = db.engine.url.database
    with app.test_request_context("/", method="POST"):
        app.preprocess_request()  # runs begin_write()
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            locked = False
        except sqlite3.OperationalError as error:
            locked = "locked" in str(error)
        finally:
            other.close()
        db.session.rollback()
    assert locked


def test_foreign_keys_are_enforced(app):
    from liaison_app.models import Station

    db.session.add(Station(name="孤立的站点", jurisdiction_id=999999))
    try:
        db.session.commit()
        enforced = False
    except sa.exc.IntegrityError:
        enforced = True
        db.session.rollback()
    assert enforced


def test_migrations_go_down_and_up_again_with_data(test_database, tmp_path):
    from flask_migrate import downgrade

    from liaison_app.models import Request
    from tests.factories import make_request

    app = make_app(test_database.new_url(), tmp_path)
    with app.app_context():
        upgrade()
        make_request()
        downgrade(revision="0001")
        upgrade()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Request)) == 1
        db.session.remove()
        db.engine.dispose()
