"""User accounts: log in, log out everywhere, create, deactivate, set a password.

A user's sessions and remember cookies hold "id:generation" (User.get_id), so bumping
the generation ends all of them at once, on every phone, not only the cookie at hand.

Nobody chooses another person's password: a new account, like a forgotten password,
gets a one-time link and a 6-digit code (PasswordReset) that the admin hands over.
"""

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Optional

import sqlalchemy as sa
from argon2.exceptions import InvalidHashError, VerificationError
from flask import session
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user

from .. import limits
from ..extensions import begin_write, db
from ..models import Department, Deputy, Jurisdiction, PasswordReset, Role, User, utcnow
from ..models.accounts import hash_token
from ..models.people import password_hasher
from ..validators import InvalidValue, display_phone, normalise_phone

log = logging.getLogger("liaison.auth")
admin_log = logging.getLogger("liaison.admin")

PASSWORD_MIN, PASSWORD_MAX = 8, 128
PASSWORD_MIN_DISTINCT = 4  # different characters: 88888888 and 12121212 are refused
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,39}")
DISPLAY_NAME_MAX = 40
# What each role's account is tied to: the jurisdiction a staff member works for, an
# officer's handling unit, the deputy who uses the account. Admins have none.
SCOPE_FIELDS = {Role.STAFF: "jurisdiction", Role.UNIT: "department", Role.DEPUTY: "deputy"}
RESET_VALID_FOR = timedelta(hours=24)
# A 6-digit code is one in a million: five tries leave a guesser no real chance.
RESET_CODE_TRIES = 5


class Rejected(ValueError):
    """Nothing was written; `errors` maps each form field to its message."""

    def __init__(self, errors: dict):
        super().__init__(", ".join(errors))
        self.errors = errors


class PasswordRejected(Rejected):
    """The password was not changed."""


class AccountRejected(Rejected):
    """The account was not created."""


class ResetRejected(Rejected):
    """The one-time code (or the new password typed with it) did not set a password."""


class ResetLinkInvalid(Exception):
    """The link is unknown, used, void or expired: it sets no password any more."""


class AccountRefused(Exception):
    """An action the account's state does not allow (deactivating oneself...); nothing changed."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class OutOfScope(Exception):
    """The actor does not manage this account; views answer 404, as for an unknown id."""


@dataclass(frozen=True)
class AccountDraft:
    """What an admin or the CLI asks for in a new account, before validation."""

    username: str
    role: Role
    display_name: str = ""
    phone: Optional[str] = None
    jurisdiction: Optional[Jurisdiction] = None
    department: Optional[Department] = None
    deputy: Optional[Deputy] = None


@dataclass(frozen=True)
class IssuedReset:
    """A new reset with its link token and code in clear: shown once, to be handed over."""

    user: User
    reset: PasswordReset
    token: str
    code: str


def find_user(login: str) -> Optional[User]:
    """By username (any case) or by phone number in any usual spelling (138 1234 5678)."""
    text = login.strip()
    if not text:
        return None
    candidates = db.session.scalars(
        sa.select(User).where(sa.func.lower(User.username) == sa.func.lower(text)).order_by(User.id)
    ).all()
    if candidates:
        exact = [user for user in candidates if user.username == text]
        # Two accounts differing only by case: only the exact spelling is unambiguous.
        return exact[0] if exact else (candidates[0] if len(candidates) == 1 else None)
    try:
        phone = normalise_phone(text)
    except InvalidValue:
        return None
    return db.session.scalar(sa.select(User).where(User.phone == phone))


def authenticate(login: str, password: str) -> Optional[User]:
    """The active user with this login and password, or None.

    An unknown login costs the same argon2 work as a known one, so that the time
    taken does not tell which usernames exist.
    """
    user = find_user(login)
    if user is None:
        _verify_dummy(password)
    elif user.check_password(password) and user.active:
        return user
    log.warning("failed login for %r", login.strip()[:40])
    return None


def log_in(user: User, *, remember: bool) -> None:
    """Start a fresh session for the user (nothing of the old one is carried over).

    The password was checked in a read transaction; the write lock is taken only now, for the
    short write of the login time (and of a hash that check_password upgraded)."""
    upgraded = user.password_hash if sa.inspect(user).attrs.password_hash.history.has_changes() else None
    db.session.rollback()  # end the read: a write transaction must start from fresh rows
    begin_write()
    user = db.session.get(User, user.id)
    if upgraded:
        user.password_hash = upgraded
    start_session(user, remember=remember)
    user.last_login_at = utcnow()
    db.session.commit()
    log.info("login %s", user.username)


def start_session(user: User, *, remember: bool) -> None:
    """A new session cookie holding the user's current id (and generation)."""
    session.clear()
    login_user(user, remember=remember)


