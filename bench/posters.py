"""How long a batch of posters takes to render: one county with N live codes (a tenth
of them stations', the rest deputies'), printed all at once through the real app
(the test client: server time, no network), first with an empty QR cache, then warm.

    .venv/bin/python bench/posters.py [--posters 500] [--rounds 10] [--database-url URL] [--quick]

Uses a temporary SQLite database unless --database-url is given; a database given
there is emptied (drop_all) before and after: point it at a scratch database.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402

from _common import drop, log_in, scratch_app, timed  # noqa: E402
from liaison_app import qrimages  # noqa: E402
from liaison_app.extensions import db  # noqa: E402
from liaison_app.models import Deputy, Jurisdiction, Level, QRCode, Role, Station, User  # noqa: E402

SPECIALTIES = ("企业融资、惠企政策", "劳动用工、职业培训", "安全生产", "物流运输、供应链", "产权办证、不动产登记")


def build(posters: int) -> dict:
    county = Jurisdiction(name="太仓市", level=Level.COUNTY, division_code="320585")
    towns = [Jurisdiction(name=f"镇{i}", level=Level.TOWNSHIP, division_code=f"32058510{i}", parent=county)
             for i in range(8)]
    station_count = max(1, posters // 10)
    stations = [Station(name=f"第{i}代表联络站", jurisdiction=towns[i % 8], address=f"工业园区{i}号",
                        reception_days="每月5日、20日") for i in range(station_count)]
    deputies = []
    for i in range(posters - station_count):
        deputy = Deputy(name=f"代表{i:03d}", congress_jurisdiction=towns[i % 8] if i % 3 else county,
                        specialties=SPECIALTIES[i % len(SPECIALTIES)])
        deputy.stations.append(stations[i % station_count])
        deputies.append(deputy)
    admin = User(username="admin", role=Role.ADMIN, password_hash="x")
    codes = [QRCode(station=s) for s in stations] + [QRCode(deputy=d, label=f"{d.name}代表墙") for d in deputies]
    db.session.add_all([county, *towns, *stations, *deputies, admin, *codes])
    db.session.commit()
    return {"admin": admin.get_id(), "county": county.id, "codes": len(codes)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--posters", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database-url")
    parser.add_argument("--quick", action="store_true", help="50 posters, 2 rounds: does it still run?")
    args = parser.parse_args()
    if args.quick:
        args.posters, args.rounds = 50, 2
    app = scratch_app(args.database_url, PUBLIC_BASE_URL="https://liaison.example.cn")
    with app.app_context():
        started = time.perf_counter()
        ids = build(args.posters)
        print(f"built {ids['codes']} posters in {time.perf_counter() - started:.1f} s ({db.engine.dialect.name})")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(QRCode)) == ids["codes"]
    client = app.test_client()
    log_in(client, ids["admin"])

    posters = f"/admin/qr/jurisdictions/{ids['county']}/posters"
    cards = f"/admin/qr/jurisdictions/{ids['county']}/cards"
    qrimages.inline_svg.cache_clear()
    cold, _, size = timed(client, posters, 1)
    print(f"cold    {posters:40} {cold:8.1f} ms   ({size / 1e6:.1f} MB, every QR code encoded)")
    for path in (posters, cards):
        p50, p95, size = timed(client, path, args.rounds)
        print(f"warm    {path:40} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   ({size / 1e6:.1f} MB)")
    info = qrimages.inline_svg.cache_info()
    print(f"QR SVG cache: {info.misses} encoded, {info.hits} served from the cache")
    drop(app)


if __name__ == "__main__":
    main()
