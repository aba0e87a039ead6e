"""走访 on the deputy's phone: 我的结对企业, the visit log (each problem raised becomes a
request), the deputy's visits and each visit's page.

Deputies log visits and see those they logged or took part in; staff and admins read the
visits of their jurisdiction and below (services/visits.visible_visits); handling-unit
officers have none (403). Unknown or foreign ids are 404.
"""

from urllib.parse import quote

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from ..admin.users import optional_id
from ..extensions import db
from ..models import Category, Request, Role, Visit, VisitForm, VisitPhoto
from ..public.forms import new_idempotency_key
from ..services import visits as visit_service
from ..services.photos import process_uploads, send_photo
from ..templating import is_htmx, redirect_after_post
from ..validators import InvalidValue
from ..workdays import today_local
from . import bp
from .forms import ProblemForm, VisitLogForm

LIST_LIMIT = 100
# Logging is for deputies; staff and admins may read the visits of their area.
_DEPUTIES_ONLY = {"desk.visit_pairings", "desk.visit_new", "desk.visit_enterprise_search"}


@bp.before_request
def _visits_need_a_deputy_or_staff():
    """Runs after the desk's login check, for the visit pages only."""
    endpoint = request.endpoint or ""
    if not endpoint.startswith("desk.visit"):
        return None
    if current_user.role is Role.UNIT or (endpoint in _DEPUTIES_ONLY and current_user.role is not Role.DEPUTY):
        abort(403)
    return None


@bp.get("/visits")
def visits():
    """The deputy's visits (logged or taken part in); for staff, those of their jurisdiction."""
    rows = db.session.scalars(
        visit_service.visible_visits(current_user)
        .options(selectinload(Visit.enterprises), selectinload(Visit.deputies))
        .order_by(Visit.held_on.desc(), Visit.id.desc()).limit(LIST_LIMIT + 1)
    ).all()
    shown = rows[:LIST_LIMIT]
    problems = dict(db.session.execute(
        sa.select(Request.visit_id, sa.func.count()).where(Request.visit_id.in_([v.id for v in shown]))
        .group_by(Request.visit_id)).tuples().all())
    return render_template("desk/visits/index.html", visits=shown, cut=len(rows) > LIST_LIMIT, problems=problems)


@bp.get("/visits/pairings")
def visit_pairings():
    """我的结对企业: visited or not yet, the address on a map, the earlier requests."""
    return render_template("desk/visits/pairings.html", overview=visit_service.pairing_overview(current_user),
                           map_url=map_url)


def map_url(address: str) -> str:
    """A plain link that opens the address in Amap (the app, or its web page): no script."""
    return "https://uri.amap.com/search?keyword=" + quote(address, safe="")


@bp.route("/visits/new", methods=["GET", "POST"])
def visit_new():
    """The visit log: validate → log_visit → 303 to the visit. The "search" and "add another
    problem" buttons post the form to show it again with more in it, writing nothing
    (without JavaScript; with it the search and the new problem block need no round trip)."""
    deputy = current_user.deputy
    if request.method == "GET":
        return _new_form(deputy)
    form = VisitLogForm()
    reception_day = _reception_day_or_404(deputy, optional_id(form.reception.data)) if form.reception.data else None
    if request.form.get("add_problem") or request.form.get("find"):
        if request.form.get("add_problem") and len(form.problems) < form.problems.max_entries:
            form.problems.append_entry()
        return _render_form(form, deputy, reception_day)
    form_ok, photos = _validate_with_photos(form)
    if not form_ok:
        return _render_form(form, deputy, reception_day, status=422)

    rows = [entry.form for entry in form.problems if not entry.form.is_blank()]
    try:
        visit, created = visit_service.log_visit(
            actor=current_user, form=VisitForm(form.kind.data), held_on=form.held_on.data,
            enterprise_ids=form.enterprises.data or [], deputy_ids=form.deputies.data or [],
            notes=form.notes.data or "", problems=[_problem(row) for row in rows], station_id=form.station.data,
            reception_day=reception_day, idempotency_key=form.idempotency_key.data, photos=photos)
    except visit_service.VisitError as error:
        db.session.rollback()
        target = _field_for(form, rows, error)
        if target is None:
            return _render_form(form, deputy, reception_day, status=422, problem=error.message)
        target.errors = [*target.errors, str(error.message)]
        return _render_form(form, deputy, reception_day, status=422)
    if created and rows:
        flash(ngettext("Visit logged; %(num)d request was filed and claimed by you.",
                       "Visit logged; %(num)d requests were filed and claimed by you.", len(rows)), "success")
    elif created:
        flash(_("Visit logged."), "success")
    else:
        flash(_("This visit had already been logged."), "success")
    return redirect_after_post(url_for(".visit_detail", visit_id=visit.id))


@bp.get("/visits/enterprises")
def visit_enterprise_search():
    """The picker's list as one types (htmx): the ticked enterprises, then the matches."""
    deputy = current_user.deputy
    chosen = visit_service.chosen_enterprises(deputy, [optional_id(v) for v in request.args.getlist("enterprises")])
    query = request.args.get("enterprise_q", "").strip()[:60]
    results = visit_service.search_enterprises(deputy, query, leave_out=[e.id for e in chosen])
    return render_template("desk/visits/_enterprise_options.html", chosen=chosen, results=results, query=query)


