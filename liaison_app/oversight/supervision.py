"""Supervision (督办): overdue items per level with one-tap reminders (催办), the key
supervision register (重点督办), cases (并案) and typical cases (典型案例).

Views load (or 404 outside the user's scope), validate, call one service, and answer
htmx with the changed fragment and everything else with a 303."""

from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional as OptionalValue

from .. import access
from ..admin import scope
from ..desk.forms import VersionForm, _strip, _text
from ..extensions import db
from ..models import Department, Jurisdiction, Request, RequestCase, Role
from ..services import supervision as service
from ..services import workflow as wf
from ..services.supervision import OverdueKind
from ..templating import is_htmx, redirect_after_post
from ..workdays import today_local
from ..workflow import Action, WorkflowError
from . import add_menu_entry, bp

add_menu_entry("oversight.overdue", _l("Overdue items"))
add_menu_entry("oversight.key_supervision", _l("Key supervision register"))
add_menu_entry("oversight.cases", _l("Merged cases"))
add_menu_entry("oversight.typical_cases", _l("Typical cases"))

TEMPLATES = "oversight/supervision/"


class _Form(FlaskForm):
    """CSRFProtect checks every POST app-wide; the templates carry the token."""

    class Meta:
        csrf = False


class ReferencesForm(_Form):
    references = _text(_l("Reference numbers"), required=True, max_length=4000)


class CaseForm(ReferencesForm):
    title = StringField(_l("Title: the shared problem"), filters=[_strip], validators=[
        DataRequired(_l("Please fill this in.")),
        Length(max=service.CASE_TITLE_MAX, message=_l("At most %(max)d characters."))])
    note = _text(_l("Note (optional)"), required=False, max_length=2000)


class CaseAssignForm(_Form):
    department = SelectField(_l("Handling unit"), coerce=int, validate_choice=True,
                             validators=[InputRequired(_l("Please choose a department."))])
    due_on = DateField(_l("Response deadline (optional)"), validators=[OptionalValue()])
    note = _text(_l("Note to the department (optional)"), required=False, max_length=1000)


class CaseRemoveForm(_Form):
    request_id = IntegerField(validators=[InputRequired()])


class TypicalForm(VersionForm):
    note = _text(_l("A short account of the case"), required=True, max_length=service.TYPICAL_NOTE_MAX)


@dataclass(frozen=True)
class CardSupervision:
    """What the desk's request card shows of supervision to the current user."""

    may_mark_typical: bool
    may_unmark_typical: bool
    case_url: Optional[str]  # for those who may open the case's page


@bp.app_template_global()
def supervision_on_card(req: Request) -> CardSupervision:
    user = current_user
    staff = user.is_authenticated and user.role in (Role.ADMIN, Role.STAFF)
    case_url = None
    if staff and req.case is not None and scope.in_scope(user, req.case.jurisdiction_id):
        case_url = url_for("oversight.case_page", case_id=req.case.id)
    return CardSupervision(
        may_mark_typical=staff and service.may_mark_typical(user, req),
        may_unmark_typical=staff and req.is_typical_case and service.may(user, Action.UNMARK_TYPICAL, req),
        case_url=case_url,
    )


def _request_or_404(request_id: int) -> Request:
    query = access.visible_requests(current_user).where(Request.id == request_id)
    req = db.session.scalar(scope.limit_to_scope(current_user, query, Request.jurisdiction_id))
    if req is None:
        abort(404)
    return req


def _case_or_404(case_id: int) -> RequestCase:
    case = db.session.get(RequestCase, case_id)
    if case is None or not scope.in_scope(current_user, case.jurisdiction_id):
        abort(404)
    return case


def _flash_result(result: service.BatchResult, done_message: str) -> None:
    flash(done_message, "success" if result.done else "warning")
    for skipped in result.skipped:
        flash(f"{skipped.reference}: {skipped.reason}", "warning")


# --- overdue items and reminders ---------------------------------------------------------------


@bp.get("/overdue")
def overdue():
    """?jurisdiction= narrows the board to a jurisdiction and below (in scope, else 404);
    ?start= pages through the levels."""
    chosen = request.args.get("jurisdiction", type=int)
    jurisdiction = scope.get_in_scope_or_404(current_user, Jurisdiction, chosen) if chosen is not None else None
    board = service.overdue_levels(current_user, jurisdiction_id=chosen, start=request.args.get("start", 0, type=int))
    return render_template(TEMPLATES + "overdue.html", board=board, jurisdiction=jurisdiction,
                           kinds=list(OverdueKind), today=today_local())


