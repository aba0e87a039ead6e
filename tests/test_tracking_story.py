"""The enterprise's tracking page tells one consistent story (what happened, who has it, by
when), and every deadline change is an event on the trail that says old -> new and why."""

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Outcome, Rating, Request
from liaison_app.services import workflow as wf
from liaison_app.workdays import Deadline, add_working_days, claim_due_on, response_due_on, today_local
from liaison_app.workflow import Action, Status
from tests.factories import Tree, make_department, make_qr_code, make_request
from tests.test_desk import login
from tests.test_filing import form_data


@pytest.fixture
def tree(app):
    return Tree()


def fresh(req) -> Request:
    db.session.expire_all()
    return db.session.get(Request, req.id)


def day(value) -> str:
    return value.strftime("%Y-%m-%d")


def claimed(tree) -> Request:
    req = make_request(deputy=tree.deputy)
    wf.claim_request(req, actor=tree.deputy_user)
    return fresh(req)


def assigned(tree, due_on=None) -> Request:
    req = claimed(tree)
    wf.assign_request(req, actor=tree.deputy_user, version=req.version, department=tree.departments["township"],
                      due_on=due_on)
    return fresh(req)


def awaiting_rating(tree, due_on=None, answer="已协调银行续贷，过桥资金本周到位。") -> Request:
    req = assigned(tree, due_on)
    officer = tree.officers["township"]
    wf.acknowledge(req, actor=officer, version=req.version)
    wf.respond(fresh(req), actor=officer, version=fresh(req).version, outcome=Outcome.SOLVED, text=answer)
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)
    return fresh(req)


def tracking_page(client, req, lang="") -> str:
    response = client.get(f"/t/{req.tracking_token}" + (f"?lang={lang}" if lang else ""))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def card_page(client, user, req) -> str:
    login(client, user)
    response = client.get(f"/desk/requests/{req.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- the rating comes first ------------------------------------------------------------------------


def test_when_a_rating_is_due_the_answer_and_the_rating_come_right_under_the_status(client, tree):
    req = awaiting_rating(tree)

    page = tracking_page(client, req)

    order = [page.index(text) for text in (
        "已答复，请评价", "答复内容", "已协调银行续贷，过桥资金本周到位。", 'name="rating"', "诉求内容", "请保存此链接",
        "办理进度")]
    assert order == sorted(order)
    assert "沙溪镇住建局" in page[order[1]:order[2]]  # who answered


def test_without_a_rating_due_there_is_no_answer_box_and_no_rating_form(client, tree):
    page = tracking_page(client, assigned(tree))

    assert "答复内容" not in page and 'name="rating"' not in page


# --- deadline changes are events -------------------------------------------------------------------


def test_an_unsatisfied_rating_keeps_the_deadline_the_deputy_set_and_says_so_on_both_trails(client, tree):
    set_by_deputy = add_working_days(today_local(), 20)
    req = awaiting_rating(tree, due_on=set_by_deputy)

    wf.rate_request(req, version=req.version, rating=Rating.UNSATISFIED, comment="补贴只到了一半。")

    req = fresh(req)
    event = req.events[-1]
    assert (event.action, event.deadline, event.due_before, event.due_after) == (
        Action.REOPEN_UNSATISFIED, Deadline.RESPONSE, set_by_deputy, set_by_deputy)
    assert (req.status, req.due_on) == (Status.IN_PROGRESS, set_by_deputy)
    expected = f"答复期限不变：{day(set_by_deputy)}"
    assert expected in card_page(client, tree.deputy_user, req)
    assert expected in tracking_page(client, req)


def test_an_unsatisfied_rating_after_a_short_deadline_moves_it_and_the_trail_says_old_to_new(client, tree):
    short = add_working_days(today_local(), 1)
    req = awaiting_rating(tree, due_on=short)

    wf.rate_request(req, version=req.version, rating=Rating.UNSATISFIED, comment="补贴只到了一半。")

    req = fresh(req)
    new = response_due_on(today_local())
    event = req.events[-1]
    assert (event.due_before, event.due_after, req.due_on) == (short, new, new)
    card = card_page(client, tree.deputy_user, req)
    line = f"答复期限：{day(short)} → {day(new)}"
    assert line in card
    # Why: the line sits under the reopening it belongs to.
    assert card.index("企业不满意，重新办理") < card.index(line) < card.rindex("补贴只到了一半。")
    assert line in tracking_page(client, req)


def test_an_approved_extension_moves_the_deadline_and_the_enterprise_sees_it(client, tree):
    req = assigned(tree)
    first_due = req.due_on
    later = add_working_days(first_due, 5)
    officer = tree.officers["township"]
    wf.acknowledge(req, actor=officer, version=req.version)
    wf.request_extension(fresh(req), actor=officer, version=fresh(req).version, until=later,
                         reason="需等待省厅批复。")

    wf.decide_extension(fresh(req), actor=tree.staff["township"], version=fresh(req).version, approve=True)

    req = fresh(req)
    event = req.events[-1]
    assert (event.action, event.deadline, event.due_before, event.due_after) == (
        Action.DECIDE_EXTENSION, Deadline.RESPONSE, first_due, later)
    line = f"答复期限：{day(first_due)} → {day(later)}"
    assert line in card_page(client, tree.deputy_user, req)
    page = tracking_page(client, req)
    assert "同意延期" in page and line in page
    assert f"答复期限</dt><dd>{day(later)}" in page and f"已延期，原为 {day(first_due)}" in page


def test_a_refused_extension_changes_no_deadline(tree):
    req = assigned(tree)
    officer = tree.officers["township"]
    wf.acknowledge(req, actor=officer, version=req.version)
    wf.request_extension(fresh(req), actor=officer, version=fresh(req).version,
                         until=add_working_days(req.due_on, 5), reason="需等待省厅批复。")

    wf.decide_extension(fresh(req), actor=tree.staff["township"], version=fresh(req).version, approve=False)

    event = fresh(req).events[-1]
    assert (event.deadline, fresh(req).due_on) == (None, req.due_on)


def test_every_stored_deadline_that_changes_is_on_an_event(tree):
    """Walk a request through filing, assignment, a return, reassignment, escalation and
    sending down: the last event that names each deadline holds the request's current date."""
    req = assigned(tree)
    wf.return_request(req, actor=tree.officers["township"], version=req.version, reason="不属于本单位职责")
    wf.escalate_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, reason="需县级协调")
    wf.claim_request(fresh(req), actor=tree.staff["county"])
    wf.assign_request(fresh(req), actor=tree.staff["county"], version=fresh(req).version,
                      department=tree.departments["county"])

    req = fresh(req)
    for deadline, column in ((Deadline.CLAIM, "claim_due_on"), (Deadline.RESPONSE, "due_on")):
        last = [e for e in req.events if e.deadline is deadline][-1]
        assert last.due_after == getattr(req, column)
    assert [(e.action, e.deadline) for e in req.events if e.deadline] == [
        (Action.ASSIGN, Deadline.RESPONSE), (Action.RETURN, Deadline.RESPONSE),
        (Action.ESCALATE, Deadline.CLAIM), (Action.ASSIGN, Deadline.RESPONSE)]


