"""Supervision (督办): overdue items per level, reminders, key supervision, cases (并案)
and typical cases (典型案例), through the services and over HTTP."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import (
    Notification, NotificationChannel, NotificationKind, Outcome, Rating, Request, RequestCase, Role, utcnow,
)
from liaison_app.services import supervision as sv
from liaison_app.services import workflow as wf
from liaison_app.services.supervision import OverdueKind
from liaison_app.services.workflow import InvalidInput
from liaison_app.workdays import acknowledge_due_on, add_working_days, today_local
from liaison_app.workflow import TRANSITIONS, Action, Actor, ForbiddenActor, InvalidTransition, Status
from tests.factories import Tree, make_jurisdiction, make_request, make_station, make_user
from tests.test_desk import login


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def far_staff(app):
    """Liaison staff of another county, with a request of their own."""
    wanan = make_jurisdiction(name="万安县", division_code="360828")
    return make_user(Role.STAFF, jurisdiction=wanan, display_name="万安县工作人员")


def fresh(req) -> Request:
    db.session.expire_all()
    return db.session.get(Request, req.id)


def changed(req, **values) -> Request:
    """Move a request's dates into the past (or set any column) as if time had passed."""
    req = fresh(req)
    for name, value in values.items():
        setattr(req, name, value)
    db.session.commit()
    return fresh(req)


def assigned(tree) -> Request:
    req = make_request(deputy=tree.deputy)
    wf.claim_request(req, actor=tree.deputy_user)
    wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version,
                      department=tree.departments["township"])
    return fresh(req)


def in_progress(tree) -> Request:
    req = assigned(tree)
    wf.acknowledge(req, actor=tree.officers["township"], version=req.version)
    return fresh(req)


def closed(tree, outcome: Outcome = Outcome.SOLVED) -> Request:
    req = in_progress(tree)
    wf.respond(req, actor=tree.officers["township"], version=req.version, outcome=outcome, text="已协调解决")
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)
    wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.SATISFIED)
    return fresh(req)


def events(req, action: Action):
    return [e for e in fresh(req).events if e.action is action]


def days_ago(days: int):
    return utcnow() - timedelta(days=days)


def rows_by_kind(level) -> dict:
    return {kind: [(row.request.reference, row.days_overdue) for row in rows] for kind, rows in level.rows.items()}


# --- the overdue board ----------------------------------------------------------------------------


def test_the_board_shows_the_three_kinds_of_lateness_per_level_with_their_age(tree):
    today = today_local()
    late_claim = make_request(deputy=tree.deputy, claim_due_on=today - timedelta(days=3))
    late_acknowledgement = changed(assigned(tree), assigned_at=days_ago(14))
    late_answer = changed(in_progress(tree), due_on=today - timedelta(days=2))
    late_twice = changed(assigned(tree), assigned_at=days_ago(14), due_on=today - timedelta(days=1))
    make_request(deputy=tree.deputy)  # on time
    changed(assigned(tree), assigned_at=days_ago(0))  # assigned today: not late yet
    escalated = make_request(deputy=tree.deputy)
    wf.claim_request(escalated, actor=tree.deputy_user)
    wf.escalate_request(fresh(escalated), actor=tree.deputy_user, version=fresh(escalated).version, reason="超出镇级权限")
    escalated = changed(escalated, claim_due_on=today - timedelta(days=5))

    board = sv.overdue_board(tree.staff["county"])

    assert [level.jurisdiction.id for level in board] == [tree.county.id, tree.township.id]
    assert rows_by_kind(board[0])[OverdueKind.CLAIM] == [(escalated.reference, 5)]
    acknowledge_age = (today - add_working_days(sv.local_date(late_acknowledgement.assigned_at), 1)).days
    assert acknowledge_age > 0
    assert rows_by_kind(board[1]) == {
        OverdueKind.CLAIM: [(late_claim.reference, 3)],
        OverdueKind.ACKNOWLEDGE: [(late_acknowledgement.reference, acknowledge_age),
                                  (late_twice.reference, acknowledge_age)],
        OverdueKind.RESPONSE: [(late_answer.reference, 2), (late_twice.reference, 1)],
    }
    assert board[1].request_count == 4
    # The township's staff see their own level only.
    assert [level.jurisdiction.id for level in sv.overdue_board(tree.staff["township"])] == [tree.township.id]


