"""The request state machine: statuses, actions and the transition table.

Pure domain logic: no database, no Flask. Services ask `next_status()` before
they change anything, and every change they make is written as an event.
Who in particular may act (the addressed deputy, staff of the holding
jurisdiction, ...) is decided by the access rules; this table only knows the
kinds of actor.
"""

from dataclasses import dataclass
from enum import StrEnum

from flask_babel import lazy_gettext as _l



class Status(StrEnum):
    SUBMITTED = "submitted"  # 待受理
    CLAIMED = "claimed"  # 已认领
    ASSIGNED = "assigned"  # 待签收
    IN_PROGRESS = "in_progress"  # 办理中
    REPLIED = "replied"  # 待审核
    AWAITING_RATING = "awaiting_rating"  # 待评价
    CLOSED = "closed"  # 已办结
    WITHDRAWN = "withdrawn"  # 已撤回

    @property
    def label(self):
        return STATUS_LABELS[self]

    @property
    def public_label(self):
        """The status as the enterprise reads it on the tracking page."""
        return PUBLIC_STATUS_LABELS[self]

    @property
    def is_final(self) -> bool:
        return self in (Status.CLOSED, Status.WITHDRAWN)


STATUS_LABELS = {
    Status.SUBMITTED: _l("Awaiting acceptance"),
    Status.CLAIMED: _l("Claimed"),
    Status.ASSIGNED: _l("Awaiting acknowledgement"),
    Status.IN_PROGRESS: _l("In progress"),
    Status.REPLIED: _l("Awaiting review"),
    Status.AWAITING_RATING: _l("Awaiting rating"),
    Status.CLOSED: _l("Closed"),
    Status.WITHDRAWN: _l("Withdrawn"),
}

PUBLIC_STATUS_LABELS = {
    Status.SUBMITTED: _l("Received, waiting for a deputy to take it up"),
    Status.CLAIMED: _l("A deputy has taken it up"),
    Status.ASSIGNED: _l("Handed to the responsible department"),
    Status.IN_PROGRESS: _l("The department is working on it"),
    Status.REPLIED: _l("Answered, being checked by the deputy"),
    Status.AWAITING_RATING: _l("Answered: please rate the result"),
    Status.CLOSED: _l("Closed"),
    Status.WITHDRAWN: _l("Withdrawn by you"),
}


class Actor(StrEnum):
    """Kinds of actor; the access rules decide which person is which."""

    ENTERPRISE = "enterprise"  # holder of the tracking token
    DEPUTY = "deputy"
    STAFF = "staff"
    UNIT = "unit"
    SYSTEM = "system"


class Action(StrEnum):
    FILE = "file"
    ADD_INFO = "add_info"
    WITHDRAW = "withdraw"
    CLAIM = "claim"
    REJECT = "reject"
    RELEASE = "release"
    ANSWER = "answer"
    ASSIGN = "assign"
    ESCALATE = "escalate"
    SEND_DOWN = "send_down"
    ACKNOWLEDGE = "acknowledge"
    RETURN = "return"
    RESPOND = "respond"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    ACCEPT = "accept"
    SEND_BACK = "send_back"
    RATE = "rate"
    REOPEN_UNSATISFIED = "reopen_unsatisfied"  # back to the department
    REOPEN_TO_CLAIMANT = "reopen_to_claimant"  # the deputy had answered directly
    AUTO_CLOSE = "auto_close"
    REOPEN = "reopen"
    REMIND = "remind"
    SUPERVISE = "supervise"
    MERGE_INTO_CASE = "merge_into_case"  # 并案
    LEAVE_CASE = "leave_case"
    MARK_TYPICAL = "mark_typical"  # 典型案例
    UNMARK_TYPICAL = "unmark_typical"
    ANONYMISE = "anonymise"  # contact details removed after the retention period (services/retention.py)
    # 公示: the summary the public board shows of a closed request (services/publication.py)
    WRITE_PUBLIC_SUMMARY = "write_public_summary"
    APPROVE_PUBLIC_SUMMARY = "approve_public_summary"
    WITHDRAW_PUBLIC_SUMMARY = "withdraw_public_summary"


