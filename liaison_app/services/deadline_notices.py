"""flask notify-deadlines (cron, daily): a claim, an acknowledgement or a response due tomorrow,
and each one that has passed, is announced once a day per item to whoever holds it (the
overdue ones also to the staff of the level above).

Each announcement first claims its DeadlineNotice row (request, deadline, day, overdue) with
an INSERT that does nothing on conflict, in the same transaction as the messages: a second run
the same day, or a second server at the same moment, finds the rows taken and sends nothing.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import selectinload

from ..extensions import begin_write, db
from ..models import DeadlineNotice, Request, utcnow
from ..workdays import acknowledge_due_dates, local_date, today_local
from . import notify, routing
from .supervision import OverdueKind, due_clauses, overdue_clauses

logger = logging.getLogger("liaison.notify")

CHUNK = 500  # requests announced per transaction


@dataclass(frozen=True)
class Counts:
    due_tomorrow: int
    overdue: int
    messages: int


def notify_deadlines(today: Optional[date] = None) -> Counts:
    """Announce today's deadline notices that no run has announced yet."""
    today = today or today_local()
    tomorrow = today + timedelta(days=1)
    due = overdue = messages = 0
    with routing.memo():  # the same stations, levels and departments recur across thousands of items
        for kind, clause in due_clauses(tomorrow).items():
            announced, written = _announce_all(clause, kind, today, overdue=False)
            due, messages = due + announced, messages + written
        for kind, clause in overdue_clauses(today).items():
            announced, written = _announce_all(clause, kind, today, overdue=True)
            overdue, messages = overdue + announced, messages + written
    logger.info("deadline notices for %s: %d due tomorrow, %d overdue, %d messages", today.isoformat(), due,
                overdue, messages)
    return Counts(due, overdue, messages)


def _announce_all(clause, kind: OverdueKind, today: date, *, overdue: bool) -> tuple[int, int]:
    announced = written = 0
    for ids in _chunks(sa.select(Request.id).where(clause).order_by(Request.id)):
        db.session.commit()  # end the read; the write takes its lock up front
        begin_write()
        taken = _take(ids, kind, today, overdue)
        requests = db.session.scalars(sa.select(Request).where(Request.id.in_(taken)).order_by(Request.id)
                                      .options(selectinload(Request.enterprise))).all()
        routing.prefetch(requests)
        deadlines = _deadlines(requests, kind)
        with notify.batch():
            for req in requests:
                written += notify.announce("overdue" if overdue else "deadline_near", req, note=kind.label,
                                           deadline=deadlines.get(req.id))
        db.session.commit()
        notify.deliver_after_commit()
        announced += len(requests)
    return announced, written


def _chunks(query: sa.Select) -> Iterator[list[int]]:
    """The matching ids, read once (an index-only scan), then handed out CHUNK at a time."""
    ids = list(db.session.scalars(query))
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _take(ids: list[int], kind: OverdueKind, today: date, overdue: bool) -> list[int]:
    """Claim the notices of these requests for today; the ids whose notice was still free."""
    insert = (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(DeadlineNotice)
    statement = (insert.values([dict(request_id=request_id, deadline=kind.value, day=today, overdue=overdue,
                                     created_at=utcnow()) for request_id in ids])
                 .on_conflict_do_nothing().returning(DeadlineNotice.request_id))
    return list(db.session.scalars(statement))


def _deadlines(requests: list[Request], kind: OverdueKind) -> dict[int, date]:
    """Each request's deadline of this kind (acknowledgements: the holiday table read once)."""
    if kind is OverdueKind.CLAIM:
        return {req.id: req.claim_due_on for req in requests}
    if kind is OverdueKind.RESPONSE:
        return {req.id: req.due_on for req in requests}
    assigned = {req.id: local_date(req.assigned_at) for req in requests if req.assigned_at}
    due = acknowledge_due_dates(set(assigned.values()))
    return {request_id: due[day] for request_id, day in assigned.items()}