def test_the_acknowledgement_deadline_counts_working_days_from_the_day_of_assignment(tree, app):
    req = changed(assigned(tree), assigned_at=days_ago(20))
    app.config["ACKNOWLEDGE_DUE_WORKING_DAYS"] = 3

    [row] = [r for r in sv.overdue_rows(sa.select(Request).where(Request.id == req.id), today_local())
             if r.kind is OverdueKind.ACKNOWLEDGE]

    assert row.due_on == add_working_days(sv.local_date(req.assigned_at), 3) == acknowledge_due_on(sv.local_date(req.assigned_at))


def test_the_board_takes_the_same_number_of_queries_however_many_rows(tree):
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def queries_for_board() -> int:
        db.session.commit()
        assert tree.staff["county"].role is Role.STAFF  # the user is loaded, the transaction begun
        statements.clear()
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            sv.overdue_board(tree.staff["county"])
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    changed(assigned(tree), assigned_at=days_ago(9), due_on=today_local() - timedelta(days=1))
    sv.overdue_board(tree.staff["county"])  # the jurisdiction subtree is cached per app context
    few = queries_for_board()
    for age in range(10, 16):
        changed(assigned(tree), assigned_at=days_ago(age), due_on=today_local() - timedelta(days=age % 3 + 1))
        make_request(deputy=tree.deputy, claim_due_on=today_local() - timedelta(days=age))
    wf.remind(fresh(make_request(deputy=tree.deputy, claim_due_on=today_local() - timedelta(days=2))),
              actor=tree.staff["county"])

    assert queries_for_board() == few


def test_the_overdue_page_shows_the_age_and_the_other_county_sees_none_of_it(client, tree, far_staff):
    late = make_request(deputy=tree.deputy, claim_due_on=today_local() - timedelta(days=3))
    login(client, tree.staff["county"])

    page = client.get("/oversight/overdue").get_data(as_text=True)

    assert late.reference in page and "超期 3 天" in page and "沙溪镇" in page
    login(client, far_staff)
    far_page = client.get("/oversight/overdue")
    assert far_page.status_code == 200 and late.reference not in far_page.get_data(as_text=True)


def test_the_board_names_each_deadline_of_a_request_late_twice(client, tree):
    """Not acknowledged and not answered in time: two rows, one 签收期限 and one 答复期限, never two
    rows under one 办理期限."""
    req = changed(assigned(tree), assigned_at=days_ago(30), due_on=today_local() - timedelta(days=2))
    login(client, tree.staff["county"])

    page = client.get("/oversight/overdue").get_data(as_text=True)

    acknowledge_due = acknowledge_due_on(sv.local_date(req.assigned_at))
    assert page.count(req.reference) == 2
    assert f"签收期限：{acknowledge_due:%Y-%m-%d}" in page
    assert f"答复期限：{req.due_on:%Y-%m-%d}" in page
    assert "办理期限" not in page
    english = client.get("/oversight/overdue?lang=en").get_data(as_text=True)
    assert "Acknowledgement deadline: " in english and "Response deadline: " in english


# --- reminders ---------------------------------------------------------------------------------------


