"""The visit log on the deputy's phone: 我的结对企业, logging a visit whose problems become
claimed requests at once, idempotent submits, the monthly report fed by visits."""

import io
import re
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import (
    Category,
    Channel,
    Pairing,
    ReceptionDay,
    Request,
    RequestEvent,
    Role,
    Visit,
    VisitCampaign,
    VisitForm,
    VisitPhoto,
)
from liaison_app.services import report as reporting
from liaison_app.services import visits as visit_service
from liaison_app.services.visits import Problem, VisitError, log_visit
from liaison_app.workdays import today_local
from liaison_app.workflow import Action, Actor, Status
from tests.factories import Tree, image_bytes, make_enterprise, make_request, make_user, valid_uscc
from tests.test_desk import login

WELDERS = "车间缺少熟练焊工二十名，希望对接职业院校招聘会。"
ROAD = "厂区门口道路塌陷，货车无法通行，雨天积水严重。"


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def firm(tree):
    return make_enterprise(name="太仓恒丰精密机械有限公司", jurisdiction=tree.township, address="太仓市沙溪镇沪太路88号",
                           uscc=valid_uscc(777001))


def count(model) -> int:
    db.session.commit()  # see what requests on other connections wrote
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def log(tree, enterprises, *, problems=(), key=None, **overrides):
    values = dict(actor=tree.deputy_user, form=VisitForm.VISIT, held_on=today_local(),
                  enterprise_ids=[e.id for e in enterprises], idempotency_key=key or uuid.uuid4().hex,
                  problems=list(problems))
    values.update(overrides)
    return log_visit(**values)


def form_data(firm, **overrides):
    data = {
        "idempotency_key": uuid.uuid4().hex,
        "kind": "visit",
        "held_on": today_local().isoformat(),
        "enterprises": [str(firm.id)],
        "notes": "与总经理座谈，参观车间。",
        "problems-0-category": "labour",
        "problems-0-description": WELDERS,
        "problems-1-category": "infrastructure",
        "problems-1-description": ROAD,
        "problems-1-contact_name": "王海燕",
        "problems-1-contact_phone": "13812345678",
    }
    data.update(overrides)
    return data


def new_requests():
    db.session.commit()
    return db.session.scalars(sa.select(Request).order_by(Request.id)).all()


# --- logging a visit ------------------------------------------------------------------------------


def test_a_visit_with_two_problems_files_two_requests_claimed_by_the_deputy(tree, firm):
    visit, created = log(tree, [firm], notes="参观车间", problems=[
        Problem(Category.LABOUR, WELDERS),
        Problem(Category.INFRASTRUCTURE, ROAD, contact_name="王海燕", contact_phone="138 1234 5678"),
    ])

    assert created and visit.form is VisitForm.VISIT and visit.enterprises == [firm]
    assert visit.deputies == [tree.deputy] and visit.logged_by == tree.deputy_user
    # The deputy's primary station decides where the visit is counted and filed.
    assert (visit.station, visit.jurisdiction) == (tree.station, tree.township)
    first, second = new_requests()
    for req in (first, second):
        assert req.visit_id == visit.id and req.channel is Channel.VISIT and req.enterprise == firm
        assert req.status is Status.CLAIMED and req.claimant == tree.deputy_user and req.claimed_at is not None
        assert req.addressed_deputy == tree.deputy and req.station == tree.station
        assert req.jurisdiction == req.filed_jurisdiction == tree.township
        assert [(e.action, e.from_status, e.to_status, e.actor_kind, e.actor) for e in req.events] == [
            (Action.FILE, None, Status.SUBMITTED, Actor.DEPUTY, tree.deputy_user),
            (Action.CLAIM, Status.SUBMITTED, Status.CLAIMED, Actor.DEPUTY, tree.deputy_user),
        ]
    assert re.fullmatch(r"\d{4}-\d{6}", first.reference)
    assert int(second.reference[-6:]) == int(first.reference[-6:]) + 1
    assert (first.category, first.description, first.contact_phone) == (Category.LABOUR, WELDERS, "")
    assert (second.contact_name, second.contact_phone) == ("王海燕", "+8613812345678")


