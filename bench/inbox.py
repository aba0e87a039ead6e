"""How the desk inbox and the request card scale: N requests in one county, timed
through the real app (the test client: server time, no network).

    .venv/bin/python bench/inbox.py [--requests 100000] [--database-url URL] [--quick]

Uses a temporary SQLite database unless --database-url is given; a database given
there is emptied (drop_all) before and after: point it at a scratch database.
"""

import argparse
import os
import random
import secrets
import sys
import time
import uuid
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402

from _common import drop, log_in, scratch_app, timed  # noqa: E402
from liaison_app.extensions import db  # noqa: E402
from liaison_app.models import (  # noqa: E402
    Category, Channel, Deputy, Enterprise, Jurisdiction, Level, Request, RequestEvent, Role, Station, User, utcnow,
)
from liaison_app.workflow import Action, Actor, Status  # noqa: E402

STATUSES = [Status.SUBMITTED, Status.CLAIMED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REPLIED,
            Status.AWAITING_RATING, Status.CLOSED, Status.CLOSED, Status.CLOSED, Status.WITHDRAWN]


def build(n: int) -> dict:
    rng = random.Random(9)
    county = Jurisdiction(name="太仓市", level=Level.COUNTY, division_code="320585")
    towns = [Jurisdiction(name=f"镇{i}", level=Level.TOWNSHIP, division_code=f"32058510{i}", parent=county)
             for i in range(8)]
    stations = [Station(name=f"联络站{i}", jurisdiction=towns[i % 8]) for i in range(24)]
    deputy = Deputy(name="周建华", congress_jurisdiction=towns[0])
    deputy.stations.append(stations[0])
    staff = User(username="staff", role=Role.STAFF, jurisdiction=county, password_hash="x")
    deputy_user = User(username="deputy", role=Role.DEPUTY, deputy=deputy, password_hash="x")
    enterprises = [Enterprise(name=f"企业{i}") for i in range(500)]
    db.session.add_all([county, *towns, *stations, deputy, staff, deputy_user, *enterprises])
    db.session.commit()
    now = utcnow()
    batch, events = [], []
    for i in range(n):
        station = stations[i % len(stations)]
        created = now - timedelta(minutes=n - i)
        batch.append(dict(
            reference=f"2026-{i + 1:06d}", tracking_token=secrets.token_urlsafe(24), idempotency_key=uuid.uuid4().hex,
            version=1, kind="request", category=rng.choice(list(Category)).value, title=f"诉求{i}",
            description="厂区门口道路塌陷，货车无法通行，希望尽快修复。", enterprise_id=enterprises[i % 500].id,
            contact_name="张明", contact_phone="+8613912345678", channel=Channel.QR_STATION.value,
            station_id=station.id, addressed_deputy_id=deputy.id if i % 10 == 0 else None,
            jurisdiction_id=station.jurisdiction_id, filed_jurisdiction_id=station.jurisdiction_id,
            status=rng.choice(STATUSES).value,
            claim_due_on=(created + timedelta(days=1)).date(), return_count=0, extension_used=False,
            is_supervised=False, is_key_supervision=False, is_typical_case=False, typical_case_note="",
            public_consent=False, public_summary="", rating_comment="", created_at=created, updated_at=created,
        ))
        if len(batch) == 5000:
            db.session.execute(sa.insert(Request), batch)
            batch = []
    if batch:
        db.session.execute(sa.insert(Request), batch)
    db.session.commit()
    ids = db.session.scalars(sa.select(Request.id)).all()
    for start in range(0, len(ids), 5000):
        db.session.execute(sa.insert(RequestEvent), [
            dict(request_id=rid, action=Action.FILE.value, from_status=None, to_status=Status.SUBMITTED.value,
                 actor_kind=Actor.ENTERPRISE.value, note="", is_public=True, created_at=now)
            for rid in ids[start:start + 5000]])
    db.session.commit()
    return {"staff": staff.get_id(), "deputy": deputy_user.get_id(), "some_request": ids[len(ids) // 2]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--database-url")
    parser.add_argument("--quick", action="store_true", help="1,000 requests, 3 rounds: does it still run?")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 1000, 3
    app = scratch_app(args.database_url)
    with app.app_context():
        for statement in os.environ.get("BENCH_EXTRA_SQL", "").split(";"):
            if statement.strip():
                db.session.execute(sa.text(statement))
        started = time.perf_counter()
        ids = build(args.requests)
        print(f"built {args.requests} requests in {time.perf_counter() - started:.1f} s ({db.engine.dialect.name})")
    client = app.test_client()
    rows = []
    for who, paths in (("staff", ["/desk/?tab=queue", "/desk/?tab=all", "/desk/?tab=overdue", "/desk/?tab=all&q=塌陷",
                                  f"/desk/requests/{ids['some_request']}"]),
                       ("deputy", ["/desk/?tab=addressed", "/desk/?tab=station"])):
        log_in(client, ids[who])
        for path in paths:
            p50, p95, _size = timed(client, path, args.rounds)
            rows.append((who, path, p50, p95))
            print(f"{who:7} {path:40} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    drop(app)


if __name__ == "__main__":
    main()
