"""flask backup and flask restore: a copy of the live database and the uploads, put back into an
empty instance.

Each run tests its own kind of database: SQLite (the online backup API) with `--db sqlite`,
PostgreSQL (pg_dump / pg_restore, in scratch databases created and dropped here) with
`--db postgresql`. Every instance here is a new app with its own database and uploads folder.
"""

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import tarfile
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from flask import current_app
from flask_migrate import upgrade

from liaison_app.backup import libpq_connection
from liaison_app.extensions import db
from liaison_app.models import Attachment, Request
from liaison_app.services import workflow as wf
from liaison_app.services.photos import ProcessedPhoto, photo_columns, write_photo
from tests.conftest import _in_ci, _pg_base_url, make_app
from tests.factories import Tree, image_bytes, make_request


class Instances:
    """New, empty instances of the app on the run's kind of database."""

    def __init__(self, kind: str, folder):
        self.kind = kind
        self.folder = folder
        self.apps = []
        self.databases = []
        if kind == "postgresql" and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
            reason = "pg_dump and pg_restore are not on PATH (apt install postgresql-client)"
            if _in_ci():
                pytest.fail(f"{reason}; CI=true requires the PostgreSQL backup tests.")
            pytest.skip(f"{reason}: the PostgreSQL backup cannot be tested.")

    def new(self, name: str, *, migrated: bool = True):
        home = self.folder / name
        app = make_app(self._database_url(name, home), home, UPLOAD_FOLDER=str(home / "uploads"))
        self.apps.append(app)
        if migrated:
            with app.app_context():
                upgrade()
        return app

    def _database_url(self, name: str, home) -> str:
        if self.kind == "sqlite":
            home.mkdir(parents=True)
            return "sqlite:///" + str(home / "liaison.sqlite")
        database = f"liaison_backup_{os.getpid()}_{name}_{secrets.token_hex(3)}"
        with _server() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
        self.databases.append(database)
        return sa.engine.make_url(_pg_base_url()).set(database=database).render_as_string(hide_password=False)

    def close(self):
        for app in self.apps:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        if self.databases:
            with _server() as connection:
                for database in self.databases:
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


class _server:
    """An autocommit connection to the PostgreSQL server (CREATE/DROP DATABASE)."""

    def __enter__(self):
        self.engine = sa.create_engine(_pg_base_url(), isolation_level="AUTOCOMMIT")
        self.connection = self.engine.connect()
        return self.connection

    def __exit__(self, *_):
        self.connection.close()
        self.engine.dispose()


@pytest.fixture
def instances(test_database, tmp_path):
    made = Instances(test_database.kind, tmp_path)
    yield made
    made.close()


@pytest.fixture(scope="module")
def made_backup(test_database, tmp_path_factory):
    """One source instance with requests, a trail and photos, and its backup: (archive, holdings)."""
    made = Instances(test_database.kind, tmp_path_factory.mktemp("backup-source"))
    source = made.new("source")
    with source.app_context():
        fill()
        expected = holdings()
    folder = made.folder / "backups"
    result = source.test_cli_runner().invoke(args=["backup", "--to", str(folder)])
    assert result.exit_code == 0, result.output
    (archive,) = folder.iterdir()
    yield archive, expected
    made.close()


def fill():
    """Three requests, one of them claimed; two photos on each of the first two."""
    tree = Tree()
    first = make_request(deputy=tree.deputy, title="过桥资金紧张")
    second = make_request(station=tree.station, title="招工难")
    make_request(station=tree.other_station, title="厂区道路积水")
    wf.claim_request(first, actor=tree.deputy_user)
    for req in (first, second):
        for color in ((200, 30, 30), (30, 30, 200)):
            attach_photo(req, color)


def attach_photo(req: Request, color) -> None:
    photo = ProcessedPhoto(data=image_bytes(color=color), width=64, height=48)
    db.session.add(Attachment(request_id=req.id, event_id=req.events[0].id, **photo_columns(photo, write_photo(photo))))
    db.session.commit()


def holdings() -> dict:
    """Every request with its trail and its photos, with the sha256 of each photo's file on disk."""
    found = {}
    for req in db.session.scalars(sa.select(Request).order_by(Request.id)):
        found[req.reference] = {
            "request": (req.title, req.status, req.enterprise.name, req.claimant and req.claimant.username),
            "events": [(e.action, e.from_status, e.to_status, e.note, e.created_at) for e in req.events],
            "photos": [(a.stored_name, a.sha256, file_sha256(a.stored_name)) for a in req.attachments],
        }
    db.session.rollback()
    return found


def file_sha256(stored_name: str):
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], stored_name)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def restore(app, archive, *options):
    return app.test_cli_runner().invoke(args=["restore", str(archive), *options])