def test_a_filing_sets_its_claim_deadline_on_its_first_event(client):
    code = make_qr_code()
    assert client.post(f"/q/{code.token}/file", data=form_data()).status_code == 303

    req = db.session.scalars(sa.select(Request)).one()
    filed = req.events[0]
    assert (filed.action, filed.deadline, filed.due_before, filed.due_after) == (
        Action.FILE, Deadline.CLAIM, None, claim_due_on(today_local()))
    assert f"认领期限：{day(req.claim_due_on)}" in tracking_page(client, req)


# --- withdraw, returns, who has it and by when ------------------------------------------------------


def test_withdraw_is_not_offered_once_a_deputy_took_it_up_even_when_it_waits_in_a_queue_again(client, tree):
    req = claimed(tree)
    wf.escalate_request(req, actor=tree.deputy_user, version=req.version, reason="需县级协调")
    req = fresh(req)
    assert req.status is Status.SUBMITTED  # waiting at the county, as a new request would

    page = tracking_page(client, req)
    assert "/withdraw" not in page and "撤回" not in page

    response = client.post(f"/t/{req.tracking_token}/withdraw", data={"version": req.version})
    assert response.status_code == 409
    assert "代表已认领此诉求，不能再撤回" in response.get_data(as_text=True)
    assert fresh(req).status is Status.SUBMITTED


def test_withdraw_is_offered_before_any_claim(client, tree):
    page = tracking_page(client, make_request(deputy=tree.deputy))

    assert "/withdraw" in page


def test_a_return_is_told_in_public_words_between_the_two_assignments(client, tree):
    req = assigned(tree)
    wf.return_request(req, actor=tree.officers["township"], version=req.version,
                      reason="经办人李某某：本局不管这个，找应急局")
    other = make_department(name="沙溪镇应急管理办", jurisdiction=tree.township)
    wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, department=other)

    page = tracking_page(client, fresh(req))

    first = page.index("已交办至 沙溪镇住建局")
    returned = page.index("认为不属本单位职责，已退回，将重新交办")
    second = page.index("已交办至 沙溪镇应急管理办")
    assert first < returned < second
    assert "李某某" not in page  # the officer's internal note stays on the desk
    assert "李某某" in card_page(client, tree.deputy_user, fresh(req))


def test_the_enterprise_sees_who_has_it_and_the_response_deadline(client, tree):
    req = assigned(tree)

    page = tracking_page(client, req)

    assert "当前办理</dt><dd>沙溪镇住建局" in page
    assert f"答复期限</dt><dd>{day(req.due_on)}" in page
    assert f"答复期限：{day(req.due_on)}" in page  # on the assignment's line of the trail too


def test_an_escalated_trail_shows_each_levels_claim_deadline_and_the_time_spent_there(client, tree):
    req = claimed(tree)
    wf.escalate_request(req, actor=tree.deputy_user, version=req.version, reason="需县级协调")
    req = fresh(req)

    for page in (card_page(client, tree.deputy_user, req), tracking_page(client, req)):
        assert f"认领期限：{day(claim_due_on(today_local()))}" in page
        assert "在 沙溪镇人大 停留 不到 1 天" in page
        assert "起在 太仓市人大常委会，已 不到 1 天" in page


def test_the_story_reads_in_english_too(client, tree):
    req = assigned(tree)

    page = tracking_page(client, req, lang="en")

    assert f"Response deadline</dt><dd>{day(req.due_on)}" in page
    assert f"Response deadline: {day(req.due_on)}" in page
    assert "Held by" in page


# --- the form to add information ----------------------------------------------------------------------


def test_add_information_is_said_once_and_still_labels_the_textarea(client, tree):
    page = tracking_page(client, make_request(deputy=tree.deputy))

    assert page.count("补充情况") == 1
    assert '<label for="text">补充情况' in page and 'id="text"' in page
