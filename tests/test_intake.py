"""代为登记: staff and deputies record a request on an enterprise's behalf (来访, 来电, 来信,
12345转办, 政企恳谈会...) at a station of their scope; the enterprise gets its tracking link,
by SMS when it agreed and gave a mobile. Requests from visits and receptions ask for SMS too."""

import re
import uuid

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import (
    INTAKE_CHANNELS, Category, Channel, Notification, Request, RequestEvent, Role, VisitForm,
)
from liaison_app.services.visits import Problem, log_visit
from liaison_app.workdays import today_local
from liaison_app.workflow import Action, Actor, Status
from tests.factories import Tree, make_enterprise, make_jurisdiction, make_qr_code, make_station, make_user
from tests.test_desk import login
from tests.test_filing import form_data as public_form_data

CHANNEL_NAMES = {Channel.WALK_IN: "来访", Channel.PHONE: "来电", Channel.LETTER: "来信", Channel.HOTLINE: "12345转办",
                 Channel.TALKS: "政企恳谈会", Channel.OTHER: "其他"}


@pytest.fixture
def tree(app):
    return Tree()


def form_data(at, **overrides):
    return public_form_data(**{"channel": "phone", "station": str(at.id), "sms_opt_in": "y", **overrides})


def count(model) -> int:
    db.session.commit()  # see what the requests wrote
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def only_request() -> Request:
    db.session.expire_all()
    return db.session.scalars(sa.select(Request)).one()


def record(client, user, station, **overrides):
    login(client, user)
    return client.post("/desk/intake", data=form_data(station, **overrides))


# --- who may record where ------------------------------------------------------------------------


def test_staff_record_a_phone_call_at_a_station_of_their_area_and_read_out_the_link(client, tree):
    staff = tree.staff["county"]

    response = record(client, staff, tree.station)

    req = only_request()
    assert response.status_code == 303
    assert response.headers["Location"] == f"/desk/intake/{req.id}"
    assert (req.channel, req.status, req.station_id) == (Channel.PHONE, Status.SUBMITTED, tree.station.id)
    assert req.jurisdiction_id == req.filed_jurisdiction_id == tree.township.id  # the station's queue
    assert req.addressed_deputy_id is None and req.qr_code_id is None
    assert req.contact_phone == "+8613812345678" and req.enterprise.name == "太仓市恒丰精密机械有限公司"
    (event,) = req.events
    assert (event.action, event.actor_kind, event.actor_user_id) == (Action.FILE, Actor.STAFF, staff.id)

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert req.reference in page
    assert f"https://liaison.example.cn/t/{req.tracking_token}" in page
    assert 'href="/desk/intake?channel=phone&amp;station=' in page  # 继续登记, same channel and station


def test_a_deputy_records_at_their_own_station_and_the_form_offers_only_theirs(client, tree):
    login(client, tree.deputy_user)

    page = client.get("/desk/intake").get_data(as_text=True)

    assert tree.station.name in page and tree.other_station.name not in page
    assert re.search(rf'<option selected value="{tree.station.id}">', page)  # the one station, chosen
    response = client.post("/desk/intake", data=form_data(tree.station, channel="walk_in"))
    assert response.status_code == 303
    req = only_request()
    assert (req.channel, req.events[0].actor_kind, req.events[0].actor_user_id) == (
        Channel.WALK_IN, Actor.DEPUTY, tree.deputy_user.id)


def test_staff_are_offered_the_stations_of_their_jurisdiction_and_below_only(client, tree):
    elsewhere = make_station(name="万安县工业园区代表联络站", jurisdiction=make_jurisdiction(name="万安县"))
    login(client, tree.staff["county"])

    page = client.get("/desk/intake").get_data(as_text=True)

    assert tree.station.name in page and tree.other_station.name in page
    assert elsewhere.name not in page
    login(client, tree.staff["township"])
    assert elsewhere.name not in client.get("/desk/intake").get_data(as_text=True)


@pytest.mark.parametrize("who", ["township_staff", "deputy_at_another_station", "far_staff"])
def test_a_station_outside_ones_scope_is_404_and_nothing_is_written(client, tree, who):
    far = make_station(name="万安县工业园区代表联络站", jurisdiction=make_jurisdiction(name="万安县"))
    user, station = {
        "township_staff": (tree.staff["township"], far),
        "deputy_at_another_station": (tree.deputy_user, tree.other_station),
        "far_staff": (make_user(Role.STAFF, jurisdiction=far.jurisdiction), tree.station),
    }[who]

    response = record(client, user, station)

    assert response.status_code == 404
    assert count(Request) == count(RequestEvent) == 0


def test_a_closed_station_takes_no_intake(client, tree):
    tree.station.active = False
    db.session.commit()

    assert record(client, tree.staff["township"], tree.station).status_code == 404
    assert count(Request) == 0


def test_a_department_officer_has_no_intake(client, tree):
    login(client, tree.officers["township"])

    assert client.get("/desk/intake").status_code == 403
    assert client.post("/desk/intake", data=form_data(tree.station)).status_code == 403
    assert count(Request) == 0


def test_the_page_after_filing_is_only_for_the_one_who_recorded_it(client, tree):
    response = record(client, tree.staff["township"], tree.station)
    filed = response.headers["Location"]

    login(client, tree.staff["county"])  # sees the request, did not record it
    assert client.get(filed).status_code == 404
    assert client.get(f"/desk/requests/{only_request().id}").status_code == 200


def test_the_inbox_links_to_the_intake_form(client, tree):
    login(client, tree.staff["township"])

    assert 'href="/desk/intake"' in client.get("/desk/").get_data(as_text=True)


# --- channels, the trail, idempotency, errors ---------------------------------------------------------


