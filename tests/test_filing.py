"""The enterprise's path: scan → file → follow, through the test client."""

import io
import re
import uuid

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Attachment, Channel, Enterprise, Notification, QRCode, Request, RequestEvent
from liaison_app.workflow import Action, Status
from tests.factories import (
    image_bytes,
    make_deputy,
    make_enterprise,
    make_jurisdiction,
    make_qr_code,
    make_station,
    valid_uscc,
)


def form_data(**overrides):
    data = {
        "kind": "request",
        "enterprise_name": "太仓市恒丰精密机械有限公司",
        "uscc": valid_uscc(424242),
        "contact_name": "王海燕",
        "contact_phone": "13812345678",
        "category": "labour",
        "description": "今年订单增加，车间缺少熟练焊工二十名，希望帮助对接职业院校和人社部门的招聘会。",
        "idempotency_key": uuid.uuid4().hex,
    }
    data.update(overrides)
    return data


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def deputy_code():
    return make_qr_code(deputy=make_deputy(name="陆建国"))


def test_filing_through_a_deputys_code_addresses_the_deputy_and_queues_at_the_station(client, deputy_code):
    response = client.post(f"/q/{deputy_code.token}/file", data=form_data())

    assert response.status_code == 303
    req = db.session.scalars(sa.select(Request)).one()
    assert response.headers["Location"] == f"/t/{req.tracking_token}"
    assert req.status is Status.SUBMITTED
    assert req.channel is Channel.QR_DEPUTY
    assert req.addressed_deputy_id == deputy_code.deputy_id
    assert req.station_id == deputy_code.deputy.stations[0].id
    assert req.jurisdiction_id == deputy_code.deputy.stations[0].jurisdiction_id
    assert req.contact_phone == "+8613812345678"
    assert req.enterprise.uscc == form_data()["uscc"]
    assert re.fullmatch(r"\d{4}-\d{6}", req.reference)
    assert req.claim_due_on is not None
    [event] = req.events
    assert (event.action, event.from_status, event.to_status, event.is_public) == (
        Action.FILE, None, Status.SUBMITTED, True)
    assert event.jurisdiction_id == req.jurisdiction_id  # the trail records the level it was filed at


def test_filing_through_a_stations_code_queues_at_that_station(client):
    station = make_station(name="万安县工业园区代表联络站")
    code = make_qr_code(station=station)

    client.post(f"/q/{code.token}/file", data=form_data())

    req = db.session.scalars(sa.select(Request)).one()
    assert (req.channel, req.station_id, req.jurisdiction_id, req.addressed_deputy_id) == (
        Channel.QR_STATION, station.id, station.jurisdiction_id, None)


def test_a_deputy_in_two_stations_queues_at_the_first_and_the_message_names_its_place(client):
    first = make_station(name="万安县工业园区代表联络站", jurisdiction=make_jurisdiction(name="万安镇"))
    second = make_station(name="万安县城东代表联络站")
    deputy = make_deputy(station=second, name="陆建国")
    deputy.stations.append(first)
    db.session.commit()
    code = make_qr_code(deputy=deputy)

    assert client.post(f"/q/{code.token}/file", data=form_data()).status_code == 303

    req = db.session.scalars(sa.select(Request)).one()
    assert (req.station_id, req.jurisdiction_id, req.filed_jurisdiction_id) == (
        first.id, first.jurisdiction_id, first.jurisdiction_id)  # the smaller id, as Deputy.stations orders them
    message = db.session.scalars(sa.select(Notification)).one()
    assert (message.recipient_deputy_id, message.payload["recipient"], message.payload["jurisdiction"]) == (
        deputy.id, "陆建国", "万安镇")


def test_a_deputy_in_no_station_queues_at_the_congress_that_elected_them(client):
    congress = make_jurisdiction(name="太仓市")
    deputy = make_deputy(name="陆建国", congress_jurisdiction=congress)
    deputy.stations.clear()
    db.session.commit()
    code = make_qr_code(deputy=deputy)

    assert client.post(f"/q/{code.token}/file", data=form_data()).status_code == 303

    req = db.session.scalars(sa.select(Request)).one()
    assert (req.station_id, req.jurisdiction_id, req.addressed_deputy_id) == (None, congress.id, deputy.id)
    assert db.session.scalars(sa.select(Notification)).one().payload["jurisdiction"] == "太仓市"