@bp.get("/visits/<int:visit_id>")
def visit_detail(visit_id):
    visit = _visit_or_404(visit_id)
    return render_template("desk/visits/show.html", visit=visit,
                           requests=visit_service.linked_requests(current_user, visit))


@bp.get("/visits/<int:visit_id>/photos/<int:photo_id>")
def visit_photo(visit_id, photo_id):
    visit = _visit_or_404(visit_id)
    photo = db.session.get(VisitPhoto, photo_id)
    if photo is None or photo.visit_id != visit.id:
        abort(404)
    return send_photo(photo.stored_name, photo.content_type, f"visit-{visit.id}-{photo.id}", max_age=0)


# --- helpers ---------------------------------------------------------------------------------------


def _visit_or_404(visit_id: int) -> Visit:
    visit = visit_service.visit_for(current_user, visit_id)
    if visit is None:
        abort(404)
    return visit


def _reception_day_or_404(deputy, day_id):
    day = visit_service.reception_day_for(deputy, day_id) if day_id is not None else None
    if day is None:
        abort(404)
    return day


def _new_form(deputy):
    """A fresh form: today, a visit, one empty problem; ?enterprise=<id> chooses the
    enterprise, ?form=reception&reception=<id> fills in a reception day."""
    form = VisitLogForm(formdata=None)
    form.idempotency_key.data = new_idempotency_key()
    form.held_on.data = today_local()
    reception_day = None
    if "reception" in request.args:
        reception_day = _reception_day_or_404(deputy, request.args.get("reception", type=int))
        if reception_day.visit_id is not None:
            flash(_("This reception day has already been logged."), "warning")
            logged = visit_service.visit_for(current_user, reception_day.visit_id)
            return redirect(url_for(".visit_detail", visit_id=logged.id) if logged else url_for(".visits"))
        form.kind.data = VisitForm.RECEPTION.value
        form.reception.data = str(reception_day.id)
        form.held_on.data = reception_day.held_on
        form.station.data = reception_day.station_id
        form.deputies.data = [d.id for d in reception_day.deputies if d.id != deputy.id]
    elif request.args.get("form") in {f.value for f in VisitForm}:
        form.kind.data = request.args["form"]
    if "enterprise" in request.args:
        enterprise_id = request.args.get("enterprise", type=int)
        if enterprise_id is None or not visit_service.chosen_enterprises(deputy, [enterprise_id]):
            abort(404)
        form.enterprises.data = [enterprise_id]
    return _render_form(form, deputy, reception_day)


def _render_form(form, deputy, reception_day, *, status=200, problem=None):
    chosen = visit_service.chosen_enterprises(deputy, form.enterprises.data or [])
    query = form.enterprise_q.data or ""
    results = visit_service.search_enterprises(deputy, query, leave_out=[e.id for e in chosen])
    # Which enterprise raised a problem: one of those above (app.js narrows it to the ticked ones).
    raised_by = [SelectChoice("", _("Choose…"))] + [SelectChoice(e.id, e.name) for e in chosen + results]
    for entry in form.problems:
        entry.form.enterprise.choices = raised_by
    blank_problem = ProblemForm(prefix="problems-__index__-")  # what "add another problem" clones
    blank_problem.enterprise.choices = raised_by
    form.station.choices = [SelectChoice(s.id, s.name) for s in deputy.stations]
    context = dict(
        form=form, deputy=deputy, reception_day=reception_day, chosen=chosen, query=query, results=results,
        fellows=visit_service.fellow_deputies(deputy, reception_day), blank_problem=blank_problem,
        photos_dropped=request.method == "POST" and any(f and f.filename for f in (form.photos.data or [])),
        problem=problem, today=today_local(),
    )
    template = "desk/visits/_form.html" if is_htmx() else "desk/visits/new.html"
    return render_template(template, **context), status


def _validate_with_photos(form: VisitLogForm):
    """Validate the fields and decode the photos, so that every problem shows at once."""
    form_ok = form.validate()
    try:
        return form_ok, process_uploads(form.photos.data or [])
    except InvalidValue as error:
        form.photos.errors = [*form.photos.errors, str(error.message)]
        return False, []


def _problem(row: ProblemForm) -> visit_service.Problem:
    return visit_service.Problem(category=Category(row.category.data), description=row.description.data,
                                 enterprise_id=row.enterprise.data, contact_name=row.contact_name.data or "",
                                 contact_phone=row.contact_phone.data or "")


def _field_for(form: VisitLogForm, rows: list[ProblemForm], error: visit_service.VisitError):
    """The field a refusal is shown next to (a problem's own field for a problem), or None."""
    if error.problem is not None:
        return rows[error.problem][error.field]
    if error.field == "form":
        return form.kind
    if error.field in ("held_on", "enterprises", "deputies", "station", "notes"):
        return form[error.field]
    return None
