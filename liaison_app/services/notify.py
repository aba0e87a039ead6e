"""Outbound notifications through a transactional outbox.

A service calls `queue()` next to the state change it reports; both commit in the
service's one transaction. After the commit it calls `deliver_after_commit()`,
which sends at once (in a request: the worker's courier thread, a moment after the
answer); whatever fails or was not sent stays pending and `flask notify-retry`
(run from cron) tries again with a growing delay. Delivery never undoes, and never
blocks, the state change: at worst a message arrives late, or twice.

Backends (setting NOTIFIER): "log" writes one line per message; "webhook" posts
JSON to NOTIFY_WEBHOOK_URL in the text-message format that WeCom (企业微信) and
DingTalk (钉钉) group robots accept.
"""

import atexit
import contextlib
import contextvars
import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterator, Optional, Protocol

import sqlalchemy as sa
from flask import current_app, has_request_context
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import inspect

from ..extensions import begin_write, db
from ..validators import is_mobile
from ..models import (
    Category,
    Department,
    Deputy,
    Enterprise,
    Jurisdiction,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    Request,
    Robot,
    User,
    VisitCampaign,
    title_from,
    utcnow,
)
from ..workflow import Status
from . import routing

logger = logging.getLogger("liaison.notify")

# Notifications queued in the session's current unit of work, for deliver_after_commit().
_QUEUED_KEY = "liaison_queued_notifications"
MAX_ERROR_LENGTH = 500
MAX_RETRY_DELAY = timedelta(days=1)


class DeliveryError(Exception):
    """The backend could not hand the message over; it will be retried."""


class NotifierConfigError(RuntimeError):
    """NOTIFIER names no backend, or the webhook has no usable URL."""


# --- queueing ------------------------------------------------------------------------------

# At most this many SMS a day (China's calendar day) about one request to its enterprise.
ENTERPRISE_SMS_PER_DAY = 3
# Which SMS template speaks for an event: to the enterprise, and to the people who act.
_ENTERPRISE_SMS = {
    NotificationKind.NEW_REQUEST: "filed", NotificationKind.CLAIMED: "claimed", NotificationKind.ASSIGNED: "assigned",
    NotificationKind.ACCEPTED: "responded", NotificationKind.UNSATISFIED: "reopened",
    NotificationKind.REOPENED: "reopened",
}
_PEOPLE_SMS = {
    NotificationKind.NEW_REQUEST: "new_request", NotificationKind.ESCALATED: "escalated",
    NotificationKind.ASSIGNED: "to_acknowledge",
    NotificationKind.DEADLINE_NEAR: "deadline", NotificationKind.OVERDUE: "overdue",
}


def announce(route: str, request: Request, *, note: str = "", deadline: Optional[date] = None,
             inbox_only: bool = False) -> int:
    """Tell everyone the routing table names for this event (services/routing.py), in the
    caller's transaction: a 消息 for each person, an SMS where they chose it, a message to each
    place's group robot naming (@) them, the installation-wide notifier for places without a
    robot, and an SMS to the enterprise when it asked for them. Returns the messages written.
    `inbox_only`: the 消息 lists alone (the demo's past events: nobody is sent anything).

    Nothing is sent before the caller commits (deliver_after_commit), and a rollback discards
    every message with the change it reports.
    """
    return prepare(route, request, note=note, deadline=deadline, inbox_only=inbox_only).write(request)


@dataclass
class Announcement:
    """The messages of one event, worked out; write() adds what only a written request has
    (its id and reference) and puts them in the outbox."""

    rows: list[dict[str, Any]]

    def write(self, request: Request) -> int:
        desk_link = f"{current_app.config['PUBLIC_BASE_URL']}/desk/requests/{request.id}"
        for row in self.rows:
            payload = row["payload"]
            row["request_id"] = request.id
            payload["reference"] = request.reference
            if "link" not in payload:  # the enterprise's tracking link is known before
                payload["link"] = desk_link
            if "sms" in payload:
                payload["sms"] = _sms(payload["sms"]["kind"], payload)
        return _insert(self.rows)


