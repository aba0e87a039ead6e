"""The notification outbox: messages to deputies, handling units and claimants.

A service adds a row in the same transaction as the state change it reports, so
the change and the promise to tell someone about it commit (or roll back)
together. Delivery happens afterwards and is retried until it succeeds or gives up.
"""

from datetime import date, datetime
from typing import Any, Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..workflow import ACTION_LABELS, Action
from .base import StrEnum, enum_type, utcnow
from .people import Department, Deputy, User
from .places import Jurisdiction, Station
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
    SENT_DOWN = "sent_down"  # the level below: the request was sent back to it
    CLAIMED = "claimed"  # the enterprise: a deputy took it up
    EXTENSION_REQUESTED = "extension_requested"  # the claimant and the deciding staff
    UNSATISFIED = "unsatisfied"  # the claimant and the staff: the enterprise was not satisfied (督办)
    SUPERVISED = "supervised"  # whoever holds it: placed under supervision
    ACCEPTED = "accepted"  # the enterprise: the answer is ready, please rate it
    REOPENED = "reopened"  # the enterprise and the holders: taken up again
    OUTCOME = "outcome"  # the levels it passed through: the escalated request has its result (通报)
    DEADLINE_NEAR = "deadline_near"  # the holders: a claim, acknowledgement or response is due tomorrow
    OVERDUE = "overdue"  # the holders and the staff above: a deadline has passed
    VISIT_REMINDER = "visit_reminder"  # a deputy: paired enterprises not yet visited in a campaign

    @property
    def label(self):
        """The trail's wording for the matching action (already translated); the kinds that
        match no action have a wording of their own."""
        return KIND_LABELS.get(self) or ACTION_LABELS[KIND_ACTIONS[self]]


KIND_ACTIONS = {
    NotificationKind.NEW_REQUEST: Action.FILE,
    NotificationKind.ASSIGNED: Action.ASSIGN,
    NotificationKind.RESPONDED: Action.RESPOND,
    NotificationKind.RATED: Action.RATE,
    NotificationKind.REMINDED: Action.REMIND,
    NotificationKind.RETURNED: Action.RETURN,
    NotificationKind.ESCALATED: Action.ESCALATE,
    NotificationKind.SENT_DOWN: Action.SEND_DOWN,
    NotificationKind.CLAIMED: Action.CLAIM,
    NotificationKind.EXTENSION_REQUESTED: Action.REQUEST_EXTENSION,
    NotificationKind.SUPERVISED: Action.SUPERVISE,
    NotificationKind.REOPENED: Action.REOPEN,
}

KIND_LABELS = {
    NotificationKind.VISIT_REMINDER: _l("Visit reminder"),
    NotificationKind.UNSATISFIED: _l("The enterprise is not satisfied"),
    NotificationKind.ACCEPTED: _l("Answered: please rate the result"),
    NotificationKind.OUTCOME: _l("Result of an escalated request"),
    NotificationKind.DEADLINE_NEAR: _l("Due tomorrow"),
    NotificationKind.OVERDUE: _l("Overdue"),
}


class NotificationChannel(StrEnum):
    """How a message reaches its recipient."""

    INBOX = "inbox"  # the desk's 消息 list: written as sent, read there
    ROBOT = "robot"  # a place's group robot (robot_id)
    NOTIFIER = "notifier"  # the installation-wide backend (NOTIFIER: log, or the fallback webhook)
    SMS = "sms"  # a text message to recipient_phone


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) delivery attempt
    SENT = "sent"
    FAILED = "failed"  # gave up after NOTIFY_MAX_ATTEMPTS