def assert_untouched_and_empty(app):
    """Nothing was written: no table, no upload, no file left over from the attempt."""
    uploads = app.config["UPLOAD_FOLDER"]
    assert os.listdir(uploads) == []
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            folder = os.path.dirname(db.engine.url.database)
            leftovers = [name for name in os.listdir(folder) if name != "uploads" and not name.startswith("liaison.sqlite")]
            assert leftovers == []
        with db.engine.connect() as connection:
            assert sa.inspect(connection).get_table_names() == []
        db.engine.dispose()


def rewrite(archive, destination, *, member=None, manifest=None):
    """Copy the archive through `member(info, data) -> data` and `manifest(content)`."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(destination, "w:gz") as target:
        for info in source.getmembers():
            data = source.extractfile(info).read()
            if info.name == "manifest.json":
                content = json.loads(data)
                if manifest:
                    manifest(content)
                data = json.dumps(content).encode()
            elif member:
                data = member(info, data)
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return destination


# --- backup and restore -------------------------------------------------------------------------


def test_a_backup_restored_into_an_empty_instance_brings_back_every_request_event_and_photo(made_backup, instances):
    archive, expected = made_backup
    target = instances.new("target", migrated=False)

    result = restore(target, archive)

    assert result.exit_code == 0, result.output
    assert "must not be serving" in result.output
    assert "3 requests" in result.output and "4 attachments" in result.output
    with target.app_context():
        restored = holdings()
    assert restored == expected
    assert len(restored) == 3
    assert sum(len(r["events"]) for r in restored.values()) == 4
    photos = [photo for r in restored.values() for photo in r["photos"]]
    assert len(photos) == 4
    assert all(stored == on_disk for _, stored, on_disk in photos)


def test_the_archive_is_named_by_utc_time_and_its_manifest_lists_every_member(made_backup):
    archive, expected = made_backup

    assert re.fullmatch(r"liaison-backup-\d{8}-\d{6}\.tar\.gz", archive.name)
    made = datetime.strptime(archive.name[15:30], "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    assert timedelta(0) <= datetime.now(timezone.utc) - made < timedelta(minutes=10)
    with tarfile.open(archive, "r:gz") as opened:
        manifest = json.load(opened.extractfile("manifest.json"))
        contents = {m.name: hashlib.sha256(opened.extractfile(m).read()).hexdigest()
                    for m in opened.getmembers() if m.name != "manifest.json"}
    assert manifest["created_at"] == made.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert manifest["database"]["alembic_revision"] == manifest["code_revision"] is not None
    assert manifest["counts"] == {"requests": 3, "request_events": 4, "attachments": 4, "upload_files": 4}
    assert {name: entry["sha256"] for name, entry in manifest["members"].items()} == contents
    photos = {f"uploads/{name}": sha for r in expected.values() for name, sha, _ in r["photos"]}
    assert {name: sha for name, sha in contents.items() if name.startswith("uploads/")} == photos
    assert oct(archive.stat().st_mode & 0o777) == "0o600"  # it holds phone numbers


def test_restoring_over_data_is_refused_without_yes_and_changes_nothing(made_backup, instances):
    archive, expected = made_backup
    target = instances.new("target")
    with target.app_context():
        attach_photo(make_request(title="原有的诉求"), (10, 120, 10))
        before = holdings()

    refused = restore(target, archive)

    assert refused.exit_code == 1
    assert "already holds data (1 requests) and 1 uploaded file(s)" in refused.output
    assert "--yes" in refused.output
    with target.app_context():
        assert holdings() == before
    assert not [name for name in os.listdir(target.config["UPLOAD_FOLDER"]) if name.startswith(".restore-")]

    replaced = restore(target, archive, "--yes")

    assert replaced.exit_code == 0, replaced.output
    with target.app_context():
        assert holdings() == expected
        (old_photo,) = [name for _, r in before.items() for name, _, _ in r["photos"]]
        assert file_sha256(old_photo) is None  # the uploads folder holds exactly the archive's files


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "changed photo", "not a backup", "missing",
                                    "newer migration", "unlisted member"])
def test_a_damaged_or_foreign_archive_is_refused_and_nothing_is_written(made_backup, instances, tmp_path, damage):
    archive, _ = made_backup
    data = archive.read_bytes()
    bad = tmp_path / "bad.tar.gz"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
        expected = "is not a readable backup archive"
    elif damage == "flipped byte":
        middle = len(data) // 2
        bad.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
        expected = "is not a readable backup archive"
    elif damage == "changed photo":
        with tarfile.open(archive, "r:gz") as opened:
            photo = next(m.name for m in opened.getmembers() if m.name.startswith("uploads/"))
        rewrite(archive, bad, member=lambda info, b: b[:-1] + bytes([b[-1] ^ 1]) if info.name == photo else b)
        expected = f"{photo} does not match its checksum"
    elif damage == "not a backup":
        with tarfile.open(bad, "w:gz") as opened:
            opened.add(__file__, arcname="test_backup.py")
        expected = "has no manifest.json"
    elif damage == "missing":
        bad = tmp_path / "nowhere.tar.gz"
        expected = "No backup archive at"
    elif damage == "newer migration":
        rewrite(archive, bad, manifest=lambda m: m["database"].update(alembic_revision="9999_future"))
        expected = "at migration 9999_future, which this code does not have"
    else:
        with tarfile.open(archive, "r:gz") as opened, tarfile.open(bad, "w:gz") as copy:
            for info in opened.getmembers():
                copy.addfile(info, opened.extractfile(info))
            extra = tarfile.TarInfo("../../etc/cron.d/liaison")
            extra.size = 4
            copy.addfile(extra, io.BytesIO(b"evil"))
        expected = "which its manifest does not list"
    target = instances.new("target", migrated=False)

    result = restore(target, bad)

    assert result.exit_code == 1
    assert expected in result.output
    assert "Nothing was changed" in result.output or damage == "missing"
    assert "Traceback" not in result.output
    assert_untouched_and_empty(target)


def test_an_archive_of_the_other_kind_of_database_is_refused(made_backup, instances, tmp_path):
    archive, _ = made_backup
    members = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
    other = "postgresql" if instances.kind == "sqlite" else "sqlite"

    def relabel(manifest):
        manifest["database"].update(kind=other, member=members[other])
        manifest["members"][members[other]] = manifest["members"].pop(members[instances.kind])

    def rename(info, data):
        if info.name == members[instances.kind]:
            info.name = members[other]
        return data

    foreign = rewrite(archive, tmp_path / "foreign.tar.gz", member=rename, manifest=relabel)
    target = instances.new("target", migrated=False)

    result = restore(target, foreign)

    assert result.exit_code == 1
    assert f"holds a {other} database, but this app uses {instances.kind}" in result.output
    assert_untouched_and_empty(target)


# --- a live database ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_run(test_database):
    if test_database.kind != "sqlite":
        pytest.skip("SQLite's online backup API; on PostgreSQL pg_dump reads one snapshot")


def test_a_backup_taken_while_another_connection_writes_is_consistent(sqlite_run, instances, tmp_path):
    source = instances.new("live")
    path = source.config["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path, isolation_level=None) as setup:
        assert setup.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        setup.execute("CREATE TABLE probe_rows (batch INTEGER, payload TEXT)")
        setup.execute("CREATE TABLE probe_total (n INTEGER)")
        setup.execute("INSERT INTO probe_total VALUES (0)")
    batches, errors, stop = [0], [], threading.Event()

    def write_batches():
        # Each transaction adds 200 rows and adds 200 to the total: a torn copy breaks the sum.
        writer = sqlite3.connect(path, timeout=5, isolation_level=None)
        try:
            while not stop.is_set():
                writer.execute("BEGIN IMMEDIATE")
                writer.executemany("INSERT INTO probe_rows VALUES (?, ?)",
                                   [(batches[0], "x" * 500) for _ in range(200)])
                writer.execute("UPDATE probe_total SET n = n + 200")
                writer.execute("COMMIT")
                batches[0] += 1
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            writer.close()

    def wait_for(count):
        deadline = time.monotonic() + 30
        while batches[0] < count and not errors and time.monotonic() < deadline:
            time.sleep(0.01)

    thread = threading.Thread(target=write_batches)
    thread.start()
    try:
        wait_for(20)
        result = source.test_cli_runner().invoke(args=["backup", "--to", str(tmp_path / "backups")])
        wait_for(batches[0] + 5)  # the writer carried on after the copy
    finally:
        stop.set()
        thread.join(timeout=30)

    assert result.exit_code == 0, result.output
    assert errors == []
    (archive,) = (tmp_path / "backups").iterdir()
    copy = tmp_path / "copy.sqlite"
    with tarfile.open(archive, "r:gz") as opened:
        copy.write_bytes(opened.extractfile("database.sqlite").read())
    with sqlite3.connect(copy) as copied, sqlite3.connect(path) as live:
        assert copied.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = copied.execute("SELECT count(*) FROM probe_rows").fetchone()[0]
        assert rows == copied.execute("SELECT n FROM probe_total").fetchone()[0]
        assert rows >= 20 * 200 and rows % 200 == 0
        assert live.execute("SELECT count(*) FROM probe_rows").fetchone()[0] > rows


def test_the_libpq_url_keeps_the_password_off_the_command_line():
    url, env = libpq_connection("postgresql+psycopg://liaison:s3cr%40t@db.internal:5433/liaison?sslmode=require")

    assert url == "postgresql://liaison@db.internal:5433/liaison?sslmode=require"
    assert env == {"PGPASSWORD": "s3cr@t"}