def prepare(route: str, request: Request, *, note: str = "", deadline: Optional[date] = None,
            inbox_only: bool = False, jurisdiction_name: Optional[str] = None) -> Announcement:
    """Work out an event's messages without writing anything: a filing does it before it takes
    the year's reference counter, whose lock every other filing waits for."""
    state = inspect(request)
    if state.pending or state.persistent:
        db.session.flush()  # its id, and the ids the change set (a new level...) as they will commit
    rule = routing.ROUTES[route]
    recipients = routing.reach(route, request)
    people = recipients.people
    chosen = routing.choices(people, rule.kind)
    payload = build_payload(rule.kind, request, note=note, deadline=deadline, jurisdiction_name=jurisdiction_name)
    rows = []
    for person in people:
        if person.id is None:
            continue  # a deputy without an account: named in the group's message only
        mine = dict(payload, recipient=person.name)
        rows.append(_row(NotificationChannel.INBOX, request, mine, user_id=person.id, deputy_id=person.deputy_id))
        if chosen[(person.id, NotificationChannel.SMS)] and is_mobile(person.phone):
            mine = dict(mine, sms={"kind": _PEOPLE_SMS.get(rule.kind, "generic")})
            rows.append(_row(NotificationChannel.SMS, request, mine, user_id=person.id, phone=person.phone,
                             deputy_id=person.deputy_id))
    if inbox_only:
        return Announcement([row for row in rows if row["channel"] is NotificationChannel.INBOX])
    rows += _group_messages(recipients.reaches, payload, chosen, request)
    if recipients.enterprise_phone and rule.kind in _ENTERPRISE_SMS and (
            rule.kind is NotificationKind.NEW_REQUEST or _enterprise_sms_left(request)):  # a new one has sent none
        rows.append(_row(NotificationChannel.SMS, request, _enterprise_payload(rule.kind, request, payload),
                         phone=recipients.enterprise_phone))
    return Announcement(rows)


def _group_messages(reaches, payload, chosen, request) -> list[dict]:
    """One message to each robot of the places concerned, naming the people meant there; the
    installation-wide notifier (NOTIFIER) speaks once for the places that have none, and for
    the people meant who have no place of their own (a claimant)."""
    places = list(dict.fromkeys(reach.place for reach in reaches if reach.place is not None))
    robots = robots_of(places)
    placed = {person.key for reach in reaches if reach.place is not None for person in reach.people}
    rows, unserved = [], []
    for place in [*places, None]:
        people = [person for reach in reaches if reach.place == place for person in reach.people
                  if place is not None or person.key not in placed]
        mentioned = list(dict.fromkeys(
            person.phone for person in people
            if person.id is not None and chosen[(person.id, NotificationChannel.ROBOT)] and is_mobile(person.phone)))
        named = [person.name for person in people]
        if place is not None and robots.get(place):
            # A robot names (@) people by mobile: who has none on file (no account) is named in the text.
            unreachable = [person.name for person in people if person.id is None or not is_mobile(person.phone)]
            rows += [_row(NotificationChannel.ROBOT, request,
                          dict(payload, recipient=_names(unreachable), mentions=mentioned), robot_id=robot_id)
                     for robot_id in robots[place]]
        elif place is not None or people:
            unserved.append((mentioned, named))
    if unserved:
        mentioned = list(dict.fromkeys(phone for phones, _ in unserved for phone in phones))
        named = [name for _, names in unserved for name in names]
        named = named or [person.name for reach in reaches for person in reach.people]
        everyone = [person for reach in reaches for person in reach.people]
        # One person meant (a deputy's own code...): the message is theirs, as the log line says.
        deputy_id = everyone[0].deputy_id if len({person.key for person in everyone}) == 1 else None
        rows.append(_row(NotificationChannel.NOTIFIER, request,
                         dict(payload, recipient=_names(named), mentions=mentioned), deputy_id=deputy_id))
    return rows


def _names(names: list[str]) -> str:
    named = list(dict.fromkeys(names))
    return "、".join(named[:5]) + ("…" if len(named) > 5 else "")


def robots_of(places) -> dict:
    """The active robots of each place, by place (in a batch job, every robot read once)."""
    if not places:
        return {}
    if routing.in_memo():
        rows = routing.cached(("robots",), lambda: db.session.execute(_ROBOTS.order_by(Robot.id)).all())
    else:
        ids = {kind: [place.id for place in places if place.kind == kind]
               for kind in ("jurisdiction", "station", "department")}
        rows = db.session.execute(_ROBOTS_OF, ids).all()
    found: dict = {}
    for robot_id, jurisdiction_id, station_id, department_id in rows:
        for kind, place_id in (("jurisdiction", jurisdiction_id), ("station", station_id),
                               ("department", department_id)):
            if place_id is not None:
                found.setdefault(routing.Place(kind, place_id), []).append(robot_id)
    return {place: found[place] for place in places if place in found}