def test_logged_on_the_phone_the_staff_and_the_deputy_see_the_new_requests_at_once(app, tree, firm):
    deputy = app.test_client()
    login(deputy, tree.deputy_user)

    response = deputy.post("/desk/visits/new", data=form_data(firm))

    assert response.status_code == 303
    visit = db.session.scalar(sa.select(Visit))
    assert response.headers["Location"] == f"/desk/visits/{visit.id}"
    first, second = new_requests()
    page = deputy.get(response.headers["Location"]).get_data(as_text=True)
    assert first.reference in page and second.reference in page
    assert f'href="/desk/requests/{first.id}"' in page
    assert f'data-draft-clear="visit-new" data-draft-idempotency-key="{visit.idempotency_key}"' in page
    assert first.reference in deputy.get("/desk/?tab=mine").get_data(as_text=True)
    for staff in (tree.staff["township"], tree.staff["county"]):
        client = app.test_client()
        login(client, staff)
        inbox = client.get("/desk/?tab=level" if staff is tree.staff["township"] else "/desk/?tab=below")
        assert first.reference in inbox.get_data(as_text=True) and second.reference in inbox.get_data(as_text=True)
        card = client.get(f"/desk/requests/{first.id}").get_data(as_text=True)
        assert WELDERS in card and "tel:" not in card  # no contact was given for this one


def test_with_htmx_success_answers_hx_redirect_and_a_refusal_the_form_alone(app, tree, firm, htmx):
    client = app.test_client()
    login(client, tree.deputy_user)

    refused = client.post("/desk/visits/new", data=form_data(firm, held_on="2099-01-01"), headers=htmx)
    assert refused.status_code == 422
    assert refused.get_data(as_text=True).lstrip().startswith('<form id="visit-form"')

    done = client.post("/desk/visits/new", data=form_data(firm), headers=htmx)
    assert done.status_code == 200 and done.headers["HX-Redirect"].startswith("/desk/visits/")


def test_visits_count_in_the_monthly_report_activity_and_participation_columns(tree, firm):
    period = reporting.period_containing(today_local())
    before = reporting.monthly_report(tree.county, period).total

    log(tree, [firm], deputy_ids=[tree.colleague.id], problems=[Problem(Category.LABOUR, WELDERS)])
    log(tree, [firm, make_enterprise(jurisdiction=tree.township)], form=VisitForm.SYMPOSIUM)

    report = reporting.monthly_report(tree.county, period)
    township = next(line for line in report.lines if line.jurisdiction == tree.township)
    assert (township.figures.activities, township.figures.participations, township.figures.collected) == (2, 3, 1)
    assert report.total.activities - before.activities == 2
    assert report.total.participations - before.participations == 3


def test_the_same_idempotency_key_twice_makes_one_visit_and_no_extra_requests(tree, firm):
    key = uuid.uuid4().hex
    problems = [Problem(Category.LABOUR, WELDERS), Problem(Category.INFRASTRUCTURE, ROAD)]

    first, created = log(tree, [firm], key=key, problems=problems)
    again, created_again = log(tree, [firm], key=key, problems=problems)

    assert created and not created_again and again.id == first.id
    assert count(Visit) == 1 and count(Request) == 2 and count(RequestEvent) == 4


def test_a_resubmitted_form_returns_the_visit_it_made(app, tree, firm):
    client = app.test_client()
    login(client, tree.deputy_user)
    data = form_data(firm)

    first = client.post("/desk/visits/new", data=data)
    second = client.post("/desk/visits/new", data=data)

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(Visit) == 1 and count(Request) == 2