class Notification(db.Model):
    """One message about one request (or campaign) to one recipient by one channel: a
    person's 消息 list, a place's group robot, an SMS, or the installation-wide notifier."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(enum_type(NotificationKind))
    # About one request, or (a visit reminder) about one campaign.
    request_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("requests.id"), index=True)
    campaign_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("visit_campaigns.id"), index=True)
    recipient_user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    recipient_department_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    recipient_deputy_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("deputies.id"), index=True)
    channel: Mapped[NotificationChannel] = mapped_column(enum_type(NotificationChannel),
                                                         default=NotificationChannel.NOTIFIER)
    robot_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("robots.id", ondelete="SET NULL"), index=True)
    recipient_phone: Mapped[Optional[str]] = mapped_column(sa.String(20))  # E.164, for an SMS
    read_at: Mapped[Optional[datetime]]  # an inbox message the recipient has seen
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
    robot: Mapped[Optional["Robot"]] = relationship()

    __table_args__ = (
        # The delivery job asks for pending rows that are due.
        sa.Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
        # A person's 消息 list and its unread count in the header.
        sa.Index("ix_notifications_inbox", "recipient_user_id", "channel", "read_at", "id"),
        # At most three SMS a day per request to the enterprise.
        sa.Index("ix_notifications_request_id_channel_created_at", "request_id", "channel", "created_at"),
    )

    def __repr__(self) -> str:
        return f"<Notification {self.kind} {self.channel} {self.status}>"


class RobotProvider(StrEnum):
    WECOM = "wecom"  # 企业微信群机器人
    DINGTALK = "dingtalk"  # 钉钉群机器人

    @property
    def label(self):
        return {RobotProvider.WECOM: _l("WeCom group robot"), RobotProvider.DINGTALK: _l("DingTalk group robot")}[self]


class Robot(db.Model):
    """A group robot of one place (a jurisdiction's office, a station, a department): what
    concerns that place is posted to its group. The webhook URL (it holds the robot's key)
    and DingTalk's signing secret are stored encrypted (services/secrets.py)."""

    __tablename__ = "robots"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    provider: Mapped[RobotProvider] = mapped_column(enum_type(RobotProvider))
    webhook_url_encrypted: Mapped[str] = mapped_column(sa.Text)
    secret_encrypted: Mapped[Optional[str]] = mapped_column(sa.Text)  # DingTalk 加签
    jurisdiction_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    station_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("stations.id"), index=True)
    department_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_error: Mapped[Optional[str]] = mapped_column(sa.Text)  # the last failed delivery, for /admin

    jurisdiction: Mapped[Optional[Jurisdiction]] = relationship()
    station: Mapped[Optional[Station]] = relationship()
    department: Mapped[Optional[Department]] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "(CASE WHEN jurisdiction_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN station_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN department_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_place",
        ),
    )

    def __repr__(self) -> str:
        return f"<Robot {self.provider} {self.name}>"


class NotificationPreference(db.Model):
    """Whether one kind of event reaches a person by one channel (SMS, their places' robots).

    A row with a user is that person's own choice; a row with a jurisdiction is the default
    its staff set for the people of that jurisdiction (the nearest level with a row wins).
    Without either, services/routing.py's built-in defaults hold. The 消息 list always gets it.
    """

    __tablename__ = "notification_preferences"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    jurisdiction_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    kind: Mapped[NotificationKind] = mapped_column(enum_type(NotificationKind))
    channel: Mapped[NotificationChannel] = mapped_column(enum_type(NotificationChannel))
    enabled: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "jurisdiction_id", "kind", "channel", name="uq_notification_preferences"),
        sa.CheckConstraint("(user_id IS NULL) != (jurisdiction_id IS NULL)", name="one_owner"),
    )


class DeadlineNotice(db.Model):
    """That `flask notify-deadlines` announced one deadline of one request on one day: its
    primary key makes a second run (or a second server) send nothing twice."""

    __tablename__ = "deadline_notices"

    request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    deadline: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # claim, acknowledge, response
    day: Mapped[date] = mapped_column(primary_key=True)
    overdue: Mapped[bool] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SmsCode(db.Model):
    """A one-time code sent by SMS to prove a mobile number (找回我的诉求): only its hash is
    kept; it expires, and dies after a few wrong tries."""

    __tablename__ = "sms_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(20), index=True)  # E.164
    code_hash: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)  # wrong tries so far
    used_at: Mapped[Optional[datetime]]
