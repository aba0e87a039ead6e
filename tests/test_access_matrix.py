"""Every route × every role: who gets 200/303, who 403, who 404, who is sent to log in.

A new route fails test_every_route_is_in_the_matrix until it is added here.
"""

from datetime import timedelta

import pytest

from liaison_app.extensions import db
from liaison_app.models import Outcome, Rating, Request
from liaison_app.services import workflow as wf
from liaison_app.workdays import now_local
from tests.factories import Tree, image_bytes, make_request
from tests.test_desk import login

ROLES = ["anonymous", "deputy", "colleague", "outsider", "township_staff", "county_staff",
         "township_unit", "county_unit", "admin"]


def user_for(tree, role):
    return {
        "anonymous": None, "deputy": tree.deputy_user, "colleague": tree.colleague_user,
        "outsider": tree.outsider_user, "township_staff": tree.staff["township"],
        "county_staff": tree.staff["county"], "township_unit": tree.officers["township"],
        "county_unit": tree.officers["county"], "admin": tree.admin,
    }[role]


def fresh(req):
    db.session.expire_all()
    return db.session.get(Request, req.id)


# --- requests in each status, built through the services ------------------------------------


def submitted(tree):
    return make_request(deputy=tree.deputy)


def claimed(tree):
    req = submitted(tree)
    wf.claim_request(req, actor=tree.deputy_user)
    return fresh(req)


def assigned(tree):
    req = claimed(tree)
    wf.assign_request(req, actor=tree.deputy_user, version=req.version, department=tree.departments["township"])
    return fresh(req)


def in_progress(tree):
    req = assigned(tree)
    wf.acknowledge(req, actor=tree.officers["township"], version=req.version)
    return fresh(req)


def extension_asked(tree):
    req = in_progress(tree)
    wf.request_extension(req, actor=tree.officers["township"], version=req.version,
                         until=req.due_on + timedelta(days=10), reason="需现场勘查")
    return fresh(req)


def replied(tree):
    req = in_progress(tree)
    wf.respond(req, actor=tree.officers["township"], version=req.version, outcome=Outcome.SOLVED, text="已解决")
    return fresh(req)


def closed(tree):
    req = replied(tree)
    wf.accept_answer(req, actor=tree.deputy_user, version=req.version)
    wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.SATISFIED)
    return fresh(req)


def awaiting_rating(tree):
    req = replied(tree)
    wf.accept_answer(req, actor=tree.deputy_user, version=req.version)
    return fresh(req)


def escalated(tree):
    req = claimed(tree)
    wf.escalate_request(req, actor=tree.deputy_user, version=req.version, reason="超出镇级权限")
    return fresh(req)


def consented(tree):
    """Closed, and its enterprise agreed to publication (公示)."""
    req = closed(tree)
    req.public_consent = True
    db.session.commit()
    return fresh(req)


def summary_drafted(tree):
    from liaison_app.services import publication

    req = consented(tree)
    publication.save_public_summary(req, actor=tree.deputy_user, version=req.version,
                                    problem="企业续贷需要过桥资金", result="转贷基金已到位")
    return fresh(req)


def summary_published(tree):
    from liaison_app.services import publication

    req = summary_drafted(tree)
    publication.approve_public_summary(req, actor=tree.deputy_user, version=req.version)
    return fresh(req)


LOCAL_VIEWERS = {"deputy", "colleague", "township_staff", "county_staff", "admin"}
HANDLERS = {"deputy", "township_staff", "admin"}
QUEUE = {"deputy", "colleague", "township_staff", "admin"}
SUPERVISORS = {"township_staff", "county_staff", "admin"}

# action: (setup, who sees the request, who may do it)
ACTIONS = {
    "claim": (submitted, LOCAL_VIEWERS, QUEUE),
    "reject": (submitted, LOCAL_VIEWERS, QUEUE),
    "release": (claimed, LOCAL_VIEWERS, HANDLERS),
    "answer": (claimed, LOCAL_VIEWERS, HANDLERS),
    "assign": (claimed, LOCAL_VIEWERS, HANDLERS),
    "escalate": (claimed, LOCAL_VIEWERS, HANDLERS),
    # Escalated to the county: the township's staff keep sight of it, read only (上下联动).
    "send_down": (escalated, LOCAL_VIEWERS, {"county_staff", "admin"}),
    "acknowledge": (assigned, LOCAL_VIEWERS | {"township_unit"}, {"township_unit"}),
    "return": (assigned, LOCAL_VIEWERS | {"township_unit"}, {"township_unit"}),
    "respond": (in_progress, LOCAL_VIEWERS | {"township_unit"}, {"township_unit"}),
    "extension": (in_progress, LOCAL_VIEWERS | {"township_unit"}, {"township_unit"}),
    "decide_extension": (extension_asked, LOCAL_VIEWERS | {"township_unit"}, {"township_staff", "admin"}),
    "accept": (replied, LOCAL_VIEWERS | {"township_unit"}, HANDLERS),
    "send_back": (replied, LOCAL_VIEWERS | {"township_unit"}, HANDLERS),
    "reopen": (closed, LOCAL_VIEWERS | {"township_unit"}, SUPERVISORS),
    "phone_rating": (awaiting_rating, LOCAL_VIEWERS | {"township_unit"}, SUPERVISORS),
    "remind": (submitted, LOCAL_VIEWERS, SUPERVISORS),
    "supervise": (submitted, LOCAL_VIEWERS, SUPERVISORS),
    # 公示: the claimant and the staff of the level write, approve and take off the public summary.
    "public_summary": (consented, LOCAL_VIEWERS | {"township_unit"}, HANDLERS),
    "approve_summary": (summary_drafted, LOCAL_VIEWERS | {"township_unit"}, HANDLERS),
    "withdraw_summary": (summary_published, LOCAL_VIEWERS | {"township_unit"}, HANDLERS),
}


