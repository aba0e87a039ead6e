"""QR codes posted at stations, on park roads and at factory gates."""

import secrets
from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import StrEnum, enum_type, utcnow
from .people import Deputy
from .places import Station


def new_qr_token() -> str:
    """About 64 random bits in 11 URL-safe characters: short on a poster, not guessable."""
    return secrets.token_urlsafe(8)


class Placement(StrEnum):
    STATION = "station"  # 站内
    PARK_ROAD = "park_road"  # 园区主干道
    ENTERPRISE_GATE = "enterprise_gate"  # 企业门口
    OTHER = "other"

    @property
    def label(self):
        return PLACEMENT_LABELS[self]


PLACEMENT_LABELS = {
    Placement.STATION: _l("Inside the station"),
    Placement.PARK_ROAD: _l("Park road"),
    Placement.ENTERPRISE_GATE: _l("Enterprise gate"),
    Placement.OTHER: _l("Other place"),
}


class QRCode(db.Model):
    """One printed code, for one deputy or one station, at one placement."""

    __tablename__ = "qr_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(24), unique=True, default=new_qr_token)
    deputy_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("deputies.id"), index=True)
    station_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("stations.id"), index=True)
    placement: Mapped[Placement] = mapped_column(enum_type(Placement), default=Placement.STATION)
    label: Mapped[str] = mapped_column(sa.String(80), default="")  # e.g. the enterprise at whose gate it hangs
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[Optional[datetime]]
    # A revoked code's poster points people here.
    replaced_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("qr_codes.id"))
    scan_count: Mapped[int] = mapped_column(default=0)
    last_scanned_at: Mapped[Optional[datetime]]

    deputy: Mapped[Optional[Deputy]] = relationship()
    station: Mapped[Optional[Station]] = relationship()
    replaced_by: Mapped[Optional["QRCode"]] = relationship(remote_side=[id])

    __table_args__ = (
        sa.CheckConstraint("(deputy_id IS NULL) != (station_id IS NULL)", name="one_target"),
    )

    def __repr__(self) -> str:
        return f"<QRCode {self.token}>"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def current_code(self) -> Optional["QRCode"]:
        """Follow the chain of reissues to a code that still works, if any."""
        code, seen = self.replaced_by, {self.id}
        while code is not None and code.is_revoked and code.id not in seen:
            seen.add(code.id)
            code = code.replaced_by
        return code if code is not None and not code.is_revoked else None


class QRScanDay(db.Model):
    """How often one code was scanned on one day (Asia/Shanghai): a count only,
    nothing about who scanned. Staff compare it with the requests filed via the code.
    The primary key (qr_code_id, day) is the unique key the per-day upsert relies on."""

    __tablename__ = "qr_scan_days"

    qr_code_id: Mapped[int] = mapped_column(sa.ForeignKey("qr_codes.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<QRScanDay {self.qr_code_id} {self.day} {self.count}>"