def test_remind_in_one_tap_without_htmx_writes_the_event_queues_a_message_and_goes_back(client, tree):
    late = changed(in_progress(tree), due_on=today_local() - timedelta(days=2))
    login(client, tree.staff["county"])

    response = client.post(f"/oversight/requests/{late.id}/remind", data={"kind": "response"})

    assert response.status_code == 303 and response.headers["Location"].endswith("/oversight/overdue")
    [event] = events(late, Action.REMIND)
    assert event.actor_user_id == tree.staff["county"].id and not event.is_public
    # The department holds it: its officer, in their 消息 list, and named in the group message.
    reminded = db.session.scalars(sa.select(Notification).where(Notification.request_id == late.id,
                                                                Notification.kind == NotificationKind.REMINDED)).all()
    officer = tree.officers["township"]
    assert {(n.channel, n.recipient_user_id) for n in reminded} == {
        (NotificationChannel.INBOX, officer.id), (NotificationChannel.NOTIFIER, None)}
    assert next(n for n in reminded if n.channel is NotificationChannel.NOTIFIER).payload["recipient"] == (
        officer.display_name)


def test_remind_with_htmx_swaps_the_row_to_show_it_was_sent(client, tree, htmx):
    late = make_request(deputy=tree.deputy, claim_due_on=today_local() - timedelta(days=3))
    login(client, tree.staff["township"])

    response = client.post(f"/oversight/requests/{late.id}/remind", data={"kind": "claim"}, headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith(f'<li id="request-{late.id}-overdue-claim"')
    assert "已催办" in page and "超期 3 天" in page and "<html" not in page
    assert len(events(late, Action.REMIND)) == 1
    # Nobody is told twice by one tap: the deputy it was addressed to is also one of the station's,
    # who hold its queue with the township's staff; each gets one message, and one goes to the group.
    reminded = db.session.scalars(sa.select(Notification).where(
        Notification.request_id == late.id, Notification.kind == NotificationKind.REMINDED)).all()
    inbox = [n.recipient_user_id for n in reminded if n.channel is NotificationChannel.INBOX]
    assert sorted(inbox) == sorted([tree.deputy_user.id, tree.colleague_user.id, tree.staff["township"].id])
    assert [n.channel for n in reminded if n.channel is not NotificationChannel.INBOX] == [NotificationChannel.NOTIFIER]


def test_a_closed_request_cannot_be_reminded(client, tree, htmx):
    done = closed(tree)
    login(client, tree.staff["county"])

    response = client.post(f"/oversight/requests/{done.id}/remind", data={"kind": "response"}, headers=htmx)

    assert response.status_code == 409 and events(done, Action.REMIND) == []


def test_remind_all_at_a_level_once_a_day(client, tree, htmx):
    first = make_request(deputy=tree.deputy, claim_due_on=today_local() - timedelta(days=2))
    second = changed(in_progress(tree), due_on=today_local() - timedelta(days=4))
    login(client, tree.staff["county"])

    response = client.post(f"/oversight/overdue/levels/{tree.township.id}/remind")

    assert response.status_code == 303 and response.headers["Location"].endswith(f"#level-{tree.township.id}")
    assert len(events(first, Action.REMIND)) == len(events(second, Action.REMIND)) == 1
    again = client.post(f"/oversight/overdue/levels/{tree.township.id}/remind", headers=htmx)
    page = again.get_data(as_text=True)
    assert again.status_code == 200 and page.lstrip().startswith(f'<section id="level-{tree.township.id}"')
    assert first.reference in page and "今天已催办" in page
    assert len(events(first, Action.REMIND)) == len(events(second, Action.REMIND)) == 1


def test_staff_of_another_county_get_404_for_every_id_and_an_empty_register(client, tree, far_staff):
    late = make_request(deputy=tree.deputy, claim_due_on=today_local() - timedelta(days=3))
    others = [make_request(deputy=tree.deputy) for _ in range(2)]
    case = sv.merge_into_case([late, *others], title="企业融资难", actor=tree.staff["township"])
    wf.supervise(fresh(late), actor=tree.staff["county"], key=True, leader="王建国")
    login(client, far_staff)

    assert client.post(f"/oversight/requests/{late.id}/remind", data={"kind": "claim"}).status_code == 404
    assert client.post(f"/oversight/overdue/levels/{tree.township.id}/remind").status_code == 404
    assert client.get(f"/oversight/cases/{case.id}").status_code == 404
    assert client.post(f"/oversight/cases/{case.id}/assign").status_code == 404
    assert client.get(f"/oversight/requests/{late.id}/typical").status_code == 404
    for path in ("/oversight/key", "/oversight/cases", "/oversight/typical"):
        page = client.get(path).get_data(as_text=True)
        assert late.reference not in page and "企业融资难" not in page and "王建国" not in page
    assert events(late, Action.REMIND) == []


# --- key supervision --------------------------------------------------------------------------------


def test_the_key_supervision_register_shows_the_leader_in_charge(client, tree):
    req = make_request(deputy=tree.deputy)
    other = make_request(deputy=tree.deputy)
    wf.supervise(req, actor=tree.staff["county"], key=True, leader="王建国")
    wf.supervise(fresh(other), actor=tree.staff["county"])  # supervised, not key supervision
    login(client, tree.staff["county"])

    page = client.get("/oversight/key").get_data(as_text=True)

    assert req.reference in page and "王建国" in page and other.reference not in page
    assert "王建国" in client.get(f"/desk/requests/{req.id}").get_data(as_text=True)
    assert "王建国" in events(req, Action.SUPERVISE)[0].note


def test_the_key_supervision_register_says_when_it_is_empty_in_a_padded_card(client, tree):
    login(client, tree.staff["county"])

    page = client.get("/oversight/key").get_data(as_text=True)

    # A card of its own (the card's padding), not an empty list item under a line.
    assert '<p class="card muted" id="key-register-empty">暂无重点督办事项。</p>' in page
    assert 'id="key-register"' not in page

    wf.supervise(make_request(deputy=tree.deputy), actor=tree.staff["county"], key=True, leader="王建国")
    page = client.get("/oversight/key").get_data(as_text=True)
    assert 'id="key-register-empty"' not in page and "包案领导：" in page


def test_the_desks_supervise_form_names_the_leader(client, tree):
    req = make_request(deputy=tree.deputy)
    login(client, tree.staff["county"])

    response = client.post(f"/desk/requests/{req.id}/supervise", data={
        "supervise-version": req.version, "supervise-key": "y", "supervise-leader": " 李 明 ", "supervise-note": ""})

    assert response.status_code == 303
    assert (fresh(req).is_key_supervision, fresh(req).key_supervision_leader) == (True, "李 明")


def test_a_leader_is_named_only_for_key_supervision(client, tree):
    req = make_request(deputy=tree.deputy)
    login(client, tree.staff["county"])

    response = client.post(f"/desk/requests/{req.id}/supervise", data={
        "supervise-version": req.version, "supervise-leader": "李明", "supervise-note": ""})

    assert response.status_code == 422
    assert (fresh(req).is_supervised, fresh(req).key_supervision_leader) == (False, "")


# --- cases (并案) -------------------------------------------------------------------------------------


def test_three_requests_merged_assigned_once_and_each_answered_and_rated_on_its_own(client, tree):
    staff, officer, department = tree.staff["township"], tree.officers["township"], tree.departments["township"]
    requests = [make_request(deputy=tree.deputy, title=f"融资难{n}") for n in range(3)]
    wf.claim_request(requests[1], actor=tree.deputy_user)  # one a deputy already took up
    login(client, staff)

    response = client.post("/oversight/cases", data={
        "title": "企业融资难", "references": f"{requests[0].reference}, {requests[1].reference}\n{requests[2].reference}",
        "note": "三家企业反映续贷过桥资金紧张"})

    assert response.status_code == 303
    case = db.session.scalars(sa.select(RequestCase)).one()
    assert response.headers["Location"].endswith(f"/oversight/cases/{case.id}")
    assert (case.title, case.jurisdiction_id, case.created_by_id) == ("企业融资难", tree.township.id, staff.id)
    for req in requests:
        [event] = events(req, Action.MERGE_INTO_CASE)
        assert (fresh(req).case_id, event.note, event.is_public) == (case.id, "企业融资难", False)
    assert "企业融资难" in client.get(f"/desk/requests/{requests[0].id}").get_data(as_text=True)

    response = client.post(f"/oversight/cases/{case.id}/assign", data={"department": department.id, "note": "并案办理"})

    assert response.status_code == 303
    for req in map(fresh, requests):
        assert (req.status, req.department_id) == (Status.ASSIGNED, department.id)
        assert req.due_on == add_working_days(today_local(), 7)
    assert fresh(requests[0]).claimant_id == staff.id and fresh(requests[1]).claimant_id == tree.deputy_user.id

    ratings = [Rating.SATISFIED, Rating.MOSTLY_SATISFIED, Rating.UNSATISFIED]
    for n, (req, rating) in enumerate(zip(requests, ratings)):
        wf.acknowledge(fresh(req), actor=officer, version=fresh(req).version)
        wf.respond(fresh(req), actor=officer, version=fresh(req).version, outcome=Outcome.SOLVED,
                   text=f"已为第{n + 1}家企业协调转贷资金")
        wf.accept_answer(fresh(req), actor=staff, version=fresh(req).version)
        wf.rate_request(fresh(req), version=fresh(req).version, rating=rating, comment="还需跟进" if n == 2 else "")
    answers = [events(req, Action.RESPOND)[0].note for req in requests]
    assert answers == ["已为第1家企业协调转贷资金", "已为第2家企业协调转贷资金", "已为第3家企业协调转贷资金"]
    assert [fresh(req).rating for req in requests] == ratings
    assert [fresh(req).status for req in requests] == [Status.CLOSED, Status.CLOSED, Status.IN_PROGRESS]
    page = client.get(f"/oversight/cases/{case.id}").get_data(as_text=True)
    assert all(req.reference in page for req in requests) and "满意" in page


def test_assigning_a_case_reports_what_was_skipped_and_why(tree):
    staff = tree.staff["township"]
    waiting = make_request(deputy=tree.deputy)
    already = make_request(deputy=tree.deputy)
    escalated = make_request(deputy=tree.deputy)
    case = sv.merge_into_case([waiting, already, escalated], title="用工难", actor=staff)
    wf.claim_request(fresh(already), actor=tree.deputy_user)
    wf.assign_request(fresh(already), actor=tree.deputy_user, version=fresh(already).version,
                      department=tree.departments["township"])
    wf.claim_request(fresh(escalated), actor=tree.deputy_user)
    wf.escalate_request(fresh(escalated), actor=tree.deputy_user, version=fresh(escalated).version, reason="需市级协调")

    result = sv.assign_case(db.session.get(RequestCase, case.id), actor=staff, department=tree.departments["township"])

    assert result.done == [waiting.reference]
    reasons = {skipped.reference: str(skipped.reason) for skipped in result.skipped}
    assert set(reasons) == {already.reference, escalated.reference}
    assert "待签收" in reasons[already.reference]
    # Township staff keep sight of it, read only: the reason names the level that holds it now.
    assert reasons[escalated.reference] == "该诉求在太仓市办理，请选择该级的承办单位。"
    assert fresh(escalated).status is Status.SUBMITTED and fresh(escalated).case_id == case.id


def test_a_closed_request_cannot_join_a_case_and_nothing_is_merged(client, tree):
    done = closed(tree)
    open_ = make_request(deputy=tree.deputy)
    other = make_request(deputy=tree.deputy)

    with pytest.raises(InvalidTransition, match=done.reference):
        sv.merge_into_case([open_, done, other], title="融资难", actor=tree.staff["township"])
    db.session.rollback()

    assert db.session.scalar(sa.select(sa.func.count(RequestCase.id))) == 0
    assert events(open_, Action.MERGE_INTO_CASE) == [] and fresh(open_).case_id is None
    login(client, tree.staff["township"])
    response = client.post("/oversight/cases", data={
        "title": "融资难", "references": f"{open_.reference} {done.reference}"})
    assert response.status_code == 409 and done.reference in response.get_data(as_text=True)
    response = client.post("/oversight/cases", data={"title": "融资难", "references": f"{open_.reference} 2099-999999"})
    assert response.status_code == 422 and "2099-999999" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(RequestCase.id))) == 0


