"""Text messages (services/sms.py): each backend runs its real client against a stand-in for
the provider on 127.0.0.1, which records what it was sent and answers as told."""

import hashlib
import hmac
import json
import logging
import re
import socket
import time
from urllib.parse import quote

import pytest

from liaison_app import ConfigError
from liaison_app.services.sms import (
    SmsConfigError,
    SmsFailed,
    SmsRefused,
    SmsTryLater,
    get_backend,
    render_text,
    template_for,
)
from tests.conftest import make_app
from tests.stand_in import Received, StandIn

PHONE = "+8613812345678"
KEY_ID = "LTAI-test-key-id"
KEY_SECRET = "test-key-secret"
SDK_APP_ID = "1400006666"
TEMPLATES = {
    "filed": {"code": "SMS_100001", "params": ["reference", "link"]},
    "generic": {"code": "SMS_100099", "params": ["reference"]},
}
PARAMS = {"reference": "2026-000123", "link": "https://liaison.example.cn/t/k3Xq9"}

ALIYUN_OK = {"Code": "OK", "Message": "OK", "BizId": "9006197469364984", "RequestId": "F655A8D5"}
TENCENT_OK = {"Response": {"RequestId": "a0aabda6", "SendStatusSet": [
    {"Code": "Ok", "Message": "send success", "PhoneNumber": PHONE, "SerialNo": "5000:1045710669157053657849499619"},
]}}


# --- the stand-in provider -------------------------------------------------------------------


@pytest.fixture
def provider():
    """The provider: answers 200 with {} unless told otherwise."""
    with StandIn() as stand_in:
        yield stand_in


@pytest.fixture
def closed_port_url():
    """An address where nothing listens: the connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def cases(rows):
    """Parametrized answers with ids such as 400-Throttling.User: the status and what the answer says."""
    def says(body):
        if isinstance(body, bytes):
            return "not-json"
        inner = body.get("Response", body)
        inner = inner.get("Error") or (inner.get("SendStatusSet") or [inner])[0]
        return str(inner.get("Code", inner.get("code", inner.get("ok", ""))))
    return [pytest.param(status, body, error, id=f"{status}-{says(body)}".rstrip("-"))
            for status, body, error in rows]


def use(app, backend, **settings):
    """Configure `backend` with test credentials (and `settings`) and return it."""
    app.config.update(
        SMS_BACKEND=backend, SMS_SIGN_NAME="码上找代表", SMS_ACCESS_KEY_ID=KEY_ID,
        SMS_ACCESS_KEY_SECRET=KEY_SECRET, SMS_SDK_APP_ID=SDK_APP_ID, SMS_TEMPLATES=TEMPLATES,
        SMS_TIMEOUT_SECONDS=2,
    )
    if backend == "http":
        settings.setdefault("SMS_HTTP_URL", settings.pop("SMS_ENDPOINT", None))
    app.config.update(settings)
    return get_backend()


# --- signatures, checked independently of the SDKs from the providers' published algorithms ---


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def acs3_signature_is_valid(received: Received, secret: str) -> bool:
    """Alibaba Cloud's ACS3-HMAC-SHA256: HMAC of a digest of the canonical request."""
    fields = dict(part.split("=", 1) for part in received.headers["authorization"].split(" ", 1)[1].split(","))
    signed = fields["SignedHeaders"].split(";")
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(received.query.items()))
    headers = "".join(f"{name}:{received.headers[name].strip()}\n" for name in signed)
    canonical = "\n".join([received.method, received.path, query, headers, fields["SignedHeaders"],
                           received.headers["x-acs-content-sha256"]])
    expected = hmac.new(secret.encode(), f"ACS3-HMAC-SHA256\n{sha256_hex(canonical.encode())}".encode(),
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["Signature"])


