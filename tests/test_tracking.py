"""The tracking page: follow, add information, withdraw, and 我的诉求 without an account."""

import io
import re
import uuid

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Attachment, Rating, Request, RequestEvent
from liaison_app.workflow import Action, Status
from tests.factories import image_bytes, make_qr_code
from tests.test_filing import form_data


@pytest.fixture
def filed(client):
    code = make_qr_code()
    response = client.post(f"/q/{code.token}/file", data=form_data(
        photos=(io.BytesIO(image_bytes()), "a.jpg")), content_type="multipart/form-data")
    assert response.status_code == 303
    return db.session.scalars(sa.select(Request)).one()


def reload(req):
    db.session.expire_all()
    return db.session.get(Request, req.id)


def test_unknown_tracking_token_is_a_friendly_404(client):
    response = client.get("/t/not-a-real-token")

    assert response.status_code == 404
    assert "没有与此链接对应的诉求" in response.get_data(as_text=True)


def test_the_enterprise_adds_information_as_a_new_public_event(client, filed):
    response = client.post(f"/t/{filed.tracking_token}/info",
                           data={"text": "补充：急需焊工的岗位是夜班。", "version": filed.version})

    assert response.status_code == 303
    req = reload(filed)
    event = req.events[-1]
    assert (event.action, event.is_public, event.note) == (Action.ADD_INFO, True, "补充：急需焊工的岗位是夜班。")
    assert req.status is Status.SUBMITTED
    page = client.get(f"/t/{filed.tracking_token}").get_data(as_text=True)
    assert "补充：急需焊工的岗位是夜班。" in page and "企业补充了情况" in page


