"""Every admin route × role: anonymous → login, deputies and unit officers → 403, staff →
only inside their jurisdiction (404 outside), admins → everything."""

import re

import pytest

from liaison_app.models import Role
from tests.factories import (
    Tree,
    make_deputy,
    make_department,
    make_enterprise,
    make_jurisdiction,
    make_qr_code,
    make_station,
    make_user,
)
from tests.test_desk import login


@pytest.fixture
def world(app):
    tree = Tree()
    wanan = make_jurisdiction(name="万安县", division_code="360828")
    far_station = make_station(name="万安县工业园区代表联络站", jurisdiction=wanan)
    far_deputy = make_deputy(far_station, name="远方代表")
    near_code = make_qr_code(deputy=tree.deputy)
    far_code = make_qr_code(deputy=far_deputy)
    near = dict(jurisdiction_id=tree.township.id, station_id=tree.station.id, deputy_id=tree.deputy.id,
                department_id=tree.departments["township"].id, user_id=tree.colleague_user.id,
                enterprise_id=make_enterprise(jurisdiction=tree.township).id, code_id=near_code.id)
    far = dict(jurisdiction_id=wanan.id, station_id=far_station.id, deputy_id=far_deputy.id,
               department_id=make_department(jurisdiction=wanan).id,
               user_id=make_user(Role.STAFF, jurisdiction=wanan).id,
               enterprise_id=make_enterprise(jurisdiction=wanan).id, code_id=far_code.id)
    from liaison_app.extensions import db
    from liaison_app.models import Activity, ActivityKind
    from liaison_app.services import supervision
    from liaison_app.workdays import today_local
    from tests.factories import make_request

    near_requests = [make_request(deputy=tree.deputy) for _ in range(2)]
    far_requests = [make_request(station=far_station) for _ in range(2)]
    near["request_id"], far["request_id"] = near_requests[0].id, far_requests[0].id
    near["case_id"] = supervision.merge_into_case(near_requests, title="近", actor=tree.staff["county"]).id
    far["case_id"] = supervision.merge_into_case(far_requests, title="远", actor=tree.admin).id
    for ids, jurisdiction in ((near, tree.township), (far, wanan)):
        activity = Activity(kind=ActivityKind.RESEARCH, title="调研", held_on=today_local(), jurisdiction=jurisdiction)
        db.session.add(activity)
        db.session.commit()
        ids["activity_id"] = activity.id
    from datetime import timedelta

    from liaison_app.models import ReceptionDay
    for ids, station in ((near, tree.station), (far, far_station)):
        reception = ReceptionDay(station=station, held_on=today_local() + timedelta(days=7))
        db.session.add(reception)
        db.session.commit()
        ids["reception_id"] = reception.id
    from liaison_app.models import Enterprise, TargetKind, VisitCampaign
    from liaison_app.services import campaigns

    for ids, jurisdiction, deputy in ((near, tree.county, tree.deputy), (far, wanan, far_deputy)):
        campaign = campaigns.save_campaign(  # every enterprise there, so both sides' enterprise_id are targets
            VisitCampaign(), actor=tree.admin, name="走访月", jurisdiction=jurisdiction, starts_on=today_local(),
            ends_on=today_local(), target_kind=TargetKind.ALL).campaign
        enterprise = db.session.get(Enterprise, ids["enterprise_id"])
        ids["campaign_id"] = campaign.id
        ids["pairing_id"] = campaigns.pair(campaign, actor=tree.admin, deputy=deputy, enterprise=enterprise,
                                           lead=True).id
    owners = {"deputies": "deputy_id", "stations": "station_id", "jurisdictions": "jurisdiction_id"}
    return tree, near, far, owners


def admin_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(("/admin", "/oversight"))]


def urls_for(rule, ids, owners):
    """Every concrete URL of a rule, with the ids of one side (in or out of scope)."""
    kinds = [None]
    match = re.search(r"<any\(([^)]*)\):kind>", rule.rule)
    if match:
        kinds = [k.strip() for k in match.group(1).split(",")]
    elif "<kind>" in rule.rule:
        kinds = ["deputies"]
    urls = []
    for kind in kinds:
        path = rule.rule
        if kind:
            path = re.sub(r"<(any\([^)]*\):)?kind>", kind, path)
            path = path.replace("<int:owner_id>", str(ids[owners[kind]]))
        for name, value in ids.items():
            path = path.replace(f"<int:{name}>", str(value))
        path = path.replace("<day>", "2099-10-01")
        assert "<" not in path, path
        urls.append(path)
    return urls


ADMINS_ONLY = {"admin.calendar", "admin.calendar_clear"}  # deadlines everywhere depend on them


def client_for(app, user):
    client = app.test_client()
    if user is not None:
        login(client, user)
    return client


def test_every_admin_route_for_every_role(app, world):
    tree, near, far, owners = world
    roles = {"anonymous": None, "deputy": tree.deputy_user, "unit": tree.officers["county"],
             "staff": tree.staff["county"], "admin": tree.admin}
    checked = 0
    for rule in admin_rules(app):
        has_ids = "<int:" in rule.rule
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for side, ids in (("near", near), ("far", far)):
                if side == "far" and not has_ids:
                    continue
                for url in urls_for(rule, ids, owners):
                    for role, user in roles.items():
                        if method == "POST" and role in ("staff", "admin") and side == "near":
                            continue  # writes by those allowed are tested in each area's own tests
                        response = getattr(client_for(app, user), method.lower())(url)
                        if role == "anonymous":
                            expected = {302}
                        elif role in ("deputy", "unit") or (role == "staff" and rule.endpoint in ADMINS_ONLY):
                            expected = {403}
                        elif role == "staff" and side == "far":
                            expected = {404}
                        elif method == "GET":
                            expected = {200}
                        else:
                            expected = {200, 303, 400, 404, 409, 422}  # an admin's empty POST: done or refused, never 5xx
                        assert response.status_code in expected, (method, url, role, response.status_code)
                        checked += 1
    assert checked > 150


def test_staff_cannot_open_their_own_jurisdiction_for_editing(app, world):
    tree, *_ = world
    assert client_for(app, tree.staff["county"]).get(f"/admin/jurisdictions/{tree.county.id}/edit").status_code == 403
