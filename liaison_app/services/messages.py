"""A person's 消息 list: the INBOX messages the outbox wrote for them (services/notify.py),
newest first, and which of them they have read.

Every query names the user: a message is only ever read, counted or marked by its recipient.
The header's unread count is one COUNT answered by ix_notifications_inbox.
"""

import logging
from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa

from ..extensions import db
from ..models import Notification, NotificationChannel, User, utcnow

log = logging.getLogger("liaison.messages")

PAGE_SIZE = 20
BADGE_CAP = 99  # the badge says 99+ beyond this


def _mine(user_id: int):
    return sa.and_(Notification.recipient_user_id == user_id, Notification.channel == NotificationChannel.INBOX)


def unread_count(user_id: int, cap: int = BADGE_CAP) -> int:
    """Unread messages, counted up to cap + 1 only: a badge needs no more, and a person who
    never reads theirs should not make every page count thousands of rows."""
    unread = (sa.select(Notification.id).where(_mine(user_id), Notification.read_at.is_(None))
              .limit(cap + 1).subquery())
    return db.session.scalar(sa.select(sa.func.count()).select_from(unread))


@dataclass
class MessagePage:
    messages: list[Notification]
    next_before: Optional[int]  # the id to page on from (更多), None on the last page


def page(user: User, before: Optional[int] = None) -> MessagePage:
    """One page of the user's messages, newest first, keyset on id."""
    query = sa.select(Notification).where(_mine(user.id))
    if before:
        query = query.where(Notification.id < before)
    rows = db.session.scalars(query.order_by(Notification.id.desc()).limit(PAGE_SIZE + 1)).all()
    shown = rows[:PAGE_SIZE]
    return MessagePage(shown, shown[-1].id if len(rows) > PAGE_SIZE else None)


def own_message(user: User, message_id: int) -> Optional[Notification]:
    """The user's own message by id; None for anyone else's (the view answers 404)."""
    return db.session.scalar(sa.select(Notification).where(Notification.id == message_id, _mine(user.id)))


def mark_read(message: Notification) -> None:
    """The recipient opened it: read from now on (opening it again changes nothing)."""
    if message.read_at is None:
        message.read_at = utcnow()
        db.session.commit()


def mark_all_read(user: User) -> int:
    """全部标为已读: every unread message of the user; returns how many."""
    result = db.session.execute(
        sa.update(Notification).where(_mine(user.id), Notification.read_at.is_(None)).values(read_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.commit()
    log.info("user %s marked %d messages read", user.id, result.rowcount)
    return result.rowcount
