"""Activities held by a congress (视察、调研、座谈、接待/联系群众): recorded by liaison staff,
counted in the monthly report with the deputies who took part.

Each function checks what it is given, logs, and commits once; an ActivityError means
nothing was written. Which jurisdictions and deputies the actor may use is decided by
admin/scope.py, as everywhere else.
"""

import logging
from datetime import date
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from ..admin import scope
from ..extensions import db
from ..models import Activity, ActivityKind, Deputy, Jurisdiction, Station, User, station_deputies
from ..workdays import today_local

log = logging.getLogger("liaison.oversight")

KIND_LABELS = {
    ActivityKind.INSPECTION: _l("Inspection"),  # 视察
    ActivityKind.RESEARCH: _l("Research"),  # 调研
    ActivityKind.SYMPOSIUM: _l("Symposium"),  # 座谈
    ActivityKind.RECEPTION: _l("Reception"),  # 接待 / 联系群众
}


class ActivityError(Exception):
    """Refused; `field` names the form field that caused it."""

    def __init__(self, message, field: Optional[str] = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


def visible_activities(user: User) -> sa.Select:
    """SELECT the activities held in the user's jurisdiction and below (admins: all)."""
    return scope.limit_to_scope(user, sa.select(Activity), Activity.jurisdiction_id)


def eligible_deputies(user: User) -> sa.Select:
    """SELECT the active deputies of the user's area who may be recorded as taking part:
    those elected there and those of higher congresses who sit in one of its stations
    (各级代表进站). Admins: every active deputy."""
    query = sa.select(Deputy).where(Deputy.active)
    ids = scope.managed_jurisdiction_ids(user)
    if ids is None:
        return query
    stationed_here = (sa.select(station_deputies.c.deputy_id)
                      .join(Station, Station.id == station_deputies.c.station_id)
                      .where(Station.jurisdiction_id.in_(ids)))
    return query.where(sa.or_(Deputy.congress_jurisdiction_id.in_(ids), Deputy.id.in_(stationed_here)))


def _chosen_deputies(user: User, chosen: set[int], recorded: list[Deputy]) -> dict[int, Deputy]:
    """Those of the `chosen` ids the user may record: eligible deputies, and those already
    recorded on the activity (who stay even once inactive or moved away)."""
    found = {d.id: d for d in recorded if d.id in chosen}
    rest = {i for i in chosen - found.keys() if i is not None}
    if rest:
        query = eligible_deputies(user).where(Deputy.id.in_(rest))
        found.update({d.id: d for d in db.session.scalars(query)})
    return found


def deputy_choices(user: User, *, name: str = "", chosen: set[int] = frozenset(), recorded: list[Deputy] = (),
                   limit: int = 300) -> list[Deputy]:
    """What the form offers: the chosen deputies first, then eligible deputies whose name
    contains `name`, at most `limit` of them."""
    kept = _chosen_deputies(user, set(chosen), list(recorded))
    query = eligible_deputies(user).where(Deputy.id.not_in(list(kept))) if kept else eligible_deputies(user)
    if name:
        query = query.where(Deputy.name.contains(name, autoescape=True))
    order = (Deputy.congress_jurisdiction_id, Deputy.name, Deputy.id)
    first = sorted(kept.values(), key=lambda d: (d.congress_jurisdiction_id, d.name, d.id))
    query = query.options(selectinload(Deputy.congress_jurisdiction)).order_by(*order).limit(limit)
    return first + list(db.session.scalars(query))


def save_activity(activity: Activity, *, actor: User, kind: ActivityKind, title: str, held_on: date,
                  jurisdiction: Optional[Jurisdiction], deputy_ids: list[Optional[int]], notes: str = "") -> Activity:
    """Record or correct an activity. It is recorded once held, so not in the future; the
    jurisdiction and every deputy must lie in the actor's area (a deputy already recorded
    on the activity may stay even if no longer active)."""
    if not title.strip():
        raise ActivityError(_l("Please fill this in."), "title")
    if held_on > today_local():
        raise ActivityError(_l("An activity is recorded once it has been held: the date cannot be in the future."),
                            "held_on")
    if jurisdiction is None or not scope.in_scope(actor, jurisdiction.id):
        raise ActivityError(_l("Please choose a jurisdiction from the list."), "jurisdiction")
    wanted = set(deputy_ids)
    allowed = _chosen_deputies(actor, wanted, activity.deputies)
    if allowed.keys() != wanted:
        raise ActivityError(_l("Please choose deputies from the list."), "deputies")
    activity.kind, activity.title, activity.held_on = kind, title.strip(), held_on
    activity.jurisdiction, activity.notes = jurisdiction, notes.strip()
    activity.deputies = sorted(allowed.values(), key=lambda d: d.id)
    created = activity.id is None
    db.session.add(activity)
    db.session.commit()
    log.info("activity %s %s by user %s (%d deputies)", activity.id, "created" if created else "changed", actor.id,
             len(wanted))
    return activity


def delete_activity(activity: Activity, *, actor: User) -> None:
    """Remove an activity recorded by mistake (a duplicate); the report no longer counts it."""
    activity_id = activity.id
    db.session.delete(activity)
    db.session.commit()
    log.info("activity %s deleted by user %s", activity_id, actor.id)