@pytest.mark.parametrize("channel", INTAKE_CHANNELS, ids=lambda c: c.value)
def test_each_channel_is_stored_and_the_trail_says_who_recorded_it_and_how(app, client, tree, channel):
    record(client, tree.staff["township"], tree.station, channel=channel.value)

    req = only_request()
    assert req.channel is channel
    card = client.get(f"/desk/requests/{req.id}").get_data(as_text=True)
    assert f"由 沙溪镇工作人员 代为登记（{CHANNEL_NAMES[channel]}）" in card
    # The enterprise reads the channel, not the staff member's name.
    tracking = app.test_client().get(f"/t/{req.tracking_token}").get_data(as_text=True)
    assert f"已代为登记（{CHANNEL_NAMES[channel]}）" in tracking and "沙溪镇工作人员" not in tracking


def test_a_channel_not_for_intake_is_refused_with_the_form_kept(client, tree):
    response = record(client, tree.staff["township"], tree.station, channel="qr_deputy")

    assert response.status_code == 422
    assert "请选择诉求的来源渠道。" in response.get_data(as_text=True)
    assert count(Request) == 0


def test_the_same_form_sent_twice_files_once(client, tree):
    data = form_data(tree.station)
    login(client, tree.staff["township"])

    first = client.post("/desk/intake", data=data)
    second = client.post("/desk/intake", data=data)

    assert count(Request) == 1 and count(RequestEvent) == 1
    assert first.headers["Location"] == second.headers["Location"] == f"/desk/intake/{only_request().id}"


def test_an_invalid_phone_comes_back_with_everything_typed_and_a_chinese_message(client, tree):
    response = record(client, tree.staff["township"], tree.station, contact_phone="12345", channel="letter")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "手机号" in page or "固定电话" in page  # the filing form's own message, in Chinese
    assert 'value="太仓市恒丰精密机械有限公司"' in page and 'value="12345"' in page and "焊工二十名" in page
    assert re.search(r'<option selected value="letter">', page)
    assert re.search(rf'<option selected value="{tree.station.id}">', page)
    assert count(Request) == 0


def test_without_a_station_the_form_asks_for_one(client, tree, htmx):
    login(client, tree.staff["township"])

    response = client.post("/desk/intake", data=form_data(tree.station, station=""), headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.lstrip().startswith('<form id="intake-form"')  # htmx gets the form alone
    assert "请选择联络站。" in page and count(Request) == 0


def test_with_htmx_success_answers_hx_redirect(client, tree, htmx):
    login(client, tree.staff["township"])

    response = client.post("/desk/intake", data=form_data(tree.station), headers=htmx)

    assert response.headers["HX-Redirect"] == f"/desk/intake/{only_request().id}"


# --- SMS -----------------------------------------------------------------------------------------------


def test_the_sms_box_is_ticked_on_a_new_form(client, tree):
    login(client, tree.staff["township"])

    page = client.get("/desk/intake").get_data(as_text=True)

    assert re.search(r'<input [^>]*checked [^>]*id="sms_opt_in"', page)
    assert "短信通知办理进度" in page


@pytest.mark.parametrize("phone,ticked,stored", [
    ("13812345678", True, True),
    ("13812345678", False, False),  # the enterprise said no
    ("0512-53521234", True, False),  # a landline takes no text message
])
def test_sms_is_asked_for_only_when_ticked_and_the_number_is_a_mobile(client, tree, phone, ticked, stored):
    data = form_data(tree.station, contact_phone=phone)
    if not ticked:
        del data["sms_opt_in"]
    login(client, tree.staff["township"])

    assert client.post("/desk/intake", data=data).status_code == 303

    assert only_request().sms_opt_in is stored


@pytest.mark.parametrize("form", [VisitForm.VISIT, VisitForm.RECEPTION])
def test_requests_from_visits_and_receptions_ask_for_sms_when_the_contact_is_a_mobile(tree, form):
    firm = make_enterprise(name="太仓恒丰精密机械有限公司", jurisdiction=tree.township)
    problems = [Problem(Category.LABOUR, "车间缺少熟练焊工二十名，希望对接职业院校招聘会。", contact_name="王海燕",
                        contact_phone="13812345678"),
                Problem(Category.LOGISTICS, "厂区门口道路塌陷，货车无法通行，雨天积水严重。", contact_name="李强",
                        contact_phone="0512-53521234"),
                Problem(Category.FINANCE, "银行贷款到期续贷需要过桥资金，希望协调转贷基金。")]

    log_visit(actor=tree.deputy_user, form=form, held_on=today_local(), enterprise_ids=[firm.id],
              idempotency_key=uuid.uuid4().hex, problems=problems)

    stored = {r.contact_phone: r.sms_opt_in for r in db.session.scalars(sa.select(Request))}
    assert stored == {"+8613812345678": True, "+8651253521234": False, "": False}


# --- the same filing as the enterprise's ------------------------------------------------------------


def test_an_intake_is_announced_as_a_filing_through_the_stations_code_is(client, tree):
    """The notification point is file_request's: the same people hear of it either way."""
    code = make_qr_code(deputy=None, station=tree.station)

    client.post(f"/q/{code.token}/file", data=public_form_data(sms_opt_in="y"))
    record(client, tree.staff["township"], tree.station)

    db.session.expire_all()
    requests = db.session.scalars(sa.select(Request).order_by(Request.id)).all()
    assert [r.channel for r in requests] == [Channel.QR_STATION, Channel.PHONE]

    def heard(req):
        return sorted((n.kind, n.channel, n.recipient_user_id, n.recipient_deputy_id, n.robot_id or 0)
                      for n in db.session.scalars(sa.select(Notification).where(Notification.request_id == req.id)))

    assert heard(requests[0]) == heard(requests[1]) != []
