"""公示: the public summary of a closed request, and its approval for the public board.

A closed request whose enterprise agreed to publication reaches the public board only once
its claimant or the staff of the level that holds it (access.may_write_public_summary) wrote
a summary in two plain parts, the problem and what was done, and approved it.

The board shows the summary with every personal detail removed that the app's one detector
finds (services/retention.py: the contact's name and phone, the enterprise's name, credit
code and address, any phone number, e-mail address, WeChat id or house number). The card
previews exactly that, through the board's own partial. Approval stores the text as
previewed, so the board never needs the request's personal data to show it. While the draft
still holds such details, approval asks for an explicit confirmation: removal is certain
either way, and a person checks that what is left still reads well ("某企业反映…").

Editing an approved summary takes it off the board until it is approved again. Every change
is an internal event on the trail that carries the text as the board would show it, so the
trail never holds more than the preview does.
"""

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Optional

from babel.lists import format_list
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from ..models import Category, Outcome, Rating, Request, RequestEvent, User, utcnow
from ..models.base import StrEnum
from ..workdays import CHINA
from ..workflow import Action, Status
from . import workflow as wf
from .retention import Detail, find_details, known_details, remove_details
from .workflow import InvalidInput

PROBLEM_MAX = 300
RESULT_MAX = 500

# What the board shows in place of a detail: words a reader takes in their stride.
MARKERS = {Detail.CONTACT_NAME: "某某", Detail.ENTERPRISE_NAME: "某企业", Detail.ADDRESS: "某处"}
OTHER_MARKER = "***"

OUTCOME_LABELS = {
    Outcome.SOLVED: _l("Solved"),
    Outcome.EXPLAINED: _l("Explained: cannot be solved under current policy"),
}


# --- the text ---------------------------------------------------------------------------------------


def compose(problem: str, result: str) -> str:
    """The stored summary: the problem on the first line, what was done on the second."""
    return f"{_one_line(problem)}\n{_one_line(result)}"


def parts(summary: str) -> tuple[str, str]:
    """(problem, what was done) of a stored summary; a summary of one line is all problem."""
    problem, _, result = (summary or "").partition("\n")
    return problem.strip(), result.strip()


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def details_in(req: Request, text: str) -> list[Detail]:
    """The kinds of personal detail the text still holds, in a fixed order."""
    kinds = {found.kind for found in find_details(text, known_details(req))}
    return [kind for kind in Detail if kind in kinds]


def for_the_board(req: Request, text: str) -> str:
    """The text with every personal detail the detector finds replaced."""
    found = find_details(text, known_details(req))
    return remove_details(text, found, lambda kind: MARKERS.get(kind, OTHER_MARKER))


def details_text(kinds: list[Detail]) -> str:
    """手机号、企业名称和地址 (in the page's language)."""
    return format_list([str(kind.label) for kind in kinds], locale=get_locale() or "zh_Hans_CN")


# --- what the board shows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicItem:
    """One line of the public board: nothing in it can identify the enterprise or a person."""

    request_id: int
    category: Category
    summary: str  # approved, details removed: "problem\nwhat was done"
    department: Optional[str]
    outcome: Outcome
    rating: Optional[Rating]
    days_taken: int

    @property
    def problem(self) -> str:
        return parts(self.summary)[0]

    @property
    def result(self) -> str:
        return parts(self.summary)[1]

    @property
    def outcome_label(self):
        return OUTCOME_LABELS[self.outcome]


def days_between(start: datetime, end: datetime) -> int:
    """Calendar days in China from filing to closing (0: closed the day it was filed)."""
    return (_local_day(end) - _local_day(start)).days


def _local_day(moment: datetime) -> date:
    return moment.replace(tzinfo=timezone.utc).astimezone(CHINA).date()


class PublicationState(StrEnum):
    NOT_PUBLISHED = "not_published"  # the enterprise did not agree, or nothing to publish
    TO_WRITE = "to_write"  # 待撰写公示摘要
    TO_APPROVE = "to_approve"  # 待审核
    PUBLISHED = "published"  # 已公示

    @property
    def label(self):
        return PUBLICATION_LABELS[self]


