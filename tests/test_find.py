"""找回我的诉求 (/find): a number, a code texted to it, the number's requests.

An HTTP server on 127.0.0.1 plays the SMS gateway (SMS_BACKEND=http) and the tests read the
code from what our code sent it, as the person reads it on the phone.
"""

import hashlib
import logging
import re
import time
from collections import deque
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from liaison_app.extensions import db
from liaison_app.models import SmsCode
from liaison_app.services import find as finding
from tests.factories import make_deputy, make_qr_code, make_request
from tests.limits_support import RUN_PREFIX, limits_config, redis_url  # noqa: F401 (fixtures)
from tests.stand_in import StandIn

PHONE = "13812345678"
E164 = "+8613812345678"
NOBODY = "13998765432"  # a mobile number that never filed anything
START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
WRONG_OR_EXPIRED = "验证码错误或已过期"


@pytest.fixture
def gateway():
    """The SMS gateway (SMS_BACKEND=http): answers {"ok": true} unless told otherwise."""
    with StandIn({"ok": True}) as stand_in:
        yield stand_in


def last_code(gateway: StandIn) -> str:
    """The code in the last text the gateway was asked to send, as the phone shows it."""
    message = gateway.last.json
    assert re.fullmatch(r"\d{6}", message["params"]["code"])
    assert message["params"]["code"] in message["text"]  # what the phone shows
    return message["params"]["code"]


@pytest.fixture
def app_config(gateway):
    return {"SMS_BACKEND": "http", "SMS_HTTP_URL": gateway.url("/sms"), "SMS_TIMEOUT_SECONDS": 2}


@pytest.fixture(autouse=True)
def fresh_send_times(monkeypatch):
    """The worker's record of send times starts empty in each test (see services/find._pad)."""
    monkeypatch.setattr(finding, "_send_seconds", deque(maxlen=25))


def ask(client, phone=PHONE, **kwargs):
    return client.post("/find", data={"phone": phone}, **kwargs)


def enter(client, code, **kwargs):
    return client.post("/find/code", data={"code": code}, **kwargs)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** 6:06d}"


def codes() -> list[SmsCode]:
    return db.session.scalars(sa.select(SmsCode).order_by(SmsCode.id)).all()


def filed_with(phone=E164, **overrides):
    return make_request(contact_phone=phone, **overrides)


# --- the whole way ----------------------------------------------------------------------


def test_a_number_a_code_and_that_numbers_requests_with_their_links(client, gateway):
    older = filed_with(created_at=datetime(2026, 3, 1, 2, 0), title="过桥资金紧张")
    newer = filed_with(created_at=datetime(2026, 9, 1, 2, 0), title="招工难")
    someone_elses = filed_with("+8613900001111", title="道路塌陷")

    page = client.get("/find").get_data(as_text=True)
    assert "找回我的诉求" in page and 'name="phone"' in page and 'method="post"' in page

    asked = ask(client, "138 1234 5678")
    assert asked.status_code == 303 and asked.headers["Location"] == "/find/code"  # no number in the URL
    [message] = gateway.json_bodies()
    assert message["phone"] == E164
    code = last_code(gateway)

    page = client.get("/find/code").get_data(as_text=True)
    assert "138****5678" in page and "10 分钟内有效" in page

    shown = enter(client, code)

    page = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    links = re.findall(r'href="/t/([^"]+)"', page)
    assert links == [newer.tracking_token, older.tracking_token]  # newest first
    assert someone_elses.reference not in page and "道路塌陷" not in page
    for req in (newer, older):
        assert req.reference in page and req.title in page
    assert "等待代表受理" in page and "提交于 2026-09-01" in page
    cookie = client.get_cookie("my_requests")
    assert cookie.value.split(".")[:2] == [newer.tracking_token, older.tracking_token]
    assert cookie.http_only

    mine = client.get("/mine").get_data(as_text=True)
    assert newer.reference in mine and older.reference in mine


def test_the_found_requests_join_those_the_phone_already_remembers(client, gateway):
    earlier = make_request(contact_phone="+8613900001111")
    client.get(f"/t/{earlier.tracking_token}")
    found = filed_with()

    ask(client)
    enter(client, last_code(gateway))

    assert client.get_cookie("my_requests").value == f"{found.tracking_token}.{earlier.tracking_token}"


