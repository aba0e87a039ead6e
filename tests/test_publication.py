"""公示: the public summary of a closed request. Its claimant or the staff of its level write it in
two plain parts, see exactly what the public board will show (personal details removed, with a
warning while the draft still holds any) and approve it; only then does the board show it."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Outcome, Rating, RequestEvent, utcnow
from liaison_app.services import publication
from liaison_app.services import workflow as wf
from liaison_app.services.retention import Detail, anonymise_closed, find_details, known_details
from liaison_app.workflow import Action, Status
from tests.factories import Tree, make_enterprise, make_request
from tests.test_access_matrix import ROLES, fresh, user_for
from tests.test_desk import login

ENTERPRISE = "太仓市恒丰精密机械有限公司"
ADDRESS = "太仓市沙溪镇工业园区兴业路12号"
NAME = "张明"  # make_request's contact, +8613912345678
PROBLEM = "企业银行贷款到期，续贷需要过桥资金"
RESULT = "协调政策性转贷基金500万元，续贷已办妥"
# A draft that names everybody: what the board must never show.
LEAKY_PROBLEM = f"{ENTERPRISE}（{ADDRESS}）联系人{NAME}，电话139 1234 5678：续贷需要过桥资金"
LEAKY_RESULT = "转贷基金已到位，可联系恒丰精密机械财务部 0512-53521234 或 caiwu@hengfeng.cn"


@pytest.fixture
def tree(app):
    return Tree()


def closed(tree, **overrides):
    """Filed at the township's station by 恒丰 (consenting to publication), claimed by the deputy,
    assigned to the township's department, answered, accepted and rated: closed."""
    enterprise = make_enterprise(name=ENTERPRISE, address=ADDRESS, jurisdiction=tree.township)
    values = dict(enterprise=enterprise, public_consent=True)
    values.update(overrides)
    req = make_request(deputy=tree.deputy, **values)
    officer = tree.officers["township"]
    wf.claim_request(req, actor=tree.deputy_user)
    wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version,
                      department=tree.departments["township"])
    wf.acknowledge(fresh(req), actor=officer, version=fresh(req).version)
    wf.respond(fresh(req), actor=officer, version=fresh(req).version, outcome=Outcome.SOLVED, text="已协调转贷基金。")
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)
    wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.SATISFIED)
    return fresh(req)


def save(req, user, problem=PROBLEM, result=RESULT):
    return publication.save_public_summary(fresh(req), actor=user, version=fresh(req).version, problem=problem,
                                           result=result)


def approve(req, user, confirmed=False):
    return publication.approve_public_summary(fresh(req), actor=user, version=fresh(req).version,
                                              confirmed=confirmed)


def client_of(app, user):
    client = app.test_client()
    login(client, user)
    return client


def board_pages(client, tree) -> list[str]:
    pages = []
    for path in (f"/board/station/{tree.station.id}", f"/board/jurisdiction/{tree.county.id}"):
        response = client.get(path)
        assert response.status_code == 200, path
        pages.append(response.get_data(as_text=True))
    return pages


def board_item(page: str, req) -> str | None:
    """The board's <article> of this request, as rendered."""
    match = re.search(rf'<article class="card board-item" id="board-item-{req.id}">.*?</article>', page, re.S)
    return match.group(0) if match else None


def events(req, action) -> list[RequestEvent]:
    return db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == req.id,
                                                            RequestEvent.action == action)
                              .order_by(RequestEvent.id)).all()


def post(client, req, name, headers=None, **fields):
    data = {f"{name}-version": fresh(req).version}
    data.update({f"{name}-{key}": value for key, value in fields.items()})
    return client.post(f"/desk/requests/{req.id}/{name}", data=data, headers=headers or {})


# --- the board shows only what was approved ----------------------------------------------------------


def test_an_unapproved_summary_never_shows_on_the_board(client, tree):
    req = closed(tree)
    for page in board_pages(client, tree):
        assert board_item(page, req) is None  # closed and consented, but nothing written

    save(req, tree.deputy_user)

    for page in board_pages(client, tree):
        assert board_item(page, req) is None and "过桥资金" not in page
    assert publication.state_of(fresh(req)) is publication.PublicationState.TO_APPROVE

    approve(req, tree.deputy_user)

    for page in board_pages(client, tree):
        item = board_item(page, req)
        assert PROBLEM in item and RESULT in item
    assert publication.state_of(fresh(req)) is publication.PublicationState.PUBLISHED


