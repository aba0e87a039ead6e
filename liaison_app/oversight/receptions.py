"""接待日: staff schedule the reception days of the stations in their area, with the deputies
on duty (Wan'an: twice a month, at least three), change or cancel them, and see which were
held. Anything outside the user's jurisdiction is 404 (admin/scope.py)."""

from datetime import time
from typing import Optional

from flask import abort, flash, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, MonthField, SelectMultipleField, StringField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError
from wtforms.validators import Optional as OptionalInput

from ..admin import scope
from ..admin.users import optional_id, strip_text
from ..extensions import db
from ..models import ReceptionDay, Station
from ..services import receptions as service
from ..templating import is_htmx, redirect_after_post
from ..workdays import today_local
from . import add_menu_entry, bp

add_menu_entry("oversight.receptions", _l("Reception days"))

TEMPLATES = "oversight/receptions/"


def _time_field(label):
    return TimeField(label, validators=[InputRequired(_l("Please give a time."))])


def _note_field():
    return StringField(_l("Note (optional)"), filters=[strip_text], validators=[
        OptionalInput(), Length(max=service.NOTE_MAX, message=_l("At most %(max)d characters."))])


class DutyForm(FlaskForm):
    """Who is on duty and when: the part of a day that can be changed."""

    starts_at = _time_field(_l("From"))
    ends_at = _time_field(_l("Until"))
    deputies = SelectMultipleField(_l("Deputies on duty"), coerce=optional_id, validate_choice=False)
    note = _note_field()


class ReceptionForm(DutyForm):
    held_on = DateField(_l("Date"), validators=[InputRequired(_l("Please give a date."))])


class SeriesForm(FlaskForm):
    days = StringField(_l("Days of the month"), filters=[strip_text], validators=[
        DataRequired(_l("Please give days of the month, e.g. 5, 20.")),
        Length(max=100, message=_l("At most %(max)d characters."))])
    first_month = MonthField(_l("First month"), validators=[InputRequired(_l("Please give a month, e.g. 2026-09."))])
    months = IntegerField(_l("Number of months"), validators=[
        InputRequired(_l("Please give a number.")),
        NumberRange(min=1, max=service.MAX_MONTHS, message=_l("From %(min)d to %(max)d months."))])
    starts_at = _time_field(_l("From"))
    ends_at = _time_field(_l("Until"))
    note = _note_field()

    def validate_days(self, field):
        try:
            self.days_of_month = service.parse_days_of_month(field.data)
        except service.ReceptionError as error:
            raise ValidationError(str(error.message)) from None


# --- the schedule ---------------------------------------------------------------------------------


@bp.get("/receptions")
def receptions():
    """Every station of the user's area with its next reception day."""
    today = today_local()
    return render_template(TEMPLATES + "index.html", rows=service.stations_overview(current_user, today),
                           today=today)


@bp.get("/receptions/stations/<int:station_id>")
def reception_station(station_id):
    station = _station_or_404(station_id)
    today = today_local()
    upcoming, past = service.station_schedule(station, today)
    return render_template(TEMPLATES + "station.html", station=station, upcoming=upcoming, past=past, today=today,
                           min_deputies=service.min_deputies(), is_short=service.is_short)


# --- scheduling and changing -------------------------------------------------------------------


@bp.route("/receptions/stations/<int:station_id>/new", methods=["GET", "POST"])
def reception_new(station_id):
    """Validate → schedule_reception → 303 to the station's schedule; refused input comes back
    with 422 and everything typed kept."""
    station = _station_or_404(station_id)
    form = ReceptionForm()
    if request.method == "GET":
        form.starts_at.data, form.ends_at.data = time(9, 0), time(11, 30)
        return _render_form(form, station)
    if not form.validate():
        return _render_form(form, station, status=422)
    try:
        day = service.schedule_reception(station, actor=current_user, held_on=form.held_on.data,
                                         starts_at=form.starts_at.data, ends_at=form.ends_at.data,
                                         deputy_ids=form.deputies.data or [], note=form.note.data or "")
    except service.ReceptionError as error:
        db.session.rollback()
        return _refused(error, form, lambda **kw: _render_form(form, station, **kw))
    flash(_("Reception day scheduled: %(day)s.", day=format_date(day.held_on, "full")), "success")
    return redirect_after_post(url_for(".reception_station", station_id=station.id))


@bp.route("/receptions/stations/<int:station_id>/series", methods=["GET", "POST"])
def reception_series(station_id):
    """Schedule the same days of every month for a few months; what was moved off a holiday
    or left out is reported."""
    station = _station_or_404(station_id)
    form = SeriesForm()
    if request.method == "GET":
        form.first_month.data = today_local()
        form.months.data, form.starts_at.data, form.ends_at.data = 3, time(9, 0), time(11, 30)
        return _render_series(form, station)
    if not form.validate():
        return _render_series(form, station, status=422)
    try:
        result = service.schedule_series(station, actor=current_user, days_of_month=form.days_of_month,
                                         first_month=form.first_month.data, months=form.months.data,
                                         starts_at=form.starts_at.data, ends_at=form.ends_at.data,
                                         note=form.note.data or "")
    except service.ReceptionError as error:
        db.session.rollback()
        return _refused(error, form, lambda **kw: _render_series(form, station, **kw))
    _flash_series(result)
    return redirect_after_post(url_for(".reception_station", station_id=station.id))


