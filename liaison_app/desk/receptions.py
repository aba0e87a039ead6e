"""我的值班: a deputy's reception duty days, and the way to log one once held."""

from flask import redirect, render_template, url_for
from flask_login import current_user

from ..extensions import db
from ..models import ReceptionDay, Role, VisitForm
from ..services import receptions
from ..workdays import today_local
from . import bp


@bp.get("/duties")
def my_duties():
    """The deputy's upcoming duty days (today's first), and past ones not yet logged as a
    visit. Other roles have no duty days: they go to their inbox."""
    if current_user.role is not Role.DEPUTY:
        return redirect(url_for(".inbox"))
    deputy, today = current_user.deputy, today_local()
    upcoming = db.session.scalars(receptions.duty_days(deputy, from_day=today).limit(100)).all()
    return render_template("desk/receptions/duties.html", deputy=deputy, upcoming=upcoming,
                           unlogged=receptions.unlogged_duty_days(deputy, today), today=today,
                           log_url=log_reception_url)


def log_reception_url(day: ReceptionDay) -> str:
    """Where the deputy logs a held reception: the visit log (desk/visits.py), as a visit of
    form reception that fills itself in from the day."""
    return url_for(".visit_new", form=VisitForm.RECEPTION.value, reception=day.id)
