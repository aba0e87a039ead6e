"""Requests (诉求/意见建议), their immutable trail of events, and attachments."""

from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..extensions import db
from ..workdays import Deadline
from ..workflow import Action, Actor, Status
from .base import StrEnum, enum_type, utcnow
from .people import Deputy, Department, Enterprise, User
from .places import Jurisdiction, Station


class RequestKind(StrEnum):
    REQUEST = "request"  # 反映诉求
    SUGGESTION = "suggestion"  # 提建议

    @property
    def label(self):
        return {RequestKind.REQUEST: _l("Request"), RequestKind.SUGGESTION: _l("Suggestion")}[self]


class Category(StrEnum):
    """The kinds of problem the seeds report, in the order the form offers them."""

    LABOUR = "labour"
    FINANCE = "finance"
    LOGISTICS = "logistics"
    PROCEDURES = "procedures"
    POLICY_BENEFITS = "policy_benefits"
    LAND_PLANT = "land_plant"
    INFRASTRUCTURE = "infrastructure"
    HOUSING_SCHOOLING = "housing_schooling"
    MARKET_ACCESS = "market_access"
    SAFETY = "safety"
    LEGAL = "legal"
    OTHER = "other"

    @property
    def label(self):
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {
    Category.LABOUR: _l("Hiring and labour"),
    Category.FINANCE: _l("Finance and loans"),
    Category.LOGISTICS: _l("Logistics"),
    Category.PROCEDURES: _l("Procedures and permits"),
    Category.POLICY_BENEFITS: _l("Policy benefits not paid"),
    Category.LAND_PLANT: _l("Land, plants and relocation"),
    Category.INFRASTRUCTURE: _l("Roads, power and utilities"),
    Category.HOUSING_SCHOOLING: _l("Workers' housing and schooling"),
    Category.MARKET_ACCESS: _l("Market access and standards"),
    Category.SAFETY: _l("Production safety"),
    Category.LEGAL: _l("Legal disputes"),
    Category.OTHER: _l("Other"),
}


class Channel(StrEnum):
    QR_DEPUTY = "qr_deputy"
    QR_STATION = "qr_station"
    VISIT = "visit"
    RECEPTION = "reception"
    WALK_IN = "walk_in"  # 来访: recorded by staff at the station
    PHONE = "phone"  # 来电
    LETTER = "letter"  # 来信
    HOTLINE = "hotline"  # 12345转办: handed over by the 12345 hotline
    TALKS = "talks"  # 政企恳谈会: the weekly sweep of problems left over from the talks
    OTHER = "other"

    @property
    def label(self):
        return CHANNEL_LABELS[self]


CHANNEL_LABELS = {
    Channel.QR_DEPUTY: _l("Deputy's QR code"),
    Channel.QR_STATION: _l("Station's QR code"),
    Channel.VISIT: _l("Visit"),
    Channel.RECEPTION: _l("Reception day"),
    Channel.WALK_IN: _l("Walk-in"),
    Channel.PHONE: _l("Phone call"),
    Channel.LETTER: _l("Letter"),
    Channel.HOTLINE: _l("12345 hotline hand-off"),
    Channel.TALKS: _l("Government-enterprise talks"),
    Channel.OTHER: _l("Other"),
}

# What staff and deputies record on an enterprise's behalf (staff intake).
INTAKE_CHANNELS = (Channel.WALK_IN, Channel.PHONE, Channel.LETTER, Channel.HOTLINE, Channel.TALKS, Channel.OTHER)


class Outcome(StrEnum):
    SOLVED = "solved"  # 已解决
    EXPLAINED = "explained"  # 政策解释，暂不能解决


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    MOSTLY_SATISFIED = "mostly_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意
    UNRATED = "unrated"  # 未评价: closed after 7 days without a rating, never counted as satisfied


RATING_LABELS = {
    Rating.SATISFIED: _l("Satisfied"),
    Rating.MOSTLY_SATISFIED: _l("Mostly satisfied"),
    Rating.UNSATISFIED: _l("Unsatisfied"),
    Rating.UNRATED: _l("Not rated"),
}