@pytest.mark.parametrize("retire", ["deputy", "station"])
def test_a_code_whose_deputy_or_station_left_takes_no_request(client, retire):
    code = make_qr_code(deputy=make_deputy()) if retire == "deputy" else make_qr_code(station=make_station())
    (code.deputy or code.station).active = False
    db.session.commit()

    response = client.post(f"/q/{code.token}/file", data=form_data())

    assert response.status_code == 200
    assert "已停用" in response.get_data(as_text=True)
    assert count(Request) == 0 and count(Notification) == 0


def test_filing_through_an_unknown_code_is_404_and_writes_nothing(client):
    response = client.post("/q/no-such-code-at-all/file", data=form_data())

    assert response.status_code == 404
    assert "无法识别此二维码" in response.get_data(as_text=True)
    assert count(Request) == 0


def test_a_form_sent_back_for_a_fix_still_shows_whom_it_goes_to(client, deputy_code):
    response = client.post(f"/q/{deputy_code.token}/file", data=form_data(contact_phone="12"))

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "陆建国" in page and form_data()["description"] in page
    assert count(Request) == 0


def test_tracking_page_shows_reference_status_trail_and_addressee(client, deputy_code):
    response = client.post(f"/q/{deputy_code.token}/file", data=form_data(), follow_redirects=True)

    page = response.get_data(as_text=True)
    req = db.session.scalars(sa.select(Request)).one()
    assert response.status_code == 200
    assert req.reference in page
    assert "等待代表受理" in page  # the status in plain words
    assert "陆建国" in page
    assert "请收藏本页" in page or "保存" in page  # tells the user to keep the link
    assert f"https://liaison.example.cn/t/{req.tracking_token}" in page


def test_with_htmx_success_answers_hx_redirect(client, deputy_code, htmx):
    response = client.post(f"/q/{deputy_code.token}/file", data=form_data(), headers=htmx)

    req = db.session.scalars(sa.select(Request)).one()
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/t/{req.tracking_token}"
    assert "HX-Request" in response.headers["Vary"]


def test_the_form_page_and_its_fields(client, deputy_code):
    response = client.get(f"/q/{deputy_code.token}/file")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for name in ("enterprise_name", "uscc", "contact_name", "contact_phone", "category", "description",
                 "photos", "public_consent", "homepage", "idempotency_key"):
        assert f'name="{name}"' in page
    assert 'enctype="multipart/form-data"' in page
    assert 'method="post"' in page  # works without JavaScript
    consent = re.search(r'<input[^>]*name="public_consent"[^>]*>', page).group(0)
    assert "checked" not in consent


BAD_INPUTS = [
    ("enterprise_name", "", "请填写企业名称"),
    ("uscc", "91320585MA1X2Y3Z4", "18 位"),
    ("uscc", "91320585000424242X", "校验位"),
    ("contact_name", "   ", "请填写联系人"),
    ("contact_phone", "", "请填写联系电话"),
    ("contact_phone", "12345", "不是有效"),
    ("contact_phone", "+1 650 253 0000", "中国大陆"),
    ("category", "", "请选择类别"),
    ("category", "weather", "请选择类别"),
    ("description", "太短了", "10"),
    ("description", "长" * 2001, "2000"),
]


@pytest.mark.parametrize("field,value,message", BAD_INPUTS)
@pytest.mark.parametrize("with_htmx", [False, True])
def test_bad_input_is_shown_by_its_field_keeps_every_value_and_writes_nothing(
    client, deputy_code, field, value, message, with_htmx
):
    data = form_data(**{field: value})
    headers = {"HX-Request": "true"} if with_htmx else {}

    response = client.post(f"/q/{deputy_code.token}/file", data=data, headers=headers)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="error-{field}" role="alert">([^<]*)</p>', page).group(1)
    assert message in error
    for kept in ("enterprise_name", "contact_name", "contact_phone"):
        if kept != field:
            assert f'value="{data[kept]}"' in page
    if field != "description":
        assert data["description"] in page
    assert (count(Request), count(RequestEvent), count(Enterprise)) == (0, 0, 0)
    if with_htmx:
        assert "<html" not in page and 'id="filing-form"' in page
    else:
        assert "<html" in page


def test_a_bad_photo_keeps_the_text_and_says_photos_must_be_chosen_again(client, deputy_code, tmp_path):
    data = form_data(photos=(io.BytesIO(b"<html><script>alert(1)</script></html>"), "photo.jpg"))

    response = client.post(f"/q/{deputy_code.token}/file", data=data, content_type="multipart/form-data")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "不是可识别的照片" in page
    assert "请重新选择照片" in page
    assert data["description"] in page
    assert count(Request) == 0 and count(Attachment) == 0
    assert not list((tmp_path / "uploads").rglob("*.jpg"))


