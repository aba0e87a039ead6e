"""The closed loop: every change a deputy, staff member, department or enterprise
makes to a request after filing.

Each function checks who may act (access.check), that the form was not stale
(the version it carried), applies the transition through the workflow table
(record_event), commits once, then hands notifications to the outbox.
A WorkflowError means nothing was changed.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from .. import access
from ..extensions import db
from ..models import (
    Department, Outcome, PhoneRating, Rating, Request, RequestEvent, User, utcnow,
)
from ..workdays import (
    Deadline, claim_due_on, rating_due_on, reopened_response_due_on, response_due_on, today_local,
)
from ..workflow import Action, Actor, Status, WorkflowError, next_status
from . import notify
from .requests import StaleVersion, record_event


class AlreadyClaimed(WorkflowError):
    http_status = 409


class InvalidInput(WorkflowError):
    """A value the form could not check by itself (a department of another level...)."""

    http_status = 422


# --- deputies and staff ----------------------------------------------------------------


def claim_request(req: Request, *, actor: User) -> RequestEvent:
    """认领: the deputy (or staff member) takes ownership; one claimant at a time.

    One conditional UPDATE decides a race: of many simultaneous taps exactly one
    changes the row; the others are told who won and nothing else happens.
    """
    check_claimable(req, actor=actor)
    from_status = req.status
    to_status = next_status(from_status, Action.CLAIM, access.actor_kind(actor))
    now = utcnow()
    changed = db.session.execute(
        sa.update(Request)
        .where(Request.id == req.id, Request.status == from_status, Request.claimant_id.is_(None))
        .values(status=to_status, claimant_id=actor.id, claimed_at=now, updated_at=now, version=Request.version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        db.session.refresh(req)
        winner = req.claimant
        if winner is None:
            raise StaleVersion()
        raise AlreadyClaimed(_l("Already claimed by %(name)s.", name=_name(winner)))
    db.session.refresh(req)
    event = RequestEvent(
        request=req, action=Action.CLAIM, from_status=from_status, to_status=to_status,
        actor_kind=access.actor_kind(actor), actor=actor, jurisdiction_id=req.jurisdiction_id, is_public=True,
    )
    db.session.add(event)
    notify.announce("claimed", req)
    _commit()
    return event


def check_claimable(req: Request, *, actor: User) -> None:
    """Someone else's claim is answered with their name, not with a bare refusal."""
    if req.claimant is not None and req.claimant_id != actor.id:
        raise AlreadyClaimed(_l("Already claimed by %(name)s.", name=_name(req.claimant)))
    access.check(actor, Action.CLAIM, req)


def reject_request(req: Request, *, actor: User, version: int, reason: str) -> RequestEvent:
    """不予受理: out of scope or abuse; the reason is shown to the enterprise."""
    event = _act(req, Action.REJECT, actor=actor, version=version, note=reason)
    req.closed_at = utcnow()
    notify.announce("outcome", req, note=reason)
    _commit()
    return event


def release_claim(req: Request, *, actor: User, version: int, note: str = "") -> RequestEvent:
    """取消认领: back into the queue for someone else to claim."""
    event = _act(req, Action.RELEASE, actor=actor, version=version, note=note, public=False)
    req.claimant_id = None
    req.claimed_at = None
    _commit()
    return event


def answer_request(req: Request, *, actor: User, version: int, outcome: Outcome, text: str) -> RequestEvent:
    """当场答复: solved on the spot or the policy explained, without a department."""
    event = _act(req, Action.ANSWER, actor=actor, version=version, note=text)
    req.outcome = outcome
    req.replied_at = utcnow()
    _commit()
    return event


def assign_request(req: Request, *, actor: User, version: int, department: Department,
                   due_on: Optional[date] = None, note: str = "") -> RequestEvent:
    """交办: hand the request to a handling unit of its level with a response deadline.
    The clock starts now, at assignment, not at acknowledgement."""
    if department.jurisdiction_id != req.jurisdiction_id or not department.active:
        raise InvalidInput(_l("Choose a department of the level that holds the request."))
    today = today_local()
    due_on = due_on or response_due_on(today)
    if due_on <= today:
        raise InvalidInput(_l("The due date must be after today."))
    _authorise(req, Action.ASSIGN, actor=actor, version=version)
    req.department = department
    event = _record(req, Action.ASSIGN, actor=actor, note=note, deadline=(Deadline.RESPONSE, due_on))
    req.assigned_at = utcnow()
    req.extension_due_on = None
    notify.announce("assigned", req, note=note)
    _commit()
    return event


