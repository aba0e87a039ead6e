"""Text messages (短信): one templated SMS to one phone, through the backend SMS_BACKEND names.

Chinese providers send only templates registered with them and approved, under an approved
signature (签名): each message kind maps to a template code and the names of its parameters
(SMS_TEMPLATES). Backends:

- "log" (the default): one line on the "liaison.sms" logger, the number masked.
- "aliyun": Alibaba Cloud SMS (dysmsapi 2017-05-25) through its official SDK.
- "tencent": Tencent Cloud SMS (2021-01-11) through its official SDK.
- "http": a JSON POST to a gateway of one's own (SMS_HTTP_URL), with the rendered text.

`send()` returns when the provider accepted the message, or raises: SmsTryLater (throttled:
not a failed attempt), SmsRefused (permanent: never retry) or SmsFailed (retry with backoff).
str() of each is a short reason for logs and the admin, with any phone number masked.
"""

import http.client
import json
import logging
import re
import threading
from collections import defaultdict
from typing import Any, Mapping, Optional, Protocol
from urllib.parse import urlsplit

from flask import current_app

from ..config import sms_settings_problem
from ..logs import mask, mask_phone_text

logger = logging.getLogger("liaison.sms")

DEFAULT_SIGN_NAME = "码上找代表"
MAX_REASON_LENGTH = 200
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_QUERY = re.compile(r"\?[^\s'\")]+")


class SmsError(Exception):
    """Base; str(error) is a short reason for logs/admin (no phone number in it)."""


class SmsTryLater(SmsError):
    """The provider throttled us (rate limit / flow control): try again later; NOT a failed attempt."""


class SmsRefused(SmsError):
    """Permanent: invalid or unreachable number, template not approved, number blacklisted... never retry."""


class SmsFailed(SmsError):
    """Anything else (network, 5xx, unknown error code): retry with backoff."""


class SmsConfigError(RuntimeError):
    """The settings name no backend, or miss a key/template: raised by get_backend()."""


class SmsBackend(Protocol):
    name: str

    def send(self, phone: str, kind: str, params: dict[str, str]) -> None:
        """Hand one message to the provider, or raise an SmsError (SmsConfigError when
        SMS_TEMPLATES has no template for the kind or names a parameter not given)."""


# --- templates and text --------------------------------------------------------------------


def template_for(kind: str, config: Optional[Mapping[str, Any]] = None) -> tuple[str, list[str]]:
    """(template code, parameter names in order) of `kind`, or of "generic" when the kind has
    none; SmsConfigError when neither is in SMS_TEMPLATES."""
    templates = _settings(config).get("SMS_TEMPLATES") or {}
    entry = templates.get(kind) or templates.get("generic")
    if not entry:
        raise SmsConfigError(f"SMS_TEMPLATES has no template for {kind!r} and none for 'generic'.")
    return str(entry["code"]), [str(name) for name in entry.get("params", [])]


# What each kind says, and the words before its link. A link ends the message, never
# punctuation: a phone would take a trailing 。 into the link.
_TEXTS = {
    "filed": ("您的诉求{reference}已受理", "查看进度"),
    "claimed": ("您的诉求{reference}已由人大代表认领", "查看进度"),
    "assigned": ("您的诉求{reference}已交{department}办理，答复期限{due}", "查看进度"),
    "responded": ("您的诉求{reference}已有答复，请评价", "查看答复"),
    "reopened": ("诉求{reference}已重新办理", "查看进度"),
    "find_code": ("您的查询验证码为{code}，请勿告诉他人", ""),
    "new_request": ("您收到一条新的企业诉求{reference}，请及时认领", "详情"),
    "to_acknowledge": ("诉求{reference}已交办给您单位，请及时签收办理", "详情"),
    "deadline": ("诉求{reference}将于{due}到期，请及时办理", "详情"),
    "overdue": ("诉求{reference}已超期，请尽快办理", "详情"),
    "escalated": ("诉求{reference}已上报至您处，请及时处理", "详情"),
    "generic": ("诉求{reference}有新进展", "详情"),
}


