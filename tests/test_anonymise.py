"""Retention: contact details of requests closed long ago are anonymised (flask anonymise-closed)."""

import logging
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Outcome, Rating, Request, RequestEvent, utcnow
from liaison_app.services import requests as request_service
from liaison_app.services import workflow as wf
from liaison_app.services.retention import ANONYMISED, anonymise_closed, months_before, scrub
from liaison_app.workflow import Action, Actor, Status
from tests.factories import Tree, make_request
from tests.test_access_matrix import fresh

PHONE = "+8613912345678"
NAME = "张明"


@pytest.fixture
def tree(app):
    return Tree()


def closed_request(tree, *, months_ago: float, **values) -> Request:
    """Filed with contact details in its texts, handled, rated, closed `months_ago` months ago."""
    values.setdefault("description", f"续贷需要过桥资金，请联系{NAME}，电话 139-1234-5678，邮箱 zhang.ming@example.cn。")
    req = make_request(deputy=tree.deputy, contact_name=NAME, contact_phone=PHONE, **values)
    request_service.add_information(fresh(req), text="补充：也可拨打0512-53521234，微信号 zhangming88", version=fresh(req).version)
    wf.claim_request(fresh(req), actor=tree.deputy_user)
    wf.answer_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, outcome=Outcome.SOLVED,
                      text=f"已电话联系{NAME}（13912345678），转贷基金已到位。")
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)
    wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.SATISFIED, comment=f"{NAME}代表企业表示感谢")
    return _closed_at(req, months_ago)


def _closed_at(req, months_ago):
    req = fresh(req)
    req.closed_at = utcnow() - timedelta(days=round(30.5 * months_ago))
    db.session.commit()
    return fresh(req)


def shows_phone(page: str) -> bool:
    return any(spelling in page for spelling in ("13912345678", "139 1234 5678", "139-1234-5678", "0512-53521234"))


def every_text(req) -> str:
    req = fresh(req)
    return "\n".join([req.contact_name, req.contact_phone, req.title, req.description, req.rating_comment,
                      *(event.note for event in req.events)])


def test_an_old_closed_request_loses_its_contact_details_and_keeps_its_figures(app, tree, caplog):
    req = closed_request(tree, months_ago=25)
    before = fresh(req)
    kept = (before.enterprise_id, before.category, before.created_at, before.closed_at, before.status,
            before.outcome, before.rating, before.jurisdiction_id, before.filed_jurisdiction_id, before.department_id)
    events_before = len(before.events)

    with caplog.at_level(logging.INFO, logger="liaison.workflow"):
        result = anonymise_closed(months=24)

    assert (result.requests, result.notes) == (1, 3)  # the added information, the answer, the rating's note
    req = fresh(req)
    assert (req.contact_name, req.contact_phone) == (ANONYMISED, "")
    text = every_text(req)
    for private in (NAME, "13912345678", "139-1234-5678", "0512-53521234", "zhang.ming@example.cn", "zhangming88"):
        assert private not in text, private
    assert "续贷需要过桥资金" in req.description and "转贷基金已到位" in text  # the words stay
    assert (req.enterprise_id, req.category, req.created_at, req.closed_at, req.status, req.outcome, req.rating,
            req.jurisdiction_id, req.filed_jurisdiction_id, req.department_id) == kept
    assert len(req.events) == events_before + 1
    last = req.events[-1]
    assert (last.action, last.actor_kind, last.actor_user_id, last.from_status, last.to_status, last.is_public) == (
        Action.ANONYMISE, Actor.SYSTEM, None, Status.CLOSED, Status.CLOSED, True)
    assert f"request {req.reference} (id {req.id}) anonymise closed -> closed by system" in caplog.messages


def test_recent_closed_and_open_requests_are_kept(app, tree):
    recent = closed_request(tree, months_ago=23)
    old_open = make_request(deputy=tree.deputy, created_at=datetime(2020, 1, 1))
    wf.claim_request(fresh(old_open), actor=tree.deputy_user)

    assert anonymise_closed(months=24).requests == 0

    for req in (recent, old_open):
        assert (fresh(req).contact_name, fresh(req).contact_phone) == (NAME, PHONE)
        assert Action.ANONYMISE not in [e.action for e in fresh(req).events]


def test_an_old_withdrawn_request_is_anonymised(app, tree):
    req = make_request(deputy=tree.deputy)
    request_service.withdraw_request(fresh(req), version=fresh(req).version, reason=f"已自行解决，{NAME}")
    req = _closed_at(req, 30)

    assert anonymise_closed(months=24).requests == 1
    assert fresh(req).contact_name == ANONYMISED
    assert fresh(req).status is Status.WITHDRAWN
    assert NAME not in every_text(req)


def test_a_second_run_changes_nothing(app, tree):
    req = closed_request(tree, months_ago=30)
    anonymise_closed(months=24)
    snapshot = (fresh(req).version, len(fresh(req).events), every_text(req))

    again = anonymise_closed(months=24)

    assert (again.requests, again.notes) == (0, 0)
    assert (fresh(req).version, len(fresh(req).events), every_text(req)) == snapshot