def test_with_htmx_the_steps_answer_with_a_redirect_and_the_list_alone(client, gateway, htmx):
    req = filed_with()

    asked = ask(client, headers=htmx)
    shown = enter(client, last_code(gateway), headers=htmx)

    assert asked.status_code == 200 and asked.headers["HX-Redirect"] == "/find/code"
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "<html" not in page
    assert page.lstrip().startswith('<section id="find-form"') and req.reference in page


# --- a number without requests ----------------------------------------------------------


def test_a_number_without_requests_gets_the_same_answer_and_no_text(app, gateway):
    filed_with()
    has, hasnt = app.test_client(), app.test_client()

    answers = [ask(has), ask(hasnt, NOBODY)]
    pages = [has.get("/find/code").get_data(as_text=True), hasnt.get("/find/code").get_data(as_text=True)]

    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert answers[0].get_data() == answers[1].get_data()
    assert same_page(pages[0], "138****5678", "138 1234 5678") == same_page(pages[1], "139****5432", "139 9876 5432")
    assert [m["phone"] for m in gateway.json_bodies()] == [E164]  # a text only where there are requests
    assert [c.phone for c in codes()] == [E164, "+8613998765432"]  # the same work for both

    tried = enter(hasnt, "123456")

    assert tried.status_code == 422 and WRONG_OR_EXPIRED in tried.get_data(as_text=True)


def same_page(page: str, *numbers: str) -> str:
    """The page without what differs by design: the number shown and the session's CSRF token."""
    for number in numbers:
        page = page.replace(number, "NUMBER")
    return re.sub(r'"X-CSRFToken": "[^"]+"|name="csrf_token" value="[^"]+"', "", page)


def test_a_number_without_requests_takes_about_as_long_as_one_with(app, gateway):
    filed_with()
    gateway.delay = 0.3

    started = time.monotonic()
    ask(app.test_client())
    with_text = time.monotonic() - started
    started = time.monotonic()
    ask(app.test_client(), NOBODY)
    without = time.monotonic() - started

    assert with_text >= 0.3 and without >= 0.25


# --- codes --------------------------------------------------------------------------------


def test_codes_are_kept_only_as_a_keyed_hash_and_never_logged(client, gateway, caplog):
    filed_with()
    with caplog.at_level(logging.DEBUG):
        ask(client)
        code = last_code(gateway)
        enter(client, wrong(code))
        enter(client, code)

    [row] = codes()
    stored = " ".join(str(value) for value in (row.phone, row.code_hash, row.attempts))
    assert code not in stored
    assert row.code_hash != hashlib.sha256(code.encode()).hexdigest()
    assert row.used_at is not None and row.attempts == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "find code" in logged and "138****5678" in logged
    assert code not in logged and PHONE not in logged


def test_the_log_backend_masks_the_number_and_leaves_the_code_out(app, client, caplog, monkeypatch):
    app.config["SMS_BACKEND"] = "log"
    monkeypatch.setattr(finding.secrets, "randbelow", lambda _n: 424242)
    filed_with()
    with caplog.at_level(logging.DEBUG):
        ask(client)
        shown = enter(client, "424242")

    assert shown.status_code == 200
    sms_lines = [r.getMessage() for r in caplog.records if r.name == "liaison.sms"]
    assert sms_lines and all("138****5678" in line for line in sms_lines)
    assert "424242" not in caplog.text and PHONE not in caplog.text


@pytest.mark.parametrize("after,opens", [(timedelta(minutes=9, seconds=59), True), (timedelta(minutes=10, seconds=1), False)])
def test_a_code_lasts_ten_minutes(client, gateway, after, opens):
    req = filed_with()
    with time_machine.travel(START, tick=False) as clock:
        ask(client)
        clock.shift(after)
        shown = enter(client, last_code(gateway))

    page = shown.get_data(as_text=True)
    if opens:
        assert shown.status_code == 200 and req.reference in page
    else:
        assert shown.status_code == 422 and WRONG_OR_EXPIRED in page and req.tracking_token not in page
        assert client.get_cookie("my_requests") is None


def test_the_fifth_wrong_try_kills_the_code(client, gateway):
    req = filed_with()
    ask(client)
    code = last_code(gateway)

    tries = [enter(client, wrong(code)) for _ in range(5)]
    right_too_late = enter(client, code)

    pages = [t.get_data(as_text=True) for t in tries]
    assert [t.status_code for t in tries] == [422] * 5
    assert all(WRONG_OR_EXPIRED in page for page in pages[:4])
    assert "验证码已输错 5 次，已失效，请重新获取验证码。" in pages[4]
    assert right_too_late.status_code == 422 and req.tracking_token not in right_too_late.get_data(as_text=True)
    assert "已输错 5 次" in right_too_late.get_data(as_text=True)
    assert codes()[0].attempts == 5
    assert "重新获取验证码" in pages[4] and 'value="138 1234 5678"' in pages[4]  # one tap to a new code