@bp.get("/overdue/levels/<int:jurisdiction_id>")
def overdue_level(jurisdiction_id):
    """Everything at one level late in one way (?kind=), a page at a time (?after=)."""
    jurisdiction = scope.get_in_scope_or_404(current_user, Jurisdiction, jurisdiction_id)
    kind = _overdue_kind(request.args.get("kind"))
    found = service.overdue_list(jurisdiction, kind, after=request.args.get("after", type=int))
    return render_template(TEMPLATES + "overdue_level.html", found=found, kind=kind, today=today_local())


@bp.post("/requests/<int:request_id>/remind")
def request_remind(request_id):
    """催办 in one tap: htmx swaps the row to show it was sent; without JS, back to the page."""
    req = _request_or_404(request_id)
    kind = _overdue_kind(request.form.get("kind"))  # which row of the board to show again
    try:
        wf.remind(req, actor=current_user)
    except WorkflowError as error:
        db.session.rollback()
        if not is_htmx():
            flash(error.message, "error")
            return redirect(url_for(".overdue"), 303)
        return _render_row(req, kind, problem=error.message), error.http_status
    if not is_htmx():
        flash(_("Reminder sent: %(reference)s", reference=req.reference), "success")
        return redirect(url_for(".overdue"), 303)
    return _render_row(req, kind, just_reminded=True)


def _overdue_kind(value: Optional[str]) -> OverdueKind:
    try:
        return OverdueKind(value)
    except ValueError:
        return OverdueKind.CLAIM


def _render_row(req: Request, kind: OverdueKind, **context):
    return render_template(TEMPLATES + "_overdue_row.html", req=req, row=service.overdue_row(req, kind),
                           kind=kind, today=today_local(), **context)


@bp.post("/overdue/levels/<int:jurisdiction_id>/remind")
def level_remind(jurisdiction_id):
    """催办 everything overdue at one level."""
    jurisdiction = scope.get_in_scope_or_404(current_user, Jurisdiction, jurisdiction_id)
    result = service.remind_overdue_at(jurisdiction, actor=current_user)
    sent = ngettext("%(num)d reminder sent.", "%(num)d reminders sent.", len(result.done))
    if not is_htmx():
        _flash_result(result, sent)
        return redirect(url_for(".overdue", _anchor=f"level-{jurisdiction.id}"), 303)
    levels = service.overdue_levels(current_user, jurisdiction_id=jurisdiction.id, below=False).levels
    level = levels[0] if levels else None
    return render_template(TEMPLATES + "_overdue_level.html", level=level,
                           jurisdiction=jurisdiction, result=result, notice=sent, kinds=list(OverdueKind),
                           today=today_local())


# --- key supervision ---------------------------------------------------------------------------


@bp.get("/key")
def key_supervision():
    return render_template(TEMPLATES + "key.html", requests=service.key_supervision_register(current_user),
                           today=today_local())


# --- cases (并案) ------------------------------------------------------------------------------


@bp.route("/cases", methods=["GET", "POST"])
def cases():
    form = CaseForm()
    if request.method == "GET":
        return _render_cases(form)
    if not form.validate():
        return _render_cases(form, status=422)
    try:
        found = _requests_from(form)
        if found is None:
            return _render_cases(form, status=422)
        case = service.merge_into_case(found, title=form.title.data, actor=current_user, note=form.note.data or "")
    except WorkflowError as error:
        db.session.rollback()
        return _render_cases(form, problem=error.message, status=error.http_status)
    flash(_("Case created with %(num)d requests.", num=len(found)), "success")
    return redirect_after_post(url_for(".case_page", case_id=case.id))


def _render_cases(form: CaseForm, *, problem=None, status: int = 200):
    return render_template(TEMPLATES + "cases.html", cases=service.case_list(current_user), form=form,
                           problem=problem), status


def _requests_from(form: ReferencesForm) -> Optional[list[Request]]:
    """The requests the pasted reference numbers name; None (with the error on the field)
    when one of them is not found in the user's view."""
    found, missing = service.find_by_references(current_user, service.parse_references(form.references.data))
    if missing:
        form.references.errors = [_("Not found: %(references)s", references=", ".join(missing))]
        return None
    return found


@bp.get("/cases/<int:case_id>")
def case_page(case_id):
    return _render_case(_case_or_404(case_id))


