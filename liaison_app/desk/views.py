"""Desk views: the inbox, the department home, the request card and its actions."""

from dataclasses import dataclass
from typing import Callable

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectChoice

from .. import access, logs
from ..extensions import db
from ..models import Attachment, Category, Department, Outcome, Rating, Request, Role
from ..services import publication
from ..services import workflow as wf
from ..services.photos import send_photo
from ..templating import is_htmx, redirect_after_post
from ..workdays import response_due_on, today_local, utc_from_local
from ..workflow import Action, Status, WorkflowError
from . import bp
from .forms import (
    AnswerForm,
    ApproveSummaryForm,
    AssignForm,
    DecideExtensionForm,
    ExtensionForm,
    NoteForm,
    PhoneRatingForm,
    PublicSummaryForm,
    ReasonForm,
    SuperviseForm,
    VersionForm,
)
from .queries import Filters, inbox_page


@bp.get("/")
def inbox():
    if current_user.role is Role.UNIT:
        return redirect(url_for(".unit_home", **request.args))
    return _render_inbox("desk/inbox.html")


@bp.get("/unit")
def unit_home():
    if current_user.role is not Role.UNIT:
        return redirect(url_for(".inbox"))
    return _render_inbox("desk/unit_home.html")


def _render_inbox(template):
    page = inbox_page(current_user, request.args.get("tab"), Filters.from_args(request.args),
                      request.args.get("before", type=int))
    context = dict(page=page, filters=Filters.from_args(request.args), statuses=list(Status),
                   categories=list(Category), today=today_local(), may_see_contact=access.may_see_contact)
    if is_htmx():  # the poll's answer also refreshes the header's 消息 badge (out of band)
        return (render_template("desk/_inbox_list.html", **context)
                + render_template("desk/_messages_link.html", oob=True))
    return render_template(template, **context)


# --- the request card --------------------------------------------------------------------


@bp.get("/requests/<int:request_id>")
def request_card(request_id):
    req = access.get_request_or_404(current_user, request_id)
    wf.close_if_unrated(req)
    return _render_card(req)


@bp.get("/requests/<int:request_id>/photos/<int:attachment_id>")
def request_photo(request_id, attachment_id):
    req = access.get_request_or_404(current_user, request_id)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.request_id != req.id:
        abort(404)
    return send_photo(attachment.stored_name, attachment.content_type, f"{req.reference}-{attachment.id}",
                      max_age=0)


@dataclass(frozen=True)
class ActionSpec:
    action: Action
    form: type
    perform: Callable  # (req, user, form) -> event
    done: object  # the (lazy) message shown after success


def _outcome(form):
    return Outcome(form.outcome.data)


def _rate_by_phone(req, user, form):
    call = wf.PhoneCall(called_by=user, called_at=utc_from_local(form.called_at.data),
                        person_reached=form.person_reached.data or "")
    return wf.rate_request(req, version=form.version.data, rating=Rating(form.rating.data),
                           comment=form.comment.data or "", by_phone=call)