def valid_form(name, req, tree):
    values = {"version": req.version, "reason": "理由说明", "note": "", "outcome": "solved",
              "text": "办理情况说明", "department": tree.departments["township"].id,
              "until": (req.due_on + timedelta(days=10)).isoformat() if req.due_on else "",
              "decision": "approve", "key": "y", "due_on": "", "rating": "satisfied", "comment": "",
              "person_reached": "", "called_at": now_local().strftime("%Y-%m-%dT%H:%M"),
              "problem": "企业续贷需要过桥资金", "result": "协调转贷基金，续贷已办妥", "confirm": "y"}
    return {f"{name}-{key}": value for key, value in values.items()}


@pytest.fixture
def tree(app):
    return Tree()


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_each_action_route_for_each_role(app, tree, name):
    setup, viewers, doers = ACTIONS[name]
    for role in ROLES:
        req = setup(tree)
        version_before = req.version
        client = app.test_client()
        user = user_for(tree, role)
        if user is not None:
            login(client, user)

        response = client.post(f"/desk/requests/{req.id}/{name}", data=valid_form(name, req, tree))

        if user is None:
            expected = 302
        elif role not in viewers:
            expected = 404
        elif role in doers:
            expected = 303
        else:
            expected = 403
        assert response.status_code == expected, (name, role, response.get_data(as_text=True)[-600:])
        if expected == 302:
            assert "/login" in response.headers["Location"]
        changed = fresh(req).version != version_before
        assert changed == (expected == 303), (name, role)


@pytest.mark.parametrize("setup", [submitted, assigned, escalated], ids=lambda f: f.__name__)
def test_the_card_and_its_photos_for_each_role(app, tree, setup):
    from liaison_app.models import Attachment
    from liaison_app.services.photos import ProcessedPhoto, write_photo

    req = setup(tree)
    photo = ProcessedPhoto(data=image_bytes(), width=64, height=48)
    attachment = Attachment(request_id=req.id, stored_name=write_photo(photo), content_type="image/jpeg",
                            size=len(photo.data), sha256=photo.sha256, width=64, height=48)
    db.session.add(attachment)
    db.session.commit()
    viewers = {
        "submitted": LOCAL_VIEWERS,
        "assigned": LOCAL_VIEWERS | {"township_unit"},
        "escalated": LOCAL_VIEWERS,
    }[setup.__name__]
    for role in ROLES:
        client = app.test_client()
        user = user_for(tree, role)
        if user is not None:
            login(client, user)
        for path in (f"/desk/requests/{req.id}", f"/desk/requests/{req.id}/photos/{attachment.id}"):
            response = client.get(path)
            expected = 302 if user is None else 200 if role in viewers else 404
            assert response.status_code == expected, (path, role)


def test_an_unknown_request_id_is_404_for_everyone(app, tree):
    for role in ROLES[1:]:
        client = app.test_client()
        login(client, user_for(tree, role))
        assert client.get("/desk/requests/999999").status_code == 404
        assert client.post("/desk/requests/999999/claim", data={"claim-version": 1}).status_code == 404


@pytest.mark.parametrize("path,anonymous", [("/desk/", 302), ("/desk/unit", 302)])
def test_desk_lists_need_a_login_and_send_each_role_home(app, tree, path, anonymous):
    assert app.test_client().get(path).status_code == anonymous
    for role in ROLES[1:]:
        client = app.test_client()
        login(client, user_for(tree, role))
        response = client.get(path)
        is_unit = role.endswith("_unit")
        if (path == "/desk/") == is_unit:
            assert response.status_code == 302
        else:
            assert response.status_code == 200


def test_every_route_is_in_the_matrix(app):
    covered_elsewhere = {
        # public, no login: tests/test_filing.py, test_tracking.py, test_qr_landing.py, test_health.py
        "public.index", "public.qr_landing", "public.request_file", "public.validate_field", "public.tracking",
        "public.tracking_add_info", "public.tracking_withdraw", "public.tracking_rate", "public.tracking_photo",
        "public.my_requests", "public.deputy_photo", "health.healthz", "static",
        # 找回我的诉求: tests/test_find.py
        "public.find", "public.find_code",
        # 代为登记 (staff intake): tests/test_intake.py
        "desk.intake", "desk.intake_filed",
        # 消息 and the choices of who hears what: tests/test_messages.py, tests/test_preferences.py
        "desk.messages_list", "desk.message_read", "desk.messages_read_all", "desk.notification_settings",
        "desk.notification_settings_save", "desk.notification_defaults", "desk.notification_defaults_save",
        # the public board: tests/test_board.py
        "public.board_station", "public.board_jurisdiction",
        # login, account and one-time reset: tests/test_auth.py, tests/test_admin_users.py
        "auth.login", "auth.logout", "auth.password", "auth.reset_code", "auth.reset_link",
        # 我的值班 (reception duty days): tests/test_receptions.py
        "desk.my_duties",
        # the visit log and 我的结对企业: tests/test_visits.py (its own route × role walk)
        "desk.visits", "desk.visit_pairings", "desk.visit_new", "desk.visit_enterprise_search",
        "desk.visit_detail", "desk.visit_photo",
        # above
        "desk.inbox", "desk.unit_home", "desk.request_card", "desk.request_photo",
    }
    action_endpoints = {f"desk.request_{name}" for name in ACTIONS}
    # every admin and oversight route is walked by tests/test_admin_matrix.py
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()
                 if not rule.rule.startswith(("/admin", "/oversight"))}
    assert endpoints - covered_elsewhere - action_endpoints == set()