def test_approval_puts_exactly_the_previewed_text_on_the_board(app, client, tree):
    req = closed(tree)
    save(req, tree.deputy_user, problem=LEAKY_PROBLEM, result=LEAKY_RESULT)
    staff = client_of(app, tree.staff["township"])

    preview = board_item(staff.get(f"/desk/requests/{req.id}").get_data(as_text=True), req)
    response = post(staff, req, "approve_summary", confirm="y")

    assert response.status_code == 303
    for page in board_pages(client, tree):
        assert board_item(page, req) == preview  # the same partial, the same words
    assert "某企业（某处）联系人某某，电话***：续贷需要过桥资金" in preview
    assert "转贷基金已到位，可联系某企业财务部 *** 或 ***" in preview
    stored = fresh(req).public_summary
    assert stored == "某企业（某处）联系人某某，电话***：续贷需要过桥资金\n转贷基金已到位，可联系某企业财务部 *** 或 ***"
    assert fresh(req).public_summary_approved_by_id == tree.staff["township"].id


def test_the_preview_removes_names_phones_the_enterprise_and_its_address_and_warns(app, tree):
    req = closed(tree)
    save(req, tree.deputy_user, problem=LEAKY_PROBLEM, result=LEAKY_RESULT)

    page = client_of(app, tree.deputy_user).get(f"/desk/requests/{req.id}").get_data(as_text=True)

    preview = board_item(page, req)
    for detail in (ENTERPRISE, "恒丰精密机械", ADDRESS, "兴业路12号", NAME, "139 1234 5678", "0512-53521234",
                   "caiwu@hengfeng.cn"):
        assert detail not in preview, detail
    warning = re.search(r'<p class="notice notice-warning"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert warning.startswith("摘要中仍含有：联系人姓名、手机号、座机号码、电子邮箱、企业名称和地址。")
    assert 'name="approve_summary-confirm"' in page  # approval asks to confirm the removal


def test_a_clean_summary_has_no_warning_and_no_confirmation_to_tick(app, tree):
    req = closed(tree)
    save(req, tree.deputy_user)

    page = client_of(app, tree.deputy_user).get(f"/desk/requests/{req.id}").get_data(as_text=True)

    assert PROBLEM in board_item(page, req) and "摘要中仍含有" not in page
    assert 'name="approve_summary-confirm"' not in page
    assert f'action="/desk/requests/{req.id}/approve_summary"' in page


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["plain", "htmx"])
def test_approval_is_refused_while_details_remain_unless_confirmed(app, tree, headers):
    req = closed(tree)
    save(req, tree.deputy_user, problem=LEAKY_PROBLEM, result=RESULT)
    version = fresh(req).version
    deputy = client_of(app, tree.deputy_user)

    response = post(deputy, req, "approve_summary", headers=headers)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "摘要中仍含有：联系人姓名、手机号、企业名称和地址。请修改措辞，或勾选确认" in page
    assert fresh(req).public_summary_approved_at is None and fresh(req).version == version
    assert page.lstrip().startswith(f'<article id="request-{req.id}-card"') == bool(headers)

    assert post(deputy, req, "approve_summary", headers=headers, confirm="y").status_code in (200, 303)
    assert fresh(req).public_summary_approved_at is not None
    assert NAME not in fresh(req).public_summary and ENTERPRISE not in fresh(req).public_summary


# --- who may write and approve -----------------------------------------------------------------------


# The claimant (the deputy) and the staff of the township that holds it; its department's officer,
# another deputy of the station and the county's staff see the card but may not (403); a deputy of
# another station does not see it (404).
EXPECTED = {"anonymous": 302, "deputy": 303, "colleague": 403, "outsider": 404, "township_staff": 303,
            "county_staff": 403, "township_unit": 403, "county_unit": 404, "admin": 303}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_write_and_approve_the_summary(app, tree, role):
    req = closed(tree)
    client = app.test_client()
    if user_for(tree, role) is not None:
        login(client, user_for(tree, role))

    written = post(client, req, "public_summary", problem=PROBLEM, result=RESULT)
    if EXPECTED[role] != 303:
        save(req, tree.deputy_user)  # so that approving is possible at all
    approved = post(client, req, "approve_summary")

    assert (written.status_code, approved.status_code) == (EXPECTED[role], EXPECTED[role]), role
    assert (fresh(req).public_summary_approved_at is not None) == (EXPECTED[role] == 303)
    page = client.get(f"/desk/requests/{req.id}").get_data(as_text=True)
    may = EXPECTED[role] == 303
    assert (f'action="/desk/requests/{req.id}/public_summary"' in page) == may
    assert (f'action="/desk/requests/{req.id}/withdraw_summary"' in page) == may