ACTIONS: dict[str, ActionSpec] = {
    "claim": ActionSpec(Action.CLAIM, VersionForm, lambda r, u, f: wf.claim_request(r, actor=u), _l("Claimed.")),
    "reject": ActionSpec(Action.REJECT, ReasonForm,
                         lambda r, u, f: wf.reject_request(r, actor=u, version=f.version.data, reason=f.reason.data),
                         _l("Not accepted; the enterprise sees the reason.")),
    "release": ActionSpec(Action.RELEASE, NoteForm,
                          lambda r, u, f: wf.release_claim(r, actor=u, version=f.version.data, note=f.note.data),
                          _l("Released back to the queue.")),
    "answer": ActionSpec(Action.ANSWER, AnswerForm,
                         lambda r, u, f: wf.answer_request(r, actor=u, version=f.version.data, outcome=_outcome(f),
                                                           text=f.text.data), _l("Answer recorded.")),
    "assign": ActionSpec(Action.ASSIGN, AssignForm,
                         lambda r, u, f: wf.assign_request(r, actor=u, version=f.version.data,
                                                           department=db.session.get(Department, f.department.data),
                                                           due_on=f.due_on.data, note=f.note.data),
                         _l("Assigned.")),
    "escalate": ActionSpec(Action.ESCALATE, ReasonForm,
                           lambda r, u, f: wf.escalate_request(r, actor=u, version=f.version.data, reason=f.reason.data),
                           _l("Escalated to the level above.")),
    "send_down": ActionSpec(Action.SEND_DOWN, ReasonForm,
                            lambda r, u, f: wf.send_down(r, actor=u, version=f.version.data, reason=f.reason.data),
                            _l("Sent back to the level below.")),
    "acknowledge": ActionSpec(Action.ACKNOWLEDGE, VersionForm,
                              lambda r, u, f: wf.acknowledge(r, actor=u, version=f.version.data), _l("Acknowledged.")),
    "return": ActionSpec(Action.RETURN, ReasonForm,
                         lambda r, u, f: wf.return_request(r, actor=u, version=f.version.data, reason=f.reason.data),
                         _l("Returned.")),
    "respond": ActionSpec(Action.RESPOND, AnswerForm,
                          lambda r, u, f: wf.respond(r, actor=u, version=f.version.data, outcome=_outcome(f),
                                                     text=f.text.data), _l("Response sent.")),
    "extension": ActionSpec(Action.REQUEST_EXTENSION, ExtensionForm,
                            lambda r, u, f: wf.request_extension(r, actor=u, version=f.version.data,
                                                                 until=f.until.data, reason=f.reason.data),
                            _l("Extension requested.")),
    "decide_extension": ActionSpec(Action.DECIDE_EXTENSION, DecideExtensionForm,
                                   lambda r, u, f: wf.decide_extension(r, actor=u, version=f.version.data,
                                                                       approve=f.decision.data == "approve",
                                                                       note=f.note.data), _l("Decision recorded.")),
    "accept": ActionSpec(Action.ACCEPT, NoteForm,
                         lambda r, u, f: wf.accept_answer(r, actor=u, version=f.version.data, note=f.note.data),
                         _l("Accepted; the enterprise is asked to rate it.")),
    "send_back": ActionSpec(Action.SEND_BACK, ReasonForm,
                            lambda r, u, f: wf.send_back(r, actor=u, version=f.version.data, reason=f.reason.data),
                            _l("Sent back for more work.")),
    # 电话回访: the enterprise's rating, taken by phone; it counts as the enterprise's own.
    "phone_rating": ActionSpec(Action.RATE, PhoneRatingForm, _rate_by_phone, _l("Phone return visit recorded.")),
    "reopen": ActionSpec(Action.REOPEN, ReasonForm,
                         lambda r, u, f: wf.reopen_request(r, actor=u, version=f.version.data, reason=f.reason.data),
                         _l("Reopened.")),
    "remind": ActionSpec(Action.REMIND, NoteForm, lambda r, u, f: wf.remind(r, actor=u, note=f.note.data),
                         _l("Reminder sent.")),
    "supervise": ActionSpec(Action.SUPERVISE, SuperviseForm,
                            lambda r, u, f: wf.supervise(r, actor=u, key=f.key.data, note=f.note.data,
                                                         leader=f.leader.data or ""),
                            _l("Placed under supervision.")),
    # 公示: the public summary has a section of its own on the card (PUBLICATION_ACTIONS).
    "public_summary": ActionSpec(Action.WRITE_PUBLIC_SUMMARY, PublicSummaryForm,
                                 lambda r, u, f: publication.save_public_summary(
                                     r, actor=u, version=f.version.data, problem=f.problem.data,
                                     result=f.result.data),
                                 _l("Public summary saved. Check the preview, then approve it.")),
    "approve_summary": ActionSpec(Action.APPROVE_PUBLIC_SUMMARY, ApproveSummaryForm,
                                  lambda r, u, f: publication.approve_public_summary(
                                      r, actor=u, version=f.version.data, confirmed=f.confirm.data),
                                  _l("Approved: the summary is on the public board.")),
    "withdraw_summary": ActionSpec(Action.WITHDRAW_PUBLIC_SUMMARY, NoteForm,
                                   lambda r, u, f: publication.withdraw_public_summary(
                                       r, actor=u, version=f.version.data, note=f.note.data),
                                   _l("Taken off the public board.")),
}
BUTTONS = {
    "claim": _l("Claim"),
    "reject": _l("Do not accept"),
    "release": _l("Release the claim"),
    "answer": _l("Answer directly"),
    "assign": _l("Assign to a department"),
    "escalate": _l("Escalate to the level above"),
    "send_down": _l("Send back down"),
    "acknowledge": _l("Acknowledge"),
    "return": _l("Return: not our matter"),
    "respond": _l("Respond"),
    "extension": _l("Ask for an extension"),
    "decide_extension": _l("Decide on the extension"),
    "accept": _l("Accept the answer"),
    "send_back": _l("Send back for more work"),
    "phone_rating": _l("Record a phone return visit"),
    "reopen": _l("Reopen"),
    "remind": _l("Remind"),
    "supervise": _l("Supervise"),
    "public_summary": _l("Save and preview"),
    "approve_summary": _l("Approve for the public board"),
    "withdraw_summary": _l("Take it off the public board"),
}
PUBLICATION_ACTIONS = ("public_summary", "approve_summary", "withdraw_summary")
ACTION_NAMES = {spec.action: name for name, spec in ACTIONS.items()}


