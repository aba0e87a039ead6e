"""No state change on GET: every GET route of every blueprint, for each role, on both sides of
the world (in and out of the user's scope), leaves the database as it was, except for the
harmless writes listed in ALLOWED_GET_WRITES with their reason.

A link prefetched by a chat app, a crawler or a browser's preloader must never act.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Outcome, QRCode, QRScanDay, Rating, Request, RequestEvent
from liaison_app.services import workflow as wf
from liaison_app.workdays import today_local
from liaison_app.workflow import Action, Status
from tests.factories import make_request
from tests.world import changed_tables, client_for, has_ids, module_app, snapshot, urls_for  # noqa: F401

# endpoint: (the tables it may write on GET, why)
ALLOWED_GET_WRITES = {
    "public.qr_landing": ({"qr_codes", "qr_scan_days"},
                          "each scan of a poster is counted: QRCode.scan_count and last_scanned_at, and the "
                          "code's QRScanDay (scan statistics per code and day, services.qr.record_scan)"),
    "public.tracking": ({"requests", "request_events", "notifications"},
                        "opening a request whose rating time has run out closes it as 未评价 "
                        "(services.workflow.close_if_unrated; `flask close-unrated` does the same daily)"),
    "desk.request_card": ({"requests", "request_events", "notifications"},
                          "the same close_if_unrated as the tracking page"),
}


@pytest.fixture(scope="module")
def world(module_app):
    app, world = module_app
    # A request whose rating time ran out yesterday: the one documented write on opening it.
    tree = world.tree
    req = make_request(deputy=tree.deputy)
    wf.claim_request(req, actor=tree.deputy_user)
    wf.answer_request(req, actor=tree.deputy_user, version=req.version, outcome=Outcome.SOLVED, text="已解决")
    db.session.expire_all()
    req = db.session.get(Request, req.id)
    wf.accept_answer(req, actor=tree.deputy_user, version=req.version)
    db.session.expire_all()
    req = db.session.get(Request, req.id)
    assert req.status is Status.AWAITING_RATING
    req.rating_due_on = today_local() - timedelta(days=1)
    db.session.commit()
    return app, world, req


def roles(world):
    tree = world.tree
    return {"anonymous": None, "deputy": tree.deputy_user, "township_staff": tree.staff["township"],
            "far_staff": world.far_staff, "unit": tree.officers["township"], "admin": tree.admin}


def get_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods), key=lambda r: r.rule)


def test_every_get_route_for_every_role_leaves_the_database_as_it_was(world):
    app, world, _ = world
    unexpected = {}
    fetched = 0
    for rule in get_rules(app):
        sides = (world.near, world.far) if has_ids(rule) else (world.near,)
        before = snapshot()
        for ids in sides:
            for url in urls_for(rule, ids):
                for user in roles(world).values():
                    response = client_for(app, user).get(url)
                    assert response.status_code < 500, (url, user, response.status_code)
                    fetched += 1
        written = changed_tables(before, snapshot())
        allowed = ALLOWED_GET_WRITES.get(rule.endpoint, (set(), ""))[0]
        if written - allowed:
            unexpected[rule.endpoint] = sorted(written - allowed)
    assert unexpected == {}
    assert fetched > 800  # some 140 URLs (both sides) × 6 roles


def test_the_allowed_get_writes_do_what_their_reason_says(world):
    app, world, unrated = world
    client = client_for(app, None)
    code = db.session.get(QRCode, world.near["code_id"])
    scans, today = code.scan_count, db.session.scalar(
        sa.select(QRScanDay.count).where(QRScanDay.qr_code_id == code.id, QRScanDay.day == today_local())) or 0

    client.get(f"/q/{code.token}")

    db.session.expire_all()
    assert db.session.get(QRCode, code.id).scan_count == scans + 1
    assert db.session.scalar(sa.select(QRScanDay.count).where(
        QRScanDay.qr_code_id == code.id, QRScanDay.day == today_local())) == today + 1
    before = snapshot()
    client.get(f"/t/{unrated.tracking_token}")
    assert changed_tables(before, snapshot()) <= ALLOWED_GET_WRITES["public.tracking"][0]
    db.session.expire_all()
    closed = db.session.get(Request, unrated.id)
    assert closed.status is Status.CLOSED and closed.rating is Rating.UNRATED
    assert [e.action for e in closed.events][-1] is Action.AUTO_CLOSE
    events = db.session.query(RequestEvent).count()
    for url in (f"/t/{closed.tracking_token}", f"/desk/requests/{closed.id}"):  # closed once, never again
        client_for(app, world.tree.deputy_user).get(url)
    assert db.session.query(RequestEvent).count() == events


def test_the_allowed_list_names_only_get_routes(world):
    app, *_ = world
    get_endpoints = {rule.endpoint for rule in get_rules(app)}
    assert set(ALLOWED_GET_WRITES) <= get_endpoints
