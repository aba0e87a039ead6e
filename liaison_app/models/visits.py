"""Visit campaigns, 1+N pairings, visits, reception days and activities."""

from datetime import date, datetime, time
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import StrEnum, enum_type, utcnow
from .people import Deputy, Enterprise, User
from .places import Jurisdiction, Station


class TargetKind(StrEnum):
    """Which enterprises a campaign sets out to visit."""

    ALL = "all"  # every enterprise in the jurisdiction and below
    PARK = "park"  # those of one industrial park in it
    LIST = "list"  # an imported list

    @property
    def label(self):
        return {TargetKind.ALL: _l("All enterprises in the jurisdiction"),
                TargetKind.PARK: _l("An industrial park"), TargetKind.LIST: _l("An imported list")}[self]


class VisitCampaign(db.Model):
    """E.g. 2026年代表集中走访月 over one jurisdiction."""

    __tablename__ = "visit_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    target_kind: Mapped[TargetKind] = mapped_column(enum_type(TargetKind), default=TargetKind.ALL)
    park: Mapped[str] = mapped_column(sa.String(80), default="")  # with target_kind PARK
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jurisdiction: Mapped[Jurisdiction] = relationship()
    created_by: Mapped[Optional[User]] = relationship()
    targets: Mapped[list[Enterprise]] = relationship(secondary="campaign_targets", order_by=Enterprise.id)


campaign_targets = sa.Table(
    "campaign_targets",
    db.metadata,
    sa.Column("campaign_id", sa.ForeignKey("visit_campaigns.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("enterprise_id", sa.ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Pairing(db.Model):
    """1+N 结对: a deputy paired with an enterprise in a campaign; one lead per enterprise."""

    __tablename__ = "pairings"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("visit_campaigns.id"), index=True)
    deputy_id: Mapped[int] = mapped_column(sa.ForeignKey("deputies.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id"), index=True)
    is_lead: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[VisitCampaign] = relationship()
    deputy: Mapped[Deputy] = relationship()
    enterprise: Mapped[Enterprise] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "enterprise_id", "deputy_id", name="uq_pairings_campaign_enterprise_deputy"),
        # One lead deputy per enterprise and campaign; any number of others (1+N).
        sa.Index("uq_pairings_one_lead", "campaign_id", "enterprise_id", unique=True,
                 sqlite_where=sa.text("is_lead"), postgresql_where=sa.text("is_lead")),
    )


class VisitForm(StrEnum):
    VISIT = "visit"  # 走访
    SYMPOSIUM = "symposium"  # 座谈
    RECEPTION = "reception"  # 接待

    @property
    def label(self):
        return {VisitForm.VISIT: _l("Visit"), VisitForm.SYMPOSIUM: _l("Symposium"),
                VisitForm.RECEPTION: _l("Reception")}[self]


visit_deputies = sa.Table(
    "visit_deputies",
    db.metadata,
    sa.Column("visit_id", sa.ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("deputy_id", sa.ForeignKey("deputies.id", ondelete="CASCADE"), primary_key=True, index=True),
)

visit_enterprises = sa.Table(
    "visit_enterprises",
    db.metadata,
    sa.Column("visit_id", sa.ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("enterprise_id", sa.ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Visit(db.Model):
    """A visit, symposium or reception held with enterprises, logged by a deputy."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    form: Mapped[VisitForm] = mapped_column(enum_type(VisitForm))
    held_on: Mapped[date] = mapped_column(index=True)
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    campaign_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("visit_campaigns.id"), index=True)
    station_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("stations.id"), index=True)
    logged_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    idempotency_key: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jurisdiction: Mapped[Jurisdiction] = relationship()
    campaign: Mapped[Optional[VisitCampaign]] = relationship()
    station: Mapped[Optional[Station]] = relationship()
    logged_by: Mapped[Optional[User]] = relationship()
    deputies: Mapped[list[Deputy]] = relationship(secondary=visit_deputies, order_by=Deputy.id)
    enterprises: Mapped[list[Enterprise]] = relationship(secondary=visit_enterprises, order_by=Enterprise.id)
    photos: Mapped[list["VisitPhoto"]] = relationship(back_populates="visit", order_by="VisitPhoto.id")


class VisitPhoto(db.Model):
    """A photo of a visit, re-encoded and stored under a generated name outside static/."""

    __tablename__ = "visit_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    width: Mapped[int]
    height: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    visit: Mapped[Visit] = relationship(back_populates="photos")


reception_duties = sa.Table(
    "reception_duties",
    db.metadata,
    sa.Column("reception_day_id", sa.ForeignKey("reception_days.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("deputy_id", sa.ForeignKey("deputies.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class ReceptionDay(db.Model):
    """接待日: a day a station receives the public, with the deputies on duty (Wan'an:
    twice a month, at least three). Held, it is logged as a visit of form reception."""

    __tablename__ = "reception_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(sa.ForeignKey("stations.id"), index=True)
    held_on: Mapped[date] = mapped_column(index=True)
    starts_at: Mapped[time] = mapped_column(default=time(9, 0))
    ends_at: Mapped[time] = mapped_column(default=time(11, 30))
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    cancelled_at: Mapped[Optional[datetime]]
    visit_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("visits.id"), index=True)  # once held
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    station: Mapped[Station] = relationship()
    visit: Mapped[Optional[Visit]] = relationship()
    created_by: Mapped[Optional[User]] = relationship()
    deputies: Mapped[list[Deputy]] = relationship(secondary=reception_duties, order_by=Deputy.id)

    __table_args__ = (sa.UniqueConstraint("station_id", "held_on", name="uq_reception_days_station_held_on"),)


class ActivityKind(StrEnum):
    INSPECTION = "inspection"  # 视察
    RESEARCH = "research"  # 调研
    SYMPOSIUM = "symposium"  # 座谈
    RECEPTION = "reception"  # 接待 / 联系群众


activity_deputies = sa.Table(
    "activity_deputies",
    db.metadata,
    sa.Column("activity_id", sa.ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("deputy_id", sa.ForeignKey("deputies.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Activity(db.Model):
    """视察/调研/座谈/联系群众 held by a congress: counted in the monthly report."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ActivityKind] = mapped_column(enum_type(ActivityKind))
    title: Mapped[str] = mapped_column(sa.String(120))
    held_on: Mapped[date] = mapped_column(index=True)
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jurisdiction: Mapped[Jurisdiction] = relationship()
    deputies: Mapped[list[Deputy]] = relationship(secondary=activity_deputies)