def _make_action_view(name: str, spec: ActionSpec):
    def view(request_id):
        req = access.get_request_or_404(current_user, request_id)
        if spec.action is Action.CLAIM and req.claimant_id == current_user.id and req.status is Status.CLAIMED:
            # The same claim sent twice (a double tap without JavaScript): the first post
            # claimed it, so the second is answered as the first was, not with a refusal.
            if not is_htmx():
                return redirect(url_for(".request_card", request_id=req.id, done=name), 303)
            return _render_card(req, notice=spec.done)
        try:
            # Refuse before looking at the form; a claim says who won the race instead.
            if spec.action is Action.CLAIM:
                wf.check_claimable(req, actor=current_user)
            else:
                access.check(current_user, spec.action, req)
        except WorkflowError as error:
            return _render_card(req, problem=error.message, status=error.http_status)
        form = _bind(spec.form(prefix=name), req)
        if not form.validate():
            return _render_card(req, forms={name: form}, open_action=name, status=422)
        try:
            spec.perform(req, current_user, form)
        except WorkflowError as error:
            db.session.rollback()
            fresh = access.get_request_or_404(current_user, request_id)
            keep = {name: form} if error.http_status == 422 else {}
            return _render_card(fresh, forms=keep, open_action=name if keep else None,
                                problem=error.message, status=error.http_status)
        db.session.expire_all()
        done = db.session.scalar(access.visible_requests(current_user).where(Request.id == request_id))
        if done is None:
            # The step took it out of this user's view (staff escalating it above their own
            # level): back to the inbox saying it was done, not a 404 for a step that worked.
            flash(str(spec.done), "success")
            return redirect_after_post(url_for(".inbox"))
        if not is_htmx():
            return redirect(url_for(".request_card", request_id=req.id, done=name), 303)
        return _render_card(done, notice=spec.done)

    view.__name__ = f"request_{name}"
    return view


for _name, _spec in ACTIONS.items():
    bp.add_url_rule(f"/requests/<int:request_id>/{_name}", endpoint=f"request_{_name}",
                    view_func=_make_action_view(_name, _spec), methods=["POST"])


def _bind(form, req):
    """Fill the choices that depend on the request (the departments of its level)."""
    if isinstance(form, AssignForm):
        departments = db.session.scalars(
            db.select(Department).where(Department.jurisdiction_id == req.jurisdiction_id, Department.active)
            .order_by(Department.name)
        ).all()
        form.department.choices = [SelectChoice(d.id, d.name) for d in departments]
        if form.due_on.raw_data is None:  # not submitted: propose the standard deadline
            form.due_on.data = response_due_on(today_local())
    if isinstance(form, PublicSummaryForm) and form.problem.raw_data is None:  # not submitted: the draft
        form.problem.data, form.result.data = publication.parts(req.public_summary)
    return form


def _render_card(req, *, forms=None, open_action=None, problem=None, notice=None, status=200):
    allowed = access.allowed(current_user, req)
    action_forms = {}
    for action in allowed:
        name = ACTION_NAMES[action]
        form = (forms or {}).get(name) or _bind(ACTIONS[name].form(formdata=None, prefix=name), req)
        action_forms[name] = form
    publication_forms = {name: action_forms.pop(name) for name in PUBLICATION_ACTIONS if name in action_forms}
    done = request.args.get("done")
    if notice is None and done in ACTIONS:
        notice = ACTIONS[done].done
    show_contact = access.may_see_contact(current_user, req)
    if show_contact and req.contact_phone and current_user.role in (Role.STAFF, Role.ADMIN):
        logs.contact_shown(req, current_user)
    context = dict(
        req=req,
        action_forms=action_forms,
        action_buttons=BUTTONS,
        open_action=open_action,
        problem=problem,
        notice=notice,
        show_contact=show_contact,
        came_from=access.came_from(req),
        today=today_local(),
        publication_forms=publication_forms,
        publication_state=publication.state_of(req),
        summary_preview=publication.preview(req),
    )
    template = "desk/_request_card.html" if is_htmx() else "desk/request.html"
    return render_template(template, **context), status
