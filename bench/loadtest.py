"""Filing under load and faults: gunicorn with several workers, many phones filing at once,
one worker killed with SIGKILL half-way; afterwards nothing may be lost or doubled.

    .venv/bin/python bench/loadtest.py --db sqlite|postgresql [--clients 50] [--seconds 60]
    .venv/bin/python bench/loadtest.py --quick --database-url URL --json   (tests/test_load.py)

Each client is one phone: GET the filing form (its CSRF token and idempotency key), POST it
with a small JPEG, and on a connection error, a timeout or a 5xx send the SAME POST again
(same key) up to 3 times. The server is `gunicorn -c deploy/gunicorn.conf.py` on a free
loopback port, on a fresh database migrated with `flask db upgrade` and seeded with one
deputy's QR code. Afterwards the database and the uploads folder are checked: every filing
answered 303 has exactly one request (found by its idempotency key, with the tracking link
the Location named) and its photo, no key has two requests, no failed attempt and no 5xx
outside the moment of the kill, and the database passes its integrity checks (SQLite
PRAGMA integrity_check and foreign_key_check; every foreign key on both). The killed worker
may have left one photo file without its row: `flask sweep-uploads` must find at most that
one, and after it no file may lack its row nor any row its file.

Rate limiting is switched off (RATELIMIT_ENABLED=false): every client here is 127.0.0.1.
Exit status 1 when any check failed; --json prints the report for the test.
"""

import argparse
import collections
import ctypes
import hashlib
import io
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import quote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import sqlalchemy as sa  # noqa: E402
import urllib3  # noqa: E402
from PIL import Image  # noqa: E402

BIN = os.path.dirname(sys.executable)
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RETRIES = 3  # a POST is sent at most 1 + RETRIES times
KILL_GRACE_SECONDS = 5.0  # failures this long after the kill are the kill's
# wsgi.py's create_app() with rate limiting off, whether or not the environment can say so.
APP = "liaison_app:create_app({'RATELIMIT_ENABLED': False})"


# --- the database and the server ----------------------------------------------------------------


class ScratchDatabase:
    """A fresh SQLite file, or a fresh schema on the PostgreSQL server at `base_url`."""

    def __init__(self, kind: str, folder: str, base_url: str = DEFAULT_PG_URL):
        self.kind, self.schema = kind, None
        if kind == "sqlite":
            self.url = "sqlite:///" + os.path.join(folder, "load.sqlite")
            return
        from liaison_app.config import normalise_database_url

        self.base_url = normalise_database_url(base_url)
        self.schema = f"load_{os.getpid()}_{secrets.token_hex(4)}"
        self._execute(f'CREATE SCHEMA "{self.schema}"')
        separator = "&" if "?" in self.base_url else "?"
        self.url = f"{self.base_url}{separator}options={quote(f'-csearch_path={self.schema}')}"

    def drop(self):
        if self.schema:
            self._execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def _execute(self, statement: str):
        engine = sa.create_engine(self.base_url)
        with engine.begin() as connection:
            connection.execute(sa.text(statement))
        engine.dispose()


def server_environment(database_url: str, uploads: str) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, UPLOAD_FOLDER=uploads, SECRET_KEY=secrets.token_hex(32),
               FLASK_APP="wsgi", RATELIMIT_ENABLED="false", PYTHONUNBUFFERED="1")
    return env


