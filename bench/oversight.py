"""The three lists, the overdue list, the monthly report and the dashboard on a province-sized
data set (`flask seed-scale`), timed through the real app (the test client: server time, no network)
as the staff of the largest county and of the province. The dashboard is timed counted live, then,
after `flask refresh-dashboards` (timed too), as stored for the jurisdictions large enough to be.

    .venv/bin/python bench/oversight.py [--requests 1000000] [--fraction F] [--database-url URL] [--quick]
    .venv/bin/python bench/oversight.py --reuse --database-url URL [--who province] [--only dashboard] [--profile]

Uses a temporary SQLite database unless --database-url is given; a database given there is
emptied (drop_all) before and after: point it at a scratch database. With --reuse the data set
already in the database is timed and left as it is (never dropped).
"""

import argparse
import dataclasses
import os
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402

from _common import drop, log_in, scratch_app, timed  # noqa: E402
from liaison_app import create_app, scale  # noqa: E402
from liaison_app.extensions import db  # noqa: E402
from liaison_app.models import DashboardSnapshot, User  # noqa: E402
from liaison_app.services import dashboard_snapshots  # noqa: E402
from liaison_app.services.lists import month_of  # noqa: E402
from liaison_app.workdays import today_local  # noqa: E402


def pages(jurisdiction_id: int) -> list[tuple[str, str]]:
    """(label, path) of every page timed, for one jurisdiction."""
    today = today_local()
    this_month = month_of(today)
    last_month = month_of(this_month[0] - timedelta(days=1))
    year = f"from={today.year}-01-01&to={today.isoformat()}"
    j = f"jurisdiction={jurisdiction_id}"
    month = f"from={last_month[0].isoformat()}&to={last_month[1].isoformat()}"
    return [
        ("problem list, last month", f"/oversight/lists/problems?{j}&{month}"),
        ("problem list, this year", f"/oversight/lists/problems?{j}&{year}"),
        ("claim list, last month", f"/oversight/lists/claims?{j}&{month}"),
        ("claim list, this year", f"/oversight/lists/claims?{j}&{year}"),
        ("public list, last month", f"/oversight/lists/public?{j}&{month}"),
        ("public list, this year", f"/oversight/lists/public?{j}&{year}"),
        ("overdue list", f"/oversight/overdue?{j}"),
        ("overdue at the level, answers", f"/oversight/overdue/levels/{jurisdiction_id}?kind=response"),
        ("monthly report, last month", f"/oversight/report?{j}&month={last_month[0]:%Y-%m}"),
        ("dashboard, last 12 months", f"/oversight/dashboard?{j}"),
        *((f"dashboard, own dates, {days} days", f"/oversight/dashboard?{j}&from={today - timedelta(days=days - 1)}"
           f"&to={today}") for days in OWN_DATES_DAYS),
    ]


# Dates of one's own are counted at each visit, also where the named periods are stored: how long
# that takes for a week, a month, a quarter and a half-year ending today (the year: above).
OWN_DATES_DAYS = (7, 30, 90, 180)


def profiled(client, path: str) -> str:
    """One more GET of the page under pyinstrument: its call tree as text."""
    from pyinstrument import Profiler  # a development requirement, needed only here

    profiler = Profiler(interval=0.001)
    profiler.start()
    client.get(path)
    profiler.stop()
    return profiler.output_text(unicode=True, color=False)


