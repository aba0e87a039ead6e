"""Reaching people: what SMS and group robots cost a filing, and `flask notify-deadlines` on a province.

1. Filing through gunicorn (2 sync workers, wrk on the same machine) in interleaved A/B pairs:
   A with no outside channel (SMS_BACKEND=log, no robot), B with SMS through the generic HTTP
   gateway and a WeCom robot on the measured station and its jurisdiction, both played by local
   stand-ins that answer at once, each in a process of its own at nice 19 (a real provider's work
   is not on the app's machine). Every filing ticks
   短信通知办理进度, so B sends one SMS and two robot posts per filing (folded into digests and
   throttled at 20 a minute per robot, as configured). Budget: B within 10 % of A. Sent as deploy/
   sends (--delivery worker: a niced `flask notify-worker`, the app's workers only write), or by
   each gunicorn worker's courier thread (--delivery courier).
2. `flask notify-deadlines` on the database: the first run of the day (announcing what is due
   tomorrow and overdue) and a second run (nothing left to send). Budget: under a minute.
   What it wrote is removed afterwards, so that the next run finds the same work.

    .venv/bin/python bench/reach.py --database-url URL [--pairs 3] [--seconds 8] [--write-doc]
    .venv/bin/python bench/reach.py --quick   # a tiny province on SQLite: does it run?
"""

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402

import report  # noqa: E402
from _common import drop, remove_filings, scratch_app  # noqa: E402
from throughput import FILING, Load, Server, subjects  # noqa: E402
from liaison_app import create_app, scale  # noqa: E402
from liaison_app.extensions import db  # noqa: E402
from tests.stand_in import StandIn  # noqa: E402  (plain Python, no pytest)

BUDGET_SLOWDOWN, BUDGET_DEADLINE_SECONDS = 0.10, 60.0
ROOT = Path(__file__).resolve().parent.parent
DELIVERY = {"courier": "each gunicorn worker's courier thread", "worker": "`flask notify-worker` at nice 10"}


class Provider:
    """A stand-in provider in a process of its own at the lowest priority (nice 19): a real
    provider is on another machine, so its work must not be counted against the app's cores."""

    def __init__(self, answer: dict):
        command = ["nice", "-n", "19", sys.executable, __file__, "--stand-in", json.dumps(answer)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.base = self.process.stdout.readline().strip()

    def url(self, path: str = "") -> str:
        return self.base + path

    def stop(self) -> int:
        """How many requests it answered."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return int(out.strip() or 0)


def serve_stand_in(answer: str) -> None:
    """The provider process: prints its address, answers until SIGTERM, then prints its count."""
    with StandIn(json.loads(answer)) as stand_in:
        print(stand_in.url(), flush=True)
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        stopped.wait()
        print(len(stand_in.received), flush=True)


def add_robots(app, deputy_code: str, robot_url: str) -> list[int]:
    """A WeCom robot on the station the deputy's code files to, and one on its jurisdiction."""
    from liaison_app.models import Robot, RobotProvider
    from liaison_app.services.requests import route_by_token
    from liaison_app.services.secrets import encrypt

    with app.app_context():
        route = route_by_token(deputy_code)
        robots = [Robot(name="基准测试联络站群", provider=RobotProvider.WECOM, station_id=route.station_id,
                        webhook_url_encrypted=encrypt(f"{robot_url}/cgi-bin/webhook/send?key=bench")),
                  Robot(name="基准测试人大群", provider=RobotProvider.WECOM, jurisdiction_id=route.jurisdiction_id,
                        webhook_url_encrypted=encrypt(f"{robot_url}/cgi-bin/webhook/send?key=bench"))]
        db.session.add_all(robots)
        db.session.commit()
        ids = [robot.id for robot in robots]
        db.engine.dispose()
    return ids


def remove_robots(app, ids: list[int]) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE notifications SET robot_id = NULL WHERE robot_id IN :ids")
                               .bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids})
            connection.execute(sa.text("DELETE FROM robots WHERE id IN :ids")
                               .bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids})
        db.engine.dispose()


