"""Dashboards of large jurisdictions computed ahead of time (services/dashboard_snapshots.py)."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class DashboardSnapshot(db.Model):
    """The figures of one jurisdiction's dashboard over one period, as `flask refresh-dashboards`
    computed them at `computed_at`: JSON holding no translated text (names and numbers only)."""

    __tablename__ = "dashboard_snapshots"
    __table_args__ = (sa.UniqueConstraint("jurisdiction_id", "period_start", "period_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id", ondelete="CASCADE"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    seconds: Mapped[float] = mapped_column(default=0.0)  # how long computing it took
    figures: Mapped[str] = mapped_column(sa.Text)

    def __repr__(self) -> str:
        return f"<DashboardSnapshot {self.jurisdiction_id} {self.period_start}..{self.period_end}>"
