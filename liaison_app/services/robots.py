"""Group robots of places: WeCom (企业微信) and DingTalk (钉钉) webhooks that post what
concerns a place into its group chat, and the admin's writes on them.

`post(robot, payloads, mentions)` posts ONE text message: one payload's text, or a digest
folding several. Before posting it takes a slot of the robot's rolling minute
(ROBOT_MESSAGES_PER_MINUTE, 20 by default: both providers refuse the 21st), counted in Redis
when REDIS_URL is set so that every worker and server shares it. No slot left, or the
provider says "too fast": RobotTryLater, which is not a failed attempt. A refused message,
an HTTP error or a host that cannot be reached: notify.DeliveryError (the caller retries),
whose text explains in the default language what an admin should change.

A robot's webhook address holds its key and a DingTalk secret signs its messages: both are
stored encrypted (services/secrets.py) and never written to logs, exception texts or pages.
Log lines name the robot by id and name.
"""

import base64
import hashlib
import hmac
import http.client
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Optional, Union
from urllib.parse import parse_qs, quote_plus, urlsplit

from flask import current_app
from flask_babel import force_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ..extensions import db
from ..models import Department, Jurisdiction, Robot, RobotProvider, Station, User
from . import secrets
from .notify import DeliveryError, message_text

logger = logging.getLogger("liaison.notify")
admin_log = logging.getLogger("liaison.admin")

Place = Union[Jurisdiction, Station, Department]

# The documented text limits: WeCom 2048 bytes; DingTalk about 20,000.
TEXT_LIMITS = {RobotProvider.WECOM: 2048, RobotProvider.DINGTALK: 20000}
# The path and the query parameter that holds the key, as each provider gives the address.
ADDRESS_SHAPES = {
    RobotProvider.WECOM: ("/cgi-bin/webhook/send", "key"),
    RobotProvider.DINGTALK: ("/robot/send", "access_token"),
}
EXAMPLE_ADDRESSES = {
    RobotProvider.WECOM: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
    RobotProvider.DINGTALK: "https://oapi.dingtalk.com/robot/send?access_token=…",
}
LOCAL_HOSTS = ("127.0.0.1", "localhost")  # the only hosts that may use http (tests, a local relay)
# "Too many messages": WeCom 45009 (api freq out of limit); DingTalk 130101 (send too fast,
# exceed 20 times per minute) and 410100 (its newer code for the same). Any errmsg that says
# so counts too, whatever its code.
TOO_FAST = {RobotProvider.WECOM: {45009}, RobotProvider.DINGTALK: {130101, 410100}}
_TOO_FAST_WORDS = re.compile(r"too fast|freq|频率|太快|限流", re.IGNORECASE)
TOO_FAST_WAIT_SECONDS = 60.0
MAX_ERROR_LENGTH = 500
MAX_ANSWER_BYTES = 64 * 1024
_MAINLAND_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")


class RobotTryLater(Exception):
    """The robot takes no message now (its minute is full, here or at the provider): try again
    in `retry_after` seconds. Not a failed attempt."""

    def __init__(self, retry_after: float):
        self.retry_after = max(1.0, float(retry_after))
        super().__init__(f"the robot takes no more messages for {self.retry_after:.0f} s")


class RobotDeliveryError(DeliveryError):
    """A DeliveryError that says what to change: `explanation` (translatable) and `detail`
    (the provider's errcode and errmsg, or the network error). Its text, kept as the robot's
    last_error, is in the default language."""

    def __init__(self, explanation, detail: str = ""):
        self.explanation = explanation
        self.detail = detail
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            text = self.describe()
        super().__init__(text)

    def describe(self) -> str:
        """The text in the current language, for the admin's page."""
        if not self.detail:
            return str(self.explanation)
        return gettext("%(problem)s (%(detail)s)", problem=self.explanation, detail=self.detail)


# --- posting ------------------------------------------------------------------------------


