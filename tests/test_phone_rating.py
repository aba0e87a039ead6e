"""电话回访: staff call the enterprise and record its rating. It counts like the enterprise's
own (满意 closes, 不满意 reopens), is marked on the trail with who called and when, and the
satisfaction figures say how many ratings were taken by phone."""

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from liaison_app import access
from liaison_app.extensions import db
from liaison_app.models import Outcome, PhoneRating, Rating, Request, RequestEvent
from liaison_app.services import stats
from liaison_app.services import workflow as wf
from liaison_app.workdays import CHINA, now_local, today_local
from liaison_app.workflow import Action, Actor, Status
from tests.factories import Tree, make_request
from tests.test_access_matrix import claimed, fresh, replied
from tests.test_desk import login


@pytest.fixture
def tree(app):
    return Tree()


def awaiting_rating(tree, *, directly=False) -> Request:
    """Answered by the township's department (or by the deputy directly) and accepted."""
    if directly:
        req = claimed(tree)
        wf.answer_request(req, actor=tree.deputy_user, version=req.version, outcome=Outcome.SOLVED, text="已当场解决")
        req = fresh(req)
    else:
        req = replied(tree)
    wf.accept_answer(req, actor=tree.deputy_user, version=req.version)
    return fresh(req)


def local_minute(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M")


def call_form(req, *, rating="satisfied", called_at=None, comment="", person_reached=""):
    values = {"version": req.version, "rating": rating, "comment": comment, "person_reached": person_reached,
              "called_at": local_minute(now_local()) if called_at is None else called_at}
    return {f"phone_rating-{key}": value for key, value in values.items()}


def call(client, user, req, **values):
    login(client, user)
    return client.post(f"/desk/requests/{req.id}/phone_rating", data=call_form(req, **values))


def phone_ratings() -> list[PhoneRating]:
    db.session.commit()
    return db.session.scalars(sa.select(PhoneRating)).all()


# --- closes and reopens as the enterprise's rating does --------------------------------------------


def test_a_satisfied_answer_by_phone_closes_the_request_and_the_trail_says_who_called_when(app, client, tree):
    req = awaiting_rating(tree)
    req.replied_at = datetime.now() - timedelta(days=3)
    db.session.commit()
    yesterday = today_local() - timedelta(days=1)
    staff = tree.staff["township"]

    response = call(client, staff, req, called_at=f"{yesterday.isoformat()}T15:20", person_reached="王海燕")

    assert response.status_code == 303
    req = fresh(req)
    assert (req.status, req.rating, req.rated_by_phone) == (Status.CLOSED, Rating.SATISFIED, True)
    assert req.closed_at is not None
    event = req.events[-1]
    assert (event.action, event.actor_kind, event.actor_user_id) == (Action.RATE, Actor.STAFF, staff.id)
    (rating,) = phone_ratings()
    assert (rating.event_id, rating.request_id, rating.called_by_id) == (event.id, req.id, staff.id)
    assert rating.called_at == datetime(yesterday.year, yesterday.month, yesterday.day, 7, 20)  # 15:20 in China
    assert (rating.person_reached, rating.rating) == ("王海燕", Rating.SATISFIED)

    card = client.get(f"/desk/requests/{req.id}").get_data(as_text=True)
    assert f"电话回访：满意（沙溪镇工作人员 于 {yesterday.isoformat()} 15:20 回访，接听人：王海燕）" in card
    tracking = app.test_client().get(f"/t/{req.tracking_token}").get_data(as_text=True)
    assert "电话回访：满意" in tracking and "沙溪镇工作人员" not in tracking and "王海燕" not in tracking


@pytest.mark.parametrize("directly,reopened_to", [(False, Action.REOPEN_UNSATISFIED), (True, Action.REOPEN_TO_CLAIMANT)],
                         ids=["to the department", "to the deputy who answered"])
def test_unsatisfied_by_phone_reopens_exactly_as_the_enterprises_own_rating(client, tree, directly, reopened_to):
    by_enterprise, by_phone = awaiting_rating(tree, directly=directly), awaiting_rating(tree, directly=directly)
    wf.rate_request(by_enterprise, version=by_enterprise.version, rating=Rating.UNSATISFIED, comment="补贴还没到账")

    response = call(client, tree.staff["county"], by_phone, rating="unsatisfied", comment="补贴还没到账")

    assert response.status_code == 303
    columns = ("status", "claimant_id", "department_id", "is_supervised", "outcome", "replied_at", "rating_due_on",
               "due_on", "rating", "rating_comment", "closed_at")
    enterprise, phone = fresh(by_enterprise), fresh(by_phone)
    assert {c: getattr(phone, c) for c in columns} == {c: getattr(enterprise, c) for c in columns}
    assert phone.status is (Status.CLAIMED if directly else Status.IN_PROGRESS) and phone.is_supervised
    assert (phone.events[-1].action, enterprise.events[-1].action) == (reopened_to, reopened_to)
    assert (phone.rated_by_phone, enterprise.rated_by_phone) == (True, False)
    card = client.get(f"/desk/requests/{phone.id}").get_data(as_text=True)
    assert "电话回访：不满意，重新办理（太仓市工作人员 于" in card and "补贴还没到账" in card


def test_the_enterprises_own_rating_after_a_reopening_is_not_counted_as_by_phone(client, tree):
    req = awaiting_rating(tree)
    call(client, tree.staff["township"], req, rating="unsatisfied", comment="补贴还没到账")
    req = fresh(req)
    wf.respond(req, actor=tree.officers["township"], version=req.version, outcome=Outcome.SOLVED, text="已到账")
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)

    wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.SATISFIED)

    assert (fresh(req).rating, fresh(req).rated_by_phone) == (Rating.SATISFIED, False)
    period = stats.Period(today_local() - timedelta(days=1), today_local())
    totals = stats.dashboard(access.subtree_ids(tree.county.id), period).totals
    assert (totals.satisfied, totals.rated_by_phone) == (1, 0)