_ROBOTS = sa.select(Robot.id, Robot.jurisdiction_id, Robot.station_id, Robot.department_id).where(Robot.active)
_ROBOTS_OF = _ROBOTS.where(sa.or_(
    Robot.jurisdiction_id.in_(sa.bindparam("jurisdiction", expanding=True)),
    Robot.station_id.in_(sa.bindparam("station", expanding=True)),
    Robot.department_id.in_(sa.bindparam("department", expanding=True)))).order_by(Robot.id)


def _enterprise_sms_left(request: Request) -> bool:
    """Fewer than ENTERPRISE_SMS_PER_DAY SMS to the enterprise about this request today."""
    from ..workdays import today_local, utc_start_of

    sent_today = db.session.scalar(
        sa.select(sa.func.count()).select_from(Notification).where(
            Notification.request_id == request.id, Notification.channel == NotificationChannel.SMS,
            Notification.recipient_user_id.is_(None), Notification.created_at >= utc_start_of(today_local())))
    return sent_today < ENTERPRISE_SMS_PER_DAY


def _enterprise_payload(kind: NotificationKind, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    """What the enterprise's SMS says: its reference and its tracking link (never the desk)."""
    link = f"{current_app.config['PUBLIC_BASE_URL']}/t/{request.tracking_token}"
    return dict(payload, recipient="", link=link, note="", sms={"kind": _ENTERPRISE_SMS[kind]})


def _sms(template: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The template and its parameters (SMS_TEMPLATES picks the ones each template has)."""
    params = {"reference": payload.get("reference", ""), "link": payload.get("link", ""),
              "department": payload.get("department", ""), "due": payload.get("due", ""),
              "jurisdiction": payload.get("jurisdiction", ""), "campaign": payload.get("campaign", "")}
    return {"kind": template, "params": {key: str(value) for key, value in params.items() if value}}


def _row(channel: NotificationChannel, request: Optional[Request], payload: dict[str, Any], *,
         user_id: Optional[int] = None, phone: Optional[str] = None, robot_id: Optional[int] = None,
         deputy_id: Optional[int] = None, campaign_id: Optional[int] = None) -> dict[str, Any]:
    now = utcnow()
    inbox = channel is NotificationChannel.INBOX
    return dict(kind=NotificationKind(payload["kind"]), channel=channel,
                request_id=request.id if request is not None else None, campaign_id=campaign_id,
                recipient_user_id=user_id, recipient_department_id=None, recipient_deputy_id=deputy_id,
                recipient_phone=phone, robot_id=robot_id, payload=payload,
                status=NotificationStatus.SENT if inbox else NotificationStatus.PENDING,
                attempts=0, next_attempt_at=now, created_at=now, sent_at=now if inbox else None)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Messages announced within the block are written together when it ends (a job announcing
    hundreds of items: one INSERT for them all rather than one per item)."""
    rows: list[dict[str, Any]] = []
    token = _BATCH.set(rows)
    try:
        yield
    finally:
        _BATCH.reset(token)
    _write(rows)


_BATCH: contextvars.ContextVar[Optional[list]] = contextvars.ContextVar("notify_batch", default=None)


def _insert(rows: list[dict[str, Any]]) -> int:
    """Write the messages by one Core INSERT (no unit of work: a filing's request has none),
    or keep them for the end of the batch() they belong to."""
    buffered = _BATCH.get()
    if buffered is not None:
        buffered.extend(rows)
    else:
        _write(rows)
    return len(rows)


def _write(rows: list[dict[str, Any]]) -> None:
    """The ids of the messages still to send are kept for deliver_after_commit()."""
    if not rows:
        return
    if len(rows) <= BATCH_SIZE:  # one event's: one statement
        written = db.session.execute(_INSERT_NOTIFICATION, rows).all()
        ids = [row.id for row in written if row.status == NotificationStatus.PENDING]
    else:  # a job's batch: the 消息 rows, the bulk, need no ids back and are written faster so
        db.session.execute(sa.insert(Notification.__table__),
                           [row for row in rows if row["status"] is NotificationStatus.SENT])
        pending = [row for row in rows if row["status"] is not NotificationStatus.SENT]
        ids = db.session.execute(_INSERT_NOTIFICATION, pending).scalars().all() if pending else []
    db.session.info.setdefault(_QUEUED_KEY, []).extend(ids)


# Each row's status comes back with its id: asking for the rows' order instead
# (sort_by_parameter_order) makes SQLite run one INSERT per message.
_INSERT_NOTIFICATION = sa.insert(Notification.__table__).returning(Notification.__table__.c.id,
                                                                   Notification.__table__.c.status)


def forget_queued() -> None:
    """After a rollback: the messages queued by id were never written."""
    db.session.info.pop(_QUEUED_KEY, None)


def _id_of(recipient) -> Optional[int]:
    return None if recipient is None else recipient.id


def queue_visit_reminder(campaign: VisitCampaign, *, deputy: Deputy, not_visited: int) -> int:
    """Put a visit reminder (走访提醒) to one deputy in the outbox, in the caller's transaction:
    how many of the enterprises paired with them the campaign has not visited yet; into their
    消息 list too when they have an account.

    It is about a campaign, not a request: it has no request, and it names no enterprise,
    so that no enterprise's details reach a group chat.
    """
    if campaign.id is None:
        db.session.flush()
    payload = build_campaign_payload(NotificationKind.VISIT_REMINDER, campaign, recipient=deputy.name,
                                     not_visited=not_visited)
    rows = [_row(NotificationChannel.NOTIFIER, None, payload, deputy_id=deputy.id, campaign_id=campaign.id)]
    user_id = db.session.scalar(sa.select(User.id).where(User.deputy_id == deputy.id, User.active))
    if user_id is not None:
        rows.append(_row(NotificationChannel.INBOX, None, payload, user_id=user_id, deputy_id=deputy.id,
                         campaign_id=campaign.id))
    return _insert(rows)


def build_payload(kind: NotificationKind, request: Request, *, recipient: str = "", note: str = "",
                  deadline: Optional[date] = None, jurisdiction_name: Optional[str] = None) -> dict[str, Any]:
    """What a message says: enough to find the request on the desk, and no more.

    Never the contact's name or phone, nor the USCC: messages land in group chats
    and third-party logs. The title is cut from the enterprise's own description,
    so those details are also masked where the enterprise typed them into it.
    """
    payload = {
        "kind": kind.value,
        "reference": request.reference,
        "title": _masked_title(request),
        "category": Category(request.category).value,
        "status": Status(request.status).value,
        "jurisdiction": _jurisdiction_name(request) if jurisdiction_name is None else jurisdiction_name,
        "recipient": recipient,
        "note": _without_contact_details(str(note or ""), request),
    }
    if request.id is not None:  # a filing's messages are worked out before it is written (Announcement)
        payload["link"] = f"{current_app.config['PUBLIC_BASE_URL']}/desk/requests/{request.id}"
    if request.department_id is not None and kind is NotificationKind.ASSIGNED:
        payload["department"] = db.session.scalar(sa.select(Department.name)
                                                  .where(Department.id == request.department_id))
    due = deadline or (request.due_on if kind is NotificationKind.ASSIGNED else None)
    if due is not None:
        payload["due"] = due.isoformat()
    return payload


def build_campaign_payload(kind: NotificationKind, campaign: VisitCampaign, *, recipient: str,
                           not_visited: int) -> dict[str, Any]:
    """What a message about a campaign says: its name, place and end, and a count. The
    link leads to the deputy's list of their paired enterprises (我的结对企业) on the desk."""
    return {
        "kind": kind.value,
        "campaign": campaign.name,
        "campaign_id": campaign.id,
        "jurisdiction": campaign.jurisdiction.name if campaign.jurisdiction else "",
        "ends_on": campaign.ends_on.isoformat(),
        "not_visited": not_visited,
        "recipient": recipient,
        "link": f"{current_app.config['PUBLIC_BASE_URL']}/desk/visits/pairings",
    }


def _subject(payload: dict[str, Any]) -> str:
    """What a message is about, for log lines: a request's reference or a campaign's name."""
    return payload.get("reference") or payload.get("campaign") or ""


def _jurisdiction_name(request: Request) -> str:
    if routing.in_memo():  # a batch job: every name read once
        return routing.cached(("names",), lambda: dict(db.session.execute(
            sa.select(Jurisdiction.id, Jurisdiction.name)).all())).get(request.jurisdiction_id, "")
    return db.session.scalar(sa.select(Jurisdiction.name).where(Jurisdiction.id == request.jurisdiction_id)) or ""


def _masked_title(request: Request) -> str:
    """The title cut anew from the masked description: the stored title may end
    part-way through a phone number or USCC, which masking would then miss."""
    return title_from(_without_contact_details(request.description, request))


def _without_contact_details(text: str, request: Request) -> str:
    """The text without the request's contact name, phone and credit code, nor any phone number,
    e-mail or WeChat id typed into it (the one detector: services/retention.py)."""
    from .retention import CONTACT_DETAILS, Detail, find_details, phone_kind, remove_details

    known = {Detail.CONTACT_NAME: [request.contact_name or ""]}
    if request.contact_phone:
        known[phone_kind(request.contact_phone)] = [request.contact_phone,
                                                    request.contact_phone.removeprefix("+86")]
    uscc = request.enterprise.uscc if request.enterprise is not None else db.session.scalar(
        sa.select(Enterprise.uscc).where(Enterprise.id == request.enterprise_id))
    known[Detail.CREDIT_CODE] = [uscc or ""]
    return remove_details(text, find_details(text, known, kinds=CONTACT_DETAILS), lambda _kind: "***")


# --- backends ------------------------------------------------------------------------------


class Backend(Protocol):
    def send(self, payload: dict[str, Any]) -> None:
        """Hand one message over, or raise."""


class LogBackend:
    """Writes one line per message to the "liaison.notify" log (the default)."""

    def send(self, payload: dict[str, Any]) -> None:
        logger.info("notify %s %s to %s", payload["kind"], _subject(payload), payload["recipient"] or "staff")


class WebhookBackend:
    """Posts the message to a group robot (WeCom, DingTalk) or any JSON endpoint."""

    def __init__(self, url: str, timeout: float):
        self.url = url
        self.timeout = timeout

    def send(self, payload: dict[str, Any]) -> None:
        text = {"content": message_text(payload)}
        if payload.get("mentions"):  # WeCom's robots name them; other endpoints ignore the key
            text["mentioned_mobile_list"] = [phone.removeprefix("+86") for phone in payload["mentions"]]
        body = {"msgtype": "text", "text": text, "liaison": payload}
        http_request = urllib.request.Request(
            self.url,
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as response:
                status, answer = response.status, response.read(64 * 1024)
        except urllib.error.HTTPError as error:  # a 4xx or 5xx answer
            raise DeliveryError(f"HTTP {error.code} {error.reason}") from None
        except (OSError, ValueError, http.client.HTTPException) as error:  # refused, timed out, TLS
            raise DeliveryError(f"{type(error).__name__}: {error}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}")
        _check_robot_answer(answer)


def _check_robot_answer(answer: bytes) -> None:
    """Robots answer 200 with {"errcode": n, "errmsg": ...}; anything but 0 is a failure."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return  # not a robot: a 2xx is success
    if isinstance(parsed, dict) and parsed.get("errcode") not in (None, 0):
        raise DeliveryError(f"robot errcode {parsed.get('errcode')}: {parsed.get('errmsg', '')}")


def message_text(payload: dict[str, Any]) -> str:
    """The chat message, in the default language whoever's request triggered it."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        if "campaign" in payload:
            lines = _campaign_lines(payload)
        else:
            lines = [
                f"【{NotificationKind(payload['kind']).label}】{payload['reference']} {payload['title']}",
                f"{payload['jurisdiction']} · {Category(payload['category']).label} · "
                f"{Status(payload['status']).label}",
            ]
    if payload.get("recipient"):
        lines[0] = f"@{payload['recipient']} " + lines[0]
    if payload.get("note"):
        lines.append(payload["note"])
    lines.append(payload["link"])
    return "\n".join(lines)


def _campaign_lines(payload: dict[str, Any]) -> list[str]:
    count = int(payload.get("not_visited") or 0)
    return [
        f"【{NotificationKind(payload['kind']).label}】{payload['campaign']}",
        " · ".join(part for part in (
            payload.get("jurisdiction", ""),
            ngettext("%(num)d of your paired enterprises not visited yet",
                     "%(num)d of your paired enterprises not visited yet", count),
            gettext("ends on %(day)s", day=payload.get("ends_on", "")),
        ) if part),
    ]


def get_backend() -> Backend:
    """The backend the NOTIFIER setting names."""
    name = (current_app.config.get("NOTIFIER") or "log").strip().lower()
    if name == "log":
        return LogBackend()
    if name == "webhook":
        url = current_app.config.get("NOTIFY_WEBHOOK_URL") or ""
        if not url.startswith(("https://", "http://")):
            raise NotifierConfigError("NOTIFIER is 'webhook' but NOTIFY_WEBHOOK_URL is not an http(s) URL.")
        return WebhookBackend(url, float(current_app.config["NOTIFY_TIMEOUT_SECONDS"]))
    raise NotifierConfigError(f"NOTIFIER must be 'log' or 'webhook', not {name!r}.")


# --- delivery ------------------------------------------------------------------------------

# Messages taken for one attempt at a time, in one short transaction; and how long the courier
# lets a busy moment's messages gather before it takes them (a notice a second late is no loss;
# 50 filings a second each taking and marking their own message would cost two commits each).
BATCH_SIZE = 50
COURIER_GATHER_SECONDS = 0.5


def deliver_after_commit() -> None:
    """Send what this unit of work queued, as soon as possible after the service's commit.

    In a request (NOTIFY_DELIVER_IN_BACKGROUND), this process's courier thread sends it a
    moment later, so that neither the answer nor the worker waits for a robot on the network;
    elsewhere (the CLI, jobs) it is sent at once. Best effort: every error is logged and
    swallowed, as the state change is already committed and the outbox keeps each message
    for `flask notify-retry`, also when the process dies before its courier has sent it.
    """
    queued = db.session.info.pop(_QUEUED_KEY, [])
    try:
        if not current_app.config.get("NOTIFY_DELIVER_IMMEDIATELY", True):
            return
        # Rows of a rolled-back unit of work never became persistent: nothing to send.
        # Ids: messages written by a Core INSERT in the committed transaction (a filing's).
        ids = [item if isinstance(item, int) else inspect(item).identity[0]
               for item in queued if isinstance(item, int) or inspect(item).persistent]
        if not ids:
            return
        if has_request_context() and current_app.config.get("NOTIFY_DELIVER_IN_BACKGROUND", True):
            courier().hand_over(ids)
        else:
            _deliver(ids)
    except Exception:
        logger.exception("immediate delivery failed; the outbox keeps the messages")


def deliver_pending(limit: int = 50) -> tuple[int, int]:
    """Send up to `limit` pending messages that are due; return (sent, failed).

    `failed` counts the attempts that failed this time, whether they will be
    retried or were the last. Call it outside a unit of work: it commits, a few
    small transactions at a time. It never raises; errors are logged.
    """
    try:
        _end_read_transaction()
        due = sa.select(Notification.id).where(
            Notification.status == NotificationStatus.PENDING, Notification.next_attempt_at <= utcnow()
        )
        ids = list(db.session.scalars(due.order_by(Notification.next_attempt_at, Notification.id).limit(limit)))
        db.session.commit()
        return _deliver(ids)
    except Exception:
        db.session.rollback()
        logger.exception("delivering pending notifications failed")
        return 0, 0


def _deliver(ids: list[int]) -> tuple[int, int]:
    _end_read_transaction()
    sent = failed = 0
    for start in range(0, len(ids), BATCH_SIZE):
        batch = ids[start:start + BATCH_SIZE]
        try:
            taken = _start_attempts(batch)
        except Exception:
            db.session.rollback()
            logger.exception("notifications %s: could not record the delivery attempts", batch)
            continue
        delivered, failures = _send_batch(taken)
        waits = [(message, error) for message, error in failures if isinstance(error, TryLater)]
        failures = [(message, error) for message, error in failures if not isinstance(error, TryLater)]
        failed += len(failures)  # a wait is no failure
        try:
            _record_waits(waits)
        except Exception:
            db.session.rollback()
            logger.exception("notifications %s: could not put off", [message.id for message, _ in waits])
        for message, error in failures:
            try:
                _record_failure(message, error)
            except Exception:
                db.session.rollback()
                logger.exception("notification %s: could not record the failed attempt", message.id)
        try:
            _record_successes(delivered)
            sent += len(delivered)
        except Exception:
            db.session.rollback()
            logger.exception("notifications %s: sent, but could not be marked sent", delivered)
    return sent, failed


@dataclass(frozen=True)
class Taken:
    """One message taken for one delivery attempt."""

    id: int
    channel: NotificationChannel
    payload: dict[str, Any]
    phone: Optional[str]
    robot_id: Optional[int]


class TryLater(Exception):
    """The channel is busy (a robot's or an SMS provider's rate limit): not a failed attempt."""

    def __init__(self, seconds: float, reason: str):
        super().__init__(reason)
        self.seconds = seconds


class Refused(Exception):
    """The channel will never take this message (an SMS provider refused the number)."""


def _send_batch(taken: list[Taken]) -> tuple[list[int], list[tuple[Taken, Exception]]]:
    """Hand each message to its channel: the messages of one robot in one post (a digest when
    there are several), the rest one by one. Returns the ids sent and the failures."""
    delivered, failures = [], []
    by_robot: dict[Optional[int], list[Taken]] = {}
    for message in taken:
        if message.channel is NotificationChannel.ROBOT:
            by_robot.setdefault(message.robot_id, []).append(message)
            continue
        try:
            _send_one(message)
        except Exception as error:
            failures.append((message, error))
        else:
            delivered.append(message.id)
    for robot_id, messages in by_robot.items():
        try:
            _post_to_robot(robot_id, messages)
        except Exception as error:
            failures += [(message, error) for message in messages]
        else:
            delivered += [message.id for message in messages]
    return delivered, failures


def _send_one(message: Taken) -> None:
    from . import sms

    try:
        if message.channel is NotificationChannel.SMS:
            sms.get_backend().send(message.phone, message.payload["sms"]["kind"], message.payload["sms"]["params"])
        else:
            get_backend().send(message.payload)
    except sms.SmsTryLater as error:
        raise TryLater(60, str(error)) from None
    except sms.SmsRefused as error:
        raise Refused(str(error)) from None
    except (NotifierConfigError, sms.SmsConfigError) as error:
        # Not the message's fault: it waits, without spending its attempts, until it is set up.
        raise TryLater(float(current_app.config["NOTIFY_RETRY_SECONDS"]), f"not configured: {error}") from None


def _post_to_robot(robot_id: Optional[int], messages: list[Taken]) -> None:
    """A robot removed or switched off since: its messages go to the installation's notifier."""
    from . import robots

    robot = db.session.get(Robot, robot_id) if robot_id is not None else None
    had_error = robot is not None and robot.last_error is not None
    try:
        if robot is None or not robot.active:
            for message in messages:
                get_backend().send(message.payload)
            return
        mentions = list(dict.fromkeys(phone for message in messages for phone in message.payload.get("mentions", [])))
        robots.post(robot, [message.payload for message in messages], mentions)
    except robots.RobotTryLater as error:
        raise TryLater(error.retry_after, str(error)) from None
    except NotifierConfigError as error:  # as in _send_one: it waits until the notifier is set up
        raise TryLater(float(current_app.config["NOTIFY_RETRY_SECONDS"]), f"not configured: {error}") from None
    finally:
        db.session.rollback()  # only the robot was read
    if had_error:  # it posts again: the admin's list no longer shows the old refusal
        begin_write()
        db.session.execute(sa.update(Robot).where(Robot.id == robot_id).values(last_error=None)
                           .execution_options(synchronize_session=False))
        db.session.commit()


def _start_attempts(ids: list[int]) -> list[Taken]:
    """Take the messages for one attempt each, in one short transaction: count the attempt
    and push the due time past the send timeouts of the whole batch, so that no other worker
    sends them meanwhile. No lock is held while the backend talks to the network.

    If this process dies while sending, the messages are due again after the lease. Those
    whose earlier attempts were all cut short (the process died while sending) are failed.
    """
    if not ids:
        return []
    now = utcnow()
    lease = timedelta(seconds=float(current_app.config["NOTIFY_TIMEOUT_SECONDS"]) * len(ids) + 60)
    begin_write()
    rows = db.session.execute(
        sa.update(Notification)
        .where(
            Notification.id.in_(ids),
            Notification.status == NotificationStatus.PENDING,
            Notification.next_attempt_at <= now,
        )
        .values(attempts=Notification.attempts + 1, next_attempt_at=now + lease)
        .returning(Notification.id, Notification.attempts, Notification.payload, Notification.channel,
                   Notification.recipient_phone, Notification.robot_id)
        .execution_options(synchronize_session=False)
    ).all()
    interrupted = [row.id for row in rows if row.attempts > _max_attempts()]
    if interrupted:
        db.session.execute(
            sa.update(Notification).where(Notification.id.in_(interrupted))
            .values(status=NotificationStatus.FAILED,
                    last_error=sa.func.coalesce(Notification.last_error, "delivery was interrupted"))
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    order = {notification_id: index for index, notification_id in enumerate(ids)}
    return sorted((Taken(row.id, NotificationChannel(row.channel), dict(row.payload), row.recipient_phone,
                         row.robot_id) for row in rows if row.id not in interrupted),
                  key=lambda taken: order[taken.id])


def _record_successes(ids: list[int]) -> None:
    if not ids:
        return
    begin_write()
    db.session.execute(
        sa.update(Notification).where(Notification.id.in_(ids))
        .values(status=NotificationStatus.SENT, sent_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _record_waits(waits: list[tuple[Taken, "TryLater"]]) -> None:
    """A busy channel (a robot's 20 a minute, an SMS provider's limit, a notifier not set up)
    is no failed attempt: each message waits, its attempt given back; one UPDATE per wait, as a
    throttled robot puts off a whole batch at once."""
    if not waits:
        return
    by_wait: dict[tuple[float, str], list[int]] = {}
    for message, error in waits:
        by_wait.setdefault((error.seconds, str(error)[:MAX_ERROR_LENGTH]), []).append(message.id)
    begin_write()
    for (seconds, reason), ids in by_wait.items():
        db.session.execute(
            sa.update(Notification).where(Notification.id.in_(ids))
            .values(attempts=Notification.attempts - 1, last_error=reason,
                    next_attempt_at=utcnow() + timedelta(seconds=seconds))
            .execution_options(synchronize_session=False))
        logger.info("notifications %s wait %.0f s: %s", ids, seconds, reason)
    db.session.commit()


def _record_failure(message: Taken, error: Exception) -> None:
    """Note the error; retry after 1, 2, 4... times NOTIFY_RETRY_SECONDS, or give up; a refusal
    (Refused) is final at once."""
    begin_write()
    notification = db.session.get(Notification, message.id, populate_existing=True)
    notification.last_error = (str(error) or type(error).__name__)[:MAX_ERROR_LENGTH]
    subject = _subject(notification.payload)
    if isinstance(error, Refused) or notification.attempts >= _max_attempts():
        notification.status = NotificationStatus.FAILED
        logger.error("notification %s (%s) failed for good after %s attempts: %s", notification.id,
                     subject, notification.attempts, notification.last_error)
    else:
        delay = timedelta(seconds=float(current_app.config["NOTIFY_RETRY_SECONDS"])) * 2 ** (notification.attempts - 1)
        notification.next_attempt_at = utcnow() + min(delay, MAX_RETRY_DELAY)
        logger.warning("notification %s (%s) attempt %s failed, retrying later: %s", notification.id,
                       subject, notification.attempts, notification.last_error)
    if notification.robot_id is not None:
        db.session.execute(sa.update(Robot).where(Robot.id == notification.robot_id)
                           .values(last_error=notification.last_error).execution_options(synchronize_session=False))
    db.session.commit()


def _max_attempts() -> int:
    return int(current_app.config["NOTIFY_MAX_ATTEMPTS"])


def _end_read_transaction() -> None:
    """Start from a clean session: end a read-only transaction, refuse unsaved changes."""
    if db.session.new or db.session.dirty or db.session.deleted:
        raise RuntimeError("deliver_pending() was called with unsaved changes in the session")
    if db.session().in_transaction():
        db.session.commit()


# --- the courier: delivery in the background of a serving process ---------------------------


def courier() -> "Courier":
    """This process's courier for the current app (started on the first message)."""
    found = current_app.extensions.get("notify_courier")
    if found is None:
        found = current_app.extensions.setdefault("notify_courier", Courier(current_app._get_current_object()))
    return found


class Courier:
    """A thread of the serving process that sends the messages its requests queued.

    A request hands over the ids of the messages it committed and answers at once; the
    courier lets a busy moment's messages gather for COURIER_GATHER_SECONDS, then sends them
    in batches (one transaction takes a batch, one marks it sent). The messages are rows of
    the outbox, committed with the change they report: a process that dies before its courier
    has sent them (SIGKILL, gunicorn's timeout) leaves them pending, and `flask notify-retry`
    sends them; a graceful exit sends what is waiting (atexit).
    """

    def __init__(self, app):
        self.app = app
        self.lock = threading.Condition()
        self.waiting: list[int] = []
        self.sending = False
        self.thread: Optional[threading.Thread] = None
        self.pid: Optional[int] = None
        atexit.register(self.send_waiting)

    def hand_over(self, ids: list[int]) -> None:
        with self.lock:
            self.waiting.extend(ids)
            if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
                # Started in this process (a thread does not survive a fork).
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self._run, name="notify-courier", daemon=True)
                self.thread.start()
            self.lock.notify_all()

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.waiting:
                    self.lock.wait()
            time.sleep(COURIER_GATHER_SECONDS)
            self.send_waiting()

    def send_waiting(self) -> None:
        """Send every message handed over so far (the courier's loop, and atexit)."""
        with self.lock:
            ids, self.waiting = self.waiting, []
            if not ids:
                return
            self.sending = True
        try:
            with self.app.app_context():
                try:
                    _deliver(ids)
                finally:
                    db.session.remove()
        except Exception:  # the outbox keeps them for `flask notify-retry`
            logger.exception("the courier could not deliver notifications %s", ids)
        finally:
            with self.lock:
                self.sending = False
                self.lock.notify_all()

    def wait_until_idle(self, timeout: float) -> bool:
        """Whether everything handed over was sent (or tried) within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.waiting or self.sending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
        return True