def test_only_a_closed_request_whose_enterprise_consented_has_a_summary(app, tree):
    refused = closed(tree, public_consent=False)
    still_open = make_request(deputy=tree.deputy, public_consent=True)
    deputy = client_of(app, tree.deputy_user)

    assert post(deputy, refused, "public_summary", problem=PROBLEM, result=RESULT).status_code == 403
    assert post(deputy, still_open, "public_summary", problem=PROBLEM, result=RESULT).status_code == 409
    for req in (refused, still_open):
        page = deputy.get(f"/desk/requests/{req.id}").get_data(as_text=True)
        assert "公示摘要" not in page and "public_summary" not in page
        assert fresh(req).public_summary == ""


# --- writing, editing, taking off ---------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["plain", "htmx"])
def test_the_form_with_an_error_comes_back_with_what_was_typed(app, tree, headers):
    req = closed(tree)
    staff = client_of(app, tree.staff["township"])

    response = post(staff, req, "public_summary", headers=headers, problem=PROBLEM, result="  ")

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(rf'<textarea[^>]*name="public_summary-problem"[^>]*>\s*{PROBLEM}</textarea>', page)
    assert "请填写此项。" in page and "<details class=\"action\" open>" in page
    assert page.lstrip().startswith(f'<article id="request-{req.id}-card"') == bool(headers)
    assert fresh(req).public_summary == "" and events(req, Action.WRITE_PUBLIC_SUMMARY) == []


def test_saving_answers_a_303_or_the_card_for_htmx_and_the_form_keeps_the_draft(app, tree, htmx):
    req = closed(tree)
    staff = client_of(app, tree.staff["township"])

    response = post(staff, req, "public_summary", problem=PROBLEM, result=RESULT)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/desk/requests/{req.id}?done=public_summary"
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "公示摘要已保存。请核对预览，再审核公示。" in page and "待审核" in page
    assert re.search(rf'name="public_summary-result"[^>]*>\s*{RESULT}</textarea>', page)

    response = post(staff, req, "public_summary", headers=htmx, problem=PROBLEM, result=RESULT + "。")
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith(f'<article id="request-{req.id}-card"')
    assert "公示摘要已保存" in fragment and RESULT + "。" in board_item(fragment, req)


def test_editing_an_approved_summary_takes_it_off_the_board_until_approved_again(app, client, tree):
    req = closed(tree)
    save(req, tree.deputy_user)
    approve(req, tree.deputy_user)
    version = fresh(req).version

    assert save(req, tree.deputy_user) is None  # the same words: nothing changes
    assert fresh(req).version == version and fresh(req).public_summary_approved_at is not None

    response = post(client_of(app, tree.staff["township"]), req, "public_summary", problem=PROBLEM,
                    result="转贷基金800万元已到位")

    assert response.status_code == 303
    assert fresh(req).public_summary_approved_at is None and fresh(req).public_summary_approved_by_id is None
    for page in board_pages(client, tree):
        assert board_item(page, req) is None
    approve(req, tree.staff["township"])
    for page in board_pages(client, tree):
        assert "转贷基金800万元已到位" in board_item(page, req)


def test_taking_it_off_the_board_keeps_the_summary_to_approve_again(app, client, tree, htmx):
    req = closed(tree)
    save(req, tree.deputy_user)
    approve(req, tree.deputy_user)

    response = post(client_of(app, tree.deputy_user), req, "withdraw_summary", headers=htmx, note="企业要求撤下")

    assert response.status_code == 200 and "已从公示栏撤下。" in response.get_data(as_text=True)
    assert fresh(req).public_summary_approved_at is None and fresh(req).public_summary == f"{PROBLEM}\n{RESULT}"
    assert [e.note for e in events(req, Action.WITHDRAW_PUBLIC_SUMMARY)] == ["企业要求撤下"]
    for page in board_pages(client, tree):
        assert board_item(page, req) is None