def render_text(kind: str, params: Mapping[str, str], *, sign_name: Optional[str] = None) -> str:
    """The message as plain text, e.g. 【码上找代表】您的诉求2026-000123已受理，查看进度：https://…
    (the log backend and the http gateway; providers render their own approved templates).
    A kind without a text of its own says the generic one; a missing parameter is left out."""
    sentence, link_label = _TEXTS.get(kind, _TEXTS["generic"])
    text = f"【{sign_name or DEFAULT_SIGN_NAME}】" + sentence.format_map(defaultdict(str, params))
    link = params.get("link")
    if link and link_label:
        return f"{text}，{link_label}：{link}"
    return text + "。"


def _template_params(kind: str, params: Mapping[str, str],
                     config: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """The template code and its parameters as (name, value) pairs in the template's order."""
    code, names = template_for(kind, config)
    missing = [name for name in names if params.get(name) is None]
    if missing:
        raise SmsConfigError(f"the template of {kind!r} ({code}) needs {', '.join(missing)}, which was not given.")
    return code, [(name, str(params[name])) for name in names]


# --- backends ------------------------------------------------------------------------------


class LogBackend:
    """Writes one line per message to "liaison.sms" (the default): the kind and the number
    masked. Not the parameters: a find code or a tracking link is a key to someone's request."""

    name = "log"

    def send(self, phone: str, kind: str, params: dict[str, str]) -> None:
        logger.info("sms %s to %s", kind, mask_phone_text(phone))


class AliyunBackend:
    """Alibaba Cloud SMS (dysmsapi.aliyuncs.com): wants mainland numbers without +86."""

    name = "aliyun"

    # Flow control (流控): the same number or template too often, the account's rate.
    TRY_LATER = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL"}
    REFUSED = {
        "isv.MOBILE_NUMBER_ILLEGAL", "isv.INVALID_PARAMETERS", "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_SIGN_ILLEGAL", "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
        "isv.BLACK_KEY_CONTROL_LIMIT", "isv.TEMPLATE_MISSING_PARAMETERS", "isv.INVALID_JSON_PARAM",
        "isv.PARAM_LENGTH_LIMIT", "isv.PARAM_NOT_SUPPORT_URL", "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.SMS_CONTENT_ILLEGAL", "isv.DOMESTIC_NUMBER_NOT_SUPPORTED", "isv.EXTEND_CODE_ERROR",
    }

    def __init__(self, config: Mapping[str, Any]):
        # Imported here: the SDK and its aiohttp take ~0.4 s to import, which every worker
        # and CLI command that never sends a text would pay.
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi.models import Config

        self.config = config
        scheme, host = _endpoint(config, default_host="dysmsapi.aliyuncs.com")
        timeout_ms = int(float(config["SMS_TIMEOUT_SECONDS"]) * 1000)
        # No retry options: the SDK then tries once, and the caller's outbox decides when to retry.
        self.client = Client(Config(
            access_key_id=config["SMS_ACCESS_KEY_ID"],
            access_key_secret=config["SMS_ACCESS_KEY_SECRET"],
            endpoint=host,
            protocol=scheme,
            connect_timeout=timeout_ms,
            read_timeout=timeout_ms,
        ))

    def send(self, phone: str, kind: str, params: dict[str, str]) -> None:
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException

        _check_number(phone)
        code, pairs = _template_params(kind, params, self.config)
        request = SendSmsRequest(
            phone_numbers=_aliyun_number(phone),
            sign_name=self.config["SMS_SIGN_NAME"],
            template_code=code,
            template_param=json.dumps(dict(pairs), ensure_ascii=False),
        )
        try:
            body = self.client.send_sms(request).body
        except ThrottlingException as error:  # an HTTP error answer with a Retry-After
            raise SmsTryLater(_reason(error.code, error.message, phone)) from None
        except AlibabaCloudException as error:  # any other 4xx or 5xx answer: its code decides
            raise self._error(error.code, error.message, phone) from None
        except Exception as error:  # refused, timed out, not JSON: the SDK wraps these
            cause = getattr(error, "inner_exception", None) or error
            message = getattr(cause, "message", None) or str(cause)
            raise SmsFailed(_reason(type(cause).__name__, message, phone)) from None
        if body is None or body.code != "OK":
            raise self._error(body.code if body else None, body.message if body else "no answer", phone)

    def _error(self, code: Optional[str], message: Optional[str], phone: str) -> SmsError:
        code = code or ""
        if code in self.TRY_LATER or code.startswith("Throttling"):
            return SmsTryLater(_reason(code, message, phone))
        if code in self.REFUSED:
            return SmsRefused(_reason(code, message, phone))
        return SmsFailed(_reason(code, message, phone))


class TencentBackend:
    """Tencent Cloud SMS (sms.tencentcloudapi.com): wants E.164 numbers (+8613812345678)."""

    name = "tencent"

    TRY_LATER_PREFIXES = ("LimitExceeded", "RequestLimitExceeded")
    REFUSED = {
        "InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
        "FailedOperation.PhoneNumberParseFail", "FailedOperation.TemplateIncorrectOrUnapproved",
        "FailedOperation.SignatureIncorrectOrUnapproved", "FailedOperation.ContainSensitiveWord",
        "InvalidParameterValue.ContentLengthLimit", "InvalidParameterValue.TemplateParameterFormatError",
        "InvalidParameterValue.TemplateParameterLengthLimit",
        "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
        "UnsupportedOperation.UnsupportedRegion", "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
    }

    def __init__(self, config: Mapping[str, Any]):
        from tencentcloud.common.credential import Credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111.sms_client import SmsClient

        self.config = config
        scheme, host = _endpoint(config, default_host="sms.tencentcloudapi.com")
        http_profile = HttpProfile(protocol=scheme, endpoint=host, reqTimeout=float(config["SMS_TIMEOUT_SECONDS"]))
        self.client = SmsClient(
            Credential(config["SMS_ACCESS_KEY_ID"], config["SMS_ACCESS_KEY_SECRET"]),
            config["SMS_REGION"],
            ClientProfile(httpProfile=http_profile),
        )

    def send(self, phone: str, kind: str, params: dict[str, str]) -> None:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111.models import SendSmsRequest

        _check_number(phone)
        code, pairs = _template_params(kind, params, self.config)
        request = SendSmsRequest()
        request.PhoneNumberSet = [phone]
        request.SmsSdkAppId = str(self.config["SMS_SDK_APP_ID"])
        request.SignName = self.config["SMS_SIGN_NAME"]
        request.TemplateId = code
        request.TemplateParamSet = [value for _name, value in pairs]
        try:
            response = self.client.SendSms(request)
        except TencentCloudSDKException as error:
            # An Error in the answer carries its code; a non-200 answer is "ServerNetworkError",
            # a refused or timed-out connection "ClientNetworkError": both SmsFailed below.
            raise self._error(error.get_code(), error.get_message(), phone) from None
        statuses = response.SendStatusSet or []
        if not statuses:
            raise SmsFailed("no send status in the answer")
        if statuses[0].Code != "Ok":
            raise self._error(statuses[0].Code, statuses[0].Message, phone)

    def _error(self, code: Optional[str], message: Optional[str], phone: str) -> SmsError:
        code = code or ""
        if code.startswith(self.TRY_LATER_PREFIXES):
            return SmsTryLater(_reason(code, message, phone))
        if code in self.REFUSED:
            return SmsRefused(_reason(code, message, phone))
        return SmsFailed(_reason(code, message, phone))


class HttpBackend:
    """POSTs {"phone", "template", "params", "text"} as JSON to a gateway of one's own.

    The template is null and the params are all those given when SMS_TEMPLATES has none for
    the kind: such a gateway sends the text."""

    name = "http"

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.url = config["SMS_HTTP_URL"]
        self.token = config.get("SMS_HTTP_TOKEN")
        self.timeout = float(config["SMS_TIMEOUT_SECONDS"])

    def send(self, phone: str, kind: str, params: dict[str, str]) -> None:
        _check_number(phone)
        templates = self.config.get("SMS_TEMPLATES") or {}
        if kind in templates or "generic" in templates:
            code, pairs = _template_params(kind, params, self.config)
        else:
            code, pairs = None, [(name, str(value)) for name, value in params.items()]
        body = {
            "phone": phone,
            "template": code,
            "params": dict(pairs),
            "text": render_text(kind, params, sign_name=self.config.get("SMS_SIGN_NAME")),
        }
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            status, answer = _post(self.url, json.dumps(body, ensure_ascii=False).encode("utf-8"), headers,
                                   self.timeout)
        except (OSError, ValueError, http.client.HTTPException) as error:  # refused, timed out, TLS
            raise SmsFailed(_reason(type(error).__name__, str(error), phone)) from None
        if status >= 400:
            reason = _reason(f"HTTP {status}", answer[:1024].decode("utf-8", "replace"), phone)
            if status == 429:
                raise SmsTryLater(reason)
            if status in (400, 422):
                raise SmsRefused(reason)
            raise SmsFailed(reason)
        _check_gateway_answer(answer, phone)


# Each thread keeps its connection to the gateway open: a courier or a notify-worker sends many
# in a row, and a new connection (a TLS handshake, on a real gateway) for each cost more than the SMS.
_KEPT = threading.local()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST over this thread's kept connection to the host; once more on a new one when the
    gateway had closed the kept one meanwhile."""
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc, timeout)
    kept = _KEPT.__dict__.setdefault("connections", {})
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for _ in range(2):
        connection = kept.pop(key, None)
        reused = connection is not None
        if connection is None:
            kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            connection = kind(parts.netloc, timeout=timeout)
        try:
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            answer = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            connection.close()
            if reused:
                continue
            raise
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            kept[key] = connection
        return response.status, answer
    raise http.client.RemoteDisconnected("the gateway closed the connection twice")


def _check_gateway_answer(answer: bytes, phone: str) -> None:
    """A 2xx whose JSON says {"ok": false} or a non-zero "code" did not send the message."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return  # not JSON: the status said it
    if not isinstance(parsed, dict):
        return
    if parsed.get("ok") is False or parsed.get("code") not in (None, 0, "0"):
        raise SmsFailed(_reason(f"gateway code {parsed.get('code')}", str(parsed.get("message", "")), phone))


# --- choosing one --------------------------------------------------------------------------

_BACKENDS = {"log": LogBackend, "aliyun": AliyunBackend, "tencent": TencentBackend, "http": HttpBackend}


def get_backend(config: Optional[Mapping[str, Any]] = None) -> SmsBackend:
    """The backend SMS_BACKEND names, from the app's settings unless `config` is given."""
    config = _settings(config)
    problem = sms_settings_problem(config)
    if problem:
        raise SmsConfigError(problem)
    name = (config.get("SMS_BACKEND") or "log").strip().lower()
    return LogBackend() if name == "log" else _BACKENDS[name](config)


def _settings(config: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
    return current_app.config if config is None else config


def _endpoint(config: Mapping[str, Any], *, default_host: str) -> tuple[str, str]:
    """(scheme, host[:port]) of SMS_ENDPOINT, or https and the provider's public host."""
    if not config.get("SMS_ENDPOINT"):
        return "https", default_host
    parts = urlsplit(config["SMS_ENDPOINT"])
    return parts.scheme, parts.netloc


def _check_number(phone: str) -> None:
    if not _E164.fullmatch(phone):
        raise SmsRefused("not an E.164 phone number")


def _aliyun_number(phone: str) -> str:
    """Aliyun wants 13812345678 for the mainland and the country code without + elsewhere."""
    return phone[3:] if phone.startswith("+86") else phone.lstrip("+")


def _reason(code: Optional[str], message: Optional[str], phone: str) -> str:
    """"code: message", short, with the number masked: SDKs put it in URLs and messages.

    Query strings go (the message's parameters); a long reason keeps its start and its end,
    where a network error says what happened ("... Connection refused")."""
    text = _QUERY.sub("", f"{code}: {message}" if message else str(code))
    for form in (phone, phone.lstrip("+"), _aliyun_number(phone)):
        text = text.replace(form, mask_phone_text(phone))
    text = mask(text)
    if len(text) <= MAX_REASON_LENGTH:
        return text
    return text[:80] + "…" + text[-(MAX_REASON_LENGTH - 81):]
