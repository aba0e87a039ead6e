"""Plain factory functions: make_thing(**overrides) saves and returns one row."""

import io
import itertools

from PIL import Image
from stdnum.cn import uscc

from liaison_app.extensions import db
from liaison_app.models import (
    Department,
    Deputy,
    Enterprise,
    Jurisdiction,
    Level,
    Placement,
    QRCode,
    Role,
    Station,
    User,
)

_seq = itertools.count(1)


def _save(obj):
    db.session.add(obj)
    db.session.commit()
    return obj


def valid_uscc(serial: int | None = None) -> str:
    """A USCC with a correct check character (GB 32100-2015)."""
    body = f"91320585{(serial or next(_seq)):09d}"
    return body + uscc.calc_check_digit(body)


def make_jurisdiction(**overrides) -> Jurisdiction:
    n = next(_seq)
    values = dict(name=f"测试县{n}", level=Level.COUNTY, division_code=f"{900000 + n}")
    values.update(overrides)
    return _save(Jurisdiction(**values))


def make_station(**overrides) -> Station:
    n = next(_seq)
    if "jurisdiction" not in overrides and "jurisdiction_id" not in overrides:
        overrides["jurisdiction"] = make_jurisdiction()
    values = dict(name=f"测试联络站{n}", address="工业园区一路1号", reception_days="每月5日、20日")
    values.update(overrides)
    return _save(Station(**values))


def make_deputy(station: Station | None = None, **overrides) -> Deputy:
    n = next(_seq)
    station = station or make_station()
    values = dict(name=f"代表{n}", congress_jurisdiction=station.jurisdiction, specialties="用工、融资")
    values.update(overrides)
    deputy = Deputy(**values)
    deputy.stations.append(station)
    return _save(deputy)


def make_qr_code(*, deputy: Deputy | None = None, station: Station | None = None, **overrides) -> QRCode:
    if deputy is None and station is None:
        deputy = make_deputy()
    values = dict(deputy=deputy, station=station, placement=Placement.STATION)
    values.update(overrides)
    return _save(QRCode(**values))


def make_department(**overrides) -> Department:
    n = next(_seq)
    if "jurisdiction" not in overrides and "jurisdiction_id" not in overrides:
        overrides["jurisdiction"] = make_jurisdiction()
    values = dict(name=f"测试局{n}")
    values.update(overrides)
    return _save(Department(**values))


def make_enterprise(**overrides) -> Enterprise:
    n = next(_seq)
    values = dict(name=f"测试精密机械有限公司{n}", uscc=valid_uscc(n))
    values.update(overrides)
    return _save(Enterprise(**values))


def make_user(role: Role = Role.ADMIN, password: str = "correct horse battery", **overrides) -> User:
    n = next(_seq)
    values = dict(username=f"user{n}", role=role)
    if role is Role.STAFF and "jurisdiction" not in overrides:
        values["jurisdiction"] = make_jurisdiction()
    if role is Role.UNIT and "department" not in overrides:
        values["department"] = make_department()
    if role is Role.DEPUTY and "deputy" not in overrides:
        values["deputy"] = make_deputy()
    values.update(overrides)
    user = User(**values)
    user.set_password(password)
    return _save(user)


def image_bytes(fmt: str = "JPEG", size=(64, 48), color=(200, 30, 30), exif=None) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()
