"""The notification outbox: messages to deputies, handling units and claimants.

A service adds a row in the same transaction as the state change it reports, so
the change and the promise to tell someone about it commit (or roll back)
together. Delivery happens afterwards and is retried until it succeeds or gives up.
"""

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..workflow import ACTION_LABELS, Action
from .base import StrEnum, enum_type, utcnow
from .people import Department, Deputy, User
from .requests import Request


class NotificationKind(StrEnum):
    """What happened to the request, from the recipient's point of view."""

    NEW_REQUEST = "new_request"  # a deputy: a request was filed to you
    ASSIGNED = "assigned"  # a handling unit: an item was assigned to you (交办)
    RESPONDED = "responded"  # the claimant: the unit responded (答复)
    RATED = "rated"  # the claimant: the enterprise rated the result
    REMINDED = "reminded"  # a handling unit: a reminder (催办)
    RETURNED = "returned"  # the claimant: the unit returned the item (退回)
    ESCALATED = "escalated"  # the level above: a request was escalated (逐级上报)
    VISIT_REMINDER = "visit_reminder"  # a deputy: paired enterprises not yet visited in a campaign

    @property
    def label(self):
        """The trail's wording for the matching action (already translated); a visit
        reminder is about a campaign, not a request, and has a wording of its own."""
        if self is NotificationKind.VISIT_REMINDER:
            return _l("Visit reminder")
        return ACTION_LABELS[KIND_ACTIONS[self]]


KIND_ACTIONS = {
    NotificationKind.NEW_REQUEST: Action.FILE,
    NotificationKind.ASSIGNED: Action.ASSIGN,
    NotificationKind.RESPONDED: Action.RESPOND,
    NotificationKind.RATED: Action.RATE,
    NotificationKind.REMINDED: Action.REMIND,
    NotificationKind.RETURNED: Action.RETURN,
    NotificationKind.ESCALATED: Action.ESCALATE,
}


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) delivery attempt
    SENT = "sent"
    FAILED = "failed"  # gave up after NOTIFY_MAX_ATTEMPTS


class Notification(db.Model):
    """One message about one request to one recipient (or, with none, to the
    configured group channel of the liaison staff)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(enum_type(NotificationKind))
    # About one request, or (a visit reminder) about one campaign.
    request_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("requests.id"), index=True)
    campaign_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("visit_campaigns.id"), index=True)
    recipient_user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    recipient_department_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    recipient_deputy_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("deputies.id"), index=True)
    # What the backend sends: reference, title, status, link... never the enterprise's
    # contact details or USCC (see services.notify.build_payload).
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[NotificationStatus] = mapped_column(
        enum_type(NotificationStatus), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)  # delivery attempts started so far
    last_error: Mapped[Optional[str]] = mapped_column(sa.Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[Optional[datetime]]

    request: Mapped[Optional[Request]] = relationship()
    recipient_user: Mapped[Optional[User]] = relationship()
    recipient_department: Mapped[Optional[Department]] = relationship()
    recipient_deputy: Mapped[Optional[Deputy]] = relationship()

    # The delivery job asks for pending rows that are due.
    __table_args__ = (sa.Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),)

    def __repr__(self) -> str:
        return f"<Notification {self.kind} {self.status}>"
