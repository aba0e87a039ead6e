"""Backups: the live database and the uploads in one dated archive, and back again.

An archive, `liaison-backup-YYYYMMDD-HHMMSS.tar.gz` (the time in UTC), holds

    database.sqlite   a copy made with SQLite's online backup API while the app runs
                      (or database.pgdump: `pg_dump --format=custom` on PostgreSQL)
    uploads/...       every file under UPLOAD_FOLDER (photos, deputies' portraits)
    manifest.json     when, at which migration, how many requests and attachments,
                      and the size and sha256 of every other member

A restore reads the whole archive and checks it before it changes anything; it
refuses a database that already holds data unless told to replace it, and an
archive made by code with migrations this code does not have.
"""

import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import tempfile
import zlib
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterator, Optional
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app

from .extensions import db

log = logging.getLogger("liaison.backup")

FORMAT = 1
MANIFEST = "manifest.json"
UPLOADS = "uploads"
DATABASE_MEMBERS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
COUNTED_TABLES = ("requests", "request_events", "attachments")
STAGING_PREFIX = ".restore-"  # a restore unpacks the uploads here, inside UPLOAD_FOLDER
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass
class BackupResult:
    path: str
    manifest: dict

    @property
    def size(self) -> int:
        return os.path.getsize(self.path)


@dataclass
class RestoreResult:
    manifest: dict
    database: str  # the file, or the PostgreSQL URL without its password
    upload_folder: str
    upload_files: int
    counts: dict  # what the restored database holds
    needs_upgrade: bool  # the archive is at an older migration than this code


def archive_name(moment: datetime) -> str:
    return f"liaison-backup-{moment:%Y%m%d-%H%M%S}.tar.gz"


# --- backup -----------------------------------------------------------------------------------


def make_backup(folder: str) -> BackupResult:
    """Write the archive into `folder` and return where it is and its manifest.

    The database is copied first and the uploads after it: photos are written before
    the row that names them is committed and are never changed, so every photo the
    copy names is in the archive.
    """
    kind = _database_kind()
    moment = datetime.now(timezone.utc).replace(microsecond=0)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, archive_name(moment))
    if os.path.exists(path):
        raise BackupError(f"{path} already exists; wait a second and run the backup again.")
    with tempfile.TemporaryDirectory(prefix="liaison-backup-") as work:
        copy = os.path.join(work, DATABASE_MEMBERS[kind])
        revision, counts = _copy_sqlite(copy) if kind == "sqlite" else _dump_postgresql(copy)
        manifest = {
            "format": FORMAT,
            "app": "liaison",
            "created_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "code_revision": _code_head(),
            "database": {"kind": kind, "member": DATABASE_MEMBERS[kind], "alembic_revision": revision},
            "counts": counts,
        }
        _write_archive(path, manifest, copy)
    log.info("backup written: %s (%s requests, %s attachments, %s upload files, migration %s)",
             path, counts["requests"], counts["attachments"], manifest["counts"]["upload_files"], revision)
    return BackupResult(path=path, manifest=manifest)


def _write_archive(path: str, manifest: dict, database_copy: str) -> None:
    """The database copy, the uploads, then the manifest completed with every member's checksum.
    Written under another name and renamed: a backup that stopped half-way never looks complete."""
    partial = path + ".partial"
    # The archive holds contact details: readable by its owner only.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as archive:
                database_member = manifest["database"]["member"]
                members = {database_member: _add_file(archive, database_member, database_copy)}
                for relative, source in _upload_files(current_app.config["UPLOAD_FOLDER"]):
                    members[f"{UPLOADS}/{relative}"] = _add_file(archive, f"{UPLOADS}/{relative}", source)
                manifest["counts"]["upload_files"] = len(members) - 1
                manifest["members"] = members
                _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
    except BaseException:
        _remove(partial)
        raise


