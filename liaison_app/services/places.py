"""Admin writes for the map of the work: jurisdictions, stations, departments and deputies.

Each function changes one record, logs it and commits once. A PlaceError means
nothing was written; its `field` says which form field caused it.
"""

import logging
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Department, Deputy, Enterprise, Jurisdiction, Level, Request, Station, User
from .photos import ProcessedPhoto, remove_files, write_photo

log = logging.getLogger("liaison.admin")

CHILD_LEVEL = {Level.PROVINCE: Level.CITY, Level.CITY: Level.COUNTY, Level.COUNTY: Level.TOWNSHIP}


class PlaceError(Exception):
    def __init__(self, message, field: Optional[str] = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


def save_jurisdiction(jurisdiction: Jurisdiction, *, actor: User, name: str, division_code: str,
                      parent: Optional[Jurisdiction], level: Level, is_street: bool, active: bool) -> Jurisdiction:
    """Add, rename, move or (de)activate a jurisdiction. The tree stays a tree: a child is
    exactly one level below its parent, and nothing moves under itself."""
    if parent is None and level is not Level.PROVINCE:
        raise PlaceError(_l("Only a province has no parent."), "parent")
    if parent is not None:
        if CHILD_LEVEL.get(parent.level) is not level:
            raise PlaceError(_l("A %(level)s must sit directly under the level above it.", level=level.label), "parent")
        if jurisdiction.id is not None and jurisdiction.id in _ancestor_ids(parent):
            raise PlaceError(_l("A jurisdiction cannot move under itself."), "parent")
    if is_street and level is not Level.TOWNSHIP:
        raise PlaceError(_l("Only a township-level unit can be a street."), "is_street")
    clash = db.session.scalar(sa.select(Jurisdiction.id).where(Jurisdiction.division_code == division_code,
                                                              Jurisdiction.id != jurisdiction.id))
    if clash is not None:
        raise PlaceError(_l("Another jurisdiction has this division code."), "division_code")
    if jurisdiction.id is not None and level is not jurisdiction.level and jurisdiction.children:
        raise PlaceError(_l("A jurisdiction with sub-jurisdictions keeps its level."), "level")
    jurisdiction.name, jurisdiction.division_code, jurisdiction.parent = name, division_code, parent
    jurisdiction.level, jurisdiction.is_street, jurisdiction.active = level, is_street, active
    return _commit(jurisdiction, actor, "jurisdiction")


def delete_jurisdiction(jurisdiction: Jurisdiction, *, actor: User) -> None:
    """Only a jurisdiction nothing points to may go; anything else is deactivated instead."""
    if jurisdiction_in_use(jurisdiction):
        raise PlaceError(_l("Requests, stations, people or sub-jurisdictions point to this jurisdiction: "
                            "deactivate it instead."))
    db.session.delete(jurisdiction)
    log.info("jurisdiction %s deleted by user %s", jurisdiction.id, actor.id)
    db.session.commit()


def jurisdiction_in_use(jurisdiction: Jurisdiction) -> bool:
    checks = [
        sa.select(Jurisdiction.id).where(Jurisdiction.parent_id == jurisdiction.id),
        sa.select(Request.id).where(Request.jurisdiction_id == jurisdiction.id),
        sa.select(Station.id).where(Station.jurisdiction_id == jurisdiction.id),
        sa.select(Department.id).where(Department.jurisdiction_id == jurisdiction.id),
        sa.select(Deputy.id).where(Deputy.congress_jurisdiction_id == jurisdiction.id),
        sa.select(User.id).where(User.jurisdiction_id == jurisdiction.id),
        sa.select(Enterprise.id).where(Enterprise.jurisdiction_id == jurisdiction.id),
    ]
    from ..models import RequestEvent

    checks.append(sa.select(RequestEvent.id).where(RequestEvent.jurisdiction_id == jurisdiction.id))
    return any(db.session.scalar(check.limit(1)) is not None for check in checks)


def save_station(station: Station, *, actor: User, **fields) -> Station:
    """A liaison station, deputies' home or contact point, with its wall texts."""
    for name, value in fields.items():
        setattr(station, name, value)
    return _commit(station, actor, "station")


def save_department(department: Department, *, actor: User, name: str, jurisdiction: Jurisdiction,
                    active: bool) -> Department:
    """A handling unit (承办单位) of one jurisdiction; names are unique per jurisdiction."""
    clash = db.session.scalar(sa.select(Department.id).where(
        Department.jurisdiction_id == jurisdiction.id, Department.name == name, Department.id != department.id))
    if clash is not None:
        raise PlaceError(_l("This jurisdiction already has a department of that name."), "name")
    department.name, department.jurisdiction, department.active = name, jurisdiction, active
    return _commit(department, actor, "department")


def save_deputy(deputy: Deputy, *, actor: User, stations: list[Station], photo: Optional[ProcessedPhoto] = None,
                **fields) -> Deputy:
    """A deputy's card: what posters and landing pages show. A new photo replaces the old
    file only once the record is committed."""
    for name, value in fields.items():
        setattr(deputy, name, value)
    deputy.stations = stations
    old_photo, written = deputy.photo, None
    if photo is not None:
        written = write_photo(photo)
        deputy.photo = written
    try:
        _commit(deputy, actor, "deputy")
    except BaseException:
        if written:
            remove_files([written])
        raise
    if written and old_photo:
        remove_files([old_photo])
    return deputy


def _ancestor_ids(jurisdiction: Jurisdiction) -> list[int]:
    return [jurisdiction.id] + [j.id for j in jurisdiction.ancestors()]


def _commit(obj, actor: User, kind: str):
    created = obj.id is None
    db.session.add(obj)
    db.session.commit()
    log.info("%s %s %s by user %s", kind, obj.id, "created" if created else "changed", actor.id)
    return obj