def logout_everywhere(user: User) -> None:
    """退出登录: ends every session and remember cookie of the user, then this one."""
    _end_all_sessions(user)
    db.session.commit()
    log.info("logout %s", user.username)
    # Cleared first: logout_user then marks the remember cookie of this phone for deletion.
    session.clear()
    logout_user()


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; ends the user's other sessions.

    The caller starts this session again (start_session) to keep this phone logged in.
    """
    errors = {}
    if not user.check_password(current):
        errors["current_password"] = _l("The current password is not correct.")
    problem = password_problem(new, names=account_names(user))
    if problem:
        errors["new_password"] = problem
    elif new == current:
        errors["new_password"] = _l("The new password must differ from the current one.")
    if errors:
        db.session.rollback()  # check_password may have upgraded the hash: not on a failure
        raise PasswordRejected(errors)
    user.set_password(new)
    _end_all_sessions(user)
    _void_open_resets(user)  # a link still lying in a chat would undo the change
    db.session.commit()
    log.info("password changed by %s", user.username)


def password_problem(password: str, *, names=()):
    """What is wrong with a new password, or None: the one rule for every way of setting one
    (changing it, a reset link or code, the CLI).

    `names` are what identifies the account (username, phone number, the login typed): a
    password equal to one of them is refused, as are the 30,000 passwords people choose most
    often (the list zxcvbn ships, compared without case) and passwords of very few distinct
    characters (88888888, 123123123), which that list misses.
    """
    if len(password) < PASSWORD_MIN:
        return _l("Please use at least %(min)d characters.", min=PASSWORD_MIN)
    if len(password) > PASSWORD_MAX:
        return _l("Please use at most %(max)d characters.", max=PASSWORD_MAX)
    if any(_same_identity(password, name) for name in names if name):
        return _l("Your password must not be your username or phone number.")
    if password.lower() in _common_passwords() or len(set(password)) < PASSWORD_MIN_DISTINCT:
        return _l("This password is one of the most common ones and easy to guess. Please choose another.")
    return None


def account_names(user) -> tuple:
    """What identifies an account, which its password must not be."""
    return (user.username, user.phone)


def _same_identity(password: str, name: str) -> bool:
    """The password is the username (any case) or the phone number (in any usual spelling)."""
    if password.strip().lower() == name.strip().lower():
        return True
    try:
        return normalise_phone(password) == normalise_phone(name)
    except InvalidValue:
        return False


@cache
def _common_passwords() -> frozenset:
    # Loaded on first use (a few MB): only the entries long enough to pass the length rule.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word for word in FREQUENCY_LISTS["passwords"] if len(word) >= PASSWORD_MIN)


# --- creating accounts -------------------------------------------------------------------


def clean_account(draft: AccountDraft) -> AccountDraft:
    """The draft with its values normalised (phone in E.164), or AccountRejected for values
    that are malformed or missing. Needs no database: the CLI checks these first."""
    cleaned, errors = _malformed(draft)
    if errors:
        raise AccountRejected(errors)
    return cleaned


def check_account_is_new(draft: AccountDraft) -> None:
    """AccountRejected when a clean draft clashes with what exists: a username (in any case),
    phone or deputy already having an account, or an inactive jurisdiction, unit or deputy."""
    errors = _clashes(draft)
    if errors:
        raise AccountRejected(errors)


def create_account(draft: AccountDraft, *, actor: User) -> IssuedReset:
    """开户: an account for a deputy, a staff member or a unit officer (admins alone create admins).

    Staff create accounts only inside their own jurisdiction. Nobody picks the new user's
    password: the account comes with a one-time link and code, as a reset does, that the
    actor hands over. Every problem is reported at once, by field; nothing is written then.
    """
    cleaned, errors = _malformed(draft)
    for more in (_clashes(cleaned), _not_permitted(cleaned, actor)):
        errors = more | errors  # a field shows the first problem found with it
    if errors:
        raise AccountRejected(errors)
    user = User(username=cleaned.username, role=cleaned.role, display_name=cleaned.display_name,
                phone=cleaned.phone, jurisdiction=cleaned.jurisdiction, department=cleaned.department,
                deputy=cleaned.deputy)
    # A random password nobody knows, hashed like any other: until the user sets one through
    # the link or code, the account cannot log in, and a failed try costs the usual time.
    user.set_password(secrets.token_urlsafe(32))
    db.session.add(user)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:  # created by someone else a moment ago
        db.session.rollback()
        raise AccountRejected(_clashes(cleaned) or {"username": _l("This account was created meanwhile.")}) from None
    issued = _new_reset(user, actor)
    db.session.commit()
    admin_log.info("user %s (%s) created by %s", user.username, user.role.value, actor.username)
    return issued


def _malformed(draft: AccountDraft) -> tuple[AccountDraft, dict]:
    errors: dict = {}
    username = draft.username.strip()
    if not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = _l("Use 3 to 40 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    display_name = draft.display_name.strip()
    if len(display_name) > DISPLAY_NAME_MAX:
        errors["display_name"] = _l("At most %(max)d characters.", max=DISPLAY_NAME_MAX)
    phone = None
    if draft.phone is not None and draft.phone.strip():
        try:
            phone = normalise_phone(draft.phone)
        except InvalidValue as error:
            errors["phone"] = error.message
    if not isinstance(draft.role, Role):
        errors["role"] = _l("Please choose a role.")
    needed = SCOPE_FIELDS.get(draft.role)
    if needed and getattr(draft, needed) is None:
        errors[needed] = _SCOPE_MISSING[needed]
    # Only the role's own scope is kept: a staff account tied to a deputy makes no sense.
    scopes = {name: getattr(draft, name) if name == needed else None for name in SCOPE_FIELDS.values()}
    cleaned = AccountDraft(username=username, role=draft.role, display_name=display_name, phone=phone, **scopes)
    return cleaned, errors


_SCOPE_MISSING = {
    "jurisdiction": _l("Please choose the jurisdiction this staff member works for."),
    "department": _l("Please choose the handling unit of this officer."),
    "deputy": _l("Please choose the deputy who will use this account."),
}


def _clashes(draft: AccountDraft) -> dict:
    errors: dict = {}
    if USERNAME_PATTERN.fullmatch(draft.username) and db.session.scalar(
        sa.select(User.id).where(sa.func.lower(User.username) == draft.username.lower())
    ):
        errors["username"] = _l("The username %(username)s is already taken.", username=draft.username)
    if draft.phone and db.session.scalar(sa.select(User.id).where(User.phone == draft.phone)):
        errors["phone"] = _l("The phone number %(phone)s already belongs to another user.",
                             phone=display_phone(draft.phone))
    for name in SCOPE_FIELDS.values():
        target = getattr(draft, name)
        if target is not None and not target.active:
            errors[name] = _l("%(name)s is inactive; reactivate it first.", name=target.name)
    if draft.deputy is not None and "deputy" not in errors and db.session.scalar(
        sa.select(User.id).where(User.deputy_id == draft.deputy.id)
    ):
        errors["deputy"] = _l("%(name)s already has a user account.", name=draft.deputy.name)
    return errors


def _not_permitted(draft: AccountDraft, actor: User) -> dict:
    """What the actor may not create: admins only by admins, the rest inside the actor's scope."""
    from ..admin.scope import in_scope, jurisdiction_of  # late: the admin views import this module

    if draft.role is Role.ADMIN and actor.role is not Role.ADMIN:
        return {"role": _l("Only an administrator can create administrator accounts.")}
    needed = SCOPE_FIELDS.get(draft.role)
    target = getattr(draft, needed) if needed else None
    if target is not None and not in_scope(actor, jurisdiction_of(target)):
        return {needed: _l("This lies outside your jurisdiction.")}
    return {}