def test_batches_cover_every_request(app, tree):
    reqs = [closed_request(tree, months_ago=26) for _ in range(3)]
    assert anonymise_closed(months=24, batch_size=2).requests == 3
    assert {fresh(r).contact_name for r in reqs} == {ANONYMISED}


def test_a_dry_run_counts_and_changes_nothing(app, tree):
    req = closed_request(tree, months_ago=26)
    result = anonymise_closed(months=24, dry_run=True)
    assert (result.requests, result.dry_run) == (1, True)
    assert fresh(req).contact_name == NAME


def test_the_setting_decides_and_none_or_zero_keeps_everything(app, tree):
    req = closed_request(tree, months_ago=13)
    app.config["CONTACT_RETENTION_MONTHS"] = None
    assert anonymise_closed().cutoff is None
    app.config["CONTACT_RETENTION_MONTHS"] = 0
    assert anonymise_closed().requests == 0
    app.config["CONTACT_RETENTION_MONTHS"] = 24
    assert anonymise_closed().requests == 0
    app.config["CONTACT_RETENTION_MONTHS"] = 12
    assert anonymise_closed().requests == 1
    assert fresh(req).contact_name == ANONYMISED


def test_the_tracking_page_the_board_and_the_card_still_render(app, client, tree):
    req = closed_request(tree, months_ago=30, public_consent=True)
    req.public_summary = "公示：转贷基金已到位"
    req.public_summary_approved_at = utcnow()  # approved for the board (services/publication.py)
    db.session.commit()
    anonymise_closed(months=24)

    tracking = client.get(f"/t/{req.tracking_token}")
    assert tracking.status_code == 200
    page = tracking.get_data(as_text=True)
    assert "联系方式已按保存期限删除" in page and NAME not in page and not shows_phone(page)
    board = client.get(f"/board/station/{tree.station.id}")
    assert board.status_code == 200 and "公示：转贷基金已到位" in board.get_data(as_text=True)

    from tests.test_desk import login

    staff = app.test_client()
    login(staff, tree.staff["township"])
    card = staff.get(f"/desk/requests/{req.id}")
    assert card.status_code == 200 and not shows_phone(card.get_data(as_text=True))
    inbox = staff.get("/desk/?tab=all")
    assert inbox.status_code == 200


def test_the_command_prints_counts_and_takes_months_and_dry_run(app, runner, tree):
    closed_request(tree, months_ago=8)

    assert "1 request(s) closed before" in runner.invoke(args=["anonymise-closed", "--months", "6", "--dry-run"]).output
    assert "0 request(s)" in runner.invoke(args=["anonymise-closed"]).output  # default: 24 months
    result = runner.invoke(args=["anonymise-closed", "--months", "6"])
    assert result.exit_code == 0, result.output
    assert "1 request(s) closed before" in result.output and "anonymised" in result.output
    assert "0 request(s)" in runner.invoke(args=["anonymise-closed", "--months", "6"]).output
    assert "kept" in runner.invoke(args=["anonymise-closed", "--months", "0"]).output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestEvent)
                             .where(RequestEvent.action == Action.ANONYMISE)) == 1


def test_a_bad_setting_is_a_clear_error(app, runner):
    app.config["CONTACT_RETENTION_MONTHS"] = "two years"
    result = runner.invoke(args=["anonymise-closed"])
    assert result.exit_code != 0 and "CONTACT_RETENTION_MONTHS must be a number of months" in result.output


@pytest.mark.parametrize("moment,months,expected", [
    (datetime(2026, 12, 5, 8, 30), 24, datetime(2024, 12, 5, 8, 30)),
    (datetime(2026, 3, 31), 1, datetime(2026, 2, 28)),
    (datetime(2026, 1, 15), 13, datetime(2024, 12, 15)),
])
def test_months_before(moment, months, expected):
    assert months_before(moment, months) == expected


def test_scrub_keeps_the_words_and_drops_the_contact():
    assert scrub("请联系王经理 138 1234 5678 或 wang@corp.cn，vx: wang_li88。", "王经理") == (
        "请联系已匿名 已匿名 或 已匿名，vx: 已匿名。")
    assert scrub("2026年共3次，编号2026-000123", "") == "2026年共3次，编号2026-000123"


def test_scrub_finds_numbers_typed_in_full_width_and_keeps_the_rest_as_typed():
    # A Chinese keyboard in full-width mode: digits, signs and the @ of an address.
    assert scrub("电话：１３８ １２３４ ５６７８，（０５１２）５３５２１２３４，ｗａｎｇ＠ｃｏｒｐ．ｃｎ。", "") == (
        "电话：已匿名，已匿名，已匿名。")
    assert scrub("共３次，编号２０２６－０００１２３", "") == "共３次，编号２０２６－０００１２３"
