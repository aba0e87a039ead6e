"""The enterprise's and the deputy's pages on a province-sized data set, against their budgets:
the QR landing page (a deputy's code and a station's), filing a request without a photo, the
deputy's inbox tabs and the request card. Timed through the real app (Flask test client:
server time, no network), CSRF on: each filing first GETs the form for its CSRF token and
idempotency key, and only the POST is timed. Rate limiting is off (all filings come from one
address).

    .venv/bin/python bench/pages.py --database-url URL [--rounds 50] [--filings 100] [--write-doc] [--strict]
    .venv/bin/python bench/pages.py --quick          # builds a tiny province on SQLite

With --database-url the data set must already be there (`flask seed-scale`); the benchmark only
adds what a visitor would: scan counts and --filings requests (from the code of the deputy
measured, so they land in his inbox while his pages are timed; removed at the end). Without it a temporary SQLite province of --fraction is
built. Exit code 0 whether budgets pass or fail, unless --strict.
"""

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402

import report  # noqa: E402
from _common import drop, last_request_id, log_in, percentiles, remove_filings, scratch_app  # noqa: E402
from liaison_app import create_app, scale  # noqa: E402
from liaison_app.extensions import db  # noqa: E402
from liaison_app.models import User  # noqa: E402

# Server time per request, p95, in ms (issue #9).
BUDGETS = {"landing": 20.0, "filing": 60.0, "desk": 50.0}

# As in production but for rate limiting: every filing here comes from one address.
BENCH_CONFIG = {"WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": False}

FIELD = re.compile(r'name="(csrf_token|idempotency_key)"[^>]*?value="([^"]+)"')


def subjects() -> dict:
    """What is measured: the deputy with the most requests addressed to him, his QR code, a
    station code of his, and his request with the longest trail (the busiest card)."""
    deputy_id = db.session.scalar(sa.text(
        "SELECT addressed_deputy_id FROM requests WHERE addressed_deputy_id IS NOT NULL "
        "GROUP BY addressed_deputy_id ORDER BY count(*) DESC, addressed_deputy_id LIMIT 1"))
    user = db.session.scalar(sa.select(User).where(User.deputy_id == deputy_id))
    deputy_code = db.session.scalar(sa.text(
        "SELECT token FROM qr_codes WHERE deputy_id = :d AND revoked_at IS NULL ORDER BY id LIMIT 1"), {"d": deputy_id})
    station_code = db.session.scalar(sa.text(
        "SELECT q.token FROM qr_codes q JOIN station_deputies s ON s.station_id = q.station_id "
        "WHERE s.deputy_id = :d AND q.revoked_at IS NULL ORDER BY q.id LIMIT 1"), {"d": deputy_id})
    card = db.session.scalar(sa.text(
        "SELECT r.id FROM requests r JOIN request_events e ON e.request_id = r.id WHERE r.addressed_deputy_id = :d "
        "GROUP BY r.id ORDER BY count(*) DESC, r.id DESC LIMIT 1"), {"d": deputy_id})
    addressed = db.session.scalar(sa.text("SELECT count(*) FROM requests WHERE addressed_deputy_id = :d"),
                                  {"d": deputy_id})
    return {"deputy_id": deputy_id, "login": user.get_id(), "username": user.username, "deputy_code": deputy_code,
            "station_code": station_code, "card": card, "addressed": addressed}


class Samples(list):
    """Wall-clock ms of each request, and the CPU ms this process spent on it (`cpu`): on a
    machine loaded by other work the first grows with the wait for a core, the second hardly."""

    def __init__(self):
        super().__init__()
        self.cpu = []

    def timed(self, call):
        wall, cpu = time.perf_counter(), time.process_time()
        response = call()
        self.append((time.perf_counter() - wall) * 1000)
        self.cpu.append((time.process_time() - cpu) * 1000)
        return response


def time_gets(client, path: str, rounds: int) -> Samples:
    samples = Samples()
    for _ in range(rounds):
        response = samples.timed(lambda: client.get(path))
        assert response.status_code == 200, (path, response.status_code)
    return samples


def filing_form(client, token: str) -> dict:
    page = client.get(f"/q/{token}/file")
    assert page.status_code == 200, page.status_code
    return dict(FIELD.findall(page.get_data(as_text=True)))


def time_filings(client, token: str, count: int) -> Samples:
    """`count` filings without a photo; each POST timed alone (its form fetched first)."""
    samples = Samples()
    for i in range(count):
        data = filing_form(client, token)
        data.update(kind="request", enterprise_name=f"基准测试企业{i % 50}", contact_name="张明",
                    contact_phone="13912345678", category="other",
                    description="基准测试：厂区门口道路塌陷，货车无法通行，希望尽快修复。")
        response = samples.timed(lambda: client.post(f"/q/{token}/file", data=data))
        assert response.status_code in (302, 303), (response.status_code, response.get_data(as_text=True)[:500])
    return samples