def post(robot: Robot, payloads: list[dict[str, Any]], mentions: list[str]) -> None:
    """Post one message to the robot's group: one payload's text (notify.message_text, or a
    payload's own "text"), or a digest of several. `mentions` are mainland mobiles (E.164) of
    the people meant: the group @-mentions them.

    Sets robot.last_error (cleared on success) for the caller's transaction; commits nothing.
    Raises RobotTryLater (no slot now) or DeliveryError (refused, unreachable: retry later).
    """
    if not payloads:
        raise ValueError("post() needs at least one payload")
    try:
        url = _webhook_url(robot)
        secret = _secret(robot)
        throttle().take(_robot_key(url), int(current_app.config["ROBOT_MESSAGES_PER_MINUTE"]))
        body = message_body(robot.provider, payloads, mentions)
        _send(robot, _signed(url, secret) if robot.provider is RobotProvider.DINGTALK and secret else url, body)
    except RobotTryLater as later:
        logger.info("robot %s (%s) takes no message for %.0f s", robot.id, robot.name, later.retry_after)
        raise
    except DeliveryError as error:
        robot.last_error = str(error)[:MAX_ERROR_LENGTH]
        logger.warning("robot %s (%s) did not take the message: %s", robot.id, robot.name, error)
        raise
    robot.last_error = None
    logger.info("robot %s (%s) posted %d message(s)", robot.id, robot.name, len(payloads))


def message_body(provider: RobotProvider, payloads: list[dict[str, Any]], mentions: list[str]) -> dict[str, Any]:
    """The JSON the provider takes: a text message that @-mentions the mobiles given."""
    mobiles = mainland_mobiles(mentions)
    if provider is RobotProvider.WECOM:
        content = compose(payloads, TEXT_LIMITS[provider])
        text = {"content": content, "mentioned_mobile_list": mobiles} if mobiles else {"content": content}
        return {"msgtype": "text", "text": text}
    # DingTalk shows a mention only when "@<mobile>" is in the text too.
    tail = ("\n" + " ".join(f"@{mobile}" for mobile in mobiles)) if mobiles else ""
    content = compose(payloads, TEXT_LIMITS[provider] - len(tail.encode("utf-8"))) + tail
    return {"msgtype": "text", "text": {"content": content}, "at": {"atMobiles": mobiles, "isAtAll": False}}


def mainland_mobiles(mentions: list[str]) -> list[str]:
    """+8613812345678 → 13812345678, each once; numbers that are no mainland mobile are left out."""
    found = []
    for number in mentions or []:
        match = _MAINLAND_MOBILE.match(re.sub(r"[\s-]", "", number or ""))
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def compose(payloads: list[dict[str, Any]], max_bytes: int) -> str:
    """One payload's text, or a digest: 【N条新消息】 then a line per payload with its link, cut
    with "…等N条" where the rest would not fit in max_bytes (UTF-8)."""
    if len(payloads) == 1:
        return _cut(_text_of(payloads[0]), max_bytes)
    total = len(payloads)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        lines = [ngettext("[%(num)d new message]", "[%(num)d new messages]", total)]
        for index, payload in enumerate(payloads):
            line = _digest_line(payload)
            left_after = total - index - 1
            room_after = _size("\n" + _more(left_after)) if left_after else 0
            if _size("\n".join([*lines, line])) + room_after > max_bytes:
                lines.append(_more(total - index))
                break
            lines.append(line)
    return _cut("\n".join(lines), max_bytes)


def _text_of(payload: dict[str, Any]) -> str:
    """A payload with its own "text" (the admin's test message) is posted as it is."""
    return payload["text"] if "text" in payload else message_text(payload)


def _digest_line(payload: dict[str, Any]) -> str:
    if "text" in payload:
        what, subject = "", payload["text"].splitlines()[0] if payload["text"] else ""
    else:
        from ..models import NotificationKind

        what = str(NotificationKind(payload["kind"]).label)
        subject = payload.get("campaign") or f"{payload.get('reference', '')} {payload.get('title', '')}".strip()
    subject = subject if len(subject) <= 24 else subject[:23] + "…"
    line = gettext("%(what)s: %(subject)s", what=what, subject=subject) if what else subject
    return f"{line} {payload['link']}" if payload.get("link") else line