def escalate_request(req: Request, *, actor: User, version: int, reason: str) -> RequestEvent:
    """逐级上报: beyond this level's power; it waits in the queue of the level above."""
    parent = req.jurisdiction.parent
    if parent is None:
        raise InvalidInput(_l("There is no level above the province."))
    _authorise(req, Action.ESCALATE, actor=actor, version=version)
    req.jurisdiction = parent
    event = _record(req, Action.ESCALATE, actor=actor, note=reason, deadline=_new_claim_deadline())
    _back_in_queue(req)
    notify.announce("escalated", req, note=reason)
    _commit()
    return event


def send_down(req: Request, *, actor: User, version: int, reason: str) -> RequestEvent:
    """退回下级: the higher level finds it belongs below and sends it back where it came from."""
    lower = access.came_from(req)
    if lower is None:
        raise InvalidInput(_l("This request was not escalated to this level."))
    _authorise(req, Action.SEND_DOWN, actor=actor, version=version)
    req.jurisdiction = lower
    event = _record(req, Action.SEND_DOWN, actor=actor, note=reason, deadline=_new_claim_deadline())
    _back_in_queue(req)
    notify.announce("sent_down", req, note=reason)
    _commit()
    return event


def accept_answer(req: Request, *, actor: User, version: int, note: str = "") -> RequestEvent:
    """审核通过: the answer goes to the enterprise, which is asked to rate it."""
    event = _act(req, Action.ACCEPT, actor=actor, version=version, note=note,
                 deadline=(Deadline.RATING, rating_due_on(today_local())))
    notify.announce("accepted", req)
    notify.announce("outcome", req)
    _commit()
    return event


def send_back(req: Request, *, actor: User, version: int, reason: str) -> RequestEvent:
    """退回重办: the department's answer is not good enough yet."""
    event = _act(req, Action.SEND_BACK, actor=actor, version=version, note=reason, public=False)
    req.outcome = None
    req.replied_at = None
    notify.announce("sent_back", req, note=reason)
    _commit()
    return event


def reopen_request(req: Request, *, actor: User, version: int, reason: str) -> RequestEvent:
    """重新办理: staff take a closed or withdrawn request up again, under supervision."""
    _authorise(req, Action.REOPEN, actor=actor, version=version)
    if req.public_summary_approved_at is not None:
        # 公示: off the board, since the result may change; approved anew once it closes again.
        _record(req, Action.WITHDRAW_PUBLIC_SUMMARY, actor=actor, public=False)
        req.public_summary_approved_at = None
        req.public_summary_approved_by = None
    event = _record(req, Action.REOPEN, actor=actor, note=reason, deadline=_new_claim_deadline())
    _back_in_queue(req)
    req.closed_at = None
    req.rating = None
    req.rating_due_on = None
    req.is_supervised = True
    notify.announce("reopened", req, note=reason)
    _commit()
    return event


def remind(req: Request, *, actor: User, note: str = "") -> RequestEvent:
    """催办: staff of this or a higher level nudge whoever holds the request now."""
    event = _act(req, Action.REMIND, actor=actor, version=req.version, note=note, public=False)
    notify.announce("reminded", req, note=note)
    _commit()
    return event


def supervise(req: Request, *, actor: User, key: bool = False, note: str = "", leader: str = "") -> RequestEvent:
    """督办 / 重点督办: flag the request for supervision (key: led by a standing-committee
    leader, the 包案领导 named in `leader`; naming another one later replaces them)."""
    leader = " ".join((leader or "").split())
    if len(leader) > 40:
        raise InvalidInput(_l("At most %(max)d characters.", max=40))
    if leader and not (key or req.is_key_supervision):
        raise InvalidInput(_l("A leader in charge is named only for key supervision."))
    if leader:
        note = "\n".join(filter(None, [str(note or ""), str(_l("Leader in charge: %(name)s", name=leader))]))
    event = _act(req, Action.SUPERVISE, actor=actor, version=req.version, note=note, public=False)
    req.is_supervised = True
    req.is_key_supervision = req.is_key_supervision or key
    if leader:
        req.key_supervision_leader = leader
    notify.announce("supervised", req, note=note)
    _commit()
    return event


