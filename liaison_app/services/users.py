"""User accounts: log in, log out everywhere, deactivate, change a password.

A user's sessions and remember cookies hold "id:generation" (User.get_id), so bumping
the generation ends all of them at once, on every phone, not only the cookie at hand.
"""

import logging
import secrets
from functools import cache
from typing import Optional

import sqlalchemy as sa
from argon2.exceptions import VerificationError
from flask import session
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user

from ..extensions import db
from ..models import User, utcnow
from ..models.people import password_hasher
from ..validators import InvalidValue, normalise_phone

log = logging.getLogger("liaison.auth")

PASSWORD_MIN, PASSWORD_MAX = 8, 128


class PasswordRejected(ValueError):
    """The password was not changed; `errors` maps each form field to its message."""

    def __init__(self, errors: dict):
        super().__init__(", ".join(errors))
        self.errors = errors


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
    """Start a fresh session for the user (nothing of the old one is carried over)."""
    start_session(user, remember=remember)
    user.last_login_at = utcnow()
    db.session.commit()  # also keeps a hash that check_password upgraded
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


def deactivate_user(user: User, *, actor: User) -> None:
    """停用: the account can no longer log in, and its open sessions end at once."""
    user.active = False
    _end_all_sessions(user)
    db.session.commit()
    log.info("user %s deactivated by %s", user.username, actor.username)


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; ends the user's other sessions.

    The caller starts this session again (start_session) to keep this phone logged in.
    """
    errors = {}
    if not user.check_password(current):
        errors["current_password"] = _l("The current password is not correct.")
    if len(new) < PASSWORD_MIN:
        errors["new_password"] = _l("Please use at least %(min)d characters.", min=PASSWORD_MIN)
    elif len(new) > PASSWORD_MAX:
        errors["new_password"] = _l("Please use at most %(max)d characters.", max=PASSWORD_MAX)
    elif new == current:
        errors["new_password"] = _l("The new password must differ from the current one.")
    if errors:
        db.session.rollback()  # check_password may have upgraded the hash: not on a failure
        raise PasswordRejected(errors)
    user.set_password(new)
    _end_all_sessions(user)
    db.session.commit()
    log.info("password changed by %s", user.username)


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