def test_adding_information_with_htmx_swaps_the_card_in_place(client, filed, htmx):
    response = client.post(f"/t/{filed.tracking_token}/info",
                           data={"text": "补充一张现场照片说明。", "version": filed.version}, headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith(f'<div id="request-{filed.id}-tracking"')
    assert "补充情况已提交" in page


def test_empty_information_is_refused_with_422_and_nothing_written(client, filed):
    response = client.post(f"/t/{filed.tracking_token}/info", data={"text": "  ", "version": filed.version})

    assert response.status_code == 422
    assert "请填写要补充的内容" in response.get_data(as_text=True)
    assert len(reload(filed).events) == 1


def test_a_stale_form_gets_409_and_the_latest_card(client, filed):
    old_version = filed.version
    client.post(f"/t/{filed.tracking_token}/info", data={"text": "第一次补充内容", "version": old_version})

    response = client.post(f"/t/{filed.tracking_token}/info", data={"text": "第二次补充内容", "version": old_version})

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "刚刚有了更新" in page and "第一次补充内容" in page
    assert "第二次补充内容" in page  # what was typed is still in the form
    notes = [e.note for e in reload(filed).events]
    assert "第二次补充内容" not in notes


def test_withdraw_before_anyone_claims(client, filed):
    response = client.post(f"/t/{filed.tracking_token}/withdraw", data={"reason": "已自行解决", "version": filed.version})

    assert response.status_code == 303
    req = reload(filed)
    assert req.status is Status.WITHDRAWN
    assert req.events[-1].action is Action.WITHDRAW and req.events[-1].note == "已自行解决"
    page = client.get(f"/t/{filed.tracking_token}").get_data(as_text=True)
    assert "您已撤回" in page
    assert "撤回诉求" not in page  # the button is gone
    assert 'name="text"' not in page  # nothing more to add to a withdrawn request


def test_a_claimed_request_cannot_be_withdrawn(client, filed):
    filed.status = Status.CLAIMED
    db.session.commit()

    response = client.post(f"/t/{filed.tracking_token}/withdraw", data={"version": filed.version})

    assert response.status_code == 409
    assert "不能进行此操作" in response.get_data(as_text=True)
    assert reload(filed).status is Status.CLAIMED


def test_the_enterprise_sees_its_own_photos_served_safely(client, filed):
    attachment = filed.attachments[0]

    response = client.get(f"/t/{filed.tracking_token}/photos/{attachment.id}")

    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_photo_of_another_request_is_404(client, filed):
    other = make_qr_code()
    client.post(f"/q/{other.token}/file", data=form_data())
    second = db.session.scalars(sa.select(Request).where(Request.id != filed.id)).one()

    response = client.get(f"/t/{second.tracking_token}/photos/{filed.attachments[0].id}")

    assert response.status_code == 404


def test_my_requests_lists_what_this_phone_filed_newest_first(client):
    code = make_qr_code()
    for text in ("第一件：道路塌陷影响货车进出厂区。", "第二件：惠企政策补贴迟迟没有兑现。"):
        client.post(f"/q/{code.token}/file", data=form_data(description=text))

    page = client.get("/mine").get_data(as_text=True)

    first, second = db.session.scalars(sa.select(Request).order_by(Request.id)).all()
    assert page.index(second.reference) < page.index(first.reference)
    cookie = client.get_cookie("my_requests")
    assert cookie.http_only and cookie.expires is not None


def test_another_phone_sees_none_of_them(app, client):
    code = make_qr_code()
    client.post(f"/q/{code.token}/file", data=form_data())
    other_phone = app.test_client()

    page = other_phone.get("/mine").get_data(as_text=True)

    assert "本机还没有提交过诉求" in page
    req = db.session.scalars(sa.select(Request)).one()
    assert req.reference not in page


def test_events_cannot_be_changed_once_written(filed):
    event = filed.events[0]
    event.note = "rewritten"

    with pytest.raises(ValueError, match="immutable"):
        db.session.commit()
    db.session.rollback()


def awaiting_rating(tree):
    from liaison_app.models import Outcome
    from liaison_app.services import workflow as wf
    from tests.factories import make_request

    req = make_request(deputy=tree.deputy)
    wf.claim_request(req, actor=tree.deputy_user)
    wf.assign_request(reload(req), actor=tree.deputy_user, version=reload(req).version,
                      department=tree.departments["township"])
    wf.acknowledge(reload(req), actor=tree.officers["township"], version=reload(req).version)
    wf.respond(reload(req), actor=tree.officers["township"], version=reload(req).version,
               outcome=Outcome.SOLVED, text="已协调银行办理续贷。")
    wf.accept_answer(reload(req), actor=tree.deputy_user, version=reload(req).version)
    return reload(req)


@pytest.fixture
def tree(app):
    from tests.factories import Tree

    return Tree()


def test_the_public_trail_tells_each_step_in_plain_words(client, tree):
    from liaison_app.services import workflow as wf

    req = awaiting_rating(tree)
    wf.remind(req, actor=tree.staff["county"], note="内部催办说明")

    page = client.get(f"/t/{req.tracking_token}").get_data(as_text=True)

    for step in ("已认领", "已交办至 沙溪镇住建局", "已答复", "已协调银行办理续贷。", "请评价"):
        assert step in page
    assert "内部催办说明" not in page  # internal notes stay inside
    assert "沙溪镇住建局经办人" not in page  # and so do officials' names


def test_escalation_shows_the_congress_it_went_to(client, tree):
    from liaison_app.services import workflow as wf
    from tests.factories import make_request

    req = make_request(deputy=tree.deputy)
    wf.claim_request(req, actor=tree.deputy_user)
    wf.escalate_request(reload(req), actor=tree.deputy_user, version=reload(req).version, reason="需县级协调")

    page = client.get(f"/t/{req.tracking_token}").get_data(as_text=True)

    assert "已上报至 太仓市人大常委会" in page


def test_rating_satisfied_closes_the_request(client, tree):
    req = awaiting_rating(tree)

    response = client.post(f"/t/{req.tracking_token}/rate", data={"rating": "satisfied", "version": req.version})

    assert response.status_code == 303
    assert (reload(req).status, reload(req).rating) == (Status.CLOSED, Rating.SATISFIED)


def test_rating_unsatisfied_needs_a_comment_and_reopens(client, tree):
    req = awaiting_rating(tree)

    response = client.post(f"/t/{req.tracking_token}/rate", data={"rating": "unsatisfied", "version": req.version})
    assert response.status_code == 422
    assert "请说明还有哪些问题没有解决" in response.get_data(as_text=True)
    assert reload(req).status is Status.AWAITING_RATING

    client.post(f"/t/{req.tracking_token}/rate",
                data={"rating": "unsatisfied", "comment": "续贷仍未办下来", "version": req.version})
    again = reload(req)
    assert (again.status, again.is_supervised) == (Status.IN_PROGRESS, True)
    page = client.get(f"/t/{req.tracking_token}").get_data(as_text=True)
    assert "企业不满意，重新办理" in page and "续贷仍未办下来" in page


def test_the_rating_form_shows_only_when_a_rating_is_due(client, tree, filed):
    assert 'name="rating"' not in client.get(f"/t/{filed.tracking_token}").get_data(as_text=True)
    req = awaiting_rating(tree)
    assert 'name="rating"' in client.get(f"/t/{req.tracking_token}").get_data(as_text=True)


def test_an_expired_rating_period_closes_as_unrated_when_the_page_is_opened(client, tree):
    from datetime import timedelta

    req = awaiting_rating(tree)
    req.rating_due_on = req.rating_due_on - timedelta(days=8)
    db.session.commit()

    page = client.get(f"/t/{req.tracking_token}").get_data(as_text=True)

    assert (reload(req).status, reload(req).rating) == (Status.CLOSED, Rating.UNRATED)
    assert 'name="rating"' not in page