def migrate_and_seed(env: dict) -> str:
    """`flask db upgrade` as on a release, then one deputy at one station with one QR code."""
    subprocess.run([os.path.join(BIN, "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    from liaison_app import create_app
    from liaison_app.extensions import db
    from liaison_app.models import Deputy, Jurisdiction, Level, Placement, QRCode, Station

    app = create_app({"DATABASE_URL": env["DATABASE_URL"], "UPLOAD_FOLDER": env["UPLOAD_FOLDER"],
                      "SECRET_KEY": env["SECRET_KEY"]})
    with app.app_context():
        county = Jurisdiction(name="太仓市", level=Level.COUNTY, division_code="320585")
        station = Station(name="城厢镇代表联络站", jurisdiction=county)
        deputy = Deputy(name="周建华", congress_jurisdiction=county)
        deputy.stations.append(station)
        code = QRCode(deputy=deputy, placement=Placement.STATION)
        db.session.add_all([county, station, deputy, code])
        db.session.commit()
        token = code.token
        db.session.remove()
        db.engine.dispose()
    return token


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent():
    """gunicorn gets SIGTERM if this process dies first (a test's timeout): no server is left behind."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Gunicorn:
    """`gunicorn -c deploy/gunicorn.conf.py` serving APP on a free loopback port."""

    def __init__(self, env: dict, workers: int, log_path: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "wb")
        env = dict(env, WEB_CONCURRENCY=str(workers), GUNICORN_ACCESS_LOG=log_path + ".access")
        self.process = subprocess.Popen(
            [os.path.join(BIN, "gunicorn"), "-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
             APP], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self._wait_until_serving(workers)

    def _wait_until_serving(self, workers: int):
        http = urllib3.PoolManager(retries=False, timeout=2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if http.request("GET", self.base + "/healthz").status == 200 and len(self.workers()) == workers:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start serving within 60 s:\n{self.log_tail()}")

    def workers(self) -> list[int]:
        """The master's child processes (Linux /proc)."""
        children = []
        for task in os.listdir(f"/proc/{self.process.pid}/task"):
            with open(f"/proc/{self.process.pid}/task/{task}/children") as handle:
                children += [int(pid) for pid in handle.read().split()]
        return children

    def busy_worker(self) -> int:
        """A worker that is running (most likely in the middle of a request), else any."""
        for _ in range(200):
            for pid in self.workers():
                with open(f"/proc/{pid}/stat") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[0] == "R":
                        return pid
            time.sleep(0.005)
        return self.workers()[0]

    def stop(self):
        """Every client has its answer by now: quick shutdown (SIGQUIT) rather than waiting for
        idle workers to notice a graceful one."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def log_tail(self, size: int = 4000) -> str:
        with open(self.log_path, "rb") as handle:
            return handle.read().decode(errors="replace")[-size:]


# --- the clients --------------------------------------------------------------------------------


def small_jpeg(seed: int) -> bytes:
    """A 320×240 photo with some detail, different for each client."""
    image = Image.new("RGB", (320, 240), ((seed * 37) % 256, (seed * 91) % 256, 120))
    for x in range(0, 320, 16):
        for y in range(0, 240, 16):
            image.putpixel((x, y), ((x + seed) % 256, y % 256, (x * y) % 256))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def hidden_value(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    value = tag and re.search(r'value="([^"]*)"', tag.group(0))
    if not value:
        raise ValueError(f"no {name} in the filing form")
    return value.group(1)


class Phone(threading.Thread):
    """One client: fill in the form, file it, retry the same POST when the answer is lost."""

    def __init__(self, number: int, base: str, token: str, deadline: float, clock_zero: float):
        super().__init__(daemon=True)
        self.number, self.base, self.token = number, base, token
        self.deadline, self.clock_zero = deadline, clock_zero
        self.pool = urllib3.HTTPConnectionPool("127.0.0.1", int(base.rsplit(":", 1)[1]), maxsize=1,
                                               retries=False, timeout=urllib3.Timeout(connect=5, read=30))
        self.cookies = {}
        self.photo = small_jpeg(number)
        self.filings = []  # {"key", "status", "location", "latency", "attempts"}
        self.form_latencies = []
        self.failures = []  # (began, ended, what) in seconds since the start: every failed attempt
        self.crash = None

    def run(self):
        try:
            while time.monotonic() < self.deadline:
                page = self._get_form()
                if page is not None:
                    self._file(hidden_value(page, "csrf_token"), hidden_value(page, "idempotency_key"))
        except Exception as error:  # reported as a problem, not lost with the thread
            self.crash = f"client {self.number}: {type(error).__name__}: {error}"

    def _send(self, method: str, path: str, **kwargs):
        """One attempt: the response, or None after noting the failure."""
        headers = kwargs.pop("headers", {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.monotonic()
        try:
            response = self.pool.request(method, path, headers=headers, redirect=False, **kwargs)
        except urllib3.exceptions.HTTPError as error:
            self._failed(started, f"{method} {type(error).__name__}")
            return None
        for header in response.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        if response.status >= 500:
            self._failed(started, f"{method} {response.status}")
            return None
        return response

    def _failed(self, started: float, what: str):
        self.failures.append((started - self.clock_zero, time.monotonic() - self.clock_zero, what))

    def _get_form(self):
        started = time.monotonic()
        response = self._send("GET", f"/q/{self.token}/file")
        if response is None:
            return None
        if response.status != 200:
            raise RuntimeError(f"the filing form answered {response.status}")
        self.form_latencies.append(time.monotonic() - started)
        return response.data.decode()

    def _file(self, csrf_token: str, key: str):
        fields = {
            "csrf_token": csrf_token, "idempotency_key": key, "kind": "request",
            "enterprise_name": f"太仓市恒丰精密机械有限公司{self.number}号厂", "contact_name": "王海燕",
            "contact_phone": "13812345678", "category": "labour",
            "description": "车间缺少熟练焊工二十名，希望帮助对接职业院校和人社部门的招聘会。",
            "photos": ("workshop.jpg", self.photo, "image/jpeg"),
        }
        started = time.monotonic()
        filing = {"key": key, "status": None, "location": None, "attempts": 0}
        for _ in range(1 + RETRIES):
            filing["attempts"] += 1
            response = self._send("POST", f"/q/{self.token}/file", fields=fields)
            if response is not None:
                filing.update(status=response.status, location=response.headers.get("Location"))
                break
        filing["latency"] = time.monotonic() - started
        self.filings.append(filing)


# --- the run and the checks ---------------------------------------------------------------------


def run(database_url: str, *, clients: int, seconds: float, workers: int, folder: str) -> dict:
    uploads = os.path.join(folder, "uploads")
    os.makedirs(uploads, exist_ok=True)
    env = server_environment(database_url, uploads)
    token = migrate_and_seed(env)
    server = Gunicorn(env, workers, os.path.join(folder, "gunicorn.log"))
    try:
        start = time.monotonic()
        phones = [Phone(i, server.base, token, start + seconds, start) for i in range(clients)]
        for phone in phones:
            phone.start()
        time.sleep(seconds / 2)
        victim = server.busy_worker()
        killed_at = time.monotonic() - start
        os.kill(victim, signal.SIGKILL)
        for phone in phones:
            phone.join(timeout=seconds + 120)
        elapsed = time.monotonic() - start
        respawned = len(server.workers()) == workers and victim not in server.workers()
    finally:
        server.stop()
    filings = [f for phone in phones for f in phone.filings]
    failures = sorted(f for phone in phones for f in phone.failures)
    report = {
        "database": sa.engine.make_url(database_url).get_backend_name(),
        "clients": clients, "workers": workers, "seconds": round(elapsed, 1),
        "killed_worker_at": round(killed_at, 1), "worker_respawned": respawned,
        "filings": len(filings), "answered_303": sum(f["status"] == 303 for f in filings),
        "filings_per_second": round(sum(f["status"] == 303 for f in filings) / elapsed, 1),
        "requests_per_second": round(sum(len(phone.form_latencies) + sum(f["status"] is not None for f in phone.filings)
                                         for phone in phones) / elapsed, 1),
        "retried_filings": sum(f["attempts"] > 1 for f in filings),
        "failed_attempts": len(failures),
        "failure_kinds": dict(collections.Counter(what for _, _, what in failures)),
        "post_p50_ms": percentile([f["latency"] for f in filings], 50),
        "post_p95_ms": percentile([f["latency"] for f in filings], 95),
        "form_p50_ms": percentile([t for phone in phones for t in phone.form_latencies], 50),
        "form_p95_ms": percentile([t for phone in phones for t in phone.form_latencies], 95),
        "load_average": os.getloadavg()[0],
        "problems": [],
    }
    problems = report["problems"]
    if any(phone.is_alive() for phone in phones):
        problems.append("a client was still waiting for an answer long after the end")
    problems += [phone.crash for phone in phones if phone.crash]
    for filing in filings:
        if filing["status"] != 303:
            problems.append(f"filing {filing['key']} ended with {filing['status']} after {filing['attempts']} attempts")
    # An attempt in flight at the kill, or begun shortly after it, may fail; no other may.
    outside = [f for f in failures if f[1] < killed_at or f[0] > killed_at + KILL_GRACE_SECONDS]
    problems += [f"{what} from {began:.1f} s to {ended:.1f} s, outside the kill at {killed_at:.1f} s"
                 for began, ended, what in outside]
    if not respawned:
        problems.append("gunicorn did not replace the killed worker")
    # A worker killed between writing a photo and committing its row leaves that file behind (one
    # at most: one filing of one photo in flight); `flask sweep-uploads` (cron) deletes it.
    swept = subprocess.run([os.path.join(BIN, "flask"), "sweep-uploads", "--min-age-minutes", "0"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300)
    report["orphans_swept"] = int(re.match(r"(\d+) photo file", swept.stdout).group(1)) if swept.returncode == 0 else None
    if report["orphans_swept"] is None or report["orphans_swept"] > 1:
        problems.append(f"flask sweep-uploads: {swept.stdout.strip()} {swept.stderr.strip()}")
    problems += check_database(database_url, uploads, filings)
    report["gunicorn_log_tail"] = server.log_tail(2000) if problems else ""
    return report


def check_database(database_url: str, uploads: str, filings: list) -> list[str]:
    """What must hold after the run, read straight from the database and the folder."""
    problems = []
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, idempotency_key, tracking_token FROM requests")).all()
        attachments = connection.execute(sa.text("SELECT request_id, stored_name, sha256 FROM attachments")).all()
        problems += integrity_problems(connection)
    engine.dispose()

    by_key = {}
    for row in rows:
        by_key.setdefault(row.idempotency_key, []).append(row)
    problems += [f"{len(found)} requests for idempotency key {key}" for key, found in by_key.items() if len(found) > 1]
    photos_of = {}
    for attachment in attachments:
        photos_of.setdefault(attachment.request_id, []).append(attachment)
    answered = {f["key"]: f for f in filings if f["status"] == 303}
    for key, filing in answered.items():
        found = by_key.get(key, [])
        if len(found) != 1:
            problems.append(f"filing {key} was answered 303 but has {len(found)} requests")
        elif not filing["location"].endswith(f"/t/{found[0].tracking_token}"):
            problems.append(f"filing {key}: 303 to {filing['location']}, its request's link is /t/{found[0].tracking_token}")
        elif len(photos_of.get(found[0].id, [])) != 1:
            problems.append(f"filing {key}: {len(photos_of.get(found[0].id, []))} photos instead of 1")
    unknown = set(by_key) - {f["key"] for f in filings}
    problems += [f"a request with key {key} that no client sent" for key in unknown]

    on_disk = {os.path.relpath(os.path.join(folder, name), uploads)
               for folder, _, names in os.walk(uploads) for name in names}
    stored = {a.stored_name: a.sha256 for a in attachments}
    problems += [f"orphan photo file {name} (no row)" for name in sorted(on_disk - set(stored))]
    problems += [f"photo row {name} has no file" for name in sorted(set(stored) - on_disk)]
    for name in sorted(on_disk & set(stored)):
        with open(os.path.join(uploads, name), "rb") as handle:
            if hashlib.sha256(handle.read()).hexdigest() != stored[name]:
                problems.append(f"photo file {name} does not match its row's sha256")
    return problems


def integrity_problems(connection) -> list[str]:
    """SQLite's own checks; on both, every foreign key of the schema verified by a query."""
    problems = []
    if connection.dialect.name == "sqlite":
        result = connection.execute(sa.text("PRAGMA integrity_check")).scalars().all()
        if result != ["ok"]:
            problems.append(f"PRAGMA integrity_check: {result[:5]}")
        broken = connection.execute(sa.text("PRAGMA foreign_key_check")).all()
        problems += [f"PRAGMA foreign_key_check: {row}" for row in broken[:5]]
    metadata = sa.MetaData()
    metadata.reflect(connection)
    for table in metadata.sorted_tables:
        for constraint in table.foreign_key_constraints:
            child = [element.parent for element in constraint.elements]
            target = constraint.referred_table.alias("target")  # an alias: some tables refer to themselves
            parent = [target.c[element.column.name] for element in constraint.elements]
            query = (sa.select(sa.func.count()).select_from(table.outerjoin(
                target, sa.and_(*[c == p for c, p in zip(child, parent)])))
                .where(*[c.isnot(None) for c in child], parent[0].is_(None)))
            dangling = connection.execute(query).scalar()
            if dangling:
                problems.append(f"{dangling} rows of {table.name} point at missing {constraint.referred_table.name}")
    return problems


def percentile(samples: list[float], p: int):
    if not samples:
        return None
    ordered = sorted(samples)
    return round(ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)] * 1000, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", help="an EMPTY database to run on (instead of a scratch one)")
    parser.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL),
                        help="PostgreSQL server for --db postgresql: a scratch schema is made there and dropped")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 clients for 10 s (the test)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds = 10, 10

    folder = tempfile.mkdtemp(prefix="liaison-load-")
    database = None
    try:
        if args.database_url:
            url = args.database_url
        else:
            database = ScratchDatabase(args.db, folder, args.pg_url)
            url = database.url
        report = run(url, clients=args.clients, seconds=args.seconds, workers=args.workers, folder=folder)
    finally:
        if database:
            database.drop()
        shutil.rmtree(folder, ignore_errors=True)

    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for name, value in report.items():
            if name not in ("problems", "gunicorn_log_tail"):
                print(f"{name:>20}: {value}")
        print("problems:", *report["problems"][:50] or ["none"], sep="\n  ")
        if report["gunicorn_log_tail"]:
            print(report["gunicorn_log_tail"])
    sys.exit(1 if report["problems"] else 0)


if __name__ == "__main__":
    main()