def test_reopening_takes_a_published_summary_off_the_board(client, tree):
    req = closed(tree)
    save(req, tree.deputy_user)
    approve(req, tree.deputy_user)

    wf.reopen_request(fresh(req), actor=tree.staff["county"], version=fresh(req).version, reason="企业反映仍未解决")

    assert fresh(req).status is Status.SUBMITTED and fresh(req).public_summary_approved_at is None
    assert [e.actor_user_id for e in events(req, Action.WITHDRAW_PUBLIC_SUMMARY)] == [tree.staff["county"].id]


def test_a_stale_form_changes_nothing(app, tree):
    req = closed(tree)
    save(req, tree.deputy_user)
    stale = fresh(req).version
    save(req, tree.staff["township"], result="转贷基金800万元已到位")

    answer = client_of(app, tree.deputy_user).post(f"/desk/requests/{req.id}/approve_summary",
                                                   data={"approve_summary-version": stale})

    assert answer.status_code == 409
    assert fresh(req).public_summary_approved_at is None


# --- the trail ---------------------------------------------------------------------------------------


def test_each_step_is_an_internal_event_that_carries_what_the_board_would_show(app, client, tree):
    req = closed(tree)
    save(req, tree.deputy_user, problem=LEAKY_PROBLEM, result=RESULT)
    approve(req, tree.staff["township"], confirmed=True)
    publication.withdraw_public_summary(fresh(req), actor=tree.deputy_user, version=fresh(req).version)

    trail = db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == req.id)
                               .order_by(RequestEvent.id)).all()
    steps = [(e.action, e.actor_user_id, e.is_public, e.from_status, e.to_status) for e in trail[-3:]]
    assert steps == [
        (Action.WRITE_PUBLIC_SUMMARY, tree.deputy_user.id, False, Status.CLOSED, Status.CLOSED),
        (Action.APPROVE_PUBLIC_SUMMARY, tree.staff["township"].id, False, Status.CLOSED, Status.CLOSED),
        (Action.WITHDRAW_PUBLIC_SUMMARY, tree.deputy_user.id, False, Status.CLOSED, Status.CLOSED),
    ]
    written, approved = trail[-3].note, trail[-2].note
    assert written == approved == f"某企业（某处）联系人某某，电话***：续贷需要过桥资金\n{RESULT}"

    card = client_of(app, tree.colleague_user).get(f"/desk/requests/{req.id}").get_data(as_text=True)
    assert "已撰写公示摘要" in card and "公示摘要审核通过，上公示栏" in card and "公示摘要已从公示栏撤下" in card
    tracking = client.get(f"/t/{req.tracking_token}").get_data(as_text=True)
    assert "公示摘要" not in tracking and "某企业" not in tracking  # the enterprise's page shows none of it


# --- the one detector ---------------------------------------------------------------------------------


def test_the_detector_finds_what_the_request_holds_and_any_contact_detail(tree):
    req = closed(tree)
    text = ("恒丰精密机械的张明（１３９ １２３４ ５６７８，微信 zhangming88）说，厂在兴业路12号，"
            f"信用代码{req.enterprise.uscc}，邮箱 ｚｍ＠ｈｆ．ｃｎ，座机（0512）5352 1234。")

    found = find_details(text, known_details(req))

    kinds = [f.kind for f in found]
    assert kinds == [Detail.ENTERPRISE_NAME, Detail.CONTACT_NAME, Detail.MOBILE, Detail.WECHAT, Detail.ADDRESS,
                     Detail.CREDIT_CODE, Detail.EMAIL, Detail.LANDLINE]
    assert [text[f.start:f.end] for f in found][:4] == ["恒丰精密机械", "张明", "１３９ １２３４ ５６７８", "zhangming88"]
    assert publication.for_the_board(req, text) == (
        "某企业的某某（***，微信 ***）说，厂在兴业路某处，信用代码***，邮箱 ***，座机***。")


def test_words_that_only_look_like_details_stay(tree):
    req = closed(tree)
    text = "2026年共办结3件，编号2026-000123；第一号文件已落实，道路修复1200米。"

    assert find_details(text, known_details(req)) == []
    assert publication.for_the_board(req, text) == text


def test_a_draft_never_approved_loses_the_contact_when_the_request_is_anonymised(app, tree):
    req = closed(tree)
    save(req, tree.deputy_user, problem=f"{NAME}（139 1234 5678）反映续贷需要过桥资金")
    req = fresh(req)
    req.closed_at = utcnow() - timedelta(days=800)
    db.session.commit()

    assert anonymise_closed(months=24).requests == 1

    assert fresh(req).public_summary == f"已匿名（已匿名）反映续贷需要过桥资金\n{RESULT}"