def _copy_sqlite(destination: str) -> tuple[Optional[str], dict]:
    source_path = _sqlite_path()
    if not os.path.exists(source_path):
        raise BackupError(f"There is no database at {source_path}.")
    timeout = current_app.config["SQLITE_BUSY_TIMEOUT_MS"] / 1000
    try:
        with closing(sqlite3.connect(source_path, timeout=timeout)) as source, \
                closing(sqlite3.connect(destination)) as copy:
            # All pages in one step: the copy is one moment's snapshot, and in WAL mode
            # the app's writers carry on meanwhile.
            source.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            _check_integrity(copy, f"The copy of {source_path}")
            return _read_state(lambda sql: copy.execute(sql).fetchall(),
                               {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")})
    except sqlite3.Error as error:
        raise BackupError(f"Could not copy the database at {source_path}: {error}") from None


def _dump_postgresql(destination: str) -> tuple[Optional[str], dict]:
    pg_dump = _client("pg_dump")
    url, env = libpq_connection(db.engine.url)
    # pg_dump reads the snapshot this transaction exports, so the manifest's counts
    # describe exactly the data in the dump.
    with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        snapshot = connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
        revision, counts = _read_connection_state(connection)
        _run([pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot}",
              f"--file={destination}", f"--dbname={url}"], env)
        connection.rollback()
    return revision, counts


def _upload_files(folder: str) -> Iterator[tuple[str, str]]:
    """(path relative to the folder with '/', full path) of every regular file, in order."""
    if not os.path.isdir(folder):
        return
    for root, directories, files in os.walk(folder):
        if root == folder:
            directories[:] = [d for d in directories if not d.startswith(STAGING_PREFIX)]
        directories.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):
                yield os.path.relpath(path, folder).replace(os.sep, "/"), path