def test_a_request_in_a_case_cannot_join_another_and_can_be_taken_out(client, tree):
    first, second, third = (make_request(deputy=tree.deputy) for _ in range(3))
    case = sv.merge_into_case([first, second], title="物流难", actor=tree.staff["township"])

    with pytest.raises(InvalidInput, match="物流难"):
        sv.merge_into_case([second, third], title="另一个", actor=tree.staff["township"])
    db.session.rollback()
    login(client, tree.staff["township"])
    assert client.post(f"/oversight/cases/{case.id}/add", data={"references": third.reference}).status_code == 303
    response = client.post(f"/oversight/cases/{case.id}/remove", data={"request_id": first.id})

    assert response.status_code == 303
    assert [fresh(r).case_id for r in (first, second, third)] == [None, case.id, case.id]
    assert [e.note for e in events(first, Action.LEAVE_CASE)] == ["物流难"]


# --- typical cases (典型案例) --------------------------------------------------------------------------


def test_only_a_request_closed_as_solved_becomes_a_typical_case_and_it_needs_a_note(tree):
    staff = tree.staff["county"]
    with pytest.raises(InvalidTransition):
        sv.mark_typical_case(make_request(deputy=tree.deputy), actor=staff, note="写法")
    with pytest.raises(InvalidTransition):
        sv.mark_typical_case(closed(tree, Outcome.EXPLAINED), actor=staff, note="写法")
    solved = closed(tree)
    for note in ("", "   ", "字" * 1001):
        with pytest.raises(InvalidInput):
            sv.mark_typical_case(fresh(solved), actor=staff, note=note)
    assert not fresh(solved).is_typical_case

    sv.mark_typical_case(fresh(solved), actor=staff, note="代表牵线转贷基金，三天解决续贷难题。")

    solved = fresh(solved)
    assert (solved.is_typical_case, solved.typical_case_note) == (True, "代表牵线转贷基金，三天解决续贷难题。")
    [event] = events(solved, Action.MARK_TYPICAL)
    assert (event.is_public, event.to_status, event.actor_user_id) == (False, Status.CLOSED, staff.id)
    assert [r.id for r in sv.typical_cases(staff)] == [solved.id]