def measure(app, rounds: int, filings: int) -> tuple[dict, list[tuple]]:
    with app.app_context():
        subject = subjects()
    visitor, deputy = app.test_client(), app.test_client()
    log_in(deputy, subject["login"])
    rows = []  # (label, path, budget key, samples)

    def gets(client, label, path, budget):
        time_gets(client, path, 3)  # warm: the first request of a page compiles its templates
        rows.append((label, path, budget, time_gets(client, path, rounds)))
        print(f"  {label}: done", flush=True)

    gets(visitor, "QR landing page, deputy's code", f"/q/{subject['deputy_code']}", "landing")
    gets(visitor, "QR landing page, station's code", f"/q/{subject['station_code']}", "landing")
    # A phone that carries any session cookie gets the page rendered for it, never the shared
    # copy (public/landing_cache.py): the uncached cost of the same two pages.
    returning = app.test_client()
    returning.set_cookie(app.config["SESSION_COOKIE_NAME"], "returning-phone")
    gets(returning, "QR landing page, deputy's code, rendered (phone with a cookie)",
         f"/q/{subject['deputy_code']}", "landing")
    gets(returning, "QR landing page, station's code, rendered (phone with a cookie)",
         f"/q/{subject['station_code']}", "landing")
    gets(visitor, "filing form (GET)", f"/q/{subject['deputy_code']}/file", None)
    time_filings(visitor, subject["deputy_code"], 2)
    rows.append(("file a request, no photo (POST)", f"/q/{subject['deputy_code']}/file", "filing",
                 time_filings(visitor, subject["deputy_code"], filings)))
    for tab in ("addressed", "station", "mine", "overdue"):
        gets(deputy, f"deputy's inbox, tab {tab}", f"/desk/?tab={tab}", "desk")
    gets(deputy, "request card (longest trail)", f"/desk/requests/{subject['card']}", "desk")
    return subject, rows


def table(rows: list[tuple]) -> tuple[str, bool]:
    lines = ["| page | p50 (ms) | p95 (ms) | budget, p95 | | app CPU p50 / p95 (ms) |",
             "|---|---|---|---|---|---|"]
    all_pass = True
    for label, path, budget, samples in rows:
        p50, p95 = percentiles(samples)
        if budget:
            limit = BUDGETS[budget]
            verdict = "PASS" if p95 < limit else "FAIL"
            all_pass &= verdict == "PASS"
            budget_text = f"< {limit:.0f} ms"
        else:
            verdict, budget_text = "", "-"
        cpu50, cpu95 = percentiles(samples.cpu)
        lines.append(f"| {label} (`{_short(path)}`) | {p50:.1f} | {p95:.1f} | {budget_text} | {verdict} "
                     f"| {cpu50:.1f} / {cpu95:.1f} |")
    return "\n".join(lines), all_pass


def _short(path: str) -> str:
    return re.sub(r"/q/[^/]+", "/q/<token>", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a database filled by `flask seed-scale` (not emptied)")
    parser.add_argument("--fraction", type=float, default=0.01, help="without --database-url: the province's share")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--filings", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="a 1/500 province on SQLite, 3 rounds: does it run?")
    parser.add_argument("--write-doc", action="store_true", help="write the 'pages' block of docs/benchmarks.md")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget fails")
    parser.add_argument("--postgresql-jit", action="store_true",
                        help="leave PostgreSQL's JIT on (the app turns it off), to measure what that saves")
    args = parser.parse_args()
    if args.postgresql_jit:
        BENCH_CONFIG["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "connect_args": {"options": "-c jit=on"}}
    load_before, started = report.load_average(), time.perf_counter()
    if args.quick:
        args.database_url, args.fraction, args.rounds, args.filings = None, 0.002, 3, 3
    if args.database_url:
        app = create_app({"DATABASE_URL": args.database_url, "SECRET_KEY": "bench", "UPLOAD_FOLDER": "/tmp/bench-uploads",
                          **BENCH_CONFIG})
    else:
        app = scratch_app(None, TESTING=False, SECRET_KEY="bench", **BENCH_CONFIG)
        with app.app_context():
            summary = scale.seed_scale(scale.Shape().scaled(args.fraction))
            print(f"built a province of {args.fraction} ({sum(summary.counts.values()):,} rows) in {summary.seconds:.1f} s")
    with app.app_context():
        dialect = db.engine.dialect.name
        total = db.session.scalar(sa.text("SELECT count(*) FROM requests"))
        newest = last_request_id()
    print(f"{total} requests ({dialect}); timing {args.rounds} rounds, {args.filings} filings", flush=True)
    subject, rows = measure(app, args.rounds, args.filings)
    if args.database_url:
        print(f"removed the {remove_filings(app, newest)} requests filed here", flush=True)
    markdown, all_pass = table(rows)
    described = (f"{total:,} requests on {dialect}; deputy `{subject['username']}` "
                 f"({subject['addressed']:,} requests addressed to him); {args.rounds} rounds of each page, "
                 f"{args.filings} filings.")
    print(described)
    print(markdown)
    for label, _path, budget, samples in rows:
        if budget:
            p95 = percentiles(samples)[1]
            print(f"{'PASS' if p95 < BUDGETS[budget] else 'FAIL'}  {label}: p95 {p95:.1f} ms (budget < {BUDGETS[budget]:.0f} ms)")
    if args.write_doc:
        report.write_doc("pages", described + "\n\n" + markdown + "\n\n" + report.footer(
            [sys.executable, "bench/pages.py", *sys.argv[1:]], load_before=load_before,
            seconds=time.perf_counter() - started, database_url=args.database_url))
    if not args.database_url:
        drop(app)
    return 0 if all_pass or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
