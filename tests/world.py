"""One world with something behind every route, built once per test module, and the helpers
that walk app.url_map over it: the route × role matrices (tests/test_admin_matrix.py,
tests/test_route_matrix.py), CSRF on every state change (tests/test_csrf.py) and no state
change on GET (tests/test_get_is_safe.py).

`near` ids lie inside the Tree (江苏省 > 苏州市 > 太仓市 > 沙溪镇), `far` ids in 万安县, a county
of another province with staff of its own.
"""

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from tests.factories import (
    Tree,
    image_bytes,
    make_deputy,
    make_department,
    make_enterprise,
    make_jurisdiction,
    make_message,
    make_qr_code,
    make_request,
    make_robot,
    make_station,
    make_user,
)
from tests.test_desk import login

# <kind> of /admin/qr/<kind>/<owner_id>/…: the ids it takes
OWNERS = {"deputies": "deputy_id", "stations": "station_id", "jurisdictions": "jurisdiction_id"}


@dataclass
class World:
    tree: Tree
    near: dict
    far: dict
    far_staff: object  # staff of 万安县
    owners: dict


def build_world() -> World:
    from liaison_app.models import Activity, ActivityKind, Attachment, Enterprise, ReceptionDay, Role, TargetKind
    from liaison_app.models import VisitCampaign, VisitForm, VisitPhoto
    from liaison_app.services import campaigns, supervision
    from liaison_app.services.photos import ProcessedPhoto, photo_columns, write_photo
    from liaison_app.services.users import issue_reset
    from liaison_app.services.visits import log_visit
    from liaison_app.workdays import today_local

    tree = Tree()
    wanan = make_jurisdiction(name="万安县", division_code="360828")
    far_station = make_station(name="万安县工业园区代表联络站", jurisdiction=wanan)
    far_deputy = make_deputy(far_station, name="远方代表")
    far_staff = make_user(Role.STAFF, jurisdiction=wanan, display_name="万安县工作人员")
    near_code = make_qr_code(deputy=tree.deputy)
    far_code = make_qr_code(deputy=far_deputy)
    near = dict(jurisdiction_id=tree.township.id, station_id=tree.station.id, deputy_id=tree.deputy.id,
                department_id=tree.departments["township"].id, user_id=tree.colleague_user.id,
                enterprise_id=make_enterprise(jurisdiction=tree.township).id, code_id=near_code.id)
    far = dict(jurisdiction_id=wanan.id, station_id=far_station.id, deputy_id=far_deputy.id,
               department_id=make_department(jurisdiction=wanan).id, user_id=far_staff.id,
               enterprise_id=make_enterprise(jurisdiction=wanan).id, code_id=far_code.id)

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
    for ids, station in ((near, tree.station), (far, far_station)):
        reception = ReceptionDay(station=station, held_on=today_local() + timedelta(days=7))
        db.session.add(reception)
        db.session.commit()
        ids["reception_id"] = reception.id
    for ids, jurisdiction, deputy in ((near, tree.county, tree.deputy), (far, wanan, far_deputy)):
        campaign = campaigns.save_campaign(  # every enterprise there, so both sides' enterprise_id are targets
            VisitCampaign(), actor=tree.admin, name="走访月", jurisdiction=jurisdiction, starts_on=today_local(),
            ends_on=today_local(), target_kind=TargetKind.ALL).campaign
        enterprise = db.session.get(Enterprise, ids["enterprise_id"])
        ids["campaign_id"] = campaign.id
        ids["pairing_id"] = campaigns.pair(campaign, actor=tree.admin, deputy=deputy, enterprise=enterprise,
                                           lead=True).id

    # Photos: one on each side's first request, one on each side's visit, a portrait of each deputy.
    def stored(color):
        photo = ProcessedPhoto(data=image_bytes(color=color), width=64, height=48)
        return photo_columns(photo, write_photo(photo))

    for ids, deputy_user, deputy in ((near, tree.deputy_user, tree.deputy),
                                     (far, make_user(Role.DEPUTY, deputy=far_deputy), far_deputy)):
        attachment = Attachment(request_id=ids["request_id"], **stored((200, 30, 30)))
        visit, _ = log_visit(actor=deputy_user, form=VisitForm.VISIT, held_on=today_local(),
                             enterprise_ids=[ids["enterprise_id"]], idempotency_key=uuid.uuid4().hex)
        visit_photo = VisitPhoto(visit_id=visit.id, **stored((30, 30, 200)))
        deputy.photo = stored((30, 200, 30))["stored_name"]
        db.session.add_all([attachment, visit_photo])
        db.session.commit()
        ids.update(attachment_id=attachment.id, visit_id=visit.id, photo_id=visit_photo.id)
    for ids in (near, far):
        from liaison_app.models import QRCode, Request

        ids["qr_token"] = db.session.get(QRCode, ids["code_id"]).token
        ids["tracking_token"] = db.session.get(Request, ids["request_id"]).tracking_token
    near["reset_token"] = issue_reset(tree.colleague_user, actor=tree.admin).token
    far["reset_token"] = issue_reset(far_staff, actor=tree.admin).token
    near["robot_id"] = make_robot(station=tree.station).id
    far["robot_id"] = make_robot(station=far_station).id
    # A message in the deputy's 消息 list, and one in 万安县 staff's.
    near["message_id"] = make_message(tree.deputy_user, db.session.get(Request, near["request_id"])).id
    far["message_id"] = make_message(far_staff, db.session.get(Request, far["request_id"])).id
    return World(tree=tree, near=near, far=far, far_staff=far_staff, owners=OWNERS)


@pytest.fixture(scope="module")
def module_app(test_database, tmp_path_factory, request):
    """An app and its world for the whole module; `app_settings` (a module global) overrides config."""
    from tests.conftest import _empty_all_tables, make_app

    settings = getattr(request.module, "APP_SETTINGS", {})
    app = make_app(test_database.url, tmp_path_factory.mktemp("world"), **settings)
    with app.app_context():
        world = build_world()
        yield app, world
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


# --- URLs ---------------------------------------------------------------------------------------------


TOKENS = {"/q/": "qr_token", "/t/": "tracking_token", "/reset/": "reset_token"}
PLAIN = {  # the value of every other non-id placeholder
    "<day>": "2099-10-01",
    "<field>": "uscc",
    "<path:filename>": "css/app.css",
}


def urls_for(rule, ids, owners=OWNERS):
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
        for prefix, key in TOKENS.items():
            if path.startswith(prefix) and key in ids:
                path = path.replace("<token>", ids[key])
        for placeholder, value in PLAIN.items():
            path = path.replace(placeholder, value)
        assert "<" not in path, path
        urls.append(path)
    return urls


def has_ids(rule) -> bool:
    """Whether the rule names something that lies on one side (in or out of a user's scope)."""
    return "<int:" in rule.rule or rule.rule.startswith(tuple(TOKENS))


def client_for(app, user):
    client = app.test_client()
    if user is not None:
        login(client, user)
    return client


# --- the database, summed up --------------------------------------------------------------------------


def snapshot() -> dict:
    """Every table: its row count and a sha256 of all its rows in primary-key order."""
    db.session.commit()  # end the test's transaction: see what requests wrote
    found = {}
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = connection.execute(sa.select(table).order_by(*order)).all()
            digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
            found[table.name] = (len(rows), digest)
    return found


def changed_tables(before: dict, after: dict) -> set:
    return {name for name in before if before[name] != after[name]}
