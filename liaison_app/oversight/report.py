"""The monthly report (一月一小结) on screen and as a spreadsheet, and the record of the
activities it counts (视察、调研、座谈、接待). Staff see and record what lies in their
jurisdiction and below (admin/scope.py); anything outside is 404."""

from typing import Optional

import sqlalchemy as sa
from flask import abort, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import DateField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError
from wtforms.validators import Optional as OptionalInput

from .. import access
from ..admin import scope
from ..admin.users import optional_id, strip_text
from ..extensions import db
from ..models import Activity, ActivityKind, Jurisdiction, Role
from ..services import activities as activity_service
from ..services import report as reporting
from ..services.imports import XLSX_MIMETYPE
from ..templating import attachment, is_htmx, redirect_after_post
from ..workdays import today_local
from . import add_menu_entry, bp

add_menu_entry("oversight.report", _l("Monthly report"))
add_menu_entry("oversight.activities", _l("Activities"))

# The paper form's six columns in English, for the English screen (the Chinese goes under each).
SCREEN_HEADERS = {
    "activities": _l("Inspections, research, symposia and contact activities held by the congresses of the area"),
    "participations": _l("Deputies taking part in those activities (person-times)"),
    "collected": _l("Opinions and suggestions collected"),
    "solved": _l("Problems solved"),
    "escalated": _l("Opinions and suggestions reported to the city level"),
    "typical_cases": _l("Typical cases"),
}

LIST_LIMIT = 100
DEPUTY_SEARCH_FROM = 30  # with more deputies to choose from, the form offers a search by name


# --- the monthly report ------------------------------------------------------------------------


@bp.get("/report")
def report():
    """The form for one jurisdiction and month; htmx swaps just the table when either changes."""
    jurisdiction, period = _report_subject()
    if jurisdiction is None:
        return render_template("oversight/report/index.html", report=None, choices=[], periods=[])
    # The filter fold counts the choices that differ from the default (one's own area, this month).
    current = reporting.period_containing(today_local(), reporting.cutoff_day())
    active_filters = (request.args.get("jurisdiction", type=int) not in (None, current_user.jurisdiction_id)) + (
        period != current)
    context = dict(report=reporting.monthly_report(jurisdiction, period), signature=_signature(jurisdiction),
                   active_filters=active_filters,
                   choices=scope.jurisdiction_menu(current_user, jurisdiction),
                   periods=reporting.recent_periods(today_local(), reporting.cutoff_day()),
                   column_headers=reporting.COLUMN_HEADERS, screen_headers=SCREEN_HEADERS)
    template = "oversight/report/_report.html" if is_htmx() else "oversight/report/index.html"
    return render_template(template, **context)


@bp.get("/report.xlsx")
def report_export():
    """The same form as a spreadsheet in the paper form's layout."""
    jurisdiction, period = _report_subject()
    if jurisdiction is None:
        abort(404)
    report = reporting.monthly_report(jurisdiction, period)
    data = reporting.report_workbook(report, _signature(jurisdiction, for_form=True))
    filename, ascii_filename = reporting.export_filename(report)
    return attachment(data, XLSX_MIMETYPE, filename, ascii_filename)


def _report_subject() -> tuple[Optional[Jurisdiction], reporting.Period]:
    """?jurisdiction= (in scope, else 404; default: a staff member's own, an admin's first
    top-level one) and ?month=YYYY-MM (default: the period today falls in; malformed: 400)."""
    cutoff = reporting.cutoff_day()
    month = request.args.get("month", "")
    try:
        period = reporting.parse_period(month, cutoff) if month else reporting.period_containing(today_local(), cutoff)
    except reporting.InvalidPeriod:
        abort(400)
    chosen = request.args.get("jurisdiction", type=int)
    if chosen is not None:
        return scope.get_in_scope_or_404(current_user, Jurisdiction, chosen), period
    if current_user.role is Role.STAFF:
        return current_user.jurisdiction, period
    top = db.session.scalars(sa.select(Jurisdiction).where(Jurisdiction.parent_id.is_(None))
                             .order_by(Jurisdiction.active.desc(), Jurisdiction.division_code).limit(1)).first()
    return top, period


def _signature(jurisdiction: Jurisdiction, *, for_form: bool = False) -> reporting.Signature:
    unit = reporting.form_unit(jurisdiction) if for_form else jurisdiction.congress_name
    return reporting.Signature(unit=unit, reporter=current_user.display_name or current_user.username,
                               day=today_local())


# --- activities ---------------------------------------------------------------------------------


class ActivityForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[SelectChoice(kind.value, label)
                                            for kind, label in activity_service.KIND_LABELS.items()],
                       validate_choice=False, validators=[InputRequired(_l("Please choose one."))])
    title = StringField(_l("Title"), filters=[strip_text], validators=[
        DataRequired(_l("Please fill this in.")), Length(max=120, message=_l("At most %(max)d characters."))])
    held_on = DateField(_l("Date held"), validators=[InputRequired(_l("Please give a date."))])
    jurisdiction = SelectField(_l("Jurisdiction"), coerce=optional_id, validate_choice=False,
                               validators=[InputRequired(_l("Please choose one."))])
    deputies = SelectMultipleField(_l("Deputies taking part"), coerce=optional_id, validate_choice=False)
    notes = TextAreaField(_l("Notes"), filters=[strip_text], validators=[
        OptionalInput(), Length(max=4000, message=_l("At most %(max)d characters."))])

    def validate_kind(self, field):
        if field.data not in set(ActivityKind):
            raise ValidationError(_l("Please choose one."))