ACTION_LABELS = {
    Action.FILE: _l("Filed"),
    Action.ADD_INFO: _l("The enterprise added information"),
    Action.WITHDRAW: _l("Withdrawn by the enterprise"),
    Action.CLAIM: _l("Claimed by a deputy"),
    Action.REJECT: _l("Not accepted"),
    Action.RELEASE: _l("Claim released"),
    Action.ANSWER: _l("Answered by the deputy"),
    Action.ASSIGN: _l("Assigned to a department"),
    Action.ESCALATE: _l("Escalated to the level above"),
    Action.SEND_DOWN: _l("Sent back to the level below"),
    Action.ACKNOWLEDGE: _l("Acknowledged by the department"),
    Action.RETURN: _l("Returned by the department"),
    Action.RESPOND: _l("The department responded"),
    Action.REQUEST_EXTENSION: _l("Extension requested"),
    Action.DECIDE_EXTENSION: _l("Extension decided"),
    Action.ACCEPT: _l("Answer accepted"),
    Action.SEND_BACK: _l("Sent back for more work"),
    Action.RATE: _l("Rated by the enterprise"),
    Action.REOPEN_UNSATISFIED: _l("Reopened: the enterprise was not satisfied"),
    Action.REOPEN_TO_CLAIMANT: _l("Reopened: the enterprise was not satisfied"),
    Action.AUTO_CLOSE: _l("Closed without a rating"),
    Action.REOPEN: _l("Reopened"),
    Action.REMIND: _l("Reminder sent"),
    Action.SUPERVISE: _l("Placed under supervision"),
    Action.MERGE_INTO_CASE: _l("Merged into a case"),
    Action.LEAVE_CASE: _l("Taken out of its case"),
    Action.MARK_TYPICAL: _l("Marked as a typical case"),
    Action.UNMARK_TYPICAL: _l("No longer a typical case"),
    Action.ANONYMISE: _l("Contact details deleted after the retention period"),
    Action.WRITE_PUBLIC_SUMMARY: _l("Public summary written"),
    Action.APPROVE_PUBLIC_SUMMARY: _l("Public summary approved for the public board"),
    Action.WITHDRAW_PUBLIC_SUMMARY: _l("Public summary taken off the public board"),
}

ACTOR_LABELS = {
    Actor.ENTERPRISE: _l("Enterprise"),
    Actor.DEPUTY: _l("Deputy"),
    Actor.STAFF: _l("Liaison staff"),
    Actor.UNIT: _l("Handling unit"),
    Actor.SYSTEM: _l("System"),
}


@dataclass(frozen=True)
class Transition:
    to: Status | None  # None: the status does not change (a note, a flag)
    actors: frozenset[Actor]


def _t(to, *actors):
    return Transition(to, frozenset(actors))


_HANDLERS = (Actor.DEPUTY, Actor.STAFF)
_OPEN = (Status.SUBMITTED, Status.CLAIMED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REPLIED, Status.AWAITING_RATING)