def tc3_signature_is_valid(received: Received, secret_key: str) -> bool:
    """Tencent Cloud's TC3-HMAC-SHA256 over content-type and host, keyed by date and service."""
    fields = dict(part.strip().split("=", 1) for part in received.headers["authorization"].split(" ", 1)[1].split(","))
    date, service, _ = fields["Credential"].split("/", 1)[1].split("/")
    canonical = (f"{received.method}\n/\n\ncontent-type:{received.headers['content-type']}\n"
                 f"host:{received.headers['host']}\n\ncontent-type;host\n{sha256_hex(received.body)}")
    to_sign = (f"TC3-HMAC-SHA256\n{received.headers['x-tc-timestamp']}\n{date}/{service}/tc3_request\n"
               f"{sha256_hex(canonical.encode())}")
    key = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["Signature"])


# --- text and templates ----------------------------------------------------------------------


def test_the_text_is_a_chinese_sentence_that_ends_with_its_link():
    assert render_text("filed", PARAMS) == \
        "【码上找代表】您的诉求2026-000123已受理，查看进度：https://liaison.example.cn/t/k3Xq9"


def test_a_text_without_a_link_ends_with_a_full_stop():
    assert render_text("find_code", {"code": "381204"}) == "【码上找代表】您的查询验证码为381204，请勿告诉他人。"


def test_a_kind_without_a_text_of_its_own_says_the_generic_one():
    assert render_text("visit_reminder", {"reference": "2026-000123"}) == "【码上找代表】诉求2026-000123有新进展。"


def test_a_kind_without_a_template_uses_the_generic_one(app):
    app.config["SMS_TEMPLATES"] = TEMPLATES

    assert template_for("filed") == ("SMS_100001", ["reference", "link"])
    assert template_for("overdue") == ("SMS_100099", ["reference"])


def test_a_kind_without_a_template_and_no_generic_one_is_a_config_error(app):
    app.config["SMS_TEMPLATES"] = {"filed": TEMPLATES["filed"]}

    with pytest.raises(SmsConfigError, match="'overdue'"):
        template_for("overdue")


# --- log -------------------------------------------------------------------------------------


def test_the_log_backend_is_the_default_and_writes_the_kind_with_the_number_masked(app, caplog):
    backend = get_backend()

    with caplog.at_level(logging.INFO, logger="liaison.sms"):
        backend.send(PHONE, "find_code", {"code": "381204"})

    assert backend.name == "log"
    [record] = [r for r in caplog.records if r.name == "liaison.sms"]
    assert record.getMessage() == "sms find_code to 138****5678"
    assert "13812345678" not in caplog.text and "381204" not in caplog.text


# --- aliyun ----------------------------------------------------------------------------------


def test_aliyun_sends_a_signed_send_sms_with_the_mainland_number_and_template(app, provider):
    provider.answer(ALIYUN_OK)
    backend = use(app, "aliyun", SMS_ENDPOINT=provider.url())

    backend.send(PHONE, "filed", PARAMS)

    sent = provider.last
    assert (sent.method, sent.path) == ("POST", "/")
    assert sent.headers["x-acs-action"] == "SendSms"
    assert sent.headers["x-acs-version"] == "2017-05-25"
    assert sent.headers["authorization"].startswith(f"ACS3-HMAC-SHA256 Credential={KEY_ID},")
    assert acs3_signature_is_valid(sent, KEY_SECRET)
    assert sent.query["PhoneNumbers"] == "13812345678"
    assert sent.query["SignName"] == "码上找代表"
    assert sent.query["TemplateCode"] == "SMS_100001"
    assert json.loads(sent.query["TemplateParam"]) == PARAMS


ALIYUN_ANSWERS = [
    (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发小时级流控Permits:5"}, SmsTryLater),
    (400, {"Code": "Throttling.User", "Message": "Request was denied due to user flow control."}, SmsTryLater),
    (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}, SmsRefused),
    (200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "模板不合法"}, SmsRefused),
    (200, {"Code": "isp.SYSTEM_ERROR", "Message": "System error"}, SmsFailed),
    (500, {"Code": "InternalError", "Message": "The request processing has failed."}, SmsFailed),
    (502, b"<html>Bad Gateway</html>", SmsFailed),
]


