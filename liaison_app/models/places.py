"""Where the work happens: jurisdictions (行政区划) and stations (家站点)."""

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import StrEnum, enum_type, utcnow


class Level(StrEnum):
    """事权层级, from the top down."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"

    @property
    def rank(self) -> int:
        return list(Level).index(self)

    @property
    def label(self):
        return LEVEL_LABELS[self]


LEVEL_LABELS = {
    Level.PROVINCE: _l("Province"),
    Level.CITY: _l("City"),
    Level.COUNTY: _l("County"),
    Level.TOWNSHIP: _l("Township"),
}


class Jurisdiction(db.Model):
    """An administrative division whose congress (or street 人大工委) takes requests."""

    __tablename__ = "jurisdictions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    level: Mapped[Level] = mapped_column(enum_type(Level))
    # A street (街道) sits at township level but has a 人大工委 rather than a congress.
    is_street: Mapped[bool] = mapped_column(default=False)
    division_code: Mapped[str] = mapped_column(sa.String(12), unique=True)
    parent_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Optional["Jurisdiction"]] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["Jurisdiction"]] = relationship(back_populates="parent", order_by="Jurisdiction.division_code")
    stations: Mapped[list["Station"]] = relationship(back_populates="jurisdiction")

    def __repr__(self) -> str:
        return f"<Jurisdiction {self.division_code} {self.name}>"

    @property
    def congress_name(self) -> str:
        """The body a request is escalated to, e.g. 太仓市人大常委会 or 娄东街道人大工委."""
        if self.is_street:
            return gettext("%(place)s People's Congress Working Committee", place=self.name)
        if self.level is Level.TOWNSHIP:
            return gettext("%(place)s People's Congress", place=self.name)
        return gettext("Standing Committee of the %(place)s People's Congress", place=self.name)

    def ancestors(self) -> list["Jurisdiction"]:
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain


class StationKind(StrEnum):
    STATION = "station"  # 代表联络站
    HOME = "home"  # 代表之家
    POINT = "point"  # 代表联系点

    @property
    def label(self):
        return STATION_KIND_LABELS[self]


STATION_KIND_LABELS = {
    StationKind.STATION: _l("Liaison station"),
    StationKind.HOME: _l("Deputies' home"),
    StationKind.POINT: _l("Contact point"),
}


class Station(db.Model):
    """A liaison station, deputies' home or contact point (家站点)."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    kind: Mapped[StationKind] = mapped_column(enum_type(StationKind), default=StationKind.STATION)
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    reception_days: Mapped[str] = mapped_column(sa.String(200), default="")
    # The station's wall (制度墙): shown on its public page and posters.
    intro: Mapped[str] = mapped_column(sa.Text, default="")
    rules: Mapped[str] = mapped_column(sa.Text, default="")
    process: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jurisdiction: Mapped[Jurisdiction] = relationship(back_populates="stations")
    deputies: Mapped[list["Deputy"]] = relationship(  # noqa: F821
        secondary="station_deputies", back_populates="stations", order_by="Deputy.id"
    )

    def __repr__(self) -> str:
        return f"<Station {self.name}>"


class Grid(db.Model):
    """A social-governance grid (网格); Taicang puts one deputy in each."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)

    jurisdiction: Mapped[Jurisdiction] = relationship()
