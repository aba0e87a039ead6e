"""The admin-editable holiday table (节假日表) for the working-day calendar."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class CalendarDay(db.Model):
    """One date whose working-day status an admin has set by hand, e.g. a 国庆节
    holiday or a 调休上班 Saturday of a year chinese-calendar does not know yet.
    It overrides chinese-calendar for that date."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(primary_key=True, autoincrement=False)
    is_working_day: Mapped[bool]
    name: Mapped[str] = mapped_column(sa.String(40), default="")  # e.g. 国庆节, 调休上班
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<CalendarDay {self.day} {'working' if self.is_working_day else 'holiday'}>"