def filings(args, database_url: str, work: Path, secret_key: str) -> dict:
    load = Load(args.connections, work)
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": secret_key})
    subject = subjects(app, 1)
    sms, robot = Provider({"ok": True}), Provider({"errcode": 0, "errmsg": "ok"})
    robot_ids = add_robots(app, subject["deputy_code"], robot.url())
    base = {"DATABASE_URL": database_url, "SECRET_KEY": secret_key, "UPLOAD_FOLDER": str(work / "uploads"),
            "NOTIFIER": "log", "LOG_LEVEL": "WARNING"}
    if args.delivery == "worker":  # the app's workers only write; a niced `flask notify-worker` sends
        base["NOTIFY_DELIVER_IMMEDIATELY"] = "false"
    configs = {"A": dict(base, SMS_BACKEND="log"),
               "B": dict(base, SMS_BACKEND="http", SMS_HTTP_URL=sms.url("/send"))}
    body = urllib.parse.urlencode(dict(FILING, sms_opt_in="y")) + "&idempotency_key="
    path = f"/q/{subject['deputy_code']}/file"
    rates: dict[str, list[float]] = {"A": [], "B": []}
    try:
        for pair in range(args.pairs):
            for name in ("A", "B") if pair % 2 == 0 else ("B", "A"):
                _robots_active(app, robot_ids, name == "B")
                server = Server("wsgi_apps:liaison()", configs[name], work / "gunicorn.log")
                worker = notify_worker(configs[name]) if args.delivery == "worker" else None
                try:
                    server.wait(f"/q/{subject['deputy_code']}")
                    load.run(server, args.warmup, [path], post=body)
                    rates[name].append(load.run(server, args.seconds, [path], post=body))
                finally:
                    server.stop()
                    if worker is not None:
                        worker.terminate()
                        worker.wait(timeout=60)
                print(f"pair {pair + 1}, {name}: {rates[name][-1]:.0f} filings/s", flush=True)
    finally:
        sent = {"sms": sms.stop(), "robot posts": robot.stop()}
        remove_robots(app, robot_ids)
        removed = remove_filings(app, subject["newest"])
        with app.app_context():
            db.engine.dispose()
    print(f"stand-ins received: {sent}; removed the {removed} requests filed here", flush=True)
    return {"rates": rates, "sent": sent, "subject": subject, "load": load.name}


def notify_worker(env: dict) -> subprocess.Popen:
    """`flask notify-worker` at nice 10, as deploy/ runs it: the filings come first."""
    return subprocess.Popen(["nice", "-n", "10", str(Path(sys.executable).with_name("flask")), "notify-worker"],
                            env={**os.environ, **env, "FLASK_APP": "wsgi"}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _robots_active(app, ids: list[int], active: bool) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE robots SET active = :active WHERE id IN :ids")
                               .bindparams(sa.bindparam("ids", expanding=True)), {"active": active, "ids": ids})
        db.engine.dispose()


def deadlines(database_url: str, secret_key: str) -> dict:
    """Two runs of notify-deadlines the same day, then what they wrote removed."""
    from liaison_app.services.deadline_notices import notify_deadlines

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": secret_key, "LOG_LEVEL": "WARNING"})
    runs = []
    with app.app_context():
        db.session.execute(sa.text("DELETE FROM deadline_notices"))
        db.session.commit()
        newest = db.session.scalar(sa.text("SELECT coalesce(max(id), 0) FROM notifications"))
        for _ in range(2):
            started = time.perf_counter()
            counts = notify_deadlines()
            runs.append((time.perf_counter() - started, counts))
            print(f"notify-deadlines: {runs[-1][0]:.1f} s, {counts}", flush=True)
        db.session.execute(sa.text("DELETE FROM notifications WHERE id > :newest"), {"newest": newest})
        db.session.execute(sa.text("DELETE FROM deadline_notices"))
        db.session.commit()
        total = db.session.scalar(sa.text("SELECT count(*) FROM requests"))
        db.engine.dispose()
    return {"runs": runs, "total": total}


