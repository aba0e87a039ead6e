"""Storage limitation (个人信息保护法 第十九条): contact details are kept only as long as needed.

Once a request has been closed or withdrawn for CONTACT_RETENTION_MONTHS, `anonymise_closed`
replaces its contact person and phone with a fixed marker and removes phone numbers, e-mail
addresses (also typed in full-width digits and letters, １３８…), WeChat ids and the contact's
name from the text written on it (the description, the rating comment, a public summary and the notes of its trail). What the statistics count stays: the enterprise,
category, level, dates, statuses, outcome and rating. An ANONYMISE event (actor: system) puts
it on the trail, and the marker makes a second run skip the request.

The trail's notes are the one place an event is ever changed after it was written: a note
keeps its words, only the contact details in it are replaced.

`find_details` is the app's one detector of personal details in a text: what a request itself
holds (`known_details`: its contact, its enterprise's name, credit code and address) and any
phone number, e-mail address, WeChat id, credit code or house number, typed in full width too.
Anonymisation removes the contact details it finds; the public summary (services/publication.py)
removes everything it finds before the public board shows it.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Collection, Iterable, Mapping, Optional

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from ..extensions import begin_write, db
from ..logs import PHONE_PATTERN, USCC_PATTERN, fold
from ..models import Request, RequestEvent, utcnow
from ..models.base import StrEnum
from ..workflow import Action, Actor, Status
from .requests import record_event

ANONYMISED = "已匿名"
BATCH_SIZE = 500

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A WeChat id after the word that announces it: 6-20 characters, starting with a letter.
_WECHAT = re.compile(r"((?:微信号?|wechat|weixin|vx|wx)\s*[:：]?\s*)[A-Za-z][-_A-Za-z0-9]{5,19}", re.IGNORECASE)
# 门牌号: the number after a road, street or lane (兴业路12号, 园区三路8-2号): it points at one door.
_HOUSE_NUMBER = re.compile(r"(?<=[路街巷弄道])\s*\d+(?:-\d+)?\s*号")


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
    req.public_summary = scrub(req.public_summary, name)  # a draft never approved may still name them
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
    known = {Detail.CONTACT_NAME: [contact_name]} if contact_name != ANONYMISED else {}
    return remove_details(text, find_details(text, known, kinds=CONTACT_DETAILS), lambda _kind: ANONYMISED)


# --- the detector of personal details -------------------------------------------------------------


class Detail(StrEnum):
    """A kind of personal detail a text may hold."""

    CONTACT_NAME = "contact_name"
    MOBILE = "mobile"
    LANDLINE = "landline"
    EMAIL = "email"
    WECHAT = "wechat"
    ENTERPRISE_NAME = "enterprise_name"
    CREDIT_CODE = "credit_code"  # a USCC, or a resident ID number of the same shape
    ADDRESS = "address"

    @property
    def label(self):
        return DETAIL_LABELS[self]


DETAIL_LABELS = {
    Detail.CONTACT_NAME: _l("contact person's name"),
    Detail.MOBILE: _l("mobile number"),
    Detail.LANDLINE: _l("landline number"),
    Detail.EMAIL: _l("e-mail address"),
    Detail.WECHAT: _l("WeChat ID"),
    Detail.ENTERPRISE_NAME: _l("enterprise name"),
    Detail.CREDIT_CODE: _l("credit code or ID number"),
    Detail.ADDRESS: _l("address"),
}
# What anonymisation removes: the ways to reach a person.
CONTACT_DETAILS = (Detail.CONTACT_NAME, Detail.MOBILE, Detail.LANDLINE, Detail.EMAIL, Detail.WECHAT)


@dataclass(frozen=True)
class Found:
    kind: Detail
    start: int  # where in the text as typed
    end: int


def find_details(text: str, known: Optional[Mapping[Detail, Iterable[str]]] = None, *,
                 kinds: Collection[Detail] = tuple(Detail)) -> list[Found]:
    """Every personal detail in the text, in order: each value `known` of the person or
    enterprise concerned (two characters or more), and any detail of `kinds` the patterns
    find: a mainland mobile or landline number, an e-mail address, a WeChat id, a credit code
    or a house number; typed in full width too (１３８…). Two may overlap (a number inside an
    e-mail address); remove_details removes both."""
    folded = fold(text or "")
    found = []
    for kind, values in (known or {}).items():
        for value in {fold(value.strip()) for value in values if value and len(value.strip()) >= 2}:
            found += [Found(kind, m.start(), m.end()) for m in re.finditer(re.escape(value), folded)]
    for match in PHONE_PATTERN.finditer(folded):
        kind = phone_kind(match.group())
        if kind in kinds:
            found.append(Found(kind, match.start(), match.end()))
    patterns = ((Detail.EMAIL, _EMAIL), (Detail.CREDIT_CODE, USCC_PATTERN), (Detail.ADDRESS, _HOUSE_NUMBER))
    for kind, pattern in patterns:
        if kind in kinds:
            found += [Found(kind, m.start(), m.end()) for m in pattern.finditer(folded)]
    if Detail.WECHAT in kinds:  # the id goes, the word announcing it stays
        found += [Found(Detail.WECHAT, m.end(1), m.end()) for m in _WECHAT.finditer(folded)]
    return sorted(set(found), key=lambda f: (f.start, -f.end, f.kind))


def remove_details(text: str, found: list[Found], marker: Callable[[Detail], str]) -> str:
    """The text with each detail found replaced by its kind's marker; details that overlap
    go as one, under the marker of the first."""
    spans: list[list] = []
    for item in sorted(found, key=lambda f: (f.start, -f.end)):
        if spans and item.start < spans[-1][2]:
            spans[-1][2] = max(spans[-1][2], item.end)
        else:
            spans.append([item.kind, item.start, item.end])
    pieces, last = [], 0
    for kind, start, end in spans:
        pieces += [text[last:start], marker(kind)]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def phone_kind(number: str) -> Detail:
    """A mobile (1[3-9] and nine digits, after any +86) or a landline."""
    digits = re.sub(r"\D", "", fold(number))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 10:
            digits = digits[len(prefix):]
            break
    return Detail.MOBILE if re.fullmatch(r"1[3-9]\d{9}", digits) else Detail.LANDLINE


# The legal form ending an enterprise's name, and the level ending a place's name: a text
# often names 太仓市恒丰精密机械有限公司 as 恒丰精密机械, and 太仓市 as 太仓.
_LEGAL_FORMS = ("股份有限公司", "有限责任公司", "有限公司", "集团", "公司", "合作社", "经营部", "商行", "厂")
_LEVEL_ENDINGS = "省市县区镇乡"


def known_details(req: Request) -> dict[Detail, list[str]]:
    """What the request itself holds that names a person or the enterprise: its contact's
    name and phone, and its enterprise's name, credit code and address, also as a text
    would shorten them (without the legal form or the places they begin with)."""
    known: dict[Detail, list[str]] = {}
    if req.contact_name and req.contact_name != ANONYMISED:
        known[Detail.CONTACT_NAME] = [req.contact_name]
    if req.contact_phone:
        known[phone_kind(req.contact_phone)] = [req.contact_phone, req.contact_phone.removeprefix("+86")]
    enterprise = req.enterprise
    if enterprise is None:
        return known
    places = _place_names(req)
    name = enterprise.name or ""
    core = next((name[:-len(form)] for form in _LEGAL_FORMS if name.endswith(form)), name)
    known[Detail.ENTERPRISE_NAME] = [name] + [short for short in {core, _without_places(core, places)}
                                              if len(short) >= 4]
    if enterprise.uscc:
        known[Detail.CREDIT_CODE] = [enterprise.uscc]
    if enterprise.address:
        short = _without_places(enterprise.address, places)
        known[Detail.ADDRESS] = [enterprise.address] + ([short] if len(short) >= 4 else [])
    return known


def _place_names(req: Request) -> list[str]:
    """The names of the places above the request and its enterprise, longest first, each
    also without its level (太仓市, 太仓)."""
    names = set()
    for jurisdiction in (req.jurisdiction, req.filed_jurisdiction, req.enterprise.jurisdiction):
        for place in ([jurisdiction, *jurisdiction.ancestors()] if jurisdiction is not None else []):
            names.add(place.name)
            if len(place.name) > 2 and place.name[-1] in _LEVEL_ENDINGS:
                names.add(place.name[:-1])
    return sorted(names, key=len, reverse=True)


def _without_places(text: str, places: list[str]) -> str:
    """太仓市沙溪镇工业园区兴业路12号 -> 工业园区兴业路12号."""
    stripped = True
    while stripped:
        stripped = False
        for place in places:
            if place and text.startswith(place) and len(text) > len(place):
                text, stripped = text[len(place):], True
                break
    return text