def test_a_new_code_works_after_a_dead_one(client, gateway):
    req = filed_with()
    ask(client)
    first = last_code(gateway)
    for _ in range(5):
        enter(client, wrong(first))

    ask(client)
    shown = enter(client, last_code(gateway))

    assert shown.status_code == 200 and req.reference in shown.get_data(as_text=True)


def test_a_code_opens_the_list_once(app, client, gateway):
    req = filed_with()
    ask(client)
    code = last_code(gateway)
    session_before = client.get_cookie("session").value
    assert enter(client, code).status_code == 200

    again = enter(client, code)  # this browser: the code is no longer asked for
    replay = app.test_client()
    replay.set_cookie("session", session_before)  # a copy of the session from before: the code is used
    replayed = enter(replay, code)

    assert again.status_code == 303 and again.headers["Location"] == "/find"
    assert replayed.status_code == 422 and WRONG_OR_EXPIRED in replayed.get_data(as_text=True)
    assert req.tracking_token not in replayed.get_data(as_text=True)


def test_a_code_that_is_not_six_digits_is_refused_without_counting_a_try(client, gateway):
    filed_with()
    ask(client)

    short = enter(client, "12345")
    full_width = enter(client, "１２３ ４５６")  # typed on a Chinese keyboard: counted as 123456

    assert short.status_code == 422 and "请输入短信中的 6 位数字验证码。" in short.get_data(as_text=True)
    assert full_width.status_code == 422 and WRONG_OR_EXPIRED in full_width.get_data(as_text=True)
    assert codes()[0].attempts == 1


def test_the_code_step_without_a_code_asked_for_goes_back_to_the_number(client):
    assert client.get("/find/code").headers["Location"] == "/find"
    response = enter(client, "123456")
    assert response.status_code == 303 and response.headers["Location"] == "/find"


# --- the number --------------------------------------------------------------------------


@pytest.mark.parametrize("typed,message", [
    ("0512-53521234", "请填写手机号码：固定电话无法接收验证码。"),
    ("12345", "不是有效"),
    ("", "请填写联系电话"),
])
def test_a_number_that_cannot_take_a_code_is_refused_and_kept(client, gateway, typed, message):
    response = ask(client, typed)

    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    assert f'value="{typed}"' in page if typed else 'name="phone"' in page
    assert codes() == [] and gateway.received == []


@pytest.mark.parametrize("status,message,answer", [
    (422, "该号码无法接收短信。", 422),
    (400, "短信发送失败，请稍后再试。", 503),
    (429, "短信发送失败，请稍后再试。", 503),
    (500, "短信发送失败，请稍后再试。", 503),
])
def test_a_text_the_gateway_refuses_or_fails_says_so_and_keeps_the_number(client, gateway, status, message, answer):
    filed_with()
    gateway.answer({"message": "refused"}, status=status)

    response = ask(client)

    page = response.get_data(as_text=True)
    assert response.status_code == answer and message in page and 'value="13812345678"' in page
    assert "有诉求" not in page  # nothing about the number's requests
    assert client.get("/find/code").headers["Location"] == "/find"  # no code to enter


def test_with_htmx_a_failed_text_replaces_the_form_in_place(client, gateway, htmx):
    filed_with()
    gateway.answer({"message": "refused"}, status=500)

    response = ask(client, headers=htmx)

    assert response.status_code == 503 and response.headers["HX-Retarget"] == "#find-form"
    assert response.get_data(as_text=True).lstrip().startswith('<form id="find-form"')


# --- where /find is offered ---------------------------------------------------------------


def test_the_pages_that_lose_links_point_to_find(client):
    req = make_request()
    code = make_qr_code(deputy=make_deputy())

    mine = client.get("/mine").get_data(as_text=True)
    tracking = client.get(f"/t/{req.tracking_token}").get_data(as_text=True)
    landing = client.get(f"/q/{code.token}").get_data(as_text=True)
    index = client.get("/").get_data(as_text=True)

    assert "换了手机或清除了浏览器数据？" in mine and "通过手机号找回" in mine
    for page in (mine, tracking, landing, index):
        assert 'href="/find"' in page
    assert re.search(r'<footer[^>]*>.*href="/find".*</footer>', landing, re.S)