# --- handling units --------------------------------------------------------------------


def acknowledge(req: Request, *, actor: User, version: int) -> RequestEvent:
    """签收: the department confirms the matter is theirs and starts work."""
    event = _act(req, Action.ACKNOWLEDGE, actor=actor, version=version)
    _commit()
    return event


def return_request(req: Request, *, actor: User, version: int, reason: str) -> RequestEvent:
    """退回: not this department's matter; back to the claimant to assign again."""
    event = _act(req, Action.RETURN, actor=actor, version=version, note=reason, public=False,
                 deadline=(Deadline.RESPONSE, None))
    req.department_id = None
    req.assigned_at = None
    req.return_count += 1
    notify.announce("returned", req, note=reason)
    _commit()
    return event


def respond(req: Request, *, actor: User, version: int, outcome: Outcome, text: str) -> RequestEvent:
    """答复: what was done, solved or explained with the policy reason."""
    event = _act(req, Action.RESPOND, actor=actor, version=version, note=text)
    req.outcome = outcome
    req.replied_at = utcnow()
    notify.announce("responded", req, note=text)
    _commit()
    return event


def request_extension(req: Request, *, actor: User, version: int, until: date, reason: str) -> RequestEvent:
    """申请延期: once per request; staff decide; the enterprise sees it."""
    if req.due_on is not None and until <= req.due_on:
        raise InvalidInput(_l("The new due date must be later than the current one."))
    event = _act(req, Action.REQUEST_EXTENSION, actor=actor, version=version, note=reason)
    req.extension_due_on = until
    notify.announce("extension_requested", req, note=reason, deadline=until)
    _commit()
    return event


def decide_extension(req: Request, *, actor: User, version: int, approve: bool, note: str = "") -> RequestEvent:
    """延期审批: staff approve (the due date moves) or refuse; either way it was the one extension."""
    event = _act(req, Action.DECIDE_EXTENSION, actor=actor, version=version,
                 note=note or (_l("Extension approved") if approve else _l("Extension refused")),
                 deadline=(Deadline.RESPONSE, req.extension_due_on) if approve else None)
    req.extension_due_on = None
    req.extension_used = True
    _commit()
    return event


# --- the enterprise ----------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneCall:
    """电话回访: staff called the enterprise and took its rating on the phone."""

    called_by: User
    called_at: datetime  # naive UTC, to the minute as typed
    person_reached: str = ""


def rate_request(req: Request, *, version: int, rating: Rating, comment: str = "",
                 by_phone: Optional[PhoneCall] = None) -> RequestEvent:
    """满意度评价. 满意 / 基本满意 close it; 不满意 reopens it to the same claimant and
    department, under supervision, with a new deadline (企业不满意不收兵).

    `by_phone`: a rating staff took in a 电话回访. It counts as the enterprise's own; the
    event's actor is the caller, and a PhoneRating row says when and whom they reached."""
    _check_version(req, version)
    comment = (comment or "").strip()
    actor, actor_user = Actor.ENTERPRISE, None
    if by_phone is not None:
        access.check(by_phone.called_by, Action.RATE, req)
        _check_call_time(req, by_phone.called_at)
        actor, actor_user = access.actor_kind(by_phone.called_by), by_phone.called_by
    if rating is Rating.UNSATISFIED:
        if not comment:
            raise InvalidInput(_l("Please tell us what is still not solved."))
        if req.department_id:
            # Back to the department with a response deadline the trail shows, old -> new.
            event = record_event(req, Action.REOPEN_UNSATISFIED, actor, actor_user=actor_user, note=comment,
                                 deadline=(Deadline.RESPONSE, reopened_response_due_on(req.due_on, today_local())))
        else:
            event = record_event(req, Action.REOPEN_TO_CLAIMANT, actor, actor_user=actor_user, note=comment)
        req.is_supervised = True
        req.outcome = None
        req.replied_at = None
        req.rating_due_on = None
    elif rating in (Rating.SATISFIED, Rating.MOSTLY_SATISFIED):
        event = record_event(req, Action.RATE, actor, actor_user=actor_user, note=comment)
        req.closed_at = utcnow()
    else:
        raise InvalidInput(_l("Please choose a rating."))
    req.rating = rating
    req.rating_comment = comment
    req.rated_by_phone = by_phone is not None
    req.updated_at = utcnow()
    if by_phone is not None:
        db.session.add(PhoneRating(request=req, event=event, called_by=by_phone.called_by,
                                   called_at=by_phone.called_at, person_reached=by_phone.person_reached.strip(),
                                   rating=rating, comment=comment))
    notify.announce("unsatisfied" if rating is Rating.UNSATISFIED else "rated", req, note=comment)
    _commit()
    return event


