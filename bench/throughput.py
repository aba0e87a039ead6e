"""Requests per second through gunicorn, and the memory of its workers.

gunicorn runs 2 sync workers on a loopback port (sync, as deploy/ runs it behind nginx: the app
is CPU- and database-bound, and nginx buffers slow phones, so threads would only add switching).
The load comes from `wrk` on the same machine (sudo apt-get install -y wrk; `make bench` installs
it), so the load generator shares the 2 cores with the server; both servers are measured alike:

1. a bare Flask "hello" app (bench/wsgi_apps.py), then the QR landing page of the real app, over
   --codes live QR codes picked at random: requests per second of each and their ratio
   (budget: the landing page serves at least half of what "hello" serves);
2. filing a request without a photo from a deputy's code (budget: 200 per second on
   PostgreSQL), CSRF and rate limiting off in this configuration (wsgi_apps.liaison);
3. the deputy's inbox and request card and the county staff's inbox, logged in;
4. after all that, the resident memory (VmRSS) of each worker (budget: under 150 MB).

    .venv/bin/python bench/throughput.py --database-url URL [--seconds 10] [--write-doc] [--strict]
    .venv/bin/python bench/throughput.py --quick   # a tiny province on SQLite; Python client if no wrk

The database must hold a `flask seed-scale` data set; this adds --seconds of filings to it
(a few thousand requests) and scan counts. No access log is written (in either server).
"""

import argparse
import http.client
import http.cookiejar
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402

import report  # noqa: E402
from _common import drop, remove_filings, scratch_app  # noqa: E402
from liaison_app import scale  # noqa: E402
from liaison_app.extensions import db  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
BUDGET_RATIO, BUDGET_FILINGS, BUDGET_RSS_MB = 0.5, 200.0, 150.0

FILING = {"kind": "request", "enterprise_name": "基准测试企业", "contact_name": "张明", "contact_phone": "13912345678",
          "category": "other", "description": "基准测试：厂区门口道路塌陷，货车无法通行，希望尽快修复。"}


# --- the server ------------------------------------------------------------------------

class Server:
    """gunicorn with 2 sync workers serving `spec` on a free loopback port."""

    def __init__(self, spec: str, env: dict, log: Path, workers: int = 2):
        self.port = _free_port()
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [GUNICORN, "--workers", str(workers), "--worker-class", "sync", "--bind", f"127.0.0.1:{self.port}",
             "--chdir", str(ROOT / "bench"), "--pythonpath", str(ROOT), "--timeout", "120", spec],
            env={**os.environ, **env}, stdout=self.log, stderr=self.log)
        self.workers = workers

    def wait(self, path: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.process.returncode}); see {self.log.name}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                connection.request("GET", path)
                if connection.getresponse().status < 500 and len(self.worker_pids()) == self.workers:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer {path} within {seconds} s; see {self.log.name}")

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def worker_pids(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def rss_mb(self) -> list[float]:
        """VmRSS of each worker, in MB (MiB)."""
        sizes = []
        for pid in self.worker_pids():
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024)
        return sizes

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the load --------------------------------------------------------------------------

class Load:
    """wrk when installed (--threads 2), else a Python client (quick mode only)."""

    def __init__(self, connections: int, work: Path):
        self.connections, self.work = connections, work
        self.wrk = None if os.environ.get("BENCH_NO_WRK") else shutil.which("wrk")  # BENCH_NO_WRK=1: as in CI

    @property
    def name(self) -> str:
        return f"wrk, 2 threads, {self.connections} connections" if self.wrk else \
            f"a Python client, {self.connections} threads"

    def run(self, server: Server, seconds: float, paths: list[str], *, post: str = "", cookie: str = "") -> float:
        """Requests per second over `seconds`: GETs of `paths` at random, or POSTs of the form body
        `post` (plus a fresh idempotency key each) to paths[0]. Any answer other than 2xx/3xx fails."""
        if self.wrk:
            return self._wrk(server, seconds, paths, post, cookie)
        return self._python(server, seconds, paths, post, cookie)

    def _wrk(self, server, seconds, paths, post, cookie) -> float:
        script = self.work / f"load-{secrets.token_hex(4)}.lua"
        headers = {"Cookie": cookie} if cookie else {}
        if post:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        lua_headers = "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items()) + "}"
        script.write_text(_LUA % {
            "paths": ", ".join(f'"{p}"' for p in paths), "headers": lua_headers, "method": "POST" if post else "GET",
            "body": post, "prefix": secrets.token_hex(4),
        })
        result = subprocess.run(
            [self.wrk, "--threads", "2", "--connections", str(self.connections), "--duration", f"{seconds:g}s",
             "--timeout", "10s", "--script", str(script), server.url("/")],
            capture_output=True, text=True, check=True)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
        if bad:
            raise SystemExit(f"{bad.group(1)} failed responses from {paths[0]}:\n{result.stdout}")
        return float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))

    def _python(self, server, seconds, paths, post, cookie) -> float:
        done, failures, deadline = [0], [], time.monotonic() + seconds
        prefix = secrets.token_hex(4)

        def worker(number: int):
            n = 0
            while time.monotonic() < deadline:
                n += 1
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                headers = {"Cookie": cookie} if cookie else {}
                if post:
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                    connection.request("POST", paths[0], f"{post}{prefix}{number:04x}{n:020x}", headers)
                else:
                    connection.request("GET", paths[n % len(paths)], headers=headers)
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status >= 400:
                    failures.append(response.status)
                done[0] += 1

        started = time.monotonic()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise SystemExit(f"{len(failures)} failed responses from {paths[0]} ({failures[0]})")
        return done[0] / (time.monotonic() - started)