def _render_case(case: RequestCase, *, assign_form=None, add_form=None, problem=None, status: int = 200):
    requests = service.case_requests(current_user, case)
    assign_form = assign_form or CaseAssignForm(formdata=None)
    departments = service.assignable_departments(current_user, requests)
    assign_form.department.choices = [SelectChoice(d.id, f"{d.name} · {d.jurisdiction.name}") for d in departments]
    hidden = db.session.scalar(sa.select(sa.func.count(Request.id)).where(Request.case_id == case.id)) - len(requests)
    return render_template(TEMPLATES + "case.html", case=case, requests=requests, hidden=hidden,
                           assign_form=assign_form, add_form=add_form or ReferencesForm(formdata=None),
                           problem=problem, today=today_local()), status


@bp.post("/cases/<int:case_id>/assign")
def case_assign(case_id):
    """交办 once: every waiting request of the case to one department."""
    case = _case_or_404(case_id)
    form = CaseAssignForm()
    waiting = service.case_requests(current_user, case)
    departments = service.assignable_departments(current_user, waiting)
    form.department.choices = [SelectChoice(d.id, d.name) for d in departments]
    if not form.validate():
        return _render_case(case, assign_form=form, status=422)
    department = db.session.get(Department, form.department.data)
    try:
        result = service.assign_case(case, actor=current_user, department=department, due_on=form.due_on.data,
                                     note=form.note.data or "")
    except WorkflowError as error:
        db.session.rollback()
        return _render_case(case, assign_form=form, problem=error.message, status=error.http_status)
    _flash_result(result, ngettext("%(num)d request assigned.", "%(num)d requests assigned.", len(result.done)))
    return redirect_after_post(url_for(".case_page", case_id=case_id))


@bp.post("/cases/<int:case_id>/add")
def case_add(case_id):
    case = _case_or_404(case_id)
    form = ReferencesForm()
    if not form.validate():
        return _render_case(case, add_form=form, status=422)
    try:
        found = _requests_from(form)
        if found is None:
            return _render_case(case, add_form=form, status=422)
        service.add_to_case(case, found, actor=current_user)
    except WorkflowError as error:
        db.session.rollback()
        return _render_case(case, add_form=form, problem=error.message, status=error.http_status)
    flash(ngettext("%(num)d request added.", "%(num)d requests added.", len(found)), "success")
    return redirect_after_post(url_for(".case_page", case_id=case_id))


@bp.post("/cases/<int:case_id>/remove")
def case_remove(case_id):
    case = _case_or_404(case_id)
    form = CaseRemoveForm()
    if not form.validate():
        abort(400)
    req = _request_or_404(form.request_id.data)
    if req.case_id != case.id:
        abort(404)
    try:
        service.remove_from_case(req, actor=current_user)
    except WorkflowError as error:
        db.session.rollback()
        return _render_case(case, problem=error.message, status=error.http_status)
    flash(_("%(reference)s was taken out of the case.", reference=req.reference), "success")
    return redirect_after_post(url_for(".case_page", case_id=case_id))


# --- typical cases (典型案例) --------------------------------------------------------------------


@bp.get("/typical")
def typical_cases():
    return render_template(TEMPLATES + "typical.html", requests=service.typical_cases(current_user))


@bp.route("/requests/<int:request_id>/typical", methods=["GET", "POST"])
def request_typical(request_id):
    """Write the request up as a typical case (the card's small form posts here)."""
    req = _request_or_404(request_id)
    form = TypicalForm() if request.method == "POST" else TypicalForm(formdata=None, note=req.typical_case_note)
    if request.method == "GET":
        return _render_typical_form(req, form)
    if not form.validate():
        return _render_typical_form(req, form, status=422)
    try:
        service.mark_typical_case(req, actor=current_user, note=form.note.data, version=form.version.data)
    except WorkflowError as error:
        db.session.rollback()
        return _render_typical_form(_request_or_404(request_id), form, problem=error.message,
                                    status=error.http_status)
    flash(_("Marked as a typical case."), "success")
    return redirect_after_post(url_for("desk.request_card", request_id=request_id))


@bp.post("/requests/<int:request_id>/typical/remove")
def request_typical_remove(request_id):
    req = _request_or_404(request_id)
    try:
        service.unmark_typical_case(req, actor=current_user)
    except WorkflowError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        flash(_("No longer a typical case."), "success")
    return redirect_after_post(url_for("desk.request_card", request_id=request_id))


def _render_typical_form(req: Request, form: TypicalForm, *, problem=None, status: int = 200):
    return render_template(TEMPLATES + "typical_form.html", req=req, form=form, problem=problem,
                           may_mark=service.may_mark_typical(current_user, req)), status
