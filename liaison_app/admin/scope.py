"""What an admin-area user may manage: admins everything, staff their jurisdiction's subtree.

Every admin list filters through `managed_jurisdiction_ids()`, and every object an
admin page loads goes through `get_in_scope_or_404()`: anything outside is 404.
"""

from typing import Optional

import sqlalchemy as sa
from flask import abort
from wtforms import SelectChoice

from .. import access
from ..extensions import db
from ..models import Department, Deputy, Enterprise, Jurisdiction, Level, QRCode, Robot, Role, Station, User


def managed_jurisdiction_ids(user: User) -> Optional[list[int]]:
    """None means every jurisdiction (an admin)."""
    if user.role is Role.ADMIN:
        return None
    return access.subtree_ids(user.jurisdiction_id)


def in_scope(user: User, jurisdiction_id: Optional[int]) -> bool:
    ids = managed_jurisdiction_ids(user)
    return ids is None or jurisdiction_id in ids


def limit_to_scope(user: User, query: sa.Select, column) -> sa.Select:
    """Filter a query by the jurisdiction column of what it lists."""
    ids = managed_jurisdiction_ids(user)
    return query if ids is None else query.where(column.in_(ids))


def jurisdiction_of(obj) -> Optional[int]:
    """The jurisdiction an object belongs to, for the scope check."""
    if isinstance(obj, Jurisdiction):
        return obj.id
    if isinstance(obj, (Station, Department, Enterprise)):
        return obj.jurisdiction_id
    if isinstance(obj, Deputy):
        return obj.congress_jurisdiction_id
    if isinstance(obj, QRCode):
        return obj.station.jurisdiction_id if obj.station else obj.deputy.congress_jurisdiction_id
    if isinstance(obj, Robot):  # the jurisdiction of its place
        place = obj.station or obj.department
        return place.jurisdiction_id if place is not None else obj.jurisdiction_id
    if isinstance(obj, User):
        if obj.role is Role.STAFF:
            return obj.jurisdiction_id
        if obj.role is Role.UNIT:
            return obj.department.jurisdiction_id
        if obj.role is Role.DEPUTY:
            return obj.deputy.congress_jurisdiction_id
        return None  # admins are managed by admins only
    raise TypeError(type(obj))


def robots_in_scope(user: User) -> sa.Select:
    """SELECT the group robots the user manages: the SQL form of jurisdiction_of(Robot), i.e.
    those of the jurisdictions, stations and departments of the user's subtree."""
    query = sa.select(Robot)
    ids = managed_jurisdiction_ids(user)
    if ids is None:
        return query
    return query.where(sa.or_(
        Robot.jurisdiction_id.in_(ids),
        Robot.station_id.in_(sa.select(Station.id).where(Station.jurisdiction_id.in_(ids))),
        Robot.department_id.in_(sa.select(Department.id).where(Department.jurisdiction_id.in_(ids))),
    ))


def get_in_scope_or_404(user: User, model, object_id: int):
    obj = db.session.get(model, object_id)
    if obj is None or not in_scope(user, jurisdiction_of(obj)):
        abort(404)
    return obj


def jurisdiction_choices(user: User) -> list[Jurisdiction]:
    """Active jurisdictions this user manages, in tree order (by division code)."""
    query = sa.select(Jurisdiction).where(Jurisdiction.active).order_by(Jurisdiction.division_code)
    return list(db.session.scalars(limit_to_scope(user, query, Jurisdiction.id)))


# A jurisdiction menu of the oversight pages lists at most this many before it leaves out townships:
# a province's 1,400 jurisdictions drawn in full were 80 KB of <option>s on every page.
MENU_LIMIT = 300


def jurisdiction_menu(user: User, chosen: Optional[Jurisdiction]) -> list[Jurisdiction]:
    """jurisdiction_choices() for an oversight page's menu; in a province the townships only of
    the chosen jurisdiction's county, so the menu stays short and the user drills down."""
    choices = jurisdiction_choices(user)
    if len(choices) > MENU_LIMIT and chosen is not None:
        near = {chosen.id, chosen.parent_id}
        choices = [j for j in choices if j.level is not Level.TOWNSHIP or j.parent_id in near]
    if chosen is not None and chosen not in choices:
        choices.insert(0, chosen)  # an inactive one asked for by id
    return choices


def jurisdiction_select(user: User, *, keeping: Optional[Jurisdiction] = None, blank=None) -> list[SelectChoice]:
    """jurisdiction_choices() for a form's drop-down, indented by level; `keeping` stays offered
    though since deactivated (editing a record that names it), `blank` is a first empty entry."""
    choices = jurisdiction_choices(user)
    if keeping is not None and keeping not in choices:
        choices.insert(0, keeping)
    options = [SelectChoice(j.id, f"{'　' * j.level.rank}{j.name}") for j in choices]
    return [SelectChoice("", blank), *options] if blank is not None else options