def test_simultaneous_taps_on_save_make_one_visit(app, tree, firm):
    data = form_data(firm)
    clients = []
    for _ in range(4):
        client = app.test_client()
        login(client, tree.deputy_user)
        clients.append(client)
    db.session.commit()
    barrier = threading.Barrier(len(clients))
    responses = [None] * len(clients)

    def tap(index):
        barrier.wait()
        responses[index] = clients[index].post("/desk/visits/new", data=data)

    threads = [threading.Thread(target=tap, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [r.status_code for r in responses] == [303] * len(clients)
    assert len({r.headers["Location"] for r in responses}) == 1
    assert count(Visit) == 1 and count(Request) == 2 and count(RequestEvent) == 4


def test_a_bad_problem_writes_nothing_and_the_form_comes_back_with_everything_typed(app, tree, firm):
    client = app.test_client()
    login(client, tree.deputy_user)

    response = client.post("/desk/visits/new", data=form_data(firm, **{"problems-1-contact_phone": "12345"}))

    assert response.status_code == 422
    assert count(Visit) == 0 and count(Request) == 0
    page = response.get_data(as_text=True)
    assert WELDERS in page and ROAD in page and "与总经理座谈，参观车间。" in page and 'value="12345"' in page
    error = re.search(r'<p class="field-error" id="error-problems-1-contact_phone" role="alert">([^<]+)</p>', page)
    assert error and error.group(1).strip()
    assert re.search(r'id="error-problems-0-[a-z_]+" role="alert"></p>', page)  # the good row has no message
    assert f'value="{firm.id}" data-name="{firm.name}" checked' in page  # the enterprise stays chosen


def test_a_problem_the_service_refuses_points_at_its_row_and_nothing_is_written(tree, firm):
    other = make_enterprise(jurisdiction=tree.township)

    with pytest.raises(VisitError) as refused:
        log(tree, [firm, other], form=VisitForm.SYMPOSIUM, problems=[
            Problem(Category.LABOUR, WELDERS, enterprise_id=firm.id),
            Problem(Category.INFRASTRUCTURE, ROAD),  # two present: which one?
        ])

    assert (refused.value.field, refused.value.problem) == ("enterprise", 1)
    db.session.rollback()
    assert count(Visit) == 0 and count(Request) == 0 and count(RequestEvent) == 0


def test_a_symposium_records_the_enterprises_present_and_whose_problem_is_whose(tree, firm):
    others = [make_enterprise(jurisdiction=tree.township) for _ in range(2)]

    visit, _ = log(tree, [firm, *others], form=VisitForm.SYMPOSIUM, deputy_ids=[tree.colleague.id], problems=[
        Problem(Category.FINANCE, "过桥资金紧张，希望协调转贷基金支持。", enterprise_id=others[1].id),
        Problem(Category.LABOUR, WELDERS, enterprise_id=firm.id),
    ])

    assert visit.form is VisitForm.SYMPOSIUM
    assert {e.id for e in visit.enterprises} == {firm.id, *(o.id for o in others)}
    assert {d.id for d in visit.deputies} == {tree.deputy.id, tree.colleague.id}
    assert [r.enterprise_id for r in new_requests()] == [others[1].id, firm.id]


def test_the_problems_of_a_visit_are_its_one_enterprises(tree, firm):
    other = make_enterprise(jurisdiction=tree.township)  # chosen for a problem while it was a symposium

    log(tree, [firm], problems=[Problem(Category.LABOUR, WELDERS, enterprise_id=other.id)])

    assert [r.enterprise_id for r in new_requests()] == [firm.id]


@pytest.mark.parametrize("form,ids,field", [
    (VisitForm.VISIT, 2, "enterprises"),  # a visit is to one enterprise
    (VisitForm.VISIT, 0, "enterprises"),
    (VisitForm.SYMPOSIUM, 0, "enterprises"),
])
def test_the_number_of_enterprises_follows_the_form(tree, firm, form, ids, field):
    chosen = [firm, make_enterprise(jurisdiction=tree.township)][:ids]
    with pytest.raises(VisitError) as refused:
        log(tree, chosen, form=form)
    assert refused.value.field == field


def test_a_reception_may_have_no_enterprise_and_its_problems_need_one(tree, firm):
    visit, _ = log(tree, [], form=VisitForm.RECEPTION)
    assert visit.enterprises == []

    with pytest.raises(VisitError) as refused:
        log(tree, [], form=VisitForm.RECEPTION, problems=[Problem(Category.LABOUR, WELDERS)])
    assert (refused.value.field, refused.value.problem) == ("enterprise", 0)

    log(tree, [firm], form=VisitForm.RECEPTION, problems=[Problem(Category.LABOUR, WELDERS)])
    assert [r.channel for r in new_requests()] == [Channel.RECEPTION]


def test_a_deputy_of_another_station_cannot_be_recorded_as_taking_part(tree, firm):
    with pytest.raises(VisitError) as refused:
        log(tree, [firm], deputy_ids=[tree.outsider.id])
    assert refused.value.field == "deputies"


@pytest.mark.parametrize("days,message", [(-1, "future"), (visit_service.DAYS_BACK + 1, "60 days")])
def test_a_date_in_the_future_or_long_ago_is_refused_with_a_clear_message(app, tree, firm, days, message):
    held_on = today_local() - timedelta(days=days)
    with pytest.raises(VisitError) as refused:
        log(tree, [firm], held_on=held_on)
    assert refused.value.field == "held_on"
    db.session.rollback()

    client = app.test_client()
    login(client, tree.deputy_user)
    response = client.post("/desk/visits/new?lang=en", data=form_data(firm, held_on=held_on.isoformat()))
    assert response.status_code == 422 and count(Visit) == 0
    error = re.search(r'id="error-held_on" role="alert">([^<]+)<', response.get_data(as_text=True))
    assert error and message in error.group(1)


def test_the_visit_falls_in_the_running_campaign_of_its_jurisdiction_or_above(tree, firm):
    today = today_local()
    county_campaign = make_campaign(tree.county, today)
    make_campaign(tree.township, today + timedelta(days=10), name="下月")  # not running on the day

    visit, _ = log(tree, [firm])

    assert visit.campaign == county_campaign


# --- the enterprise picker ------------------------------------------------------------------------


def test_the_picker_finds_by_pinyin_initials_or_the_start_of_the_credit_code(app, tree, firm):
    make_enterprise(name="浏河镇顺达物流有限公司", jurisdiction=tree.township)
    elsewhere = make_enterprise(name="太仓恒丰远方分公司", jurisdiction=Tree().township)  # another county
    deputy = tree.deputy

    assert visit_service.search_enterprises(deputy, "tchf") == [firm]
    assert visit_service.search_enterprises(deputy, firm.uscc[:12].lower()) == [firm]
    assert visit_service.search_enterprises(deputy, "恒丰精密") == [firm]
    assert elsewhere not in visit_service.search_enterprises(deputy, "恒丰")

    client = app.test_client()
    login(client, tree.deputy_user)
    fragment = client.get("/desk/visits/enterprises", query_string={"enterprise_q": "TCHF"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="enterprise-options"') and firm.name in fragment
    assert "顺达物流" not in fragment


def test_the_picker_puts_paired_and_recently_visited_enterprises_first_and_keeps_the_chosen(app, tree, firm):
    today = today_local()
    names = ["太仓甲精工有限公司", "太仓乙精工有限公司", "太仓丙精工有限公司"]
    first, second, third = (make_enterprise(name=n, jurisdiction=tree.township) for n in names)
    campaign = make_campaign(tree.county, today)
    pair(campaign, tree.deputy, third)
    log(tree, [second], held_on=today - timedelta(days=3))

    found = visit_service.search_enterprises(tree.deputy, "精工")
    assert found[:2] == [third, second] and first in found
    assert visit_service.search_enterprises(tree.deputy, "") == [third, second]  # nothing typed: those only

    client = app.test_client()
    login(client, tree.deputy_user)
    fragment = client.get("/desk/visits/enterprises",
                          query_string={"enterprise_q": "精工", "enterprises": [str(first.id)]}).get_data(as_text=True)
    assert fragment.index(f'value="{first.id}"') < fragment.index(f'value="{third.id}"')
    assert f'value="{first.id}" data-name="{first.name}" checked' in fragment
    assert fragment.count(f'value="{first.id}"') == 1


def test_the_search_button_and_add_another_problem_work_without_javascript(app, tree, firm):
    client = app.test_client()
    login(client, tree.deputy_user)

    found = client.post("/desk/visits/new", data=form_data(firm, enterprises=[], enterprise_q="tchf", find="1"))
    page = found.get_data(as_text=True)
    assert found.status_code == 200 and f'value="{firm.id}" data-name="{firm.name}"' in page

    added = client.post("/desk/visits/new", data=form_data(firm, add_problem="1")).get_data(as_text=True)
    assert 'name="problems-2-description"' in added and WELDERS in added and ROAD in added
    assert count(Visit) == 0 and count(Request) == 0


# --- who sees what ---------------------------------------------------------------------------------


def test_a_deputy_sees_only_the_visits_they_logged_or_took_part_in(app, tree, firm):
    visit, _ = log(tree, [firm], problems=[Problem(Category.LABOUR, WELDERS)])
    photo = add_photo(visit)
    other_county = Tree()
    expected = {
        tree.deputy_user: 200, tree.colleague_user: 404, tree.outsider_user: 404, tree.staff["township"]: 200,
        tree.staff["county"]: 200, other_county.staff["county"]: 404, tree.admin: 200,
        tree.officers["township"]: 403,
    }
    for user, status in expected.items():
        client = app.test_client()
        login(client, user)
        assert client.get(f"/desk/visits/{visit.id}").status_code == status, user
        assert client.get(f"/desk/visits/{visit.id}/photos/{photo.id}").status_code == status, user
        listed = client.get("/desk/visits")
        if status == 403:
            assert listed.status_code == 403
        else:
            assert (f"/desk/visits/{visit.id}" in listed.get_data(as_text=True)) == (status == 200), user

    shared, _ = log(tree, [firm], deputy_ids=[tree.colleague.id])  # the colleague took part in this one
    client = app.test_client()
    login(client, tree.colleague_user)
    listed = client.get("/desk/visits").get_data(as_text=True)
    assert f"/desk/visits/{shared.id}" in listed and f"/desk/visits/{visit.id}\"" not in listed
    assert client.get(f"/desk/visits/{shared.id}").status_code == 200


VISIT_PAGES = ["/desk/visits", "/desk/visits/pairings", "/desk/visits/new", "/desk/visits/enterprises?enterprise_q=a"]


def test_each_visit_page_for_each_role(app, tree):
    deputy_only = {"/desk/visits/pairings", "/desk/visits/new", "/desk/visits/enterprises?enterprise_q=a"}
    users = {"deputy": tree.deputy_user, "staff": tree.staff["township"], "admin": tree.admin,
             "unit": tree.officers["township"]}
    for path in VISIT_PAGES:
        anonymous = app.test_client().get(path)
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
        for role, user in users.items():
            client = app.test_client()
            login(client, user)
            expected = 403 if role == "unit" or (role != "deputy" and path in deputy_only) else 200
            assert client.get(path).status_code == expected, (path, role)
    client = app.test_client()
    login(client, tree.staff["township"])
    assert client.post("/desk/visits/new", data={}).status_code == 403
    assert count(Visit) == 0


def test_foreign_prefills_are_404(app, tree):
    far = Tree()
    far_firm = make_enterprise(jurisdiction=far.township)
    far_day = make_reception_day(far.station, today_local())
    client = app.test_client()
    login(client, tree.deputy_user)
    assert client.get(f"/desk/visits/new?enterprise={far_firm.id}").status_code == 404
    assert client.get("/desk/visits/new?enterprise=999999").status_code == 404
    assert client.get(f"/desk/visits/new?form=reception&reception={far_day.id}").status_code == 404
    assert client.get("/desk/visits/999999").status_code == 404


# --- photos ----------------------------------------------------------------------------------------


def test_photos_are_stored_re_encoded_and_served_to_those_who_see_the_visit(app, tree, firm):
    client = app.test_client()
    login(client, tree.deputy_user)
    data = form_data(firm)
    data["photos"] = [(io.BytesIO(image_bytes("PNG")), "车间.png")]

    response = client.post("/desk/visits/new", data=data, content_type="multipart/form-data")

    assert response.status_code == 303
    db.session.commit()
    photo = db.session.scalar(sa.select(VisitPhoto))
    stored = Path(app.config["UPLOAD_FOLDER"]) / photo.stored_name
    assert stored.is_file() and stored.read_bytes()[:2] == b"\xff\xd8"  # re-encoded as JPEG
    assert photo.stored_name.endswith(".jpg") and "车间" not in photo.stored_name
    served = client.get(f"/desk/visits/{photo.visit_id}/photos/{photo.id}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert f"/desk/visits/{photo.visit_id}/photos/{photo.id}" in client.get(
        f"/desk/visits/{photo.visit_id}").get_data(as_text=True)


def test_a_refused_visit_asks_for_its_photos_again_and_keeps_none(app, tree, firm):
    client = app.test_client()
    login(client, tree.deputy_user)
    data = form_data(firm, deputies=[str(tree.outsider.id)])  # refused by the service, after the photo was read
    data["photos"] = [(io.BytesIO(image_bytes()), "a.jpg")]

    response = client.post("/desk/visits/new?lang=en", data=data, content_type="multipart/form-data")

    assert response.status_code == 422 and count(Visit) == 0 and count(VisitPhoto) == 0
    assert "photos are not kept" in response.get_data(as_text=True)
    assert not [p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file()]


def test_a_file_that_is_not_a_photo_is_refused_by_its_field_with_the_rest_kept(app, tree, firm):
    client = app.test_client()
    login(client, tree.deputy_user)
    data = form_data(firm)
    data["photos"] = [(io.BytesIO(b"not a picture at all"), "notes.jpg")]

    response = client.post("/desk/visits/new", data=data, content_type="multipart/form-data")

    page = response.get_data(as_text=True)
    assert response.status_code == 422 and count(Visit) == 0 and WELDERS in page
    assert re.search(r'id="error-photos" role="alert">[^<]+<', page)


def test_a_visit_whose_commit_fails_leaves_no_row_and_no_photo_file(app, tree, firm, monkeypatch):
    from liaison_app.services.photos import ProcessedPhoto

    def connection_lost():
        raise ConnectionError("the database went away")

    monkeypatch.setattr(db.session, "commit", connection_lost)
    with pytest.raises(ConnectionError):
        log(tree, [firm], problems=[Problem(Category.LABOUR, WELDERS)],
            photos=[ProcessedPhoto(data=image_bytes(), width=64, height=48)])
    monkeypatch.undo()

    assert count(Visit) == 0 and count(Request) == 0 and count(VisitPhoto) == 0
    assert not [p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file()]


# --- reception days --------------------------------------------------------------------------------


def test_a_reception_day_is_logged_once_as_a_reception(app, tree, firm):
    day = make_reception_day(tree.station, today_local(), deputies=[tree.deputy, tree.colleague])
    client = app.test_client()
    login(client, tree.deputy_user)

    form = client.get(f"/desk/visits/new?form=reception&reception={day.id}").get_data(as_text=True)
    assert re.search(r'<input checked id="kind-\d" name="kind" [^>]*value="reception">', form)
    assert f'name="reception" type="hidden" value="{day.id}"' in form
    assert f'name="deputies" value="{tree.colleague.id}" checked' in form

    data = form_data(firm, kind="reception", reception=str(day.id), deputies=[str(tree.colleague.id)])
    assert client.post("/desk/visits/new", data=data).status_code == 303
    db.session.expire_all()
    visit = db.session.scalar(sa.select(Visit))
    assert db.session.get(ReceptionDay, day.id).visit_id == visit.id
    assert visit.form is VisitForm.RECEPTION and visit.station == tree.station
    assert {r.channel for r in new_requests()} == {Channel.RECEPTION}

    colleague = app.test_client()
    login(colleague, tree.colleague_user)
    again = colleague.post("/desk/visits/new", data=form_data(firm, kind="reception", reception=str(day.id)))
    assert again.status_code == 422 and count(Visit) == 1
    assert colleague.get(f"/desk/visits/new?form=reception&reception={day.id}").status_code == 302


# --- 我的结对企业 -----------------------------------------------------------------------------------


def test_my_paired_enterprises_show_visited_or_not_the_map_and_earlier_requests(app, tree, firm):
    today = today_local()
    campaign = make_campaign(tree.county, today - timedelta(days=5), days=30)
    waiting = make_enterprise(name="太仓乙精工有限公司", jurisdiction=tree.township, address="太仓市沙溪镇白云路 8 号")
    pair(campaign, tree.deputy, firm)
    pair(campaign, tree.deputy, waiting, lead=False)
    pair(campaign, tree.colleague, waiting)
    earlier = make_request(station=tree.station, enterprise=waiting, title="用电增容")
    log(tree, [firm], held_on=today - timedelta(days=1))
    client = app.test_client()
    login(client, tree.deputy_user)

    page = client.get("/desk/visits/pairings?lang=en").get_data(as_text=True)

    assert campaign.name in page and "1 of 2 visited" in page
    firm_card = card_of(page, firm)
    waiting_card = card_of(page, waiting)
    assert page.index(waiting.name) < page.index(firm.name)  # not yet visited first
    assert "Visited on" in firm_card and "is-visited" in firm_card and "Not yet visited" in waiting_card
    assert re.search(r'<a class="map-link" href="https://uri\.amap\.com/search\?keyword=%E5%A4%AA%E4%BB%93[^"]*%208%20',
                     waiting_card)
    assert earlier.reference in waiting_card and "Awaiting acceptance" in waiting_card
    assert f'href="/desk/requests/{earlier.id}"' in waiting_card
    assert tree.colleague.name in waiting_card  # the partner in 1+N
    assert f'href="/desk/visits/new?enterprise={waiting.id}"' in waiting_card
    prefilled = client.get(f"/desk/visits/new?enterprise={waiting.id}").get_data(as_text=True)
    assert f'value="{waiting.id}" data-name="{waiting.name}" checked' in prefilled


def test_without_pairings_the_page_says_so_and_offers_the_log(app, tree):
    client = app.test_client()
    login(client, tree.deputy_user)
    page = client.get("/desk/visits/pairings?lang=en").get_data(as_text=True)
    assert "not paired" in page and 'href="/desk/visits/new"' in page


def test_the_visit_pages_fit_a_360px_phone(app, tree, firm):
    visit, _ = log(tree, [firm], problems=[Problem(Category.LABOUR, WELDERS)])
    pair(make_campaign(tree.county, today_local()), tree.deputy, firm)
    client = app.test_client()
    login(client, tree.deputy_user)
    for path in ["/desk/visits", "/desk/visits/pairings", "/desk/visits/new", f"/desk/visits/{visit.id}"]:
        page = client.get(path).get_data(as_text=True)
        assert 'name="viewport" content="width=device-width' in page
        assert "<table" not in page and 'style="' not in page, path  # nothing wide, nothing fixed
    form = client.get("/desk/visits/new").get_data(as_text=True)
    # One thumb: the form keeps a draft under stable names, and every choice is a tap target.
    assert 'data-draft-key="visit-new"' in form and 'name="idempotency_key"' in form
    assert 'name="problems-0-category"' in form and 'name="problems-0-description"' in form
    assert 'data-draft-add-row="problems"' in form and 'name="problems-__index__-description"' in form
    assert 'name="form"' not in form  # it would shadow the <form>'s own .form, which htmx reads
    css = (Path(app.root_path) / "static/css/app.css").read_text()
    assert ".form .pick-list .option.pick" in css and "min-height: 52px" in css


def test_unit_officers_and_staff_cannot_log(tree, firm):
    for user in (tree.staff["township"], tree.officers["township"], make_user(Role.ADMIN)):
        with pytest.raises(VisitError):
            log(tree, [firm], actor=user)


# --- helpers ----------------------------------------------------------------------------------------


def make_campaign(jurisdiction, starts_on, *, days=30, name="2026年代表集中走访月"):
    campaign = VisitCampaign(name=name, jurisdiction=jurisdiction, starts_on=starts_on,
                             ends_on=starts_on + timedelta(days=days))
    db.session.add(campaign)
    db.session.commit()
    return campaign


def pair(campaign, deputy, enterprise, *, lead=True):
    db.session.add(Pairing(campaign=campaign, deputy=deputy, enterprise=enterprise, is_lead=lead))
    db.session.commit()


def make_reception_day(station, held_on, deputies=()):
    day = ReceptionDay(station=station, held_on=held_on, deputies=list(deputies))
    db.session.add(day)
    db.session.commit()
    return day


def add_photo(visit):
    from liaison_app.services.photos import ProcessedPhoto, photo_columns, write_photo

    photo = ProcessedPhoto(data=image_bytes(), width=64, height=48)
    row = VisitPhoto(visit=visit, **photo_columns(photo, write_photo(photo)))
    db.session.add(row)
    db.session.commit()
    return row


def card_of(page, enterprise):
    match = re.search(rf'<article class="card pairing[^"]*" id="enterprise-{enterprise.id}-pairing">(.*?)</article>',
                      page, re.S)
    assert match, enterprise.name
    return match.group(0)