PUBLICATION_LABELS = {
    PublicationState.NOT_PUBLISHED: _l("Not published"),
    PublicationState.TO_WRITE: _l("Public summary to write"),
    PublicationState.TO_APPROVE: _l("Public summary to approve"),
    PublicationState.PUBLISHED: _l("On the public board"),
}


def state_of(req: Request) -> PublicationState:
    if not (req.public_consent and req.status is Status.CLOSED and req.outcome is not None):
        return PublicationState.NOT_PUBLISHED
    if req.public_summary_approved_at is not None:
        return PublicationState.PUBLISHED
    return PublicationState.TO_APPROVE if req.public_summary else PublicationState.TO_WRITE


@dataclass(frozen=True)
class Preview:
    """The summary as the board would show it, and what the detector removed from it."""

    item: PublicItem
    removed: list[Detail]

    @property
    def details(self) -> str:
        return details_text(self.removed)


def preview(req: Request) -> Optional[Preview]:
    """What the board shows of the request's summary (None: nothing written yet)."""
    if not req.public_summary or req.outcome is None or req.closed_at is None:
        return None
    item = PublicItem(req.id, req.category, for_the_board(req, req.public_summary),
                      req.department.name if req.department else None, req.outcome, req.rating,
                      days_between(req.created_at, req.closed_at))
    return Preview(item, details_in(req, req.public_summary))


# --- changes ------------------------------------------------------------------------------------------


def save_public_summary(req: Request, *, actor: User, version: int, problem: str,
                        result: str) -> Optional[RequestEvent]:
    """撰写公示摘要: the problem and what was done, in plain words. Saving an approved summary
    with other words takes it off the board until it is approved again. The same words
    saved again change nothing (None)."""
    problem, result = _one_line(problem), _one_line(result)
    if not problem or not result:
        raise InvalidInput(_l("Please write both the problem and what was done."))
    if len(problem) > PROBLEM_MAX or len(result) > RESULT_MAX:
        raise InvalidInput(_l("The problem takes at most %(problem)d characters and what was done %(result)d.",
                              problem=PROBLEM_MAX, result=RESULT_MAX))
    wf._authorise(req, Action.WRITE_PUBLIC_SUMMARY, actor=actor, version=version)
    text = compose(problem, result)
    if text == req.public_summary:
        return None
    if req.public_summary_approved_at is not None:
        wf._record(req, Action.WITHDRAW_PUBLIC_SUMMARY, actor=actor, public=False)
        _unapprove(req)
    req.public_summary = text
    event = wf._record(req, Action.WRITE_PUBLIC_SUMMARY, actor=actor, note=for_the_board(req, text), public=False)
    wf._commit()
    return event


def approve_public_summary(req: Request, *, actor: User, version: int, confirmed: bool = False) -> RequestEvent:
    """审核公示: the summary goes on the public board as previewed, personal details removed.
    While the draft still holds any, `confirmed` says the approver saw them removed."""
    wf._authorise(req, Action.APPROVE_PUBLIC_SUMMARY, actor=actor, version=version)
    problem, result = parts(req.public_summary)
    if not problem or not result:
        raise InvalidInput(_l("Please write both the problem and what was done."))
    found = details_in(req, req.public_summary)
    if found and not confirmed:
        raise InvalidInput(_l("The summary still contains: %(details)s. Reword it, or confirm that the board "
                              "shows it with them removed, as previewed.", details=details_text(found)))
    req.public_summary = for_the_board(req, req.public_summary)
    req.public_summary_approved_at = utcnow()
    req.public_summary_approved_by = actor
    event = wf._record(req, Action.APPROVE_PUBLIC_SUMMARY, actor=actor, note=req.public_summary, public=False)
    wf._commit()
    return event


def withdraw_public_summary(req: Request, *, actor: User, version: int, note: str = "") -> RequestEvent:
    """撤下: off the public board; the summary stays, to be edited and approved again."""
    wf._authorise(req, Action.WITHDRAW_PUBLIC_SUMMARY, actor=actor, version=version)
    _unapprove(req)
    event = wf._record(req, Action.WITHDRAW_PUBLIC_SUMMARY, actor=actor, note=note, public=False)
    wf._commit()
    return event


def _unapprove(req: Request) -> None:
    req.public_summary_approved_at = None
    req.public_summary_approved_by = None