def _check_call_time(req: Request, called_at: datetime) -> None:
    """A call is recorded after it happened, and after the answer it asks about (both to the
    minute, as the form gives it)."""
    if called_at > utcnow():
        raise InvalidInput(_l("The call cannot be in the future."))
    if req.replied_at is not None and called_at < req.replied_at.replace(second=0, microsecond=0):
        raise InvalidInput(_l("The call cannot be before the answer it asks about."))


def close_unrated(today: Optional[date] = None) -> int:
    """未评价: close requests whose rating period ran out. Counted apart, never as satisfied."""
    today = today or today_local()
    due = db.session.scalars(
        sa.select(Request).where(Request.status == Status.AWAITING_RATING, Request.rating_due_on < today)
    ).all()
    for req in due:
        record_event(req, Action.AUTO_CLOSE, Actor.SYSTEM)
        req.rating = Rating.UNRATED
        req.closed_at = utcnow()
        req.updated_at = utcnow()
    _commit()
    return len(due)


def close_if_unrated(req: Request) -> bool:
    """Apply the rating deadline when a page shows the request, so that it is right
    even where no scheduled job runs."""
    if req.status is Status.AWAITING_RATING and req.rating_due_on and req.rating_due_on < today_local():
        from ..extensions import begin_write

        db.session.commit()  # end the read transaction; the write takes the lock up front
        begin_write()
        close_unrated()
        db.session.refresh(req)
        return True
    return False


# --- helpers -----------------------------------------------------------------------------


def _act(req: Request, action: Action, *, actor: User, version: int, note="", public: bool = True,
         deadline=None) -> RequestEvent:
    _authorise(req, action, actor=actor, version=version)
    return _record(req, action, actor=actor, note=note, public=public, deadline=deadline)


def _authorise(req: Request, action: Action, *, actor: User, version: int) -> None:
    """Before anything changes: this person may do this now, on the version they saw."""
    access.check(actor, action, req)
    _check_version(req, version)


def _record(req: Request, action: Action, *, actor: User, note="", public: bool = True,
            deadline=None) -> RequestEvent:
    event = record_event(req, action, access.actor_kind(actor), actor_user=actor, note=str(note), public=public,
                         deadline=deadline)
    req.updated_at = utcnow()  # a column change, so the UPDATE checks and bumps the version
    return event


def _name(user: User) -> str:
    return user.display_name or user.username


def _back_in_queue(req: Request) -> None:
    """Waiting to be claimed again at the level it is now at."""
    req.claimant_id = None
    req.claimed_at = None
    req.department_id = None
    req.due_on = None
    req.assigned_at = None
    req.outcome = None


def _new_claim_deadline() -> tuple[Deadline, date]:
    """Back in a queue (another level's, or again after reopening): a new 认领期限 from today."""
    return Deadline.CLAIM, claim_due_on(today_local())


def _check_version(req: Request, version: int) -> None:
    if req.version != version:
        raise StaleVersion()


def _commit() -> None:
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise StaleVersion() from None
    notify.deliver_after_commit()