TRANSITIONS: dict[tuple[Status | None, Action], Transition] = {
    (None, Action.FILE): _t(Status.SUBMITTED, Actor.ENTERPRISE, *_HANDLERS),
    (Status.SUBMITTED, Action.WITHDRAW): _t(Status.WITHDRAWN, Actor.ENTERPRISE),
    (Status.SUBMITTED, Action.CLAIM): _t(Status.CLAIMED, *_HANDLERS),
    (Status.SUBMITTED, Action.REJECT): _t(Status.CLOSED, *_HANDLERS),
    (Status.SUBMITTED, Action.SEND_DOWN): _t(Status.SUBMITTED, *_HANDLERS),
    (Status.CLAIMED, Action.ANSWER): _t(Status.REPLIED, *_HANDLERS),
    (Status.CLAIMED, Action.ASSIGN): _t(Status.ASSIGNED, *_HANDLERS),
    (Status.CLAIMED, Action.ESCALATE): _t(Status.SUBMITTED, *_HANDLERS),
    (Status.CLAIMED, Action.RELEASE): _t(Status.SUBMITTED, *_HANDLERS),
    (Status.ASSIGNED, Action.ACKNOWLEDGE): _t(Status.IN_PROGRESS, Actor.UNIT),
    (Status.ASSIGNED, Action.RETURN): _t(Status.CLAIMED, Actor.UNIT),
    (Status.IN_PROGRESS, Action.RESPOND): _t(Status.REPLIED, Actor.UNIT),
    (Status.IN_PROGRESS, Action.REQUEST_EXTENSION): _t(None, Actor.UNIT),
    (Status.IN_PROGRESS, Action.DECIDE_EXTENSION): _t(None, Actor.STAFF),
    (Status.REPLIED, Action.ACCEPT): _t(Status.AWAITING_RATING, *_HANDLERS),
    (Status.REPLIED, Action.SEND_BACK): _t(Status.IN_PROGRESS, *_HANDLERS),
    # The enterprise rates on its tracking page; staff record a rating it gave by phone (电话回访).
    (Status.AWAITING_RATING, Action.RATE): _t(Status.CLOSED, Actor.ENTERPRISE, Actor.STAFF),
    (Status.AWAITING_RATING, Action.REOPEN_UNSATISFIED): _t(Status.IN_PROGRESS, Actor.ENTERPRISE, Actor.STAFF),
    (Status.AWAITING_RATING, Action.REOPEN_TO_CLAIMANT): _t(Status.CLAIMED, Actor.ENTERPRISE, Actor.STAFF),
    (Status.AWAITING_RATING, Action.AUTO_CLOSE): _t(Status.CLOSED, Actor.SYSTEM),
    (Status.CLOSED, Action.REOPEN): _t(Status.SUBMITTED, Actor.STAFF),
    (Status.WITHDRAWN, Action.REOPEN): _t(Status.SUBMITTED, Actor.STAFF),
}
# The enterprise may add information, and staff may remind, at any open status.
for _status in _OPEN:
    TRANSITIONS[(_status, Action.ADD_INFO)] = _t(None, Actor.ENTERPRISE)
    TRANSITIONS[(_status, Action.REMIND)] = _t(None, Actor.STAFF)
    TRANSITIONS[(_status, Action.SUPERVISE)] = _t(None, Actor.STAFF)
    # 并案: only open requests join a case; each keeps its own answer and rating.
    TRANSITIONS[(_status, Action.MERGE_INTO_CASE)] = _t(None, Actor.STAFF)
# A request may leave its case, and lose its typical-case mark (it may have been reopened), at any status.
for _status in Status:
    TRANSITIONS[(_status, Action.LEAVE_CASE)] = _t(None, Actor.STAFF)
    TRANSITIONS[(_status, Action.UNMARK_TYPICAL)] = _t(None, Actor.STAFF)
# 典型案例: written up once closed (solved: the service checks the outcome).
TRANSITIONS[(Status.CLOSED, Action.MARK_TYPICAL)] = _t(None, Actor.STAFF)
# 个人信息保护: the contact details of a request closed long ago are anonymised by the system.
TRANSITIONS[(Status.CLOSED, Action.ANONYMISE)] = _t(None, Actor.SYSTEM)
TRANSITIONS[(Status.WITHDRAWN, Action.ANONYMISE)] = _t(None, Actor.SYSTEM)
# 公示: the public summary of a closed request is written, approved and taken off by its handlers.
for _action in (Action.WRITE_PUBLIC_SUMMARY, Action.APPROVE_PUBLIC_SUMMARY, Action.WITHDRAW_PUBLIC_SUMMARY):
    TRANSITIONS[(Status.CLOSED, _action)] = _t(None, *_HANDLERS)


class WorkflowError(Exception):
    """A domain error: nothing was changed. `http_status` is what a view answers."""

    http_status = 409

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class InvalidTransition(WorkflowError):
    http_status = 409


class ForbiddenActor(WorkflowError):
    http_status = 403


def next_status(current: Status | None, action: Action, actor: Actor) -> Status:
    """The status after `actor` does `action` on a request in `current`.

    Raises InvalidTransition when the action makes no sense in that status and
    ForbiddenActor when this kind of actor may not do it. A `None` target in the
    table means the status stays as it is.
    """
    transition = TRANSITIONS.get((current, action))
    if transition is None:
        raise InvalidTransition(_l("This action is not possible while the request is: %(status)s",
                                   status=current.label if current else "-"))
    if actor not in transition.actors:
        raise ForbiddenActor(_l("You may not do this."))
    return current if transition.to is None else transition.to


def allowed_actions(current: Status, actor: Actor) -> list[Action]:
    return [action for (status, action), t in TRANSITIONS.items() if status == current and actor in t.actors]