def _flash_series(result: service.SeriesResult) -> None:
    count = len(result.scheduled)
    flash(ngettext("%(num)d reception day scheduled.", "%(num)d reception days scheduled.", count),
          "success" if count else "warning")
    for asked, moved_to in result.moved:
        flash(_("%(asked)s is not a working day: moved to %(moved)s.", asked=format_date(asked, "full"),
                moved=format_date(moved_to, "full")), "warning")
    for day, reason in result.skipped:
        flash(_("Left out %(day)s: %(reason)s.", day=format_date(day, "full"), reason=reason), "warning")


@bp.route("/receptions/<int:reception_id>/edit", methods=["GET", "POST"])
def reception_edit(reception_id):
    day = _reception_or_404(reception_id)
    form = DutyForm(obj=None if request.method == "POST" else day)
    if request.method == "GET":
        form.deputies.data = [d.id for d in day.deputies]
        return _render_form(form, day.station, day=day)
    if not form.validate():
        return _render_form(form, day.station, day=day, status=422)
    try:
        service.update_reception(day, actor=current_user, starts_at=form.starts_at.data, ends_at=form.ends_at.data,
                                 deputy_ids=form.deputies.data or [], note=form.note.data or "")
    except service.ReceptionError as error:
        db.session.rollback()
        day = _reception_or_404(reception_id)
        return _refused(error, form, lambda **kw: _render_form(form, day.station, day=day, **kw))
    flash(_("Saved."), "success")
    return redirect_after_post(url_for(".reception_station", station_id=day.station_id))


@bp.post("/receptions/<int:reception_id>/cancel")
def reception_cancel(reception_id):
    """Cancel a day: htmx swaps its line to show it cancelled; without JS, back to the schedule."""
    day = _reception_or_404(reception_id)
    problem = None
    try:
        service.cancel_reception(day, actor=current_user)
    except service.ReceptionError as error:
        db.session.rollback()
        problem = error.message
    if is_htmx() and request.form.get("from") != "edit":  # the schedule's line, swapped in place
        day = _reception_or_404(reception_id)
        return render_template(TEMPLATES + "_day.html", day=day, today=today_local(), problem=problem,
                               min_deputies=service.min_deputies(), is_short=service.is_short), 409 if problem else 200
    if problem:
        flash(problem, "error")
    else:
        flash(_("Reception day cancelled: %(day)s.", day=format_date(day.held_on, "full")), "success")
    return redirect_after_post(url_for(".reception_station", station_id=day.station_id))


# --- helpers ----------------------------------------------------------------------------------------


@bp.app_template_global()
def reception_visit_url(visit_id: int) -> str:
    """The visit a held reception was logged as (the desk's visit page; staff of the area may read it)."""
    return url_for("desk.visit_detail", visit_id=visit_id)


def _station_or_404(station_id: int) -> Station:
    return scope.get_in_scope_or_404(current_user, Station, station_id)


def _reception_or_404(reception_id: int) -> ReceptionDay:
    day = db.session.get(ReceptionDay, reception_id)
    if day is None or not scope.in_scope(current_user, day.station.jurisdiction_id):
        abort(404)
    return day


def _refused(error: service.ReceptionError, form: FlaskForm, render):
    """The service's refusal next to its field (422), or above the form when it is about the
    day's state (409); the form comes back with everything typed."""
    if error.field and error.field in form:
        form[error.field].errors = [*form[error.field].errors, str(error.message)]
        return render(status=422)
    return render(status=409, problem=error.message)


def _deputy_choices(station: Station, day: Optional[ReceptionDay]) -> list:
    """The station's active deputies, and those already on duty that day (who stay choosable)."""
    choices = {d.id: d for d in service.on_call(station)}
    for deputy in (day.deputies if day else []):
        choices.setdefault(deputy.id, deputy)
    return sorted(choices.values(), key=lambda d: d.id)


def _render_form(form, station: Station, *, day: Optional[ReceptionDay] = None, status: int = 200, problem=None):
    if day is not None and problem is None and (day.cancelled_at or day.visit_id):
        problem = (_("This reception has been held and logged: it can no longer be changed.") if day.visit_id
                   else _("This reception day was cancelled: it can no longer be changed."))
    chosen = {i for i in (form.deputies.data or []) if i is not None}
    context = dict(form=form, station=station, day=day, deputies=_deputy_choices(station, day), chosen=chosen,
                   min_deputies=service.min_deputies(), problem=problem)
    template = TEMPLATES + ("_form.html" if is_htmx() else "form.html")
    return render_template(template, **context), status


def _render_series(form: SeriesForm, station: Station, *, status: int = 200, problem=None):
    context = dict(form=form, station=station, pool=service.on_call(station), min_deputies=service.min_deputies(),
                   problem=problem)
    template = TEMPLATES + ("_series_form.html" if is_htmx() else "series.html")
    return render_template(template, **context), status