def _more(count: int) -> str:
    return ngettext("…and %(num)d more", "…and %(num)d more", count)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, max_bytes: int) -> str:
    if _size(text) <= max_bytes:
        return text
    return text.encode("utf-8")[:max_bytes - _size("…")].decode("utf-8", "ignore") + "…"


def _signed(url: str, secret: str) -> str:
    """DingTalk 加签: timestamp (ms) and the urlencoded base64 HMAC-SHA256 of
    "<timestamp>\\n<secret>" keyed with the secret, appended to the address."""
    timestamp = str(round(time.time() * 1000))
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timestamp={timestamp}&sign={quote_plus(base64.b64encode(digest))}"


def _send(robot: Robot, url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"}, method="POST")
    timeout = float(current_app.config["NOTIFY_TIMEOUT_SECONDS"])
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer = response.status, response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:  # a 4xx or 5xx answer
        if error.code == 429:
            raise RobotTryLater(_seconds(error.headers.get("Retry-After"))) from None
        raise RobotDeliveryError(_l("The robot's server answered with an error: please check the address."),
                                 f"HTTP {error.code}") from None
    except (OSError, ValueError, http.client.HTTPException) as error:  # refused, timed out, DNS, TLS
        raise RobotDeliveryError(
            _l("The robot's server cannot be reached: please check the address's host, this server's "
               "network connection and its firewall."), _scrub(_reason(error), robot, url)) from None
    _check_answer(robot, status, answer, url)


def _check_answer(robot: Robot, status: int, answer: bytes, url: str) -> None:
    """Robots answer {"errcode": 0, "errmsg": "ok"}; any other errcode is a refusal."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or "errcode" not in parsed:
        raise RobotDeliveryError(_l("The address did not answer like a group robot: please check it."),
                                 f"HTTP {status}")
    code, message = parsed["errcode"], _scrub(str(parsed.get("errmsg") or ""), robot, url)[:200]
    if str(code) == "0":
        return
    if _as_int(code) in TOO_FAST[robot.provider] or _TOO_FAST_WORDS.search(message):
        raise RobotTryLater(TOO_FAST_WAIT_SECONDS)
    raise RobotDeliveryError(explain(robot.provider, _as_int(code), message), f"errcode {code}: {message}")


def explain(provider: RobotProvider, code: Optional[int], message: str):
    """What the admin should change, for the refusals that are an admin's mistake."""
    lowered = message.lower()
    unknown_address = {RobotProvider.WECOM: {93000},
                       # "token is not exist" (300005 for some groups); 400101/400106 in the newer table
                       RobotProvider.DINGTALK: {300001, 300005, 400101, 400106}}[provider]
    if code in unknown_address:
        return _l("The robot does not know this address: the robot may have been removed from the group, or the "
                  "address was copied incompletely. Please copy the webhook address again from the robot's "
                  "settings in the group.")
    if provider is RobotProvider.DINGTALK and code == 310000:  # the robot's security settings
        if "sign" in lowered:
            return _l("DingTalk refused the signature: please copy the secret (加签, it starts with SEC) again "
                      "from the robot's security settings, or remove it here if the robot does not sign.")
        if "timestamp" in lowered:
            return _l("DingTalk refused the time of the signature: this server's clock is probably wrong.")
        if "keyword" in lowered:
            return _l("The message lacks the robot's custom keyword: in the robot's security settings use "
                      "signing (加签) instead, or a keyword every message contains, such as this site's address.")
        if "ip" in lowered or "whitelist" in lowered:
            return _l("DingTalk refused this server's IP address: add it to the robot's IP whitelist, or use "
                      "signing (加签) instead.")
    if provider is RobotProvider.DINGTALK and code == 400102:
        return _l("The robot is disabled in its group: enable it there, or deactivate it here.")
    if provider is RobotProvider.DINGTALK and code == 400013:
        return _l("The robot's group was dissolved: add a robot to another group, or delete this one.")
    return _l("The robot refused the message.")


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        error = error.reason
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    return f"{type(error).__name__}: {error}"


def _scrub(text: str, robot: Robot, url: str) -> str:
    """Never echo the key or the secret, whatever the other side put in its answer."""
    for value in (_key_of(url), _secret(robot, quiet=True)):
        if value and len(value) >= 6:
            text = text.replace(value, "…")
    return text


def _seconds(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return TOO_FAST_WAIT_SECONDS


def _as_int(value) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- the stored address and secret --------------------------------------------------------


def _webhook_url(robot: Robot) -> str:
    try:
        return secrets.decrypt(robot.webhook_url_encrypted)
    except secrets.SecretUnreadable:
        raise RobotDeliveryError(UNREADABLE) from None


def _secret(robot: Robot, quiet: bool = False) -> Optional[str]:
    if not robot.secret_encrypted:
        return None
    try:
        return secrets.decrypt(robot.secret_encrypted)
    except secrets.SecretUnreadable:
        if quiet:
            return None
        raise RobotDeliveryError(UNREADABLE) from None


UNREADABLE = _l("The stored address or secret of this robot can no longer be read (the installation's "
                "SECRET_KEY was changed): please enter them again.")


def readable(robot: Robot) -> bool:
    """Whether this install can still read the robot's address and secret."""
    return secrets.is_readable(robot.webhook_url_encrypted) and (
        not robot.secret_encrypted or secrets.is_readable(robot.secret_encrypted))


def masked_address(robot: Robot) -> str:
    """What a page may show of the address: its host and the key's last four characters."""
    try:
        url = secrets.decrypt(robot.webhook_url_encrypted)
    except secrets.SecretUnreadable:
        return ""
    key = _key_of(url)
    return f"{urlsplit(url).hostname or ''} …{key[-4:]}" if key else (urlsplit(url).hostname or "")


def _key_of(url: str) -> str:
    query = parse_qs(urlsplit(url).query)
    for name in ("key", "access_token"):
        if query.get(name):
            return query[name][0]
    return ""


def _robot_key(url: str) -> str:
    """The throttle's name for a robot: a digest of its address, so that two places sharing one
    group's robot share its minute too (the provider counts per robot), and no key reaches Redis."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:24]


def address_problem(provider: RobotProvider, url: str):
    """Why `url` cannot be this provider's robot address, or None. https to a host of
    ROBOT_ALLOWED_HOSTS (http only for 127.0.0.1 and localhost), with the provider's path and key."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    allowed = {h.strip().lower() for h in current_app.config["ROBOT_ALLOWED_HOSTS"]}
    if parts.scheme not in ("https", "http") or not host:
        return _l("Please paste the robot's whole webhook address, starting with https://.")
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        return _l("The address must start with https://.")
    if host not in allowed:
        return _l("Robots may only post to %(hosts)s (setting ROBOT_ALLOWED_HOSTS).", hosts=", ".join(sorted(allowed)))
    path, parameter = ADDRESS_SHAPES[provider]
    if parts.path != path or not parse_qs(parts.query).get(parameter):
        other = next(p for p in RobotProvider if p is not provider)
        other_path, other_parameter = ADDRESS_SHAPES[other]
        if parts.path == other_path and parse_qs(parts.query).get(other_parameter):
            return _l("This is the address of a %(kind)s: choose that kind above.", kind=other.label)
        return _l("This does not look like a %(kind)s's address, which reads %(example)s",
                  kind=provider.label, example=EXAMPLE_ADDRESSES[provider])
    return None


# --- the throttle -------------------------------------------------------------------------


class RobotThrottle:
    """Counts each robot's messages over a rolling minute (a moving window). One per app
    (app.extensions); in Redis when REDIS_URL is set, so that every worker and server counts
    together. When Redis fails it counts in this process's memory until Redis answers again."""

    EXTENSION = "liaison_robot_throttle"

    def __init__(self, storage_uri: str, prefix: str):
        options = {"socket_connect_timeout": 1, "socket_timeout": 1} if storage_uri.startswith("redis") else {}
        self.shared = MovingWindowRateLimiter(storage_from_string(storage_uri, **options))
        self.fallback = MovingWindowRateLimiter(storage_from_string("memory://"))
        self.prefix = prefix

    @classmethod
    def for_config(cls, config) -> "RobotThrottle":
        return cls(config.get("REDIS_URL") or "memory://", config.get("RATELIMIT_KEY_PREFIX") or "liaison")

    def take(self, robot_key: str, per_minute: int) -> None:
        """One slot of the robot's minute, or RobotTryLater with the seconds until one frees."""
        if per_minute <= 0:
            return
        item = RateLimitItemPerMinute(per_minute)
        identifiers = (self.prefix, "robot", robot_key)
        try:
            limiter = self.shared
            taken = limiter.hit(item, *identifiers)
        except Exception:  # Redis is down: the providers' own limit still guards the groups
            logger.warning("robot throttle: the shared storage failed; counting in memory", exc_info=True)
            limiter = self.fallback
            taken = limiter.hit(item, *identifiers)
        if not taken:
            reset_at = limiter.get_window_stats(item, *identifiers).reset_time
            raise RobotTryLater(reset_at - time.time())


def throttle() -> RobotThrottle:
    extensions = current_app.extensions
    if RobotThrottle.EXTENSION not in extensions:
        extensions[RobotThrottle.EXTENSION] = RobotThrottle.for_config(current_app.config)
    return extensions[RobotThrottle.EXTENSION]


# --- the admin's writes -------------------------------------------------------------------


def place_of(robot: Robot) -> Optional[Place]:
    return robot.jurisdiction or robot.station or robot.department


def save_robot(robot: Robot, *, actor: User, name: str, provider: RobotProvider, place: Place, active: bool,
               webhook_url: Optional[str] = None, secret: Optional[str] = None,
               remove_secret: bool = False) -> Robot:
    """Add a place's robot or change it. An empty address or secret keeps the stored one;
    `remove_secret` drops the secret (a robot that no longer signs). WeCom robots never sign.
    Logged without the address or the secret."""
    created = robot.id is None
    robot.name, robot.provider, robot.active = name, provider, active
    robot.jurisdiction_id = place.id if isinstance(place, Jurisdiction) else None
    robot.station_id = place.id if isinstance(place, Station) else None
    robot.department_id = place.id if isinstance(place, Department) else None
    changed_keys = []
    if webhook_url:
        robot.webhook_url_encrypted = secrets.encrypt(webhook_url.strip())
        changed_keys.append("address")
    if remove_secret or provider is RobotProvider.WECOM:
        if robot.secret_encrypted:
            changed_keys.append("secret removed")
        robot.secret_encrypted = None
    elif secret:
        robot.secret_encrypted = secrets.encrypt(secret.strip())
        changed_keys.append("secret")
    if changed_keys:
        robot.last_error = None  # it was about the old address or secret
    if created:
        robot.created_by_id = actor.id
    db.session.add(robot)
    db.session.commit()
    admin_log.info("robot %s (%s) %s by user %s%s", robot.id, robot.name, "created" if created else "changed",
                   actor.id, f": new {', '.join(changed_keys)}" if changed_keys and not created else "")
    return robot


def delete_robot(robot: Robot, *, actor: User) -> None:
    """Messages already sent through it keep their row (their robot_id becomes empty)."""
    robot_id, name = robot.id, robot.name
    db.session.delete(robot)
    db.session.commit()
    admin_log.info("robot %s (%s) deleted by user %s", robot_id, name, actor.id)


def send_test(robot: Robot, *, actor: User) -> None:
    """Post a test message now, through post() like any other (throttled, signed), and keep
    the outcome as the robot's last error. Raises what post() raises."""
    place = place_of(robot)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        text = gettext("[Test] A test message from %(app)s: this group will receive the notices of %(place)s. %(site)s",
                       app=gettext("Deputy Liaison"), place=place.name if place else "",
                       site=current_app.config["PUBLIC_BASE_URL"])
    try:
        post(robot, [{"text": text}], [])
    except RobotTryLater:
        admin_log.info("robot %s (%s) tested by user %s: no slot left this minute", robot.id, robot.name, actor.id)
        raise
    except DeliveryError:
        db.session.commit()  # the last error, for the list
        admin_log.info("robot %s (%s) tested by user %s: failed", robot.id, robot.name, actor.id)
        raise
    db.session.commit()
    admin_log.info("robot %s (%s) tested by user %s: posted", robot.id, robot.name, actor.id)