def test_the_card_offers_the_typical_case_form_and_the_list_shows_the_write_up(client, tree):
    solved = closed(tree)
    login(client, tree.deputy_user)
    assert "典型案例" not in client.get(f"/desk/requests/{solved.id}").get_data(as_text=True)
    login(client, tree.staff["township"])
    assert f'action="/oversight/requests/{solved.id}/typical"' in client.get(f"/desk/requests/{solved.id}").get_data(as_text=True)

    empty = client.post(f"/oversight/requests/{solved.id}/typical", data={"version": solved.version, "note": ""})
    assert empty.status_code == 422 and not fresh(solved).is_typical_case
    done = client.post(f"/oversight/requests/{solved.id}/typical",
                       data={"version": solved.version, "note": "企业满意，经验可复制。"})

    assert done.status_code == 303 and done.headers["Location"].endswith(f"/desk/requests/{solved.id}")
    assert "企业满意，经验可复制。" in client.get("/oversight/typical").get_data(as_text=True)
    login(client, tree.deputy_user)
    card = client.get(f"/desk/requests/{solved.id}").get_data(as_text=True)
    assert "企业满意，经验可复制。" in card and "/typical/remove" not in card
    login(client, tree.staff["township"])
    assert client.post(f"/oversight/requests/{solved.id}/typical/remove").status_code == 303
    assert not fresh(solved).is_typical_case and len(events(solved, Action.UNMARK_TYPICAL)) == 1


