"""提醒方式: which events reach a person by SMS and by being named (@) in their places' group
robots, and the defaults staff set for the people of their jurisdiction.

services/routing.py reads these rows (routing.choices); this module is the only one that writes
them, and tells the settings pages what holds now and why, as routing decides it: the person's
own choice, else the default set at the nearest level (theirs or above), else the built-in one.
The 消息 list gets everything whatever is chosen here.

Both reach a person through their mobile number (an SMS, a robot's @mention), so without one
on their account there is nothing for them to choose.
"""

import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import sqlalchemy as sa

from ..extensions import db
from ..models import Jurisdiction, NotificationChannel, NotificationKind, NotificationPreference, Role, User
from ..validators import is_mobile
from . import routing

log = logging.getLogger("liaison.preferences")

Key = tuple[NotificationKind, NotificationChannel]
# Whom a jurisdiction's defaults apply to: its deputies, officers and staff (admins have no home).
_ROLES = (Role.DEPUTY, Role.UNIT, Role.STAFF)


@dataclass(frozen=True)
class Choice:
    """One kind of event by one channel, for one owner: a person, or a jurisdiction's defaults."""

    kind: NotificationKind
    channel: NotificationChannel
    chosen: Optional[bool]  # the owner's own row; None: they set none
    inherited: Optional[bool]  # what holds without it; None: the built-in choice differs by role
    inherited_from: Optional[Jurisdiction]  # the level whose staff set it; None: built in

    @property
    def enabled(self) -> Optional[bool]:
        return self.inherited if self.chosen is None else self.chosen


@dataclass(frozen=True)
class KindChoices:
    """One row of the grid: a kind of event and its choice for each channel."""

    kind: NotificationKind
    choices: tuple[Choice, ...]  # in routing.CHOOSABLE_CHANNELS order

    @property
    def chosen(self) -> bool:
        """Whether the owner set any of it (恢复默认 has something to undo)."""
        return any(choice.chosen is not None for choice in self.choices)


def can_be_reached(user: User) -> bool:
    """Whether SMS and @mentions can reach this person at all: a mobile number on the account."""
    return is_mobile(user.phone)


def person_choices(user: User) -> list[KindChoices]:
    """The grid of one person's choices, as routing.choices() would apply them now."""
    person = routing.person_of(user.id)
    role = person.role if person is not None else user.role
    home = person.home_jurisdiction_id if person is not None else None
    chain = _chain(db.session.get(Jurisdiction, home) if home else None)
    return _grid(_own(NotificationPreference.user_id == user.id), chain,
                 lambda kind, channel: routing.builtin_default(role, kind, channel))


def jurisdiction_defaults(jurisdiction: Jurisdiction) -> list[KindChoices]:
    """The grid of the defaults set for a jurisdiction's people, over what the levels above set."""
    return _grid(_own(NotificationPreference.jurisdiction_id == jurisdiction.id), jurisdiction.ancestors(),
                 _builtin_for_everyone)


def save_choices(user: User, wanted: dict[Key, bool], *, reset: Iterable[NotificationKind] = ()) -> list[str]:
    """A person's choices as their settings page sent them; the kinds in `reset` go back to the
    defaults. A cell they never chose and left as inherited stays unchosen, so that it follows
    later changes of the defaults; one they chose keeps their choice. Returns what changed."""
    _lock(User, user.id)
    reset = set(reset)
    current = {(choice.kind, choice.channel): choice for row in person_choices(user) for choice in row.choices}
    changes: dict[Key, Optional[bool]] = {}
    for key, value in wanted.items():
        choice = current.get(key)
        if choice is None or key[0] in reset:
            continue
        if choice.chosen is not None or value != choice.inherited:
            changes[key] = value
    changes.update({(kind, channel): None for kind in reset for channel in routing.CHOOSABLE_CHANNELS})
    changed = _write(NotificationPreference.user_id, user.id, changes)
    db.session.commit()
    if changed:
        log.info("user %s changed their notification choices: %s", user.id, ", ".join(changed))
    return changed


