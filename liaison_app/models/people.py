"""Who takes part: deputies, handling units, enterprises and user accounts."""

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import StrEnum, enum_type, utcnow
from .places import Grid, Jurisdiction, Level, Station

# argon2id with the library's RFC 9106 "low memory" defaults.
password_hasher = PasswordHasher()

station_deputies = sa.Table(
    "station_deputies",
    db.metadata,
    sa.Column("station_id", sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("deputy_id", sa.ForeignKey("deputies.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class DeputyKind(StrEnum):
    DEPUTY = "deputy"  # 人大代表
    STREET_REPRESENTATIVE = "street_representative"  # 街道议政代表


class Deputy(db.Model):
    """人大代表 (or street deliberative representative), elected by one jurisdiction's congress."""

    __tablename__ = "deputies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    kind: Mapped[DeputyKind] = mapped_column(enum_type(DeputyKind), default=DeputyKind.DEPUTY)
    congress_jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    grid_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("grids.id"), index=True)
    photo: Mapped[Optional[str]] = mapped_column(sa.String(80))  # generated file name in uploads
    specialties: Mapped[str] = mapped_column(sa.String(200), default="")
    bio: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    congress_jurisdiction: Mapped[Jurisdiction] = relationship()
    grid: Mapped[Optional[Grid]] = relationship()
    stations: Mapped[list[Station]] = relationship(
        secondary=station_deputies, back_populates="deputies", order_by=Station.id
    )

    def __repr__(self) -> str:
        return f"<Deputy {self.name}>"

    @property
    def primary_station(self) -> Optional[Station]:
        return self.stations[0] if self.stations else None

    @property
    def title(self) -> str:
        """How a poster or landing page names the deputy's office, e.g. 太仓市人大代表."""
        place = self.congress_jurisdiction
        if self.kind is DeputyKind.STREET_REPRESENTATIVE:
            return gettext("Deliberative representative of %(place)s", place=place.name)
        return gettext("Deputy to the %(place)s People's Congress", place=place.name)

    @property
    def level(self) -> Level:
        return self.congress_jurisdiction.level


class Department(db.Model):
    """A handling unit (承办单位) of one jurisdiction, e.g. 太仓市住建局."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jurisdiction: Mapped[Jurisdiction] = relationship()

    __table_args__ = (sa.UniqueConstraint("jurisdiction_id", "name", name="uq_departments_jurisdiction_name"),)

    def __repr__(self) -> str:
        return f"<Department {self.name}>"


class Enterprise(db.Model):
    """A private enterprise. The USCC is unique when known; many file without it."""

    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), index=True)
    # Pinyin initials of the name (太仓恒丰 → tchf): kept in step by an ORM hook below.
    name_initials: Mapped[str] = mapped_column(sa.String(60), default="", index=True)
    uscc: Mapped[Optional[str]] = mapped_column(sa.String(18), unique=True)
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    jurisdiction_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    industry: Mapped[str] = mapped_column(sa.String(60), default="")
    park: Mapped[str] = mapped_column(sa.String(80), default="", index=True)  # industrial park (园区), if any
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jurisdiction: Mapped[Optional[Jurisdiction]] = relationship()

    def __repr__(self) -> str:
        return f"<Enterprise {self.name}>"


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"  # liaison-station / congress office staff, scoped to a jurisdiction
    DEPUTY = "deputy"
    UNIT = "unit"  # an officer of a handling unit

    @property
    def label(self):
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.STAFF: _l("Liaison staff"),
    Role.DEPUTY: _l("Deputy"),
    Role.UNIT: _l("Handling unit officer"),
}


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(40), unique=True)
    phone: Mapped[Optional[str]] = mapped_column(sa.String(20), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(40), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    jurisdiction_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    department_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    deputy_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("deputies.id"), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped to end every session of this user (logout everywhere, deactivation).
    session_generation: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jurisdiction: Mapped[Optional[Jurisdiction]] = relationship()
    department: Mapped[Optional[Department]] = relationship()
    deputy: Mapped[Optional[Deputy]] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "(role != 'staff' OR jurisdiction_id IS NOT NULL)"
            " AND (role != 'unit' OR department_id IS NOT NULL)"
            " AND (role != 'deputy' OR deputy_id IS NOT NULL)",
            name="role_scope",
        ),
    )

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """What the session and the remember cookie hold: bumping the generation
        ends every session of this user on every phone."""
        return f"{self.id}:{self.session_generation}"

    def set_password(self, password: str) -> None:
        self.password_hash = password_hasher.hash(password)

    def check_password(self, password: str) -> bool:
        try:
            password_hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if password_hasher.check_needs_rehash(self.password_hash):
            self.set_password(password)
        return True


@sa.event.listens_for(Enterprise.name, "set")
def _keep_initials(target: Enterprise, value: str, _old, _initiator) -> None:
    from ..pinyin import initials

    target.name_initials = initials(value)