# --- who may ---------------------------------------------------------------------------------------


def test_deputies_and_units_get_403_and_the_services_refuse_them(app, tree):
    req = make_request(deputy=tree.deputy, claim_due_on=today_local() - timedelta(days=1))
    solved = closed(tree)
    for user in (tree.deputy_user, tree.officers["township"]):
        client = app.test_client()
        login(client, user)
        for path in ("/oversight/overdue", "/oversight/key", "/oversight/cases", "/oversight/typical",
                     f"/oversight/requests/{solved.id}/typical"):
            assert client.get(path).status_code == 403, (path, user)
        assert client.post(f"/oversight/requests/{req.id}/remind").status_code == 403
        with pytest.raises(ForbiddenActor):
            sv.mark_typical_case(fresh(solved), actor=user, note="写法")
    with pytest.raises(ForbiddenActor):
        sv.merge_into_case([req, make_request(deputy=tree.deputy)], title="融资难", actor=tree.deputy_user)
    assert events(req, Action.REMIND) == [] and not fresh(solved).is_typical_case


def test_the_new_actions_belong_to_staff_and_only_open_requests_join_a_case():
    for (status, action), transition in TRANSITIONS.items():
        if action in (Action.MERGE_INTO_CASE, Action.LEAVE_CASE, Action.MARK_TYPICAL, Action.UNMARK_TYPICAL):
            assert transition.actors == frozenset({Actor.STAFF}) and transition.to is None
    assert {s for (s, a) in TRANSITIONS if a is Action.MERGE_INTO_CASE} == {s for s in Status if not s.is_final}
    assert {s for (s, a) in TRANSITIONS if a is Action.MARK_TYPICAL} == {Status.CLOSED}