@pytest.mark.parametrize("status,body,error", cases(ALIYUN_ANSWERS))
def test_aliyun_answers_tell_whether_to_try_later_give_up_or_retry(app, provider, status, body, error):
    provider.answer(body, status=status, content_type="application/json" if isinstance(body, dict) else "text/html")
    backend = use(app, "aliyun", SMS_ENDPOINT=provider.url())

    with pytest.raises(error) as raised:
        backend.send(PHONE, "filed", PARAMS)

    assert type(raised.value) is error
    assert "13812345678" not in str(raised.value)


# --- tencent ---------------------------------------------------------------------------------


def test_tencent_sends_a_signed_send_sms_with_the_e164_number_and_ordered_parameters(app, provider):
    provider.answer(TENCENT_OK)
    backend = use(app, "tencent", SMS_ENDPOINT=provider.url())

    backend.send(PHONE, "filed", PARAMS)

    sent = provider.last
    assert (sent.method, sent.path) == ("POST", "/")
    assert sent.headers["x-tc-action"] == "SendSms"
    assert sent.headers["x-tc-version"] == "2021-01-11"
    assert sent.headers["x-tc-region"] == "ap-guangzhou"
    assert sent.headers["authorization"].startswith(f"TC3-HMAC-SHA256 Credential={KEY_ID}/")
    assert tc3_signature_is_valid(sent, KEY_SECRET)
    assert sent.json == {
        "PhoneNumberSet": [PHONE],
        "SmsSdkAppId": SDK_APP_ID,
        "SignName": "码上找代表",
        "TemplateId": "SMS_100001",
        "TemplateParamSet": ["2026-000123", "https://liaison.example.cn/t/k3Xq9"],
    }


def tencent_status(code, message=""):
    status = {"Code": code, "Message": message, "PhoneNumber": PHONE}
    return {"Response": {"RequestId": "r1", "SendStatusSet": [status]}}


def tencent_error(code, message=""):
    return {"Response": {"RequestId": "r1", "Error": {"Code": code, "Message": message}}}


TENCENT_ANSWERS = [
    (200, tencent_status("LimitExceeded.PhoneNumberThirtySecondLimit", "30秒内超过限制"), SmsTryLater),
    (200, tencent_error("RequestLimitExceeded", "请求的次数超过了频率限制"), SmsTryLater),
    (200, tencent_status("InvalidParameterValue.IncorrectPhoneNumber", f"手机号格式错误 {PHONE}"), SmsRefused),
    (200, tencent_status("FailedOperation.PhoneNumberInBlacklist", "手机号在免打扰名单库中"), SmsRefused),
    (200, tencent_error("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批"), SmsRefused),
    (200, tencent_status("InternalError.Timeout", "请求下发短信超时"), SmsFailed),
    (200, tencent_error("AuthFailure.SignatureFailure", "签名错误"), SmsFailed),
    (500, {"message": "internal error"}, SmsFailed),
]


@pytest.mark.parametrize("status,body,error", cases(TENCENT_ANSWERS))
def test_tencent_answers_tell_whether_to_try_later_give_up_or_retry(app, provider, status, body, error):
    provider.answer(body, status=status)
    backend = use(app, "tencent", SMS_ENDPOINT=provider.url())

    with pytest.raises(error) as raised:
        backend.send(PHONE, "filed", PARAMS)

    assert type(raised.value) is error
    assert "13812345678" not in str(raised.value)


# --- http gateway ----------------------------------------------------------------------------


def test_the_http_gateway_gets_json_with_the_template_the_text_and_the_bearer_token(app, provider):
    provider.answer({"ok": True})
    backend = use(app, "http", SMS_ENDPOINT=provider.url("/sms/send"), SMS_HTTP_TOKEN="gateway-token")

    backend.send(PHONE, "filed", PARAMS)

    sent = provider.last
    assert (sent.method, sent.path) == ("POST", "/sms/send")
    assert sent.headers["authorization"] == "Bearer gateway-token"
    assert sent.json == {
        "phone": PHONE,
        "template": "SMS_100001",
        "params": PARAMS,
        "text": "【码上找代表】您的诉求2026-000123已受理，查看进度：https://liaison.example.cn/t/k3Xq9",
    }


