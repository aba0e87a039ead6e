"""A request's trail as people read it: each event in plain words, the deadline it set or moved
(old -> new), and how long the request stayed at each level it passed through.

The desk's card shows every event. The enterprise's page shows the public ones and, in public
words and without their notes (which may name officers or hold internal remarks), the internal
steps without which its story would not add up: a department returning it (退回) between two
assignments, a deputy giving up a claim, an answer sent back for more work.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

from flask_babel import format_date, gettext, ngettext

from .models import Request, RequestEvent
from .templating import event_text
from .workdays import Deadline, local_date, today_local
from .workflow import Action, Status

# Internal steps the enterprise reads about in its own words (no note).
_PUBLIC_WORDS = {
    Action.RETURN: lambda event: gettext(
        "%(department)s returned it as not its matter; it will be assigned again",
        department=event.department.name if event.department else gettext("The department")),
    Action.RELEASE: lambda event: gettext("The deputy gave it back; it waits for another deputy"),
    Action.SEND_BACK: lambda event: gettext("The answer was sent back to the department for more work"),
}
_MOVES = (Action.ESCALATE, Action.SEND_DOWN)
# A claim deadline these set is a new one, in a new queue: the one before had been met.
_NEW_QUEUE = (Action.FILE, *_MOVES, Action.REOPEN)


@dataclass(frozen=True)
class TrailEntry:
    when: Optional[datetime]  # naive UTC; None for the line on the level it is at now
    text: str
    note: str = ""  # what this reader may see of the event's note
    deadline: str = ""  # 答复期限：2026-12-14 → 2026-12-21
    stay: str = ""  # 在 沙溪镇人大 3 天 (on a move to another level)
    event: Optional[RequestEvent] = None


def trail(req: Request, *, public: bool = False) -> list[TrailEntry]:
    """The trail, oldest first; `public`: as the enterprise may read it."""
    entries, level, since, moved = [], None, None, False
    for event in req.events:
        stay = ""
        if event.action in _MOVES and level is not None:
            stay = stay_text(level, since, event.created_at)
            moved = True
        if event.action in _MOVES or level is None:
            level, since = event.jurisdiction, event.created_at
        entry = _entry(event, public, stay)
        if entry is not None:
            entries.append(entry)
    if moved and not req.status.is_final and level is not None:
        entries.append(TrailEntry(None, stay_text(level, since, None)))
    return entries


def _entry(event: RequestEvent, public: bool, stay: str) -> Optional[TrailEntry]:
    if not public or event.is_public:
        return TrailEntry(event.created_at, event_text(event, public=public), event.note, deadline_text(event), stay,
                          event)
    words = _PUBLIC_WORDS.get(event.action)
    if words is None:
        return None
    return TrailEntry(event.created_at, words(event), "", deadline_text(event), stay, event)


def deadline_text(event: RequestEvent) -> str:
    """What the event did to a deadline: set it, moved it (old -> new), kept it, or ended it."""
    if event.deadline is None:
        return ""
    label, old, new = event.deadline.label, _date(event.due_before), _date(event.due_after)
    if event.due_after is None:
        return gettext("%(deadline)s %(old)s no longer applies", deadline=label, old=old) if old else ""
    if event.due_before is None or event.action in _NEW_QUEUE:
        return gettext("%(deadline)s: %(new)s", deadline=label, new=new)
    if event.due_before == event.due_after:
        return gettext("%(deadline)s unchanged: %(new)s", deadline=label, new=new)
    return gettext("%(deadline)s: %(old)s → %(new)s", deadline=label, old=old, new=new)


def stay_text(level, since: datetime, until: Optional[datetime]) -> str:
    """在 沙溪镇人大 3 天; for the level it is at now (`until` None), the days so far."""
    days = _days(since, until)
    body = level.congress_name
    if until is None:
        return gettext("At %(body)s since %(date)s: %(days)s so far", body=body, date=_date(local_date(since)),
                       days=days)
    return gettext("%(days)s at %(body)s", days=days, body=body)


def _days(since: datetime, until: Optional[datetime]) -> str:
    end = local_date(until) if until is not None else today_local()
    days = (end - local_date(since)).days
    if days < 1:
        return gettext("less than a day")
    return ngettext("%(num)d day", "%(num)d days", days)


def _date(day: Optional[date]) -> str:
    return format_date(day, "yyyy-MM-dd") if day else ""


@dataclass(frozen=True)
class WhereNow:
    """Who has the request now and by when, as the top of the tracking page says it."""

    holder: str
    deadline: Optional[Deadline] = None
    due_on: Optional[date] = None
    extended_from: Optional[date] = None  # the response deadline before an extension granted


def where_now(req: Request) -> Optional[WhereNow]:
    """None once the request is closed or withdrawn, and while the enterprise is asked to rate
    (the status says so, the answer and the rating form follow at once)."""
    if req.status.is_final or req.status is Status.AWAITING_RATING:
        return None
    body = req.jurisdiction.congress_name
    if req.department is not None and req.status in (Status.ASSIGNED, Status.IN_PROGRESS, Status.REPLIED):
        if req.status is Status.REPLIED:
            return WhereNow(gettext("%(department)s has answered; a deputy is checking the answer",
                                    department=req.department.name))
        return WhereNow(req.department.name, Deadline.RESPONSE, req.due_on, _extended_from(req))
    if req.status is Status.SUBMITTED:
        return WhereNow(gettext("%(body)s, waiting for a deputy", body=body), Deadline.CLAIM, req.claim_due_on)
    return WhereNow(gettext("A deputy at %(body)s", body=body))


def _extended_from(req: Request) -> Optional[date]:
    """The deadline before the last extension granted while at this department, if any."""
    for event in reversed(req.events):
        if event.action is Action.ASSIGN:
            return None
        if event.action is Action.DECIDE_EXTENSION and event.deadline is Deadline.RESPONSE:
            return event.due_before
    return None


def latest_answer(req: Request) -> Optional[RequestEvent]:
    """The answer the enterprise is asked to rate: the last one given (by the department or the
    deputy directly)."""
    return next((e for e in reversed(req.events) if e.action in (Action.RESPOND, Action.ANSWER)), None)