@bp.get("/activities")
def activities():
    """What was recorded in the user's area, newest first; ?jurisdiction= (its subtree) and
    ?month= narrow it to what a line of the monthly report counts."""
    query = activity_service.visible_activities(current_user).options(
        selectinload(Activity.deputies), selectinload(Activity.jurisdiction))
    jurisdiction = None
    if (chosen := request.args.get("jurisdiction", type=int)) is not None:
        jurisdiction = scope.get_in_scope_or_404(current_user, Jurisdiction, chosen)
        query = query.where(Activity.jurisdiction_id.in_(access.subtree_ids(jurisdiction.id)))
    period = None
    if month := request.args.get("month", ""):
        try:
            period = reporting.parse_period(month, reporting.cutoff_day())
        except reporting.InvalidPeriod:
            abort(400)
        query = query.where(Activity.held_on.between(period.first_day, period.last_day))
    rows = db.session.scalars(query.order_by(Activity.held_on.desc(), Activity.id.desc()).limit(LIST_LIMIT + 1)).all()
    return render_template("oversight/report/activities.html", activities=rows[:LIST_LIMIT],
                           cut=len(rows) > LIST_LIMIT, jurisdiction=jurisdiction, period=period,
                           kind_labels=activity_service.KIND_LABELS)


@bp.route("/activities/new", methods=["GET", "POST"])
def activity_new():
    return _edit(Activity())


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
def activity_edit(activity_id):
    return _edit(_activity_or_404(activity_id))


@bp.get("/activities/deputies")
def activity_deputy_choices():
    """The deputies' checkboxes, narrowed to ?deputy_q= while keeping the ticked ones."""
    chosen = {i for i in (optional_id(v) for v in request.args.getlist("deputies")) if i is not None}
    activity_id = request.args.get("activity", type=int)
    recorded = list(_activity_or_404(activity_id).deputies) if activity_id else []
    name = request.args.get("deputy_q", "").strip()[:40]
    deputies = activity_service.deputy_choices(current_user, name=name, chosen=chosen, recorded=recorded)
    return render_template("oversight/report/_deputy_choices.html", deputies=deputies, chosen=chosen, deputy_q=name)


@bp.post("/activities/<int:activity_id>/delete")
def activity_delete(activity_id):
    activity = _activity_or_404(activity_id)
    activity_service.delete_activity(activity, actor=current_user)
    flash(_("Deleted."), "success")
    return redirect_after_post(url_for(".activities"))


def _activity_or_404(activity_id: Optional[int]) -> Activity:
    activity = db.session.get(Activity, activity_id) if activity_id else None
    if activity is None or not scope.in_scope(current_user, activity.jurisdiction_id):
        abort(404)
    return activity


def _edit(activity: Activity):
    """Validate → save_activity → 303 to the list; refused input comes back with 422."""
    form = ActivityForm(obj=None if request.method == "POST" else activity)
    form.jurisdiction.choices = scope.jurisdiction_select(current_user, keeping=activity.jurisdiction,
                                                          blank=_("Choose…"))
    if request.method == "GET":
        if activity.id:
            form.kind.data, form.jurisdiction.data = activity.kind.value, activity.jurisdiction_id
            form.deputies.data = [d.id for d in activity.deputies]
        elif current_user.role is Role.STAFF:
            form.jurisdiction.data = current_user.jurisdiction_id
        return _render_form(form, activity)
    if not form.validate():
        return _render_form(form, activity, 422)
    try:
        activity_service.save_activity(
            activity, actor=current_user, kind=ActivityKind(form.kind.data), title=form.title.data,
            held_on=form.held_on.data, jurisdiction=db.session.get(Jurisdiction, form.jurisdiction.data or 0),
            deputy_ids=form.deputies.data or [], notes=form.notes.data or "")
    except activity_service.ActivityError as error:
        db.session.rollback()
        target = form[error.field] if error.field else form.title
        target.errors = [*target.errors, str(error.message)]
        return _render_form(form, activity, 422)
    flash(_("Saved."), "success")
    return redirect_after_post(url_for(".activities"))


def _render_form(form: ActivityForm, activity: Activity, status: int = 200):
    chosen = {i for i in (form.deputies.data or []) if i is not None}
    recorded = list(activity.deputies) if activity.id else []
    deputies = activity_service.deputy_choices(current_user, chosen=chosen, recorded=recorded)
    context = dict(form=form, activity=activity, deputies=deputies, chosen=chosen, deputy_q="",
                   searchable=len(deputies) > DEPUTY_SEARCH_FROM)
    template = "oversight/report/_activity_form.html" if is_htmx() else "oversight/report/activity_form.html"
    return render_template(template, **context), status