# --- deactivating, reactivating ----------------------------------------------------------


def deactivate_user(user: User, *, actor: User) -> None:
    """停用: the account can no longer log in, its open sessions end at once, and any
    one-time link or code handed out for it stops working."""
    _check_manages(actor, user)
    if user.id == actor.id:
        raise AccountRefused(_l("You cannot deactivate your own account."))
    user.active = False
    _end_all_sessions(user)
    _void_open_resets(user)
    db.session.commit()
    admin_log.info("user %s deactivated by %s", user.username, actor.username)


def reactivate_user(user: User, *, actor: User) -> None:
    """启用: the account may log in again with its password (or be given a reset)."""
    _check_manages(actor, user)
    user.active = True
    db.session.commit()
    admin_log.info("user %s reactivated by %s", user.username, actor.username)


def _check_manages(actor: User, user: User) -> None:
    from ..admin.scope import in_scope, jurisdiction_of  # late: the admin views import this module

    if not in_scope(actor, jurisdiction_of(user)):
        raise OutOfScope(user.id)


# --- one-time resets ---------------------------------------------------------------------


def issue_reset(user: User, *, actor: User) -> IssuedReset:
    """重置密码: a one-time link and 6-digit code for the user, valid RESET_VALID_FOR.

    The actor sends the link or reads the code out over the phone; the user then chooses
    the password. Any earlier reset not yet used stops working. The password itself is
    untouched until the user sets a new one, so a mistaken reset locks nobody out.
    """
    _check_manages(actor, user)
    if not user.active:
        raise AccountRefused(_l("This account is deactivated: reactivate it first."))
    issued = _new_reset(user, actor)
    db.session.commit()
    admin_log.info("password reset for %s issued by %s", user.username, actor.username)
    return issued