def test_with_htmx_the_card_comes_back_with_the_notice(client, tree, htmx):
    req = awaiting_rating(tree)
    login(client, tree.staff["township"])

    response = client.post(f"/desk/requests/{req.id}/phone_rating", data=call_form(req), headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 200 and page.lstrip().startswith(f'<article id="request-{req.id}-card"')
    assert "电话回访已记录。" in page and fresh(req).status is Status.CLOSED


# --- refusals: nothing is written --------------------------------------------------------------------


def assert_nothing_written(req):
    assert fresh(req).version == req.version and fresh(req).status is Status.AWAITING_RATING
    assert phone_ratings() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestEvent)
                             .where(RequestEvent.request_id == req.id)) == len(req.events)


def test_a_call_in_the_future_is_refused_with_the_form_kept(client, tree):
    req = awaiting_rating(tree)
    later = local_minute(now_local() + timedelta(hours=2))

    response = call(client, tree.staff["township"], req, called_at=later, person_reached="王海燕")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "回访时间不能晚于现在。" in page
    assert f'value="{later}"' in page and 'value="王海燕"' in page
    assert_nothing_written(req)


def test_a_call_before_the_answer_is_refused(client, tree):
    req = awaiting_rating(tree)
    req.replied_at = datetime.now() - timedelta(days=2)
    db.session.commit()

    response = call(client, tree.staff["township"], req, called_at=local_minute(now_local() - timedelta(days=3)))

    assert response.status_code == 422
    assert "回访时间不能早于答复时间。" in response.get_data(as_text=True)
    assert_nothing_written(req)


@pytest.mark.parametrize("values,message", [
    ({"rating": "unsatisfied", "comment": ""}, "请说明还有哪些问题没有解决。"),
    ({"rating": ""}, "请选择评价。"),
    ({"called_at": ""}, "请填写回访的日期和时间。"),
])
def test_an_incomplete_call_comes_back_with_a_chinese_message(client, tree, values, message):
    req = awaiting_rating(tree)

    response = call(client, tree.staff["township"], req, **values)

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert_nothing_written(req)


@pytest.mark.parametrize("who", ["deputy", "township_unit"])
def test_a_deputy_or_a_unit_officer_cannot_record_a_phone_rating(client, tree, who):
    req = awaiting_rating(tree)
    user = tree.deputy_user if who == "deputy" else tree.officers["township"]  # the claimant; the department

    response = call(client, user, req)

    assert response.status_code == 403
    assert_nothing_written(req)
    assert "phone_rating" not in client.get(f"/desk/requests/{req.id}").get_data(as_text=True)


def test_the_phone_form_is_on_staff_cards_only_while_the_request_awaits_its_rating(client, tree):
    waiting, open_one = awaiting_rating(tree), make_request(deputy=tree.deputy)
    login(client, tree.staff["county"])

    card = client.get(f"/desk/requests/{waiting.id}").get_data(as_text=True)
    assert f'action="/desk/requests/{waiting.id}/phone_rating"' in card
    assert re.search(r'type="datetime-local" value="\d{4}-\d\d-\d\dT\d\d:\d\d"', card)  # now, in China
    assert "phone_rating" not in client.get(f"/desk/requests/{open_one.id}").get_data(as_text=True)


def test_oversight_links_to_the_requests_awaiting_a_rating(client, tree):
    waiting, open_one = awaiting_rating(tree), make_request(deputy=tree.deputy)
    login(client, tree.staff["county"])

    home = client.get("/oversight/").get_data(as_text=True)
    link = re.search(r'href="(/desk/\?[^"]*status=awaiting_rating[^"]*)"', home).group(1).replace("&amp;", "&")
    listed = client.get(link).get_data(as_text=True)

    assert waiting.reference in listed and open_one.reference not in listed


# --- the figures --------------------------------------------------------------------------------------


def test_ratings_by_phone_count_in_the_satisfaction_figures_and_are_counted_apart(client, tree):
    by_enterprise, mostly, unsatisfied = (awaiting_rating(tree) for _ in range(3))
    wf.rate_request(by_enterprise, version=by_enterprise.version, rating=Rating.SATISFIED)
    call(client, tree.staff["township"], mostly, rating="mostly_satisfied")
    call(client, tree.staff["township"], unsatisfied, rating="unsatisfied", comment="补贴还没到账")

    period = stats.Period(today_local() - timedelta(days=1), today_local())
    totals = stats.dashboard(access.subtree_ids(tree.county.id), period).totals
    assert (totals.satisfied, totals.mostly_satisfied, totals.unsatisfied, totals.rated_by_phone) == (1, 1, 1, 2)
    assert totals.satisfaction_rate == pytest.approx(200 / 3)

    login(client, tree.staff["county"])
    page = client.get(f"/oversight/dashboard?from={period.start}&to={period.end}").get_data(as_text=True)
    assert re.search(r'id="kpi-rated-by-phone"[^>]*><dt>其中电话回访</dt><dd>2</dd>', page)
    public_list = client.get("/oversight/lists/public").get_data(as_text=True)
    assert "基本满意（电话回访）" in public_list and f"{by_enterprise.reference}" in public_list