def test_more_than_three_photos_are_refused(client, deputy_code):
    photos = [(io.BytesIO(image_bytes()), f"p{i}.jpg") for i in range(4)]

    response = client.post(f"/q/{deputy_code.token}/file", data=form_data(photos=photos),
                           content_type="multipart/form-data")

    assert response.status_code == 422
    assert "最多" in response.get_data(as_text=True)
    assert count(Request) == 0


def test_a_photo_over_8_mb_is_refused_with_the_text_kept(client, deputy_code, app):
    app.config["MAX_PHOTO_BYTES"] = 1000  # keep the test small: the limit is what is checked
    data = form_data(photos=(io.BytesIO(image_bytes(size=(400, 400))), "big.jpg"))

    response = client.post(f"/q/{deputy_code.token}/file", data=data, content_type="multipart/form-data")

    assert response.status_code == 422
    assert data["description"] in response.get_data(as_text=True)
    assert count(Request) == 0


def test_an_oversize_upload_gets_413_and_a_clear_page(client, deputy_code, app):
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    data = form_data(photos=(io.BytesIO(b"\xff" * 60_000), "huge.jpg"))

    response = client.post(f"/q/{deputy_code.token}/file", data=data, content_type="multipart/form-data")

    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "太大" in page and "8 MB" in page
    assert "Traceback" not in page
    assert count(Request) == 0


def test_photos_are_stored_re_encoded_outside_static_without_exif(client, deputy_code, app, tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "FactoryCam"  # Make
    exif[0x8825] = {1: "N", 2: (31.0, 27.0, 0.0)}  # GPS latitude
    photo = image_bytes(exif=exif)
    assert b"FactoryCam" in photo
    data = form_data(photos=[(io.BytesIO(photo), "site.jpg"), (io.BytesIO(image_bytes("PNG")), "leak.png")])

    response = client.post(f"/q/{deputy_code.token}/file", data=data, content_type="multipart/form-data")

    assert response.status_code == 303
    req = db.session.scalars(sa.select(Request)).one()
    assert len(req.attachments) == 2
    for attachment in req.attachments:
        assert attachment.event_id == req.events[0].id
        path = tmp_path / "uploads" / attachment.stored_name
        stored = path.read_bytes()
        assert "static" not in str(path)
        assert not attachment.stored_name.startswith(("site", "leak"))
        assert b"FactoryCam" not in stored and b"Exif" not in stored
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert not image.getexif()
        import hashlib
        assert attachment.sha256 == hashlib.sha256(stored).hexdigest()
        assert attachment.size == len(stored)


def test_a_retried_post_with_the_same_key_gives_the_same_request(client, deputy_code):
    data = form_data()

    first = client.post(f"/q/{deputy_code.token}/file", data=dict(data))
    second = client.post(f"/q/{deputy_code.token}/file", data=dict(data))

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(Request) == 1 and count(RequestEvent) == 1
    assert count(Notification) == 1  # the deputy hears of it once

    client.post(f"/q/{deputy_code.token}/file", data=form_data())  # the retry took no reference number
    first_reference, next_reference = db.session.scalars(sa.select(Request.reference).order_by(Request.id)).all()
    assert int(next_reference[-6:]) == int(first_reference[-6:]) + 1


def test_a_form_without_a_valid_key_is_shown_again_with_a_fresh_one(client, deputy_code):
    response = client.post(f"/q/{deputy_code.token}/file", data=form_data(idempotency_key="forged"))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    key = re.search(r'name="idempotency_key"[^>]*value="([0-9a-f]{32})"', page)
    assert key is not None
    assert count(Request) == 0


def test_the_honeypot_field_stops_robots_and_writes_nothing(client, deputy_code):
    response = client.post(f"/q/{deputy_code.token}/file", data=form_data(homepage="http://spam.example"))

    assert response.status_code == 422
    assert count(Request) == 0
    assert "http://spam.example" not in response.get_data(as_text=True)


def test_an_existing_enterprise_is_reused_by_its_uscc(client, deputy_code):
    enterprise = make_enterprise(name="太仓市恒丰精密机械有限公司", uscc=valid_uscc(77))

    client.post(f"/q/{deputy_code.token}/file", data=form_data(uscc=enterprise.uscc.lower()))

    req = db.session.scalars(sa.select(Request)).one()
    assert req.enterprise_id == enterprise.id
    assert count(Enterprise) == 1


def test_references_count_up(client, deputy_code):
    client.post(f"/q/{deputy_code.token}/file", data=form_data())
    client.post(f"/q/{deputy_code.token}/file", data=form_data())

    first, second = db.session.scalars(sa.select(Request.reference).order_by(Request.id)).all()
    assert int(second[-6:]) == int(first[-6:]) + 1


def test_a_retired_code_cannot_take_requests(client, deputy_code):
    from liaison_app.models import utcnow

    deputy_code.revoked_at = utcnow()
    db.session.commit()

    response = client.post(f"/q/{deputy_code.token}/file", data=form_data())

    assert response.status_code == 200
    assert "已停用" in response.get_data(as_text=True)
    assert count(Request) == 0


class TestExpiredCsrfToken:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_the_form_comes_back_with_every_value_and_a_message(self, client, deputy_code):
        data = form_data(csrf_token="expired-or-forged")

        response = client.post(f"/q/{deputy_code.token}/file", data=data)

        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "页面打开时间较长" in page
        for field in ("enterprise_name", "contact_name", "contact_phone", "uscc"):
            assert f'value="{data[field]}"' in page
        assert data["description"] in page
        assert count(Request) == 0

    def test_with_a_valid_token_the_filing_goes_through(self, client, deputy_code):
        page = client.get(f"/q/{deputy_code.token}/file").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

        response = client.post(f"/q/{deputy_code.token}/file", data=form_data(csrf_token=token))

        assert response.status_code == 303
        assert count(Request) == 1

    def test_htmx_requests_carry_the_token_in_a_header(self, client, deputy_code):
        page = client.get(f"/q/{deputy_code.token}/file").get_data(as_text=True)
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)

        response = client.post(f"/q/{deputy_code.token}/file", data=form_data(),
                               headers={"HX-Request": "true", "X-CSRFToken": token})

        assert response.status_code == 200 and "HX-Redirect" in response.headers


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("uscc", "91110000600037341L", ""),
        ("uscc", "91110000600037341M", "校验位"),
        ("uscc", "", ""),
        ("contact_phone", "0512-53521234", ""),
        ("contact_phone", "1381234567", "不是有效"),
    ],
)
def test_inline_validation_returns_only_the_error_line(client, htmx, field, value, expected):
    response = client.post(f"/validate/{field}", data={field: value}, headers=htmx)

    page = response.get_data(as_text=True).strip()
    assert response.status_code == 200
    assert page.startswith(f'<p class="field-error" id="error-{field}"')
    assert expected in page
    if not expected:
        assert "></p>" in page