def reset_choices(user: User) -> list[str]:
    """全部恢复默认: the person follows their jurisdiction's defaults (or the built-in ones) again."""
    return save_choices(user, {}, reset=routing.CHOOSABLE_KINDS)


def save_defaults(jurisdiction: Jurisdiction, wanted: dict[Key, Optional[bool]], *, actor: User) -> list[str]:
    """The defaults for the people of `jurisdiction` and the levels below (unless nearer staff
    set theirs, or a person chose): True or False sets one, None removes it. Who may set them
    is access.get_defaults_jurisdiction_or_404's to decide. Returns what changed."""
    _lock(Jurisdiction, jurisdiction.id)
    known = {(kind, channel) for kind in routing.CHOOSABLE_KINDS for channel in routing.CHOOSABLE_CHANNELS}
    changed = _write(NotificationPreference.jurisdiction_id, jurisdiction.id,
                     {key: value for key, value in wanted.items() if key in known})
    db.session.commit()
    if changed:
        log.info("user %s changed the notification defaults of jurisdiction %s: %s", actor.id, jurisdiction.id,
                 ", ".join(changed))
    return changed


# --- helpers --------------------------------------------------------------------------------------


def _own(condition) -> dict[Key, bool]:
    return {(row.kind, row.channel): row.enabled
            for row in db.session.scalars(sa.select(NotificationPreference).where(condition))}


def _chain(jurisdiction: Optional[Jurisdiction]) -> list[Jurisdiction]:
    """The person's home jurisdiction and the levels above it, nearest first."""
    return [] if jurisdiction is None else [jurisdiction, *jurisdiction.ancestors()]


def _builtin_for_everyone(kind: NotificationKind, channel: NotificationChannel) -> Optional[bool]:
    """The built-in choice where every role has the same one; None where it depends on the role
    (by SMS, deputies and officers hear of what asks them to act, staff opt in)."""
    values = {routing.builtin_default(role, kind, channel) for role in _ROLES}
    return values.pop() if len(values) == 1 else None


def _grid(own: dict[Key, bool], chain: list[Jurisdiction],
          builtin: Callable[[NotificationKind, NotificationChannel], Optional[bool]]) -> list[KindChoices]:
    levels = [level.id for level in chain]
    defaults = {} if not levels else {
        (row.jurisdiction_id, row.kind, row.channel): row.enabled
        for row in db.session.scalars(sa.select(NotificationPreference)
                                      .where(NotificationPreference.jurisdiction_id.in_(levels)))}
    grid = []
    for kind in routing.CHOOSABLE_KINDS:
        choices = []
        for channel in routing.CHOOSABLE_CHANNELS:
            level = next((level for level in chain if (level.id, kind, channel) in defaults), None)
            inherited = defaults[(level.id, kind, channel)] if level is not None else builtin(kind, channel)
            choices.append(Choice(kind, channel, own.get((kind, channel)), inherited, level))
        grid.append(KindChoices(kind, tuple(choices)))
    return grid


def _write(owner, owner_id: int, changes: dict[Key, Optional[bool]]) -> list[str]:
    """Set each (kind, channel) of one owner: True or False writes its row, None deletes it."""
    rows = {(row.kind, row.channel): row
            for row in db.session.scalars(sa.select(NotificationPreference).where(owner == owner_id))}
    changed = []
    for (kind, channel), value in changes.items():
        row = rows.get((kind, channel))
        if value is None and row is not None:
            db.session.delete(row)
        elif value is not None and row is None:
            db.session.add(NotificationPreference(**{owner.key: owner_id}, kind=kind, channel=channel,
                                                  enabled=value))
        elif value is not None and row.enabled != value:
            row.enabled = value
        else:
            continue
        changed.append(f"{kind.value}/{channel.value}={'default' if value is None else 'on' if value else 'off'}")
    db.session.flush()
    return changed


def _lock(model, row_id: int) -> None:
    """Serialise two saves of the same owner's choices (a double tap): PostgreSQL's unique
    constraint lets rows with a NULL owner column repeat, so it would not stop a duplicate."""
    db.session.execute(sa.select(model.id).where(model.id == row_id).with_for_update())