def test_the_http_gateway_takes_many_messages_over_one_kept_connection(app, provider):
    provider.answer({"ok": True})
    backend = use(app, "http", SMS_ENDPOINT=provider.url("/sms/send"))

    for _ in range(3):
        backend.send(PHONE, "filed", PARAMS)
    assert len(provider.received) == 3
    assert len({sent.client for sent in provider.received}) == 1  # no new connection (TLS) per SMS

    provider.close()  # the gateway restarts: the kept connection is dead, a new one is opened
    restarted = type(provider)(port=int(provider.url().rsplit(":", 1)[1]), body={"ok": True})
    try:
        backend.send(PHONE, "filed", PARAMS)
        assert len(restarted.received) == 1
    finally:
        restarted.close()


def test_the_http_gateway_without_templates_gets_the_text_and_all_parameters(app, provider):
    provider.answer(b"accepted", content_type="text/plain")
    backend = use(app, "http", SMS_ENDPOINT=provider.url(), SMS_TEMPLATES={})

    backend.send(PHONE, "find_code", {"code": "381204"})

    assert "authorization" not in provider.last.headers
    assert provider.last.json["template"] is None
    assert provider.last.json["params"] == {"code": "381204"}
    assert provider.last.json["text"] == "【码上找代表】您的查询验证码为381204，请勿告诉他人。"


HTTP_ANSWERS = [
    (429, {"message": "slow down"}, SmsTryLater),
    (400, {"message": "bad number"}, SmsRefused),
    (422, {"message": "template not approved"}, SmsRefused),
    (500, {"message": "oops"}, SmsFailed),
    (503, b"", SmsFailed),
    (200, {"ok": False, "message": "upstream refused"}, SmsFailed),
    (200, {"code": 1001, "message": "no balance"}, SmsFailed),
]


@pytest.mark.parametrize("status,body,error", cases(HTTP_ANSWERS))
def test_http_gateway_answers_tell_whether_to_try_later_give_up_or_retry(app, provider, status, body, error):
    provider.answer(body, status=status)
    backend = use(app, "http", SMS_ENDPOINT=provider.url())

    with pytest.raises(error) as raised:
        backend.send(PHONE, "filed", PARAMS)

    assert type(raised.value) is error


def test_an_http_gateway_answer_with_code_zero_is_success(app, provider):
    provider.answer({"code": 0, "message": "ok"})

    use(app, "http", SMS_ENDPOINT=provider.url()).send(PHONE, "filed", PARAMS)

    assert len(provider.received) == 1


# --- every provider backend ------------------------------------------------------------------

PROVIDERS = ["aliyun", "tencent", "http"]


@pytest.mark.parametrize("backend_name", PROVIDERS)
def test_a_refused_connection_fails_at_once_without_the_number_in_the_reason(app, closed_port_url, backend_name):
    backend = use(app, backend_name, SMS_ENDPOINT=closed_port_url)

    started = time.monotonic()
    with pytest.raises(SmsFailed) as raised:
        backend.send(PHONE, "filed", PARAMS)

    assert time.monotonic() - started < 3
    assert "13812345678" not in str(raised.value) and "8613812345678" not in str(raised.value)


@pytest.mark.parametrize("backend_name", PROVIDERS)
def test_a_provider_that_does_not_answer_in_time_fails(app, provider, backend_name):
    provider.hang()
    backend = use(app, backend_name, SMS_ENDPOINT=provider.url(), SMS_TIMEOUT_SECONDS=0.3)

    started = time.monotonic()
    with pytest.raises(SmsFailed):
        backend.send(PHONE, "filed", PARAMS)

    assert time.monotonic() - started < 3