class _HashingReader:
    """A file that hashes what is read from it: the checksum is of exactly the bytes archived."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        return chunk


def _add_file(archive: tarfile.TarFile, name: str, path: str) -> dict:
    """Add the file and return its size and the sha256 of exactly the bytes archived."""
    status = os.stat(path)
    info = tarfile.TarInfo(name)
    info.size = status.st_size
    info.mtime = int(status.st_mtime)
    info.mode = 0o600
    with open(path, "rb") as handle:
        reader = _HashingReader(handle)
        archive.addfile(info, reader)
    return {"size": info.size, "sha256": reader.digest.hexdigest()}


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(timezone.utc).timestamp())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


# --- restore ----------------------------------------------------------------------------------


def restore_backup(path: str, *, replace: bool = False) -> RestoreResult:
    """Put the archive's database and uploads in place of this instance's.

    Everything is checked first (manifest, checksums, database kind, migration, and
    unless `replace`, that this instance holds nothing); the database file is then
    swapped in with one rename (PostgreSQL: pg_restore in a single transaction) and
    the uploads folder's contents after it. The app must not be serving meanwhile.
    """
    if not os.path.isfile(path):
        raise BackupError(f"No backup archive at {path}.")
    kind = _database_kind()
    upload_folder = current_app.config["UPLOAD_FOLDER"]
    manifest, staged_database, staging = _unpack_checked(path, kind, upload_folder, replace=replace)
    try:
        db.session.remove()
        db.engine.dispose()  # no pooled connection may keep the old database open
        if kind == "sqlite":
            _check_staged_sqlite(staged_database)
            _swap_sqlite(staged_database, _sqlite_path())
            where = _sqlite_path()
        else:
            _restore_postgresql(staged_database)
            where = db.engine.url.render_as_string(hide_password=True)
        _swap_uploads(staging, upload_folder)
    finally:
        _remove(staged_database)
        if os.path.isdir(staging):
            shutil.rmtree(staging)
    with db.engine.connect() as connection:
        _, counts = _read_connection_state(connection)
    upload_files = sum(1 for _ in _upload_files(upload_folder))
    log.info("restored %s (made %s) into %s and %s: %s requests, %s attachments, %s upload files",
             path, manifest["created_at"], where, upload_folder, counts["requests"], counts["attachments"],
             upload_files)
    return RestoreResult(manifest=manifest, database=where, upload_folder=upload_folder, upload_files=upload_files,
                         counts=counts, needs_upgrade=_needs_upgrade(manifest["database"]["alembic_revision"]))


def _unpack_checked(path: str, kind: str, upload_folder: str, *, replace: bool) -> tuple[dict, str, str]:
    """Check the archive against this instance and unpack it next to where it goes:
    (manifest, staged database file, staging folder of the uploads). Changes nothing else."""
    try:
        _read_through(path)
        with tarfile.open(path, "r:gz") as archive:
            members = archive.getmembers()
            manifest = _read_manifest(archive, members, path)
            archived_kind = manifest["database"]["kind"]
            if archived_kind != kind:
                raise BackupError(f"{path} holds a {archived_kind} database, but this app uses {kind}; "
                                  f"set DATABASE_URL to a {archived_kind} database to restore it. Nothing was changed.")
            _check_revision(manifest["database"]["alembic_revision"])
            if not replace:
                held = _what_is_held(upload_folder)
                if held:
                    raise BackupError(f"This instance already holds {' and '.join(held)}; a restore replaces all "
                                      "of it. Run again with --yes to do so. Nothing was changed.")
            return (manifest, *_unpack(archive, members, manifest, path, upload_folder))
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise BackupError(f"{path} is not a readable backup archive ({error or type(error).__name__}); "
                          "it may be incomplete or damaged. Nothing was changed.") from None
    except OSError as error:  # e.g. the disk is full
        raise BackupError(f"Could not unpack {path}: {error}. Nothing was changed.") from None


def _read_through(path: str) -> None:
    """Decompress the whole file once: gzip's CRC and length catch a truncated or altered
    archive with certainty, before tar is asked to make sense of it."""
    with gzip.open(path, "rb") as stream:
        while stream.read(CHUNK):
            pass


def _read_manifest(archive: tarfile.TarFile, members: list[tarfile.TarInfo], path: str) -> dict:
    """The manifest, once it matches the archive's members name for name and size for size."""
    by_name = {member.name: member for member in members}
    if MANIFEST not in by_name:
        raise BackupError(f"{path} has no {MANIFEST}: it was not made by flask backup. Nothing was changed.")
    try:
        manifest = json.loads(archive.extractfile(by_name[MANIFEST]).read())
        listed = manifest["members"]
        database = manifest["database"]
        valid = (manifest.get("format") == FORMAT and database["kind"] in DATABASE_MEMBERS
                 and database["member"] == DATABASE_MEMBERS[database["kind"]] and database["member"] in listed
                 and isinstance(manifest["created_at"], str) and isinstance(manifest["counts"], dict)
                 and all(_acceptable_name(name) and _valid_entry(entry) for name, entry in listed.items()))
    except (ValueError, KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise BackupError(f"The manifest of {path} is not one flask backup writes. Nothing was changed.")
    for name, entry in listed.items():
        member = by_name.get(name)
        if member is None:
            raise BackupError(f"{path} is damaged: {name} is in its manifest but not in the archive. "
                              "Nothing was changed.")
        if not member.isfile() or member.size != entry["size"]:
            raise BackupError(f"{path} is damaged: {name} is not the file its manifest describes. "
                              "Nothing was changed.")
    extra = sorted(set(by_name) - set(listed) - {MANIFEST})
    if extra or len(by_name) != len(members):
        raise BackupError(f"{path} holds {extra[0] if extra else 'a member twice'}, which its manifest does not "
                          "list. Nothing was changed.")
    return manifest


def _acceptable_name(name: str) -> bool:
    """A database member, or a relative path under uploads/ that stays inside it."""
    if name in DATABASE_MEMBERS.values():
        return True
    parts = name.split("/")
    return (len(parts) >= 2 and parts[0] == UPLOADS and "\\" not in name
            and all(part not in ("", ".", "..") for part in parts))


def _valid_entry(entry) -> bool:
    sha256 = entry.get("sha256")
    return (isinstance(entry.get("size"), int) and isinstance(sha256, str) and len(sha256) == 64
            and all(c in "0123456789abcdef" for c in sha256))


def _check_revision(revision: Optional[str]) -> None:
    """Refuse a database at a migration this code does not have (made by newer code)."""
    if revision is not None and revision not in {script.revision for script in _scripts().walk_revisions()}:
        raise BackupError(f"The archive's database is at migration {revision}, which this code does not have "
                          f"(its newest is {_code_head()}): restore it with the code that made it, or newer code. "
                          "Nothing was changed.")


def _needs_upgrade(revision: Optional[str]) -> bool:
    """An older migration than this code's: `flask db upgrade` must run before the app starts.
    None is a database never migrated (made with create_all): nothing to compare."""
    return revision is not None and revision not in _scripts().get_heads()


def _what_is_held(upload_folder: str) -> list[str]:
    """What a restore would destroy: the database's rows, the uploads folder's files."""
    held = []
    if db.engine.dialect.name != "sqlite" or os.path.exists(_sqlite_path()):
        with db.engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names())
            tables = [table for table in db.metadata.sorted_tables if table.name in present]
            if any(connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first()
                   for table in tables):
                _, counts = _read_connection_state(connection)
                held.append(f"data ({counts['requests']} requests)")
    files = sum(1 for _ in _upload_files(upload_folder))
    if files:
        held.append(f"{files} uploaded file(s)")
    return held