def test_inline_validation_of_an_unknown_field_is_404(client):
    assert client.post("/validate/description", data={}).status_code == 404


# --- 短信通知办理进度 (SMS about the progress) ---------------------------------------------


def sms_box(page: str) -> str:
    return re.search(r'<input[^>]*name="sms_opt_in"[^>]*>', page).group(0)


def test_the_sms_box_is_ticked_when_the_form_is_first_shown_and_says_it_needs_a_mobile(client, deputy_code):
    page = client.get(f"/q/{deputy_code.token}/file").get_data(as_text=True)

    assert "checked" in sms_box(page)
    assert "短信通知办理进度" in page and "仅限手机号码，固定电话收不到短信。" in page


@pytest.mark.parametrize("phone,ticked,stored", [
    ("13812345678", True, True),
    ("13812345678", False, False),
    ("0512-53521234", True, False),  # a landline cannot receive texts
])
def test_the_sms_choice_is_stored_for_a_mobile_only(client, deputy_code, phone, ticked, stored):
    data = form_data(contact_phone=phone) | ({"sms_opt_in": "y"} if ticked else {})

    assert client.post(f"/q/{deputy_code.token}/file", data=data).status_code == 303

    assert db.session.scalars(sa.select(Request)).one().sms_opt_in is stored


@pytest.mark.parametrize("ticked", [True, False])
@pytest.mark.parametrize("with_htmx", [False, True])
def test_a_form_sent_back_keeps_the_sms_box_as_it_was_left(client, deputy_code, ticked, with_htmx):
    data = form_data(description="太短了") | ({"sms_opt_in": "y"} if ticked else {})

    response = client.post(f"/q/{deputy_code.token}/file", data=data,
                           headers={"HX-Request": "true"} if with_htmx else {})

    assert response.status_code == 422
    assert ("checked" in sms_box(response.get_data(as_text=True))) is ticked
