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
import http.client
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any, Optional, Protocol

import sqlalchemy as sa
from flask import current_app, has_request_context
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import inspect

from ..extensions import begin_write, db
from ..logs import sub_folded
from ..models import (
    Category,
    Department,
    Deputy,
    Jurisdiction,
    Notification,
    NotificationKind,
    NotificationStatus,
    Request,
    User,
    VisitCampaign,
    title_from,
    utcnow,
)
from ..workflow import Status

logger = logging.getLogger("liaison.notify")

# Notifications queued in the session's current unit of work, for deliver_after_commit().
_QUEUED_KEY = "liaison_queued_notifications"
MAX_ERROR_LENGTH = 500
MAX_RETRY_DELAY = timedelta(days=1)
# A mainland mobile number typed into the description (the title is cut from it).
_MOBILE_NUMBER = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)")


class DeliveryError(Exception):
    """The backend could not hand the message over; it will be retried."""


class NotifierConfigError(RuntimeError):
    """NOTIFIER names no backend, or the webhook has no usable URL."""


# --- queueing ------------------------------------------------------------------------------


def queue(
    kind: NotificationKind | str,
    request: Request,
    *,
    user: Optional[User] = None,
    department: Optional[Department] = None,
    deputy: Optional[Deputy] = None,
    note: str = "",
) -> Notification:
    """Put a message about `request` in the outbox, in the caller's transaction.

    Nothing is written until the caller commits, and a rollback discards it with the
    change it reports. A request that has not been flushed yet is flushed first, as
    the message links to it by id.
    """
    kind = NotificationKind(kind)
    if request.id is None:
        db.session.flush()
    # The recipient by id (one is always written already): the flush then does not walk the
    # recipient's loaded stations, jurisdictions... along with the message's row.
    return _add_to_outbox(Notification(
        kind=kind,
        request=request,
        recipient_user_id=_id_of(user),
        recipient_department_id=_id_of(department),
        recipient_deputy_id=_id_of(deputy),
        payload=build_payload(kind, request, recipient=_recipient_name(user, department, deputy), note=note),
    ))


def queue_for_written_request(kind: NotificationKind | str, request: Request, *, deputy_id: int, recipient: str,
                              jurisdiction_name: str) -> int:
    """queue() for a request already written by a Core INSERT (a filing, which has its id and
    knows its route: the deputy's name and the jurisdiction's, see services/requests.Route): the
    message's row is written at once, in the caller's transaction, by a Core INSERT too (no unit
    of work); its id is kept for deliver_after_commit()."""
    kind = NotificationKind(kind)
    notification_id = db.session.scalar(_INSERT_NOTIFICATION, dict(
        kind=kind, request_id=request.id, recipient_deputy_id=deputy_id,
        payload=build_payload(kind, request, recipient=recipient, jurisdiction_name=jurisdiction_name),
        status=NotificationStatus.PENDING, attempts=0, next_attempt_at=utcnow(),
    ))
    db.session.info.setdefault(_QUEUED_KEY, []).append(notification_id)
    return notification_id


_INSERT_NOTIFICATION = sa.insert(Notification.__table__).returning(Notification.__table__.c.id)


def forget_queued() -> None:
    """After a rollback: the messages queued by id were never written."""
    db.session.info.pop(_QUEUED_KEY, None)


def _id_of(recipient) -> Optional[int]:
    return None if recipient is None else recipient.id


def queue_visit_reminder(campaign: VisitCampaign, *, deputy: Deputy, not_visited: int) -> Notification:
    """Put a visit reminder (走访提醒) to one deputy in the outbox, in the caller's transaction:
    how many of the enterprises paired with them the campaign has not visited yet.

    It is about a campaign, not a request: it has no request, and it names no enterprise,
    so that no enterprise's details reach a group chat.
    """
    if campaign.id is None:
        db.session.flush()
    return _add_to_outbox(Notification(
        kind=NotificationKind.VISIT_REMINDER,
        request_id=None,
        campaign_id=campaign.id,
        recipient_deputy=deputy,
        payload=build_campaign_payload(NotificationKind.VISIT_REMINDER, campaign, recipient=deputy.name,
                                       not_visited=not_visited),
    ))


def _add_to_outbox(notification: Notification) -> Notification:
    notification.status = NotificationStatus.PENDING
    notification.attempts = 0
    notification.next_attempt_at = utcnow()
    db.session.add(notification)
    db.session.info.setdefault(_QUEUED_KEY, []).append(notification)
    return notification