def _unpack(archive: tarfile.TarFile, members: list[tarfile.TarInfo], manifest: dict, path: str,
            upload_folder: str) -> tuple[str, str]:
    """Write every member to a staging place next to where it goes, checking its sha256;
    return (the staged database file, the staging folder of the uploads)."""
    listed = manifest["members"]
    database_member = manifest["database"]["member"]
    if manifest["database"]["kind"] == "sqlite":
        target = _sqlite_path()
        os.makedirs(os.path.dirname(target), exist_ok=True)
        descriptor, staged_database = tempfile.mkstemp(dir=os.path.dirname(target),
                                                       prefix=f".{os.path.basename(target)}.restore-")
    else:
        descriptor, staged_database = tempfile.mkstemp(prefix="liaison-restore-", suffix=".pgdump")
    os.close(descriptor)
    os.makedirs(upload_folder, exist_ok=True)
    staging = tempfile.mkdtemp(dir=upload_folder, prefix=STAGING_PREFIX)
    try:
        for member in members:
            if member.name == MANIFEST:
                continue
            if member.name == database_member:
                destination = staged_database
            else:
                destination = os.path.join(staging, *member.name.split("/")[1:])
                os.makedirs(os.path.dirname(destination), exist_ok=True)
            if _copy_out(archive.extractfile(member), destination) != listed[member.name]["sha256"]:
                raise BackupError(f"{path} is damaged: {member.name} does not match its checksum in the "
                                  "manifest. Nothing was changed.")
    except BaseException:
        _remove(staged_database)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staged_database, staging


