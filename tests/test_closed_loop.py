"""The closed loop through the services: each transition allowed and forbidden per role."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from liaison_app import access
from liaison_app.extensions import db
from liaison_app.models import Notification, NotificationChannel, NotificationKind, Outcome, Rating, Request, Role
from liaison_app.services import workflow as wf
from liaison_app.services.requests import StaleVersion
from liaison_app.workdays import add_working_days, today_local
from liaison_app.workflow import Action, ForbiddenActor, Status, WorkflowError
from tests.factories import Tree, make_deputy, make_request, make_user


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def req(tree):
    return make_request(deputy=tree.deputy)


def fresh(req) -> Request:
    db.session.expire_all()
    return db.session.get(Request, req.id)


def visible_ids(user) -> set[int]:
    return set(db.session.scalars(access.visible_requests(user).with_only_columns(Request.id)))


def test_the_addressed_deputy_claims_and_a_second_claim_is_told_who_won(tree, req):
    wf.claim_request(req, actor=tree.deputy_user)

    req = fresh(req)
    assert (req.status, req.claimant_id) == (Status.CLAIMED, tree.deputy_user.id)
    assert req.events[-1].action is Action.CLAIM and req.events[-1].actor_user_id == tree.deputy_user.id
    with pytest.raises(wf.AlreadyClaimed, match="顾振华"):
        wf.claim_request(req, actor=tree.colleague_user)
    assert fresh(req).claimant_id == tree.deputy_user.id


@pytest.mark.parametrize("who", ["outsider_user", "unit", "county_staff"])
def test_only_the_holders_of_the_queue_may_claim(tree, req, who):
    user = {"outsider_user": tree.outsider_user, "unit": tree.officers["township"],
            "county_staff": tree.staff["county"]}[who]

    with pytest.raises(ForbiddenActor):
        wf.claim_request(req, actor=user)
    assert fresh(req).status is Status.SUBMITTED


def test_station_colleagues_and_township_staff_may_claim(tree):
    for user in (tree.colleague_user, tree.staff["township"]):
        req = make_request(deputy=tree.deputy)
        wf.claim_request(req, actor=user)
        assert fresh(req).claimant_id == user.id


def test_the_whole_loop_assign_acknowledge_respond_accept_rate(tree, req):
    officer, department = tree.officers["township"], tree.departments["township"]
    wf.claim_request(req, actor=tree.deputy_user)
    wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, department=department)
    assigned = fresh(req)
    assert assigned.status is Status.ASSIGNED
    assert assigned.due_on == add_working_days(today_local(), 7)  # the clock starts at assignment

    wf.acknowledge(assigned, actor=officer, version=assigned.version)
    wf.respond(fresh(req), actor=officer, version=fresh(req).version, outcome=Outcome.SOLVED,
               text="已协调转贷基金 300 万元。")
    assert fresh(req).status is Status.REPLIED
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)
    assert fresh(req).status is Status.AWAITING_RATING
    wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.SATISFIED)

    done = fresh(req)
    assert (done.status, done.rating, done.outcome) == (Status.CLOSED, Rating.SATISFIED, Outcome.SOLVED)
    assert [e.action for e in done.events] == [
        Action.FILE, Action.CLAIM, Action.ASSIGN, Action.ACKNOWLEDGE, Action.RESPOND, Action.ACCEPT, Action.RATE]
    for before, after in zip(done.events, done.events[1:]):
        assert after.from_status is before.to_status


def test_a_department_of_another_level_cannot_be_assigned(tree, req):
    wf.claim_request(req, actor=tree.deputy_user)

    with pytest.raises(wf.InvalidInput):
        wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version,
                          department=tree.departments["county"])
    assert fresh(req).status is Status.CLAIMED


def assigned_request(tree):
    req = make_request(deputy=tree.deputy)
    wf.claim_request(req, actor=tree.deputy_user)
    wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version,
                      department=tree.departments["township"])
    return fresh(req)


def test_only_officers_of_that_department_acknowledge(tree):
    req = assigned_request(tree)

    for user in (tree.officers["county"], tree.deputy_user, tree.staff["township"]):
        with pytest.raises(ForbiddenActor):
            wf.acknowledge(req, actor=user, version=req.version)
    assert fresh(req).status is Status.ASSIGNED


def test_a_department_returns_at_most_twice_then_only_staff_reassign(tree):
    req = assigned_request(tree)
    officer, department = tree.officers["township"], tree.departments["township"]

    wf.return_request(req, actor=officer, version=req.version, reason="不属于本单位职责")
    assert (fresh(req).status, fresh(req).department_id) == (Status.CLAIMED, None)
    wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, department=department)
    wf.return_request(fresh(req), actor=officer, version=fresh(req).version, reason="仍不属于")
    assert fresh(req).return_count == 2

    with pytest.raises(ForbiddenActor):
        wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, department=department)
    wf.assign_request(fresh(req), actor=tree.staff["township"], version=fresh(req).version, department=department)
    with pytest.raises(ForbiddenActor):
        wf.return_request(fresh(req), actor=officer, version=fresh(req).version, reason="第三次")
    assert fresh(req).status is Status.ASSIGNED


def test_escalated_twice_and_answered_from_the_top(tree, req):
    county_deputy = make_user(Role.DEPUTY, deputy=make_deputy(name="县级代表", congress_jurisdiction=tree.county))
    wf.claim_request(req, actor=tree.deputy_user)
    wf.escalate_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, reason="涉及县级规划审批")
    at_county = fresh(req)
    assert (at_county.status, at_county.jurisdiction_id, at_county.claimant_id) == (
        Status.SUBMITTED, tree.county.id, None)

    assert Action.CLAIM in access.allowed(county_deputy, at_county)  # the county's deputies may take it up
    wf.claim_request(at_county, actor=tree.staff["county"])
    wf.escalate_request(fresh(req), actor=tree.staff["county"], version=fresh(req).version, reason="需市级协调")
    wf.claim_request(fresh(req), actor=tree.staff["city"])
    wf.answer_request(fresh(req), actor=tree.staff["city"], version=fresh(req).version,
                      outcome=Outcome.EXPLAINED, text="依据市级政策作出解释。")

    top = fresh(req)
    assert (top.status, top.jurisdiction_id) == (Status.REPLIED, tree.city.id)
    levels = [e.jurisdiction_id for e in top.events if e.action in (Action.FILE, Action.ESCALATE)]
    assert levels == [tree.township.id, tree.county.id, tree.city.id]  # the trail shows every level
    # the deputy it came from still sees it, but cannot act any more
    assert req.id in visible_ids(tree.deputy_user)
    assert access.allowed(tree.deputy_user, top) == []
    # the levels it passed through keep sight of it, read only; the province's staff see it too
    for level in ("township", "county"):
        assert req.id in visible_ids(tree.staff[level])
        assert access.allowed(tree.staff[level], top) == []
    assert req.id in visible_ids(tree.staff["province"])
    # the county's deputies, whose level it passed through, keep it in sight, read only
    assert req.id in visible_ids(county_deputy) and access.allowed(county_deputy, top) == []
    # and they hear of its result (通报), so that the station can tell the enterprise
    wf.accept_answer(top, actor=tree.staff["city"], version=top.version)
    told = {n.recipient_user_id for n in db.session.scalars(sa.select(Notification).where(
        Notification.request_id == req.id, Notification.kind == NotificationKind.OUTCOME,
        Notification.channel == NotificationChannel.INBOX))}
    assert {tree.staff["township"].id, tree.staff["county"].id, tree.deputy_user.id} <= told
    assert tree.staff["city"].id not in told


def test_the_higher_level_sends_it_back_down_where_it_came_from(tree, req):
    wf.claim_request(req, actor=tree.deputy_user)
    wf.escalate_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, reason="超出权限")

    wf.send_down(fresh(req), actor=tree.staff["county"], version=fresh(req).version, reason="属于镇级事权")

    back = fresh(req)
    assert (back.status, back.jurisdiction_id) == (Status.SUBMITTED, tree.township.id)
    wf.claim_request(back, actor=tree.deputy_user)  # the station's deputies hold it again


def test_nothing_is_above_the_province(tree):
    req = make_request(station=tree.station, jurisdiction=tree.province)
    wf.claim_request(req, actor=tree.staff["province"])

    assert Action.ESCALATE not in access.allowed(tree.staff["province"], fresh(req))
    with pytest.raises(WorkflowError):
        wf.escalate_request(fresh(req), actor=tree.staff["province"], version=fresh(req).version, reason="x")


def test_an_unsatisfied_rating_reopens_to_the_same_people_under_supervision(tree):
    req = assigned_request(tree)
    officer = tree.officers["township"]
    wf.acknowledge(req, actor=officer, version=req.version)
    wf.respond(fresh(req), actor=officer, version=fresh(req).version, outcome=Outcome.SOLVED, text="已处理")
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)

    with pytest.raises(wf.InvalidInput):
        wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.UNSATISFIED, comment=" ")
    wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.UNSATISFIED, comment="路面仍未修复")

    again = fresh(req)
    assert again.status is Status.IN_PROGRESS
    assert (again.claimant_id, again.department_id) == (tree.deputy_user.id, tree.departments["township"].id)
    assert again.is_supervised and again.rating is Rating.UNSATISFIED
    assert again.due_on == add_working_days(today_local(), 7)


def test_unsatisfied_with_a_direct_answer_goes_back_to_the_claimant(tree, req):
    wf.claim_request(req, actor=tree.deputy_user)
    wf.answer_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version,
                      outcome=Outcome.EXPLAINED, text="政策解释")
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)

    wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.UNSATISFIED, comment="解释不清")

    assert (fresh(req).status, fresh(req).claimant_id) == (Status.CLAIMED, tree.deputy_user.id)


def test_no_rating_within_seven_days_closes_as_unrated(tree, req):
    wf.claim_request(req, actor=tree.deputy_user)
    wf.answer_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version,
                      outcome=Outcome.SOLVED, text="已解决")
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)

    assert wf.close_unrated(today_local() + timedelta(days=7)) == 0
    assert wf.close_unrated(today_local() + timedelta(days=8)) == 1

    closed = fresh(req)
    assert (closed.status, closed.rating) == (Status.CLOSED, Rating.UNRATED)
    assert closed.events[-1].action is Action.AUTO_CLOSE


def test_one_extension_the_enterprise_can_see(tree):
    req = assigned_request(tree)
    officer = tree.officers["township"]
    wf.acknowledge(req, actor=officer, version=req.version)
    until = fresh(req).due_on + timedelta(days=10)

    wf.request_extension(fresh(req), actor=officer, version=fresh(req).version, until=until, reason="需现场勘查")
    assert fresh(req).events[-1].is_public
    with pytest.raises(ForbiddenActor):
        wf.decide_extension(fresh(req), actor=tree.deputy_user, version=fresh(req).version, approve=True)
    wf.decide_extension(fresh(req), actor=tree.staff["township"], version=fresh(req).version, approve=True)

    assert fresh(req).due_on == until
    assert Action.REQUEST_EXTENSION not in access.allowed(officer, fresh(req))


def test_staff_of_the_same_or_a_higher_level_remind_and_supervise(tree, req):
    wf.remind(req, actor=tree.staff["county"], note="请尽快认领")
    wf.supervise(fresh(req), actor=tree.staff["city"], key=True, note="列入重点督办")

    flagged = fresh(req)
    assert flagged.is_supervised and flagged.is_key_supervision
    assert [e.is_public for e in flagged.events[-2:]] == [False, False]
    with pytest.raises(ForbiddenActor):
        wf.remind(fresh(req), actor=tree.deputy_user)


def test_staff_reopen_a_closed_request(tree, req):
    wf.reject_request(req, actor=tree.staff["township"], version=req.version, reason="不属于受理范围")
    assert fresh(req).status is Status.CLOSED
    with pytest.raises(ForbiddenActor):
        wf.reopen_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, reason="x")

    wf.reopen_request(fresh(req), actor=tree.staff["county"], version=fresh(req).version, reason="企业补充了材料")

    assert (fresh(req).status, fresh(req).is_supervised) == (Status.SUBMITTED, True)


def test_a_stale_version_changes_nothing(tree, req):
    wf.claim_request(req, actor=tree.deputy_user)
    stale = fresh(req).version - 1

    with pytest.raises(StaleVersion):
        wf.escalate_request(fresh(req), actor=tree.deputy_user, version=stale, reason="x")
    assert (fresh(req).status, fresh(req).jurisdiction_id) == (Status.CLAIMED, tree.township.id)


def test_a_unit_sees_only_its_departments_requests(tree):
    req = assigned_request(tree)
    other = make_request(deputy=tree.deputy)

    assert visible_ids(tree.officers["township"]) == {req.id}
    assert visible_ids(tree.officers["county"]) == set()
    assert {req.id, other.id} <= visible_ids(tree.deputy_user)
    assert visible_ids(tree.outsider_user) == set()


def test_the_close_unrated_command_for_cron(tree, req, runner):
    wf.claim_request(req, actor=tree.deputy_user)
    wf.answer_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, outcome=Outcome.SOLVED,
                      text="已解决")
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)
    fresh(req).rating_due_on = today_local() - timedelta(days=1)
    db.session.commit()

    result = runner.invoke(args=["close-unrated"])

    assert result.exit_code == 0 and "1 request(s) closed" in result.output
    assert (fresh(req).status, fresh(req).rating) == (Status.CLOSED, Rating.UNRATED)
