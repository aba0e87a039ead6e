"""The working-day calendar: the official one from chinese-calendar, and the days an
admin declares for years the package does not know yet (or corrects). Admins only:
deadlines everywhere depend on it."""

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectChoice, StringField
from wtforms.validators import InputRequired, Length

from ..models import Role
from ..services.calendar import calendar_days_in, clear_calendar_day, set_calendar_day
from ..workdays import package_years, today_local
from . import add_menu_entry, bp

add_menu_entry("admin.calendar", _l("Working-day calendar"), roles=(Role.ADMIN,))


class CalendarDayForm(FlaskForm):
    day = DateField(_l("Date"), validators=[InputRequired(_l("Please give a date."))])
    kind = RadioField(_l("This day is"), choices=[SelectChoice("holiday", _l("a holiday (no work)")),
                                                  SelectChoice("workday", _l("a working day (e.g. a make-up day)"))],
                      validators=[InputRequired(_l("Please choose one."))])
    name = StringField(_l("Name (e.g. National Day, or a make-up working day)"), validators=[Length(max=40, message=_l("At most %(max)d characters."))])


def _admins_only():
    if current_user.role is not Role.ADMIN:
        abort(403)


@bp.route("/calendar", methods=["GET", "POST"])
def calendar():
    _admins_only()
    year = request.args.get("year", type=int) or today_local().year
    form = CalendarDayForm()
    if request.method == "POST":
        if not form.validate():
            return _render(form, year, 422)
        set_calendar_day(form.day.data, form.kind.data == "workday", (form.name.data or "").strip())
        flash(_("Saved."), "success")
        return redirect(url_for(".calendar", year=form.day.data.year), 303)
    return _render(form, year)


@bp.post("/calendar/<day>/clear")
def calendar_clear(day):
    _admins_only()
    try:
        when = date.fromisoformat(day)
    except ValueError:
        abort(404)
    clear_calendar_day(when)
    flash(_("The official calendar applies again to %(day)s.", day=when.isoformat()), "success")
    return redirect(url_for(".calendar", year=when.year), 303)


def _render(form, year, status=200):
    first, last = package_years()
    return render_template("admin/calendar.html", form=form, year=year, days=calendar_days_in(year),
                           known=first <= year <= last, first=first, last=last), status