def title_from(description: str, length: int = 30) -> str:
    """A request's title: the start of its description on one line, cut with an ellipsis."""
    text = " ".join(description.split())
    return text if len(text) <= length else text[: length - 1] + "…"


class ReferenceCounter(db.Model):
    """The last reference number handed out per year (2026-000123)."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(default=0)


class RequestCase(db.Model):
    """并案: requests about one shared problem (e.g. 企业融资难), handled once, while each
    enterprise still gets its own answer and gives its own rating."""

    __tablename__ = "request_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(80))
    # The lowest level that held all of its requests when they were merged: who sees the case.
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(sa.Text, default="")

    jurisdiction: Mapped[Jurisdiction] = relationship()
    created_by: Mapped[User] = relationship()
    requests: Mapped[list["Request"]] = relationship(back_populates="case", order_by="Request.id")

    def __repr__(self) -> str:
        return f"<RequestCase {self.id} {self.title}>"


class Request(db.Model):
    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(16), unique=True)
    tracking_token: Mapped[str] = mapped_column(sa.String(40), unique=True)
    idempotency_key: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True)
    version: Mapped[int] = mapped_column()

    kind: Mapped[RequestKind] = mapped_column(enum_type(RequestKind), default=RequestKind.REQUEST)
    category: Mapped[Category] = mapped_column(enum_type(Category), index=True)
    title: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.Text)

    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id"), index=True)
    contact_name: Mapped[str] = mapped_column(sa.String(40))
    contact_phone: Mapped[str] = mapped_column(sa.String(20))  # E.164, e.g. +8613812345678

    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
    qr_code_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("qr_codes.id"), index=True)
    visit_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("visits.id"), index=True)
    addressed_deputy_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("deputies.id"))  # indexed below
    station_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("stations.id"))  # indexed below
    # Where the request is now; escalation moves it up, sending down moves it back.
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    # Where it was received (收集): what the problem list and the monthly report count by.
    filed_jurisdiction_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("jurisdictions.id"))

    status: Mapped[Status] = mapped_column(enum_type(Status), default=Status.SUBMITTED, index=True)
    claimant_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))  # indexed below
    department_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    claim_due_on: Mapped[Optional[date]]
    due_on: Mapped[Optional[date]]  # the handling unit's response deadline
    return_count: Mapped[int] = mapped_column(default=0)
    # A department's pending request for a later due date, and whether its one extension is used.
    extension_due_on: Mapped[Optional[date]]
    extension_used: Mapped[bool] = mapped_column(default=False)
    rating_due_on: Mapped[Optional[date]]  # after this the request closes as 未评价

    is_supervised: Mapped[bool] = mapped_column(default=False)
    is_key_supervision: Mapped[bool] = mapped_column(default=False)
    key_supervision_leader: Mapped[str] = mapped_column(sa.String(40), default="")  # 包案领导
    is_typical_case: Mapped[bool] = mapped_column(default=False)
    typical_case_note: Mapped[str] = mapped_column(sa.Text, default="")
    case_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("request_cases.id"), index=True)  # 并案

    public_consent: Mapped[bool] = mapped_column(default=False)
    public_summary: Mapped[str] = mapped_column(sa.Text, default="")  # "problem / what was done", in plain words
    # The board shows a closed, consented request only once its summary is approved (公示).
    public_summary_approved_at: Mapped[Optional[datetime]]
    public_summary_approved_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    # The enterprise asked for SMS about its request's progress (短信通知办理进度).
    sms_opt_in: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[Optional[Outcome]] = mapped_column(enum_type(Outcome))
    rating: Mapped[Optional[Rating]] = mapped_column(enum_type(Rating))
    rating_comment: Mapped[str] = mapped_column(sa.Text, default="")
    rated_by_phone: Mapped[bool] = mapped_column(default=False)  # taken by staff in a 电话回访

    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    claimed_at: Mapped[Optional[datetime]]
    assigned_at: Mapped[Optional[datetime]]  # the claim list counts by it (see the indexes below)
    replied_at: Mapped[Optional[datetime]]
    closed_at: Mapped[Optional[datetime]]  # the public list and the monthly report count by it

    enterprise: Mapped[Enterprise] = relationship()
    qr_code: Mapped[Optional["QRCode"]] = relationship()  # noqa: F821
    addressed_deputy: Mapped[Optional[Deputy]] = relationship()
    station: Mapped[Optional[Station]] = relationship()
    jurisdiction: Mapped[Jurisdiction] = relationship(foreign_keys=[jurisdiction_id])
    filed_jurisdiction: Mapped[Optional[Jurisdiction]] = relationship(foreign_keys=[filed_jurisdiction_id])
    claimant: Mapped[Optional[User]] = relationship(foreign_keys=[claimant_id])
    public_summary_approved_by: Mapped[Optional[User]] = relationship(foreign_keys=[public_summary_approved_by_id])
    department: Mapped[Optional[Department]] = relationship()
    case: Mapped[Optional[RequestCase]] = relationship(back_populates="requests")
    events: Mapped[list["RequestEvent"]] = relationship(
        back_populates="request", order_by="RequestEvent.id", cascade="save-update, merge"
    )
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="request", order_by="Attachment.id")

    # Every UPDATE checks and bumps the version: a stale write fails instead of overwriting.
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # The desk's tabs count by level and status (half the inbox's time at 100,000 requests).
        sa.Index("ix_requests_jurisdiction_id_status", "jurisdiction_id", "status"),
        # The three lists and the monthly report count a subtree's requests over a period: with
        # these, each count is an index-only scan (a county's year: 600 ms -> 10 ms at 1,000,000).
        # No index on closed_at or assigned_at alone: the planner would take it, misled by how
        # well those columns follow the table's order, and filter 90% of what it reads.
        # The id at the end lets a page of a list find its rows' ids in the index too.
        # The dashboard reads every column it counts or times from this one too (index-only: a
        # county's year of 120,000 requests would otherwise be 47,000 table pages read at random).
        sa.Index("ix_requests_filed_jurisdiction_id_created_at_figures", "filed_jurisdiction_id", "created_at", "id",
                 "category", "status", "outcome", "rating", "station_id", "department_id", "claimant_id", "due_on",
                 "replied_at", "claimed_at", "closed_at"),
        sa.Index("ix_requests_filed_jurisdiction_id_closed_at", "filed_jurisdiction_id", "closed_at", "status",
                 "outcome", "is_typical_case", "id"),
        sa.Index("ix_requests_jurisdiction_id_assigned_at", "jurisdiction_id", "assigned_at", "department_id", "id"),
        # The overdue board counts the open requests of a province per level and kind of lateness
        # from this index alone (a bitmap scan of 7,000 table pages before: 140 ms -> 10 ms).
        sa.Index("ix_requests_status_jurisdiction_id_deadlines", "status", "jurisdiction_id", "claim_due_on",
                 "due_on", "assigned_at", "id"),
        # A deputy's inbox asks each of his views on its own (access.views): addressed to him, his
        # stations', claimed by him. With the status and the deadlines beside each, a tab's count,
        # its page of ids and his overdue requests come from the index alone.
        sa.Index("ix_requests_addressed_deputy_id_inbox", "addressed_deputy_id", "status", "claim_due_on", "due_on",
                 "id"),
        sa.Index("ix_requests_station_id_inbox", "station_id", "status", "claim_due_on", "due_on", "id"),
        sa.Index("ix_requests_claimant_id_inbox", "claimant_id", "status", "claim_due_on", "due_on", "id"),
        # 找回我的诉求 (/find): a mobile number's requests.
        sa.Index("ix_requests_contact_phone", "contact_phone", "id"),
    )

    def __repr__(self) -> str:
        return f"<Request {self.reference} {self.status}>"

    @property
    def acknowledge_due_on(self) -> Optional[date]:
        """签收期限: counted from the day of assignment (workdays), not stored."""
        from ..workdays import acknowledge_due_on, local_date

        return acknowledge_due_on(local_date(self.assigned_at)) if self.assigned_at else None

    @property
    def is_overdue(self) -> bool:
        """Derived from the due dates, so it is right without any scheduled job."""
        from ..workdays import today_local

        today = today_local()
        if self.status is Status.SUBMITTED and self.claim_due_on:
            return today > self.claim_due_on
        if self.status in (Status.ASSIGNED, Status.IN_PROGRESS) and self.due_on:
            return today > self.due_on
        return False


class PhoneRating(db.Model):
    """电话回访: a rating staff took by phone. It counts like the enterprise's own; the event
    it goes with is marked on the trail."""

    __tablename__ = "phone_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id"), index=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("request_events.id"), unique=True)
    called_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    called_at: Mapped[datetime]  # when the call was made (UTC), as staff recorded it
    person_reached: Mapped[str] = mapped_column(sa.String(40), default="")
    rating: Mapped[Rating] = mapped_column(enum_type(Rating))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped["Request"] = relationship()
    event: Mapped["RequestEvent"] = relationship()
    called_by: Mapped[User] = relationship()


class RequestEvent(db.Model):
    """One entry in a request's trail. Written once, never changed or deleted."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id"), index=True)
    action: Mapped[Action] = mapped_column(enum_type(Action))
    from_status: Mapped[Optional[Status]] = mapped_column(enum_type(Status))
    to_status: Mapped[Status] = mapped_column(enum_type(Status))
    actor_kind: Mapped[Actor] = mapped_column(enum_type(Actor))
    actor_user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))  # indexed below
    note: Mapped[str] = mapped_column(sa.Text, default="")
    is_public: Mapped[bool] = mapped_column(default=True)
    # The level the request was at after this event (shows escalation in the trail).
    jurisdiction_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("jurisdictions.id"))
    department_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("departments.id"))
    # The deadline this event set or moved, from due_before to due_after (None: none was set),
    # so that no deadline changes without a line on the trail that says old -> new and why.
    deadline: Mapped[Optional[Deadline]] = mapped_column(enum_type(Deadline, 16))
    due_before: Mapped[Optional[date]]
    due_after: Mapped[Optional[date]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[Request] = relationship(back_populates="events")
    actor: Mapped[Optional[User]] = relationship()
    jurisdiction: Mapped[Optional[Jurisdiction]] = relationship()
    department: Mapped[Optional[Department]] = relationship()
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="event", order_by="Attachment.id")
    # A rating staff took by phone (电话回访): read by the trail for RATE and REOPEN_* only.
    phone_rating: Mapped[Optional[PhoneRating]] = relationship(viewonly=True, uselist=False)

    __table_args__ = (
        # The monthly report counts escalations by action and time.
        sa.Index("ix_request_events_action_created_at", "action", "created_at"),
        # What a deputy escalated (access.views), from the index alone: 49 rows, not his 2,300 events.
        sa.Index("ix_request_events_actor_user_id_action", "actor_user_id", "action", "request_id"),
        # What was escalated to a level, which its deputies keep in sight once it moves on.
        sa.Index("ix_request_events_action_jurisdiction_id", "action", "jurisdiction_id", "request_id"),
    )

    def __repr__(self) -> str:
        return f"<RequestEvent {self.action} {self.from_status}->{self.to_status}>"


class Attachment(db.Model):
    """A photo, re-encoded and stored under a generated name outside static/."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id"), index=True)
    event_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("request_events.id"), index=True)
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    width: Mapped[int]
    height: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[Request] = relationship(back_populates="attachments")
    event: Mapped[Optional[RequestEvent]] = relationship(back_populates="attachments")


@event.listens_for(Session, "before_flush")
def _events_are_immutable(session, _flush_context, _instances):
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, RequestEvent) and (
            obj in session.deleted or session.is_modified(obj, include_collections=False)
        ):
            raise ValueError("request events are immutable")
