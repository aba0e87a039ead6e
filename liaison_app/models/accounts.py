"""One-time password resets (重置密码): a link and a short code an admin hands over."""

import hashlib
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .people import User


def hash_token(token: str) -> str:
    """Only this digest is stored: the link's token is 256 random bits, so a plain sha256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


class PasswordReset(db.Model):
    """A one-time way for a user to set a password, made by an admin or staff member.

    The user either opens the link (/reset/<token>) or types their username with the
    6-digit code (read out over the phone). Either works once, until `expires_at`;
    a newer reset, a deactivation or too many wrong codes void it. Neither the token
    nor the code is stored, only their hashes.
    """

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(sa.String(200))  # argon2id of the 6-digit code
    expires_at: Mapped[datetime]
    used_at: Mapped[Optional[datetime]]
    # Replaced by a newer reset, the account deactivated, or too many wrong codes.
    voided_at: Mapped[Optional[datetime]]
    attempts: Mapped[int] = mapped_column(default=0)  # wrong codes typed so far
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[Optional[User]] = relationship(foreign_keys=[created_by_id])

    def __repr__(self) -> str:
        return f"<PasswordReset user={self.user_id} expires={self.expires_at:%Y-%m-%d %H:%M}>"

    def is_open(self, now: Optional[datetime] = None) -> bool:
        """Neither used, void nor expired: the link and the code still work."""
        now = now or utcnow()
        return self.used_at is None and self.voided_at is None and now < self.expires_at

    @classmethod
    def open_clause(cls, now: datetime):
        """The SQL form of is_open()."""
        return sa.and_(cls.used_at.is_(None), cls.voided_at.is_(None), cls.expires_at > now)