def open_reset(token: str) -> Optional[PasswordReset]:
    """The reset a link belongs to while it still works (not used, void or expired), else None."""
    reset = db.session.scalar(
        sa.select(PasswordReset).where(PasswordReset.token_hash == hash_token(token),
                                       PasswordReset.open_clause(utcnow()))
    )
    return reset if reset is not None and reset.user.active else None


def set_password_with_link(token: str, new: str) -> User:
    """The user opened the link and chose a password: it is set, every session of the
    user ends, and the link is used up. ResetLinkInvalid if it no longer works."""
    reset = open_reset(token)
    if reset is None:
        raise ResetLinkInvalid()
    problem = password_problem(new, names=account_names(reset.user))
    if problem:
        raise ResetRejected({"new_password": problem})
    return _redeem(reset, new, via="link")


def set_password_with_code(login: str, code: str, new: str) -> User:
    """The user typed their username (or phone), the code they were told and a new password.

    Every code typed counts, before it is checked, so that parallel guesses cannot go past
    RESET_CODE_TRIES; at the limit the reset is void (the link too). A wrong username and a
    wrong code get the same answer, so the form tells nobody who has a reset pending.
    """
    problem = password_problem(new, names=(login,))
    if problem:
        raise ResetRejected({"new_password": problem})
    code = "".join(code.split())
    user = find_user(login)
    reset = _latest_open_reset(user) if user is not None and user.active else None
    if reset is None or not _count_try(reset):
        db.session.rollback()
        _verify_dummy(code)
        log.warning("wrong reset code for %r", login.strip()[:40])
        raise ResetRejected({"code": _WRONG_CODE})
    if not _code_matches(reset, code):
        tries_left = RESET_CODE_TRIES - reset.attempts
        if tries_left <= 0:
            reset.voided_at = utcnow()
        db.session.commit()
        log.warning("wrong reset code for %s (%d tries left)", user.username, tries_left)
        raise ResetRejected({"code": _WRONG_CODE if tries_left > 0 else _CODE_VOID})
    # Only now, with the right code, may the answer tell that the password is the account's name.
    problem = password_problem(new, names=account_names(user))
    if problem:
        db.session.rollback()  # the right code is not a wasted try
        raise ResetRejected({"new_password": problem})
    return _redeem(reset, new, via="code")