@pytest.mark.parametrize("backend_name", PROVIDERS)
def test_a_number_that_is_not_e164_is_refused_without_asking_the_provider(app, provider, backend_name):
    backend = use(app, backend_name, SMS_ENDPOINT=provider.url())

    with pytest.raises(SmsRefused):
        backend.send("13812345678", "filed", PARAMS)

    assert provider.received == []


@pytest.mark.parametrize("backend_name", PROVIDERS)
def test_a_parameter_the_template_names_must_be_given(app, provider, backend_name):
    backend = use(app, backend_name, SMS_ENDPOINT=provider.url())

    with pytest.raises(SmsConfigError, match="link"):
        backend.send(PHONE, "filed", {"reference": "2026-000123"})

    assert provider.received == []


def test_a_provider_sends_a_kind_without_template_with_the_generic_one(app, provider):
    provider.answer(ALIYUN_OK)

    use(app, "aliyun", SMS_ENDPOINT=provider.url()).send(PHONE, "overdue", PARAMS)

    assert provider.last.query["TemplateCode"] == "SMS_100099"
    assert json.loads(provider.last.query["TemplateParam"]) == {"reference": "2026-000123"}


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize("settings,message", [
    ({"SMS_BACKEND": "pigeon"}, "SMS_BACKEND must be one of log, aliyun, tencent, http, not 'pigeon'"),
    ({"SMS_BACKEND": "aliyun"}, "SMS_BACKEND is 'aliyun' but SMS_ACCESS_KEY_ID, SMS_ACCESS_KEY_SECRET, SMS_SIGN_NAME "
                                "are not set"),
    ({"SMS_BACKEND": "tencent", "SMS_ACCESS_KEY_ID": "id", "SMS_ACCESS_KEY_SECRET": "key", "SMS_SIGN_NAME": "码上找代表"},
     "SMS_BACKEND is 'tencent' but SMS_SDK_APP_ID is not set"),
    ({"SMS_BACKEND": "http"}, "SMS_BACKEND is 'http' but SMS_HTTP_URL is not set"),
    ({"SMS_ENDPOINT": "127.0.0.1:8123"}, "SMS_ENDPOINT must be an http(s) URL"),
    ({"SMS_TEMPLATES": {"filed": {"params": ["reference"]}}}, "SMS_TEMPLATES['filed'] must be"),
])
def test_the_app_does_not_start_with_sms_settings_it_cannot_send_with(test_database, tmp_path, settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_app(test_database.url, tmp_path, **settings)


def test_sms_settings_come_from_the_environment_with_templates_as_json(test_database, tmp_path, monkeypatch):
    monkeypatch.setenv("SMS_BACKEND", "tencent")
    monkeypatch.setenv("SMS_ACCESS_KEY_ID", "AKID-from-env")
    monkeypatch.setenv("SMS_ACCESS_KEY_SECRET", "secret-from-env")
    monkeypatch.setenv("SMS_SIGN_NAME", "码上找代表")
    monkeypatch.setenv("SMS_SDK_APP_ID", SDK_APP_ID)
    monkeypatch.setenv("SMS_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("SMS_TEMPLATES", json.dumps(TEMPLATES))

    app = make_app(test_database.url, tmp_path)

    assert app.config["SMS_TEMPLATES"] == TEMPLATES
    assert app.config["SMS_TIMEOUT_SECONDS"] == 3
    assert app.config["SMS_REGION"] == "ap-guangzhou"
    with app.app_context():
        assert get_backend().name == "tencent"


def test_templates_in_the_environment_must_be_json(test_database, tmp_path, monkeypatch):
    monkeypatch.setenv("SMS_TEMPLATES", "filed=SMS_100001")

    with pytest.raises(ConfigError, match="SMS_TEMPLATES must be a JSON object"):
        make_app(test_database.url, tmp_path)


def test_get_backend_refuses_settings_changed_after_start(app):
    app.config["SMS_BACKEND"] = "aliyun"

    with pytest.raises(SmsConfigError, match="SMS_ACCESS_KEY_ID"):
        get_backend()