def _copy_out(source, destination: str) -> str:
    digest = hashlib.sha256()
    with open(destination, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _check_staged_sqlite(staged: str) -> None:
    try:
        with closing(sqlite3.connect(staged)) as connection:
            _check_integrity(connection, "The archive's database")
    except sqlite3.Error as error:
        raise BackupError(f"The archive's database cannot be opened ({error}). Nothing was changed.") from None


def _swap_sqlite(staged: str, target: str) -> None:
    """Rename the staged file over the database. The old database's WAL is checkpointed and
    removed first: left beside the new file, SQLite would replay it into the new file."""
    if os.path.exists(target):
        try:
            with closing(sqlite3.connect(target)) as old:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError:
            pass  # not a database: it is replaced all the same
    _take_over_owner(staged, target if os.path.exists(target) else os.path.dirname(target), mode=True)
    for suffix in ("-wal", "-shm", "-journal"):
        _remove(target + suffix)
    os.replace(staged, target)
    _fsync_folder(os.path.dirname(target))


def _restore_postgresql(staged: str) -> None:
    pg_restore = _client("pg_restore")
    url, env = libpq_connection(db.engine.url)
    # One transaction: a restore that fails leaves the database as it was.
    try:
        _run([pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--no-password",
              f"--dbname={url}", staged], env)
    except BackupError as error:
        raise BackupError(f"{error}\nThe database was left as it was (pg_restore ran in one transaction).") from None


def _swap_uploads(staging: str, folder: str) -> None:
    """Make the folder hold exactly the staged files. Moved within the folder itself, so that
    it works when UPLOAD_FOLDER is a mount point."""
    for entry in os.scandir(folder):
        if entry.path == staging:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.remove(entry.path)
    for root, directories, files in os.walk(staging):
        for name in directories + files:
            _take_over_owner(os.path.join(root, name), folder)
    for entry in os.scandir(staging):
        os.replace(entry.path, os.path.join(folder, entry.name))
    os.rmdir(staging)


# --- shared -----------------------------------------------------------------------------------


def libpq_connection(url) -> tuple[str, dict]:
    """The SQLAlchemy URL (postgresql+psycopg://...) as a libpq URL for pg_dump and pg_restore,
    and the environment that carries its password (kept off the command line, where `ps` shows it)."""
    url = sa.engine.make_url(url)
    user = quote(url.username, safe="") + "@" if url.username else ""
    host = f"[{url.host}]" if url.host and ":" in url.host else quote(url.host or "", safe="")
    port = f":{url.port}" if url.port else ""
    query = urlencode(dict(url.query), doseq=True, quote_via=quote)
    libpq = f"postgresql://{user}{host}{port}/{quote(url.database or '', safe='')}" + (f"?{query}" if query else "")
    return libpq, ({"PGPASSWORD": url.password} if url.password else {})


def _database_kind() -> str:
    name = db.engine.dialect.name
    if name not in DATABASE_MEMBERS:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {name}.")
    if name == "sqlite" and db.engine.url.database in (None, "", ":memory:"):
        raise BackupError("The database is in memory; there is no file to back up or restore.")
    return name


def _sqlite_path() -> str:
    return os.path.abspath(db.engine.url.database)


def _read_state(rows: Callable[[str], list], tables: set) -> tuple[Optional[str], dict]:
    """(alembic revision, row counts) of a database, given a way to run a query and its tables."""
    revision = None
    if "alembic_version" in tables:
        revision = ",".join(sorted(row[0] for row in rows("SELECT version_num FROM alembic_version"))) or None
    counts = {table: (rows(f"SELECT count(*) FROM {table}")[0][0] if table in tables else 0)
              for table in COUNTED_TABLES}
    return revision, counts


def _read_connection_state(connection: sa.Connection) -> tuple[Optional[str], dict]:
    return _read_state(lambda sql: connection.execute(sa.text(sql)).all(),
                       set(sa.inspect(connection).get_table_names()))


def _check_integrity(connection: sqlite3.Connection, what: str) -> None:
    problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"{what} fails SQLite's integrity check: {'; '.join(problems[:3])}.")


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(current_app.extensions["migrate"].directory)


def _code_head() -> Optional[str]:
    return ",".join(sorted(_scripts().get_heads())) or None


def _client(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise BackupError(f"{program} was not found on PATH. Install the PostgreSQL client programs of the "
                          "server's major version (Debian: apt install postgresql-client).")
    return found


def _run(command: list[str], env: dict) -> None:
    program = os.path.basename(command[0])
    result = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        detail = result.stderr.strip()[-2000:] or f"exit status {result.returncode}"
        raise BackupError(f"{program} failed: {detail}")


def _take_over_owner(path: str, like: str, *, mode: bool = False) -> None:
    """Give what a restore wrote the owner of what it replaces (and, for the database file, its
    permissions), so that the app's own user can still write after a restore run as root."""
    reference = os.stat(like)
    if mode and os.path.isfile(like):
        os.chmod(path, stat.S_IMODE(reference.st_mode))
    if os.geteuid() == 0:
        os.chown(path, reference.st_uid, reference.st_gid, follow_symlinks=False)


def _fsync_folder(folder: str) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