_WRONG_CODE = _l("The username or the code is not right, or the code has expired.")
_CODE_VOID = _l("Too many wrong codes: this code no longer works. Please ask for a new one.")


def latest_reset(user: User) -> Optional[PasswordReset]:
    """The most recent reset made for the user (open or not), for the account page."""
    return db.session.scalar(
        sa.select(PasswordReset).where(PasswordReset.user_id == user.id)
        .order_by(PasswordReset.created_at.desc(), PasswordReset.id.desc()).limit(1)
    )


def _latest_open_reset(user: User) -> Optional[PasswordReset]:
    return db.session.scalar(
        sa.select(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.open_clause(utcnow()))
        .order_by(PasswordReset.id.desc()).limit(1)
    )


def _count_try(reset: PasswordReset) -> bool:
    """Take one of the reset's tries in a single UPDATE; False when none is left."""
    taken = db.session.execute(
        sa.update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.attempts < RESET_CODE_TRIES,
               PasswordReset.open_clause(utcnow()))
        .values(attempts=PasswordReset.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(reset)
    return taken == 1


def _code_matches(reset: PasswordReset, code: str) -> bool:
    try:
        return password_hasher.verify(reset.code_hash, code)
    except (VerificationError, InvalidHashError):
        return False


def _redeem(reset: PasswordReset, new: str, *, via: str) -> User:
    """Use the reset up (once: a single conditional UPDATE decides a race) and set the password."""
    now = utcnow()
    used = db.session.execute(
        sa.update(PasswordReset).where(PasswordReset.id == reset.id, PasswordReset.open_clause(now))
        .values(used_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        db.session.rollback()
        raise ResetLinkInvalid()
    user = reset.user
    user.set_password(new)
    _end_all_sessions(user)
    _void_open_resets(user, now)
    db.session.commit()
    log.info("password set by %s with a one-time %s", user.username, via)
    limits.forget_failed_logins(user.id)  # the person was checked by the admin who gave the reset
    return user


def _new_reset(user: User, actor: User) -> IssuedReset:
    now = utcnow()
    _void_open_resets(user, now)
    token = secrets.token_urlsafe(32)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    reset = PasswordReset(user=user, token_hash=hash_token(token), code_hash=password_hasher.hash(code),
                          expires_at=now + RESET_VALID_FOR, created_by=actor, created_at=now)
    db.session.add(reset)
    db.session.flush()
    return IssuedReset(user=user, reset=reset, token=token, code=code)


def _void_open_resets(user: User, now=None) -> None:
    db.session.execute(
        sa.update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None), PasswordReset.voided_at.is_(None))
        .values(voided_at=now or utcnow())
        .execution_options(synchronize_session="fetch")
    )


def _end_all_sessions(user: User) -> None:
    # Incremented in SQL, so that two concurrent bumps cannot both write the same value.
    user.session_generation = User.session_generation + 1
    db.session.flush()


@cache
def _dummy_hash() -> str:
    return password_hasher.hash(secrets.token_urlsafe(16))


def _verify_dummy(password: str) -> None:
    try:
        password_hasher.verify(_dummy_hash(), password)
    except VerificationError:  # always a mismatch: only the time spent matters
        pass