# Each wrk thread has its own Lua state: `setup` numbers the threads so that every filing
# gets an idempotency key of its own (run prefix, thread, counter: 32 hex digits).
_LUA = """
local paths = {%(paths)s}
local headers = %(headers)s
local threads = 0
local n = 0
setup = function(thread)
  thread:set("number", threads)
  threads = threads + 1
end
request = function()
  n = n + 1
  if "%(method)s" == "POST" then
    local key = string.format("%%s%%04x000000000000%%08x", "%(prefix)s", number, n)
    return wrk.format("POST", paths[1], headers, "%(body)s" .. key)
  end
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
"""


# --- what is measured -------------------------------------------------------------------

def subjects(app, codes: int) -> dict:
    """Live codes for the landing page, the busiest deputy's code for filings, and the
    pages of the desk for the memory phase."""
    with app.app_context():
        q = lambda sql, **p: db.session.execute(sa.text(sql), p)  # noqa: E731
        tokens = [row[0] for row in q(
            "SELECT q.token FROM qr_codes q LEFT JOIN deputies d ON d.id = q.deputy_id "
            "LEFT JOIN stations s ON s.id = q.station_id WHERE q.revoked_at IS NULL "
            "AND coalesce(d.active, s.active) ORDER BY q.id LIMIT :n", n=codes)]
        deputy_id = q("SELECT addressed_deputy_id FROM requests WHERE addressed_deputy_id IS NOT NULL "
                      "GROUP BY addressed_deputy_id ORDER BY count(*) DESC, addressed_deputy_id LIMIT 1").scalar()
        deputy_code = q("SELECT token FROM qr_codes WHERE deputy_id = :d AND revoked_at IS NULL ORDER BY id LIMIT 1",
                        d=deputy_id).scalar()
        card = q("SELECT max(id) FROM requests WHERE addressed_deputy_id = :d", d=deputy_id).scalar()
        county = q("SELECT min(id) FROM jurisdictions WHERE level = 'county'").scalar()
        total = q("SELECT count(*) FROM requests").scalar()
        newest = q("SELECT coalesce(max(id), 0) FROM requests").scalar()
        dialect = db.engine.dialect.name
    return {"newest": newest, "tokens": tokens, "deputy": f"deputy-{deputy_id}", "deputy_code": deputy_code, "card": card,
            "county_staff": f"staff-{county}", "total": total, "dialect": dialect}


