"""找回我的诉求: an enterprise that lost its tracking links proves its mobile number with a
one-time code sent by SMS and gets the links of the requests filed with that number.

Nobody may learn from it whether a number filed anything. A code is made for every number
asked for, and texted only when the number has at least one request: the answer, its status
and its next page are the same either way ("if this number filed requests, a code was sent"),
and the database work is the same. No one can know the code of a number without requests, so
whatever is typed for it fails as a wrong code does. The one difference left, the time the
provider takes, is evened out by waiting about as long when nothing is sent (_pad).

A code is 6 random digits, kept only as an HMAC-SHA256 keyed with SECRET_KEY; it lasts
CODE_LIFETIME, dies at the MAX_WRONG_TRIES-th wrong try and opens the list once. How many
codes a number and an address may ask for is limited in limits.py (FIND_CODES_PER_PHONE,
FIND_CODES_PER_IP).
"""

import hashlib
import hmac
import logging
import secrets
import statistics
import time
from collections import deque
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..logs import mask_phone_text
from ..models import Request, SmsCode, utcnow
from .sms import SmsConfigError, SmsError, SmsRefused, get_backend

log = logging.getLogger("liaison.find")

CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_TRIES = 5
KEEP_SPENT_CODES = timedelta(days=1)
MAX_LISTED = 100  # requests listed for one number, newest first
MAX_PAD_SECONDS = 3.0

# Provider codes that are a verdict about the number itself (not about our template or
# account): only these tell the person that the number cannot receive texts. The "http"
# gateway says it with 422 (400 is a malformed message).
_NUMBER_VERDICTS = (
    "isv.MOBILE_NUMBER_ILLEGAL", "isv.DOMESTIC_NUMBER_NOT_SUPPORTED",  # Aliyun
    "InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",  # Tencent
    "FailedOperation.PhoneNumberParseFail", "UnsupportedOperation.UnsupportedRegion",
    "HTTP 422",
)

# How long the last real sends of this worker took: the median is waited when nothing is sent.
_send_seconds: deque = deque(maxlen=25)


class CodeNotSent(Exception):
    """The provider did not take the text: `message` says so to the person, `http_status` how."""

    def __init__(self, message, http_status: int):
        super().__init__(str(message))
        self.message = message
        self.http_status = http_status


class WrongCode(Exception):
    """The code typed does not open the list (wrong, expired, used or dead); nothing shown."""

    def __init__(self, message, *, dead: bool = False):
        super().__init__(str(message))
        self.message = message
        self.dead = dead


WRONG_OR_EXPIRED = _l("The code is wrong or has expired. Please check the text message, or ask for a new code.")
TOO_MANY_TRIES = _l("The code was typed wrong %(n)d times and no longer works. Please ask for a new code.",
                    n=MAX_WRONG_TRIES)
NOT_SENT = _l("The text message could not be sent. Please try again later.")


def send_code(phone: str) -> SmsCode:
    """A new code for `phone` (E.164), texted when the number filed requests (see above).
    CodeNotSent when the provider refused or failed: the code is then of no use to anyone."""
    now = utcnow()
    has_requests = db.session.scalar(sa.select(sa.exists().where(Request.contact_phone == phone)))
    # A spent code is of no use to anyone, and it names a phone number: gone after a day.
    db.session.execute(sa.delete(SmsCode).where(SmsCode.expires_at < now - KEEP_SPENT_CODES))
    code = f"{secrets.randbelow(10 ** 6):06d}"
    row = SmsCode(phone=phone, code_hash=_digest(phone, code), expires_at=now + CODE_LIFETIME)
    db.session.add(row)
    db.session.commit()
    if has_requests:
        _text(phone, code)
    else:
        _pad()
    log.info("find code %s for %s", row.id, mask_phone_text(phone))
    return row


def check_code(row: SmsCode, typed: str) -> list[Request]:
    """The requests filed with the code's number, newest first, when `typed` is its code and
    it is still live; it is then used up. Otherwise WrongCode, and a wrong code counts a try.
    Each outcome is one conditional UPDATE, so two tries at once cannot both use a code, nor
    take a sixth try."""
    now = utcnow()
    live = (SmsCode.id == row.id, SmsCode.used_at.is_(None), SmsCode.attempts < MAX_WRONG_TRIES,
            SmsCode.expires_at > now)
    right = hmac.compare_digest(row.code_hash, _digest(row.phone, typed))
    change = {"used_at": now} if right else {"attempts": SmsCode.attempts + 1}
    changed = db.session.execute(sa.update(SmsCode).where(*live).values(**change).returning(SmsCode.id)).first()
    db.session.commit()
    if right and changed is not None:
        return requests_of(row.phone)
    db.session.refresh(row)
    if row.attempts >= MAX_WRONG_TRIES:
        raise WrongCode(TOO_MANY_TRIES, dead=True)
    raise WrongCode(WRONG_OR_EXPIRED)


def requests_of(phone: str) -> list[Request]:
    return list(db.session.scalars(
        sa.select(Request).where(Request.contact_phone == phone)
        .order_by(Request.created_at.desc(), Request.id.desc()).limit(MAX_LISTED)
    ))


def _digest(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"find-code:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _text(phone: str, code: str) -> None:
    started = time.monotonic()
    try:
        get_backend().send(phone, "find_code", {"code": code})
    except SmsRefused as error:
        log.warning("find code for %s refused: %s", mask_phone_text(phone), error)
        if str(error).startswith(_NUMBER_VERDICTS):
            raise CodeNotSent(_l("This number cannot receive text messages."), 422) from None
        raise CodeNotSent(NOT_SENT, 503) from None
    except SmsError as error:  # SmsTryLater (throttled) or SmsFailed
        log.warning("find code for %s not sent: %s", mask_phone_text(phone), error)
        raise CodeNotSent(NOT_SENT, 503) from None
    except SmsConfigError as error:  # no template for find_code: the admin's to fix, not the person's
        log.error("find code not sent: %s", error)
        raise CodeNotSent(NOT_SENT, 503) from None
    _send_seconds.append(time.monotonic() - started)


def _pad() -> None:
    """Wait about as long as a real send takes (its recent median in this worker)."""
    if _send_seconds:
        time.sleep(min(statistics.median(_send_seconds), MAX_PAD_SECONDS))