# --- CSRF -------------------------------------------------------------------------------


class TestCsrf:
    @pytest.fixture
    def app_config(self, gateway):
        return {"SMS_BACKEND": "http", "SMS_HTTP_URL": gateway.url("/sms"), "WTF_CSRF_ENABLED": True}

    def test_both_steps_need_the_pages_token(self, client, gateway):
        filed_with()
        assert ask(client).status_code == 400 and codes() == []

        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/find").get_data(as_text=True)).group(1)
        assert client.post("/find", data={"phone": PHONE, "csrf_token": token}).status_code == 303
        code = last_code(gateway)
        assert enter(client, code).status_code == 400
        shown = client.post("/find/code", data={"code": code, "csrf_token": token})
        assert shown.status_code == 200


# --- limits -----------------------------------------------------------------------------


class TestLimits:
    @pytest.fixture
    def app_config(self, gateway, limits_config):
        return limits_config | {"SMS_BACKEND": "http", "SMS_HTTP_URL": gateway.url("/sms"),
                                "FIND_CODES_PER_IP": "4 per minute"}

    def test_a_number_gets_one_code_a_minute_and_five_an_hour(self, app, gateway):
        filed_with()
        with time_machine.travel(START, tick=False) as clock:
            first = ask(app.test_client(), environ_base={"REMOTE_ADDR": "192.0.2.1"})
            again = ask(app.test_client(), "138-1234-5678", environ_base={"REMOTE_ADDR": "192.0.2.2"})
            other = ask(app.test_client(), NOBODY, environ_base={"REMOTE_ADDR": "192.0.2.2"})
            answers = []
            for n in range(4):
                clock.shift(61)
                answers.append(ask(app.test_client(), environ_base={"REMOTE_ADDR": f"192.0.2.{10 + n}"}).status_code)
            clock.shift(61)
            sixth = ask(app.test_client(), environ_base={"REMOTE_ADDR": "192.0.2.20"})

        page = again.get_data(as_text=True)
        assert (first.status_code, again.status_code, other.status_code) == (303, 429, 303)
        assert "该号码获取验证码过于频繁，请 1 分钟后再试。" in page and 'value="138-1234-5678"' in page
        assert 1 <= int(again.headers["Retry-After"]) <= 61
        assert answers == [303] * 4
        assert sixth.status_code == 429 and int(sixth.headers["Retry-After"]) > 60
        assert len(gateway.received) == 5

    def test_an_address_gets_a_few_codes_a_minute_and_typos_do_not_count(self, app, gateway):
        factory = {"REMOTE_ADDR": "203.0.113.40"}
        with time_machine.travel(START, tick=False):
            typos = [ask(app.test_client(), "1381234", environ_base=factory).status_code for _ in range(5)]
            made = [ask(app.test_client(), f"1390000{n:04d}", environ_base=factory).status_code for n in range(4)]
            refused = ask(app.test_client(), "13900009999", environ_base=factory)
            elsewhere = ask(app.test_client(), "13900009999", environ_base={"REMOTE_ADDR": "203.0.113.41"})

        assert typos == [422] * 5 and made == [303] * 4
        page = refused.get_data(as_text=True)
        assert refused.status_code == 429 and "此网络获取验证码的次数过多" in page and 'value="13900009999"' in page
        assert elsewhere.status_code == 303
        assert len(codes()) == 5


class TestLimiterStorage:
    @pytest.fixture
    def app_config(self, gateway, redis_url):
        return {"RATELIMIT_ENABLED": True, "REDIS_URL": redis_url, "RATELIMIT_KEY_PREFIX": f"{RUN_PREFIX}-find",
                "SMS_BACKEND": "http", "SMS_HTTP_URL": gateway.url("/sms")}

    def test_the_counts_in_redis_name_no_phone_number(self, client, redis_url):
        import redis

        ask(client)

        store = redis.Redis.from_url(redis_url)
        keys = [k.decode() for k in store.scan_iter(match=f"*{RUN_PREFIX}-find*")]
        assert any("phone:" in k for k in keys)
        assert not any("13812345678" in k for k in keys)


def test_spent_codes_are_deleted_after_a_day(client, gateway):
    filed_with()
    with time_machine.travel(START, tick=False) as clock:
        ask(client)
        clock.shift(timedelta(days=1, minutes=11))
        ask(client, NOBODY)

    assert [c.phone for c in codes()] == ["+8613998765432"]