def log_in(server: Server, username: str) -> str:
    """The Cookie header of a fresh session of `username` (CSRF is off in this configuration)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    body = urllib.parse.urlencode({"login": username, "password": scale.SCALE_PASSWORD}).encode()
    opener.open(server.url("/login"), body, timeout=30).read()
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    if "session=" not in cookies:
        raise SystemExit(f"could not log in as {username}")
    return cookies


def measure(args, database_url: str, work: Path) -> tuple[dict, list[str]]:
    load = Load(args.connections, work)
    log = work / "gunicorn.log"
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "bench-" + secrets.token_hex(8),
           "UPLOAD_FOLDER": str(work / "uploads"), "NOTIFIER": "log"}
    results, lines = {}, []

    def note(line):
        print(line, flush=True)
        lines.append(line)

    hello = Server("wsgi_apps:hello", env, log)
    try:
        hello.wait("/")
        load.run(hello, args.warmup, ["/"])
        results["hello"] = load.run(hello, args.seconds, ["/"])
        results["hello_rss"] = hello.rss_mb()
    finally:
        hello.stop()
    note(f"bare Flask hello: {results['hello']:.0f} requests/s")

    from liaison_app import create_app
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    subject = subjects(app, args.codes)
    with app.app_context():
        db.engine.dispose()
    results["subject"] = subject
    server = Server("wsgi_apps:liaison()", env, log)
    try:
        landing = [f"/q/{t}" for t in subject["tokens"]]
        server.wait(landing[0])
        load.run(server, args.warmup, landing)
        results["landing"] = load.run(server, args.seconds, landing)
        results["ratio"] = results["landing"] / results["hello"]
        note(f"QR landing page ({len(landing)} codes): {results['landing']:.0f} requests/s, "
             f"{results['ratio']:.2f} of hello")
        body = urllib.parse.urlencode(FILING) + "&idempotency_key="
        filing_path = f"/q/{subject['deputy_code']}/file"
        results["filing"] = load.run(server, args.filing_seconds, [filing_path], post=body)
        note(f"filing without a photo: {results['filing']:.0f} requests/s ({subject['dialect']})")
        deputy = log_in(server, subject["deputy"])
        results["desk"] = load.run(server, args.filing_seconds, [
            "/desk/?tab=addressed", "/desk/?tab=station", "/desk/?tab=overdue", f"/desk/requests/{subject['card']}"],
            cookie=deputy)
        staff = log_in(server, subject["county_staff"])
        results["staff"] = load.run(server, args.filing_seconds, ["/desk/?tab=queue", "/desk/?tab=all"], cookie=staff)
        note(f"deputy's inbox and card: {results['desk']:.0f} requests/s; "
             f"county staff's inbox: {results['staff']:.0f} requests/s")
        results["rss"] = server.rss_mb()
        note("worker RSS after all that: " + ", ".join(f"{mb:.0f} MB" for mb in results["rss"]))
    finally:
        server.stop()
    # Thousands of filings to one deputy would make him the next run's busiest, ever busier.
    note(f"removed the {remove_filings(app, subject['newest'])} requests filed here")
    with app.app_context():
        db.engine.dispose()
    results["load"] = load.name
    return results, lines


def markdown(results: dict, args) -> tuple[str, list[tuple[str, bool]]]:
    s = results["subject"]
    on_postgresql = s["dialect"] == "postgresql"
    checks = [
        (f"QR landing / hello = {results['ratio']:.2f} (budget ≥ {BUDGET_RATIO})", results["ratio"] >= BUDGET_RATIO),
        (f"filings: {results['filing']:.0f}/s (budget ≥ {BUDGET_FILINGS:.0f}/s on PostgreSQL"
         + ("" if on_postgresql else f"; this run: {s['dialect']}") + ")", results["filing"] >= BUDGET_FILINGS),
        (f"largest worker RSS: {max(results['rss']):.0f} MB (budget < {BUDGET_RSS_MB:.0f} MB)",
         max(results["rss"]) < BUDGET_RSS_MB),
    ]
    text = "\n".join([
        f"{s['total']:,} requests on {s['dialect']}; gunicorn 2 sync workers; load: {results['load']}, "
        f"{args.seconds:g} s per measurement ({args.filing_seconds:g} s for the filings and the desk) after "
        f"{args.warmup:g} s of warm-up.",
        "",
        "| what | requests/s |",
        "|---|---|",
        f"| bare Flask \"hello\" | {results['hello']:,.0f} |",
        f"| QR landing page, {len(s['tokens'])} codes at random | {results['landing']:,.0f} |",
        f"| filing a request, no photo (POST, deputy's code) | {results['filing']:,.0f} |",
        f"| deputy's inbox tabs and request card, logged in | {results['desk']:,.0f} |",
        f"| county staff's inbox (待认领, 全部) | {results['staff']:,.0f} |",
        "",
        "Worker RSS (VmRSS) after serving all of the above: "
        + ", ".join(f"{mb:.0f} MB" for mb in results["rss"])
        + "; a hello worker: " + ", ".join(f"{mb:.0f} MB" for mb in results["hello_rss"]) + ".",
        "",
        *[f"- {'PASS' if ok else 'FAIL'} {label}" for label, ok in checks],
    ])
    return text, checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a database filled by `flask seed-scale` (not emptied)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--filing-seconds", type=float, default=5, help="of filings (each adds a request)")
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--codes", type=int, default=200, help="QR codes the landing load spreads over")
    parser.add_argument("--quick", action="store_true", help="a tiny province on SQLite, 1 s runs: does it run?")
    parser.add_argument("--write-doc", action="store_true", help="write the 'throughput' block of docs/benchmarks.md")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget fails")
    args = parser.parse_args()
    load_before, started = report.load_average(), time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    app = None
    if args.quick:
        args.seconds = args.filing_seconds = args.warmup = 1
        args.connections, args.codes = 4, 20
    if args.quick or not args.database_url:
        app = scratch_app(f"sqlite:///{work}/province.sqlite")
        with app.app_context():
            scale.seed_scale(scale.Shape().scaled(0.002))
            db.engine.dispose()
        args.database_url = app.config["DATABASE_URL"]
    try:
        results, _lines = measure(args, args.database_url, work)
    finally:
        if app is not None:
            drop(app)
    text, checks = markdown(results, args)
    print(text)
    if args.write_doc:
        report.write_doc("throughput", text + "\n\n" + report.footer(
            [sys.executable, "bench/throughput.py", *sys.argv[1:]], load_before=load_before,
            seconds=time.perf_counter() - started, database_url=args.database_url))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(ok for _label, ok in checks) or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