def build_payload(kind: NotificationKind, request: Request, *, recipient: str = "", note: str = "",
                  jurisdiction_name: Optional[str] = None) -> dict[str, Any]:
    """What a message says: enough to find the request on the desk, and no more.

    Never the contact's name or phone, nor the USCC: messages land in group chats
    and third-party logs. The title is cut from the enterprise's own description,
    so those details are also masked where the enterprise typed them into it.
    """
    return {
        "kind": kind.value,
        "reference": request.reference,
        "title": _masked_title(request),
        "category": Category(request.category).value,
        "status": Status(request.status).value,
        "jurisdiction": _jurisdiction_name(request) if jurisdiction_name is None else jurisdiction_name,
        "recipient": recipient,
        "link": f"{current_app.config['PUBLIC_BASE_URL']}/desk/requests/{request.id}",
        "note": _without_contact_details(note, request),
    }


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


def _recipient_name(user: Optional[User], department: Optional[Department], deputy: Optional[Deputy]) -> str:
    if deputy is not None:
        return deputy.name
    if department is not None:
        return department.name
    if user is not None:
        return user.display_name or user.username
    return ""


def _jurisdiction_name(request: Request) -> str:
    jurisdiction = request.jurisdiction
    if jurisdiction is None and request.jurisdiction_id is not None:
        jurisdiction = db.session.get(Jurisdiction, request.jurisdiction_id)
    return jurisdiction.name if jurisdiction is not None else ""


def _masked_title(request: Request) -> str:
    """The title cut anew from the masked description: the stored title may end
    part-way through a phone number or USCC, which masking would then miss."""
    return title_from(_without_contact_details(request.description, request))


def _without_contact_details(text: str, request: Request) -> str:
    private_values = [request.contact_phone, (request.contact_phone or "").removeprefix("+86"), request.contact_name]
    if request.enterprise is not None:
        private_values.append(request.enterprise.uscc)
    for value in private_values:
        if value and len(value) >= 2:
            text = text.replace(value, "***")
    return sub_folded(_MOBILE_NUMBER, "***", text)  # １３８… typed in full width too


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
        body = {"msgtype": "text", "text": {"content": message_text(payload)}, "liaison": payload}
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
    try:
        backend = get_backend()
    except NotifierConfigError:
        logger.exception("notifications stay pending until the notifier is configured")
        return 0, 0
    sent = failed = 0
    for start in range(0, len(ids), BATCH_SIZE):
        batch = ids[start:start + BATCH_SIZE]
        try:
            taken = _start_attempts(batch)
        except Exception:
            db.session.rollback()
            logger.exception("notifications %s: could not record the delivery attempts", batch)
            continue
        delivered = []
        for notification_id, payload in taken:
            try:
                backend.send(payload)
            except Exception as error:
                failed += 1
                try:
                    _record_failure(notification_id, error)
                except Exception:
                    db.session.rollback()
                    logger.exception("notification %s: could not record the failed attempt", notification_id)
            else:
                delivered.append(notification_id)
        try:
            _record_successes(delivered)
            sent += len(delivered)
        except Exception:
            db.session.rollback()
            logger.exception("notifications %s: sent, but could not be marked sent", delivered)
    return sent, failed


def _start_attempts(ids: list[int]) -> list[tuple[int, dict[str, Any]]]:
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
        .returning(Notification.id, Notification.attempts, Notification.payload)
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
    return sorted(((row.id, dict(row.payload)) for row in rows if row.id not in interrupted),
                  key=lambda taken: order[taken[0]])


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


def _record_failure(notification_id: int, error: Exception) -> None:
    """Note the error; retry after 1, 2, 4... times NOTIFY_RETRY_SECONDS, or give up."""
    begin_write()
    notification = db.session.get(Notification, notification_id, populate_existing=True)
    notification.last_error = (str(error) or type(error).__name__)[:MAX_ERROR_LENGTH]
    if notification.attempts >= _max_attempts():
        notification.status = NotificationStatus.FAILED
        logger.error("notification %s (%s) failed for good after %s attempts: %s", notification.id,
                     _subject(notification.payload), notification.attempts, notification.last_error)
    else:
        delay = timedelta(seconds=float(current_app.config["NOTIFY_RETRY_SECONDS"])) * 2 ** (notification.attempts - 1)
        notification.next_attempt_at = utcnow() + min(delay, MAX_RETRY_DELAY)
        logger.warning("notification %s (%s) attempt %s failed, retrying later: %s", notification.id,
                       _subject(notification.payload), notification.attempts, notification.last_error)
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