def time_page(client, who: str, label: str, path: str, args) -> None:
    started = time.perf_counter()
    p50, p95, size = timed(client, path, args.rounds)
    print(f"{who:8} {label:40} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   {size / 1024:6.1f} KB"
          f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    if args.profile:
        print(profiled(client, path), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--fraction", type=float, default=1.0, help="of the province's places, people and firms")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database-url")
    parser.add_argument("--quick", action="store_true", help="a 1/500 province, 3 rounds: does it still run?")
    parser.add_argument("--keep", action="store_true", help="leave the data set in the database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="time the data set already in the database (left by --keep or flask seed-scale); "
                             "generate nothing, drop nothing")
    parser.add_argument("--who", choices=("county", "province"), action="append",
                        help="time as this staff only (may be repeated; default both)")
    parser.add_argument("--only", help="time only the pages whose label contains this")
    parser.add_argument("--profile", action="store_true",
                        help="after timing each page, print where one more request of it spends its time (pyinstrument)")
    parser.add_argument("--snapshot-min-requests", type=int,
                        help="store the dashboards of jurisdictions with this many requests in 12 months "
                             "(default: DASHBOARD_SNAPSHOT_MIN_REQUESTS)")
    args = parser.parse_args()
    if args.quick:
        args.fraction, args.requests, args.rounds, args.snapshot_min_requests = 0.002, 2000, 3, 300
    shape = dataclasses.replace(scale.Shape().scaled(args.fraction), requests=args.requests)
    if args.reuse:
        app = create_app({"DATABASE_URL": args.database_url, "TESTING": True})
    else:
        app = scratch_app(args.database_url)
    max_age = app.config["DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS"]
    app.config["DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS"] = 0  # first every page as counted at each visit
    with app.app_context():
        if not args.reuse:
            print(f"generating {scale.describe(shape)} ({db.engine.dialect.name})")
            summary = scale.seed_scale(shape, progress=lambda line: print(f"  {line}", flush=True))
            print(f"built {shape.requests} requests in {summary.seconds:.1f} s")
        # The largest county is the first one generated; the province is the only top level.
        province_id = db.session.scalar(sa.text("SELECT id FROM jurisdictions WHERE parent_id IS NULL"))
        county_id = db.session.scalar(sa.text("SELECT min(id) FROM jurisdictions WHERE level = 'county'"))
        logins = {who: db.session.scalar(sa.select(User).where(User.username == f"staff-{jid}")).get_id()
                  for who, jid in (("county", county_id), ("province", province_id))}
        county_requests = db.session.scalar(sa.text(
            "SELECT count(*) FROM requests r JOIN jurisdictions t ON t.id = r.filed_jurisdiction_id "
            "WHERE t.parent_id = :county"), {"county": county_id})
        total = db.session.scalar(sa.text("SELECT count(*) FROM requests"))
        print(f"{total} requests; the county measured holds {county_requests}")
    client = app.test_client()
    whom = [(who, jid) for who, jid in (("county", county_id), ("province", province_id))
            if not args.who or who in args.who]
    for who, jurisdiction_id in whom:
        log_in(client, logins[who])
        for label, path in pages(jurisdiction_id):
            if not args.only or args.only in label:
                time_page(client, who, label, path, args)
    if not args.only or args.only in "dashboard, stored":
        app.config["DASHBOARD_SNAPSHOT_MAX_AGE_SECONDS"] = max_age
        if args.snapshot_min_requests:
            app.config["DASHBOARD_SNAPSHOT_MIN_REQUESTS"] = args.snapshot_min_requests
        with app.app_context():
            started = time.perf_counter()
            done = dashboard_snapshots.refresh()
            print(f"flask refresh-dashboards: {len(done)} dashboard(s) of jurisdictions with at least "
                  f"{app.config['DASHBOARD_SNAPSHOT_MIN_REQUESTS']} requests in 12 months stored in "
                  f"{time.perf_counter() - started:.1f} s"
                  + "".join(f"; {item.collected} requests, {item.key}: {item.seconds:.1f} s" for item in done[:5]), flush=True)
            stored = set(db.session.scalars(sa.select(DashboardSnapshot.jurisdiction_id)))
            presets = dashboard_snapshots.stored_presets(today_local())
            db.session.rollback()
        for who, jurisdiction_id in whom:
            if jurisdiction_id in stored:
                log_in(client, logins[who])
                for preset in presets:
                    time_page(client, who, f"dashboard, stored, {preset.key}",
                              f"/oversight/dashboard?jurisdiction={jurisdiction_id}&from={preset.period.start}"
                              f"&to={preset.period.end}", args)
            else:
                print(f"{who:8} dashboard, stored: none (fewer requests than DASHBOARD_SNAPSHOT_MIN_REQUESTS)")
    if not (args.keep or args.reuse):  # a data set we did not build is never dropped
        drop(app)


if __name__ == "__main__":
    main()