def test_every_supervision_route_with_an_id_is_200_or_404_by_scope(app, tree, far_staff):
    """tests/test_admin_matrix.py walks /oversight but knows no request or case ids."""
    near_requests = [make_request(deputy=tree.deputy) for _ in range(2)]
    near_case = sv.merge_into_case(near_requests, title="近", actor=tree.staff["county"])
    far_station = make_station(jurisdiction=far_staff.jurisdiction)
    far_requests = [make_request(station=far_station) for _ in range(2)]
    far_case = sv.merge_into_case(far_requests, title="远", actor=tree.admin)
    ids = {"near": dict(request_id=near_requests[0].id, case_id=near_case.id, jurisdiction_id=tree.township.id),
           "far": dict(request_id=far_requests[0].id, case_id=far_case.id, jurisdiction_id=far_staff.jurisdiction_id)}
    rules = [rule for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("oversight.") and app.view_functions[rule.endpoint].__module__.endswith(
                 ".supervision") and "<int:" in rule.rule]
    assert len(rules) >= 8
    client = app.test_client()
    login(client, tree.staff["county"])
    for rule in rules:
        for side in ("near", "far"):
            path = re.sub(r"<int:(\w+)>", lambda m: str(ids[side][m.group(1)]), rule.rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if method == "POST" and side == "near":
                    continue  # the writes are tested above
                status = getattr(client, method.lower())(path).status_code
                assert status == (200 if side == "near" else 404), (method, path, status)


# --- the overdue board at scale: counted in SQL, a few rows per level, the rest paged ------------------


def late_everywhere(tree):
    """Late in each way at the township, and a late claim at the county (escalated)."""
    today = today_local()
    claims = [make_request(deputy=tree.deputy, claim_due_on=today - timedelta(days=days)) for days in (3, 5, 4)]
    changed(assigned(tree), assigned_at=days_ago(14), due_on=today - timedelta(days=1))  # late twice
    changed(in_progress(tree), due_on=today - timedelta(days=2))
    escalated = make_request(deputy=tree.deputy)
    wf.claim_request(escalated, actor=tree.deputy_user)
    wf.escalate_request(fresh(escalated), actor=tree.deputy_user, version=fresh(escalated).version, reason="超出镇级权限")
    changed(escalated, claim_due_on=today - timedelta(days=6))
    return claims


def test_the_board_counts_in_sql_what_the_full_board_lists_and_shows_the_longest_overdue_first(tree, monkeypatch):
    late_everywhere(tree)
    monkeypatch.setattr(sv, "ROWS_PER_KIND", 2)

    full = sv.overdue_board(tree.staff["county"])
    page = sv.overdue_levels(tree.staff["county"])

    assert [level.jurisdiction.id for level in page.levels] == [level.jurisdiction.id for level in full]
    for summary, level in zip(page.levels, full):
        assert summary.counts == {kind: len(rows) for kind, rows in level.rows.items()}
        assert summary.request_count == level.request_count
        assert rows_by_kind(summary) == {kind: rows[:2] for kind, rows in rows_by_kind(level).items()}
    township = page.levels[1]
    assert [days for _ref, days in rows_by_kind(township)[OverdueKind.CLAIM]] == [5, 4]
    assert township.counts[OverdueKind.CLAIM] == 3 and township.request_count == 5


def test_the_acknowledgement_cut_off_day_agrees_with_the_working_day_rule(tree, app):
    app.config["ACKNOWLEDGE_DUE_WORKING_DAYS"] = 3
    start = today_local() - timedelta(days=40)
    for offset in range(21):  # three weeks of "today", weekends and any holidays included
        today = start + timedelta(days=offset)
        cut_off = sv.first_day_not_late_to_acknowledge(today)
        for back in range(15):
            day = today - timedelta(days=back)
            assert (day < cut_off) == (add_working_days(day, 3) < today), (today, day)


def test_the_board_pages_through_levels_and_narrows_to_a_jurisdiction(client, tree, far_staff, monkeypatch):
    late_everywhere(tree)
    monkeypatch.setattr(sv, "LEVELS_PER_PAGE", 1)
    login(client, tree.staff["county"])

    first = client.get("/oversight/overdue").get_data(as_text=True)
    assert f'id="level-{tree.county.id}"' in first and f'id="level-{tree.township.id}"' not in first
    following = re.search(r'id="overdue-next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(following).get_data(as_text=True)
    assert f'id="level-{tree.township.id}"' in second and 'id="overdue-next"' not in second
    narrowed = client.get(f"/oversight/overdue?jurisdiction={tree.township.id}").get_data(as_text=True)
    assert f'id="level-{tree.township.id}"' in narrowed and f'id="level-{tree.county.id}"' not in narrowed
    login(client, far_staff)
    assert client.get(f"/oversight/overdue?jurisdiction={tree.township.id}").status_code == 404


def test_a_levels_list_of_one_kind_pages_by_deadline_and_id(client, tree, far_staff, monkeypatch):
    claims = late_everywhere(tree)
    monkeypatch.setattr(sv, "ROWS_PER_KIND", 1)
    monkeypatch.setattr(sv, "LIST_PAGE_SIZE", 2)
    login(client, tree.staff["county"])

    board = client.get("/oversight/overdue").get_data(as_text=True)
    link = f"/oversight/overdue/levels/{tree.township.id}?kind=claim"
    assert f'href="{link}"' in board and board.count(f'id="request-{claims[1].id}-overdue-claim"') == 1
    assert f'request-{claims[2].id}-overdue-claim' not in board  # beyond the first row of its kind

    first = client.get(link).get_data(as_text=True)
    ids = re.findall(r'id="request-(\d+)-overdue-claim"', first)
    assert ids == [str(claims[1].id), str(claims[2].id)]  # 5 days, then 4
    following = re.search(r'id="overdue-next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(following).get_data(as_text=True)
    assert re.findall(r'id="request-(\d+)-overdue-claim"', second) == [str(claims[0].id)]
    assert 'id="overdue-next"' not in second and "超期 3 天" in second
    login(client, far_staff)
    assert client.get(link).status_code == 404