def markdown(results: dict, args) -> tuple[str, list[tuple[str, bool]]]:
    rates = results["filings"]["rates"]
    a, b = statistics.median(rates["A"]), statistics.median(rates["B"])
    slowdown = (a - b) / a if a else 0.0
    first, second = results["deadlines"]["runs"]
    checks = [
        (f"filings with SMS and robots: {b:.0f}/s against {a:.0f}/s without, {slowdown:+.1%} slower "
         f"(budget ≤ {BUDGET_SLOWDOWN:.0%})", slowdown <= BUDGET_SLOWDOWN),
        (f"notify-deadlines, first run: {first[0]:.1f} s (budget < {BUDGET_DEADLINE_SECONDS:.0f} s)",
         first[0] < BUDGET_DEADLINE_SECONDS),
    ]
    pairs = " · ".join(f"{x:.0f} / {y:.0f}" for x, y in zip(rates["A"], rates["B"]))
    text = "\n".join([
        f"{results['deadlines']['total']:,} requests on {results['filings']['subject']['dialect']}; gunicorn 2 sync "
        f"workers; delivery: {DELIVERY[args.delivery]}; load: {results['filings']['load']}; "
        f"{args.pairs} A/B pairs of {args.seconds:g} s after "
        f"{args.warmup:g} s of warm-up each, alternating which goes first.",
        "",
        "| what | A: no outside channel | B: SMS gateway and 2 robots |",
        "|---|---|---|",
        f"| filings per second, median | {a:,.0f} | {b:,.0f} |",
        f"| each pair (A / B) | {pairs} | |",
        "",
        f"The stand-ins received {results['filings']['sent']['sms']:,} SMS and "
        f"{results['filings']['sent']['robot posts']:,} robot posts (each robot takes 20 a minute; the rest "
        "wait in the outbox, folded into digests).",
        "",
        "| flask notify-deadlines | seconds | due tomorrow | overdue | messages written |",
        "|---|---|---|---|---|",
        *[f"| {label} | {seconds:.1f} | {counts.due_tomorrow:,} | {counts.overdue:,} | {counts.messages:,} |"
          for label, (seconds, counts) in (("first run of the day", first), ("second run, same day", second))],
        "",
        *[f"- {'PASS' if ok else 'FAIL'} {label}" for label, ok in checks],
    ])
    return text, checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a database filled by `flask seed-scale` (not emptied)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="a tiny province on SQLite, 1 s runs: does it run?")
    parser.add_argument("--write-doc", action="store_true", help="write the 'reach' block of docs/benchmarks.md")
    parser.add_argument("--delivery", choices=("courier", "worker"), default="worker",
                        help="who sends: each worker's courier thread, or a niced `flask notify-worker`")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget fails")
    parser.add_argument("--stand-in", help=argparse.SUPPRESS)  # the provider process (Provider)
    args = parser.parse_args()
    if args.stand_in:
        serve_stand_in(args.stand_in)
        return 0
    load_before, started = report.load_average(), time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-reach-"))
    secret_key = "bench-" + secrets.token_hex(8)  # the robots' addresses are encrypted with it
    app = None
    if args.quick:
        args.pairs, args.seconds, args.warmup, args.connections = 1, 1, 1, 4
    if args.quick or not args.database_url:
        app = scratch_app(f"sqlite:///{work}/province.sqlite", SECRET_KEY=secret_key)
        with app.app_context():
            scale.seed_scale(scale.Shape().scaled(0.002))
            db.engine.dispose()
        args.database_url = app.config["DATABASE_URL"]
    try:
        results = {"filings": filings(args, args.database_url, work, secret_key),
                   "deadlines": deadlines(args.database_url, secret_key)}
    finally:
        if app is not None:
            drop(app)
    text, checks = markdown(results, args)
    print(text)
    if args.write_doc:
        report.write_doc("reach", text + "\n\n" + report.footer(
            [sys.executable, "bench/reach.py", *sys.argv[1:]], load_before=load_before,
            seconds=time.perf_counter() - started, database_url=args.database_url))
    return 0 if all(ok for _label, ok in checks) or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
