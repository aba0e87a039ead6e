"""Storage limitation (个人信息保护法 第十九条): contact details are kept only as long as needed.

Once a request has been closed or withdrawn for CONTACT_RETENTION_MONTHS, `anonymise_closed`
replaces its contact person and phone with a fixed marker and removes phone numbers, e-mail
addresses (also typed in full-width digits and letters, １３８…), WeChat ids and the contact's
name from the text written on it (the description, the rating comment and the notes of its trail). What the statistics count stays: the enterprise,
category, level, dates, statuses, outcome and rating. An ANONYMISE event (actor: system) puts
it on the trail, and the marker makes a second run skip the request.

The trail's notes are the one place an event is ever changed after it was written: a note
keeps its words, only the contact details in it are replaced.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from ..extensions import begin_write, db
from ..logs import PHONE_PATTERN, sub_folded
from ..models import Request, RequestEvent, utcnow
from ..workflow import Action, Actor, Status
from .requests import record_event

ANONYMISED = "已匿名"
BATCH_SIZE = 500

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A WeChat id after the word that announces it: 6-20 characters, starting with a letter.
_WECHAT = re.compile(r"((?:微信号?|wechat|weixin|vx|wx)\s*[:：]?\s*)[A-Za-z][-_A-Za-z0-9]{5,19}", re.IGNORECASE)


class RetentionError(ValueError):
    """CONTACT_RETENTION_MONTHS (or --months) is not a number of months."""


@dataclass(frozen=True)
class AnonymiseResult:
    cutoff: Optional[datetime]  # closed before this (UTC); None: retention is off
    requests: int  # anonymised (or, in a dry run, that would be)
    notes: int  # texts of the trail from which contact details were removed
    dry_run: bool


def retention_months(value=None) -> Optional[int]:
    """The retention period in months from the setting (or an explicit value); None: keep."""
    value = current_app.config.get("CONTACT_RETENTION_MONTHS") if value is None else value
    if value in (None, False, "", 0, "0"):
        return None
    try:
        months = int(value)
    except (TypeError, ValueError):
        raise RetentionError(f"CONTACT_RETENTION_MONTHS must be a number of months, not {value!r}.") from None
    if months < 0:
        raise RetentionError(f"CONTACT_RETENTION_MONTHS must not be negative ({months}).")
    return months or None


def months_before(moment: datetime, months: int) -> datetime:
    """The same day `months` calendar months earlier (the month's last day if it has fewer)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    following = datetime(year + (month == 12), month % 12 + 1, 1)
    last_day = (following - datetime(year, month, 1)).days
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def _due(cutoff: datetime):
    return sa.and_(
        Request.status.in_((Status.CLOSED, Status.WITHDRAWN)),
        Request.closed_at < cutoff,
        Request.contact_name != ANONYMISED,
    )


def anonymise_closed(*, months: Optional[int] = None, dry_run: bool = False, now: Optional[datetime] = None,
                     batch_size: int = BATCH_SIZE) -> AnonymiseResult:
    """Anonymise the contact details of requests closed or withdrawn more than `months` months
    ago (default: CONTACT_RETENTION_MONTHS), one transaction per batch of requests. Open
    requests are never touched, however old; a request reopened later has no contact any more."""
    months = retention_months(months)
    if months is None:
        return AnonymiseResult(cutoff=None, requests=0, notes=0, dry_run=dry_run)
    cutoff = months_before(now or utcnow(), months)
    if dry_run:
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Request).where(_due(cutoff)))
        db.session.rollback()
        return AnonymiseResult(cutoff=cutoff, requests=count, notes=0, dry_run=True)

    requests = notes = 0
    last_id = 0
    while True:
        begin_write()
        batch = db.session.scalars(
            sa.select(Request).where(_due(cutoff), Request.id > last_id).order_by(Request.id).limit(batch_size)
            .options(selectinload(Request.events))
        ).all()
        if not batch:
            db.session.rollback()
            break
        for req in batch:
            notes += _anonymise(req)
        last_id = batch[-1].id
        requests += len(batch)
        db.session.commit()
    return AnonymiseResult(cutoff=cutoff, requests=requests, notes=notes, dry_run=False)


def _anonymise(req: Request) -> int:
    """One request: contact replaced, texts scrubbed, an event on the trail. Returns how many
    texts of the trail changed."""
    name = req.contact_name
    req.description = scrub(req.description, name)
    req.title = scrub(req.title, name)
    req.rating_comment = scrub(req.rating_comment, name)
    req.contact_name = ANONYMISED
    req.contact_phone = ""
    changed = 0
    for event in req.events:
        note = scrub(event.note, name)
        if note != event.note:
            # Core UPDATE: the ORM refuses to change an event (models/requests.py).
            db.session.execute(sa.update(RequestEvent).where(RequestEvent.id == event.id).values(note=note)
                               .execution_options(synchronize_session=False))
            changed += 1
    record_event(req, Action.ANONYMISE, Actor.SYSTEM)
    req.updated_at = utcnow()
    return changed


def scrub(text: str, contact_name: str = "") -> str:
    """The text with phone numbers, e-mail addresses, WeChat ids and the contact's name (two
    characters or more) replaced by the marker."""
    if not text:
        return text
    if contact_name and len(contact_name) >= 2 and contact_name != ANONYMISED:
        text = text.replace(contact_name, ANONYMISED)
    text = sub_folded(PHONE_PATTERN, ANONYMISED, text)  # １３８… typed in full width too
    text = sub_folded(_EMAIL, ANONYMISED, text)
    return _WECHAT.sub(lambda m: m.group(1) + ANONYMISED, text)
