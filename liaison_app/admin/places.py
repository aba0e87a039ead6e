"""Admin pages for jurisdictions, stations, departments and deputies."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from wtforms import SelectChoice

from ..extensions import db
from ..models import Department, Deputy, DeputyKind, Jurisdiction, Level, Role, Station, StationKind
from ..services import places
from ..services.photos import process_portrait
from ..validators import InvalidValue
from . import add_menu_entry, bp, scope
from .forms import DepartmentForm, DeputyForm, JurisdictionForm, StationForm

add_menu_entry("admin.jurisdictions", _l("Jurisdictions"))
add_menu_entry("admin.stations", _l("Stations"))
add_menu_entry("admin.deputies", _l("Deputies"))
add_menu_entry("admin.departments", _l("Departments"))


def _choices(jurisdictions):
    return [SelectChoice(j.id, f"{'　' * j.level.rank}{j.name}") for j in jurisdictions]


def _render_form(form, title, status=200, problem=None):
    return render_template("admin/form.html", form=form, title=title, problem=problem), status


def _apply(form, title, save):
    """Validate → one service call → 303 to the list; a PlaceError lands by its field."""
    if not form.validate():
        return _render_form(form, title, 422)
    try:
        save()
    except (places.PlaceError, InvalidValue) as error:
        db.session.rollback()
        field = getattr(form, getattr(error, "field", None) or "", None)
        if field is not None:
            field.errors = [*field.errors, str(error.message)]
            return _render_form(form, title, 422)
        return _render_form(form, title, 422, problem=error.message)
    flash(_("Saved."), "success")
    return None


# --- jurisdictions ------------------------------------------------------------------------


def _editable_jurisdiction(jurisdiction_id):
    """Staff manage what lies below their own jurisdiction, not their own node itself."""
    jurisdiction = scope.get_in_scope_or_404(current_user, Jurisdiction, jurisdiction_id)
    if current_user.role is Role.STAFF and jurisdiction.id == current_user.jurisdiction_id:
        abort(403)
    return jurisdiction


@bp.get("/jurisdictions")
def jurisdictions():
    tree = scope.limit_to_scope(current_user, sa.select(Jurisdiction).order_by(Jurisdiction.division_code),
                                Jurisdiction.id)
    return render_template("admin/jurisdictions.html", jurisdictions=db.session.scalars(tree).all())


@bp.route("/jurisdictions/new", methods=["GET", "POST"])
@bp.route("/jurisdictions/<int:jurisdiction_id>/edit", methods=["GET", "POST"])
def jurisdiction_edit(jurisdiction_id=None):
    jurisdiction = _editable_jurisdiction(jurisdiction_id) if jurisdiction_id else Jurisdiction()
    form = JurisdictionForm(obj=None if request.method == "POST" else jurisdiction)
    if request.method == "GET" and jurisdiction.id:
        form.level.data, form.parent.data = jurisdiction.level.value, jurisdiction.parent_id or 0
    parents = [j for j in scope.jurisdiction_choices(current_user) if j.level is not Level.TOWNSHIP
               and j.id != jurisdiction.id]
    none = [SelectChoice(0, _("(none: a province)"))] if current_user.role is Role.ADMIN else []
    form.parent.choices = none + _choices(parents)
    title = _("Edit jurisdiction") if jurisdiction.id else _("New jurisdiction")
    if request.method == "GET":
        return _render_form(form, title)
    parent = db.session.get(Jurisdiction, form.parent.data) if form.parent.data else None
    failed = _apply(form, title, lambda: places.save_jurisdiction(
        jurisdiction, actor=current_user, name=form.name.data, division_code=form.division_code.data,
        parent=parent, level=Level(form.level.data), is_street=form.is_street.data, active=form.active.data))
    return failed or redirect(url_for(".jurisdictions"), 303)


@bp.post("/jurisdictions/<int:jurisdiction_id>/delete")
def jurisdiction_delete(jurisdiction_id):
    jurisdiction = _editable_jurisdiction(jurisdiction_id)
    try:
        places.delete_jurisdiction(jurisdiction, actor=current_user)
        flash(_("Deleted."), "success")
    except places.PlaceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
    return redirect(url_for(".jurisdictions"), 303)


# --- stations -----------------------------------------------------------------------------


@bp.get("/stations")
def stations():
    # Each line names the station's jurisdiction: loaded with the stations, not one by one.
    query = sa.select(Station).options(joinedload(Station.jurisdiction)).order_by(Station.jurisdiction_id, Station.name)
    query = scope.limit_to_scope(current_user, query, Station.jurisdiction_id)
    return render_template("admin/stations.html", stations=db.session.scalars(query).all())


@bp.route("/stations/new", methods=["GET", "POST"])
@bp.route("/stations/<int:station_id>/edit", methods=["GET", "POST"])
def station_edit(station_id=None):
    station = scope.get_in_scope_or_404(current_user, Station, station_id) if station_id else Station()
    form = StationForm(obj=None if request.method == "POST" else station)
    form.jurisdiction.choices = _choices(scope.jurisdiction_choices(current_user))
    if request.method == "GET" and station.id:
        form.jurisdiction.data, form.kind.data = station.jurisdiction_id, station.kind.value
        form.procedure.data = station.process
    title = _("Edit station") if station.id else _("New station")
    if request.method == "GET":
        return _render_form(form, title)
    failed = _apply(form, title, lambda: places.save_station(
        station, actor=current_user, name=form.name.data, kind=StationKind(form.kind.data),
        jurisdiction=_in_scope_jurisdiction(form.jurisdiction.data), address=form.address.data or "",
        reception_days=form.reception_days.data or "", intro=form.intro.data or "", rules=form.rules.data or "",
        process=form.procedure.data or "", active=form.active.data))
    return failed or redirect(url_for(".stations"), 303)


def _in_scope_jurisdiction(jurisdiction_id) -> Jurisdiction:
    return scope.get_in_scope_or_404(current_user, Jurisdiction, jurisdiction_id)


# --- departments --------------------------------------------------------------------------


@bp.get("/departments")
def departments():
    query = scope.limit_to_scope(current_user, sa.select(Department).order_by(Department.jurisdiction_id,
                                                                               Department.name),
                                 Department.jurisdiction_id)
    return render_template("admin/departments.html", departments=db.session.scalars(query).all())


@bp.route("/departments/new", methods=["GET", "POST"])
@bp.route("/departments/<int:department_id>/edit", methods=["GET", "POST"])
def department_edit(department_id=None):
    department = scope.get_in_scope_or_404(current_user, Department, department_id) if department_id else Department()
    form = DepartmentForm(obj=None if request.method == "POST" else department)
    form.jurisdiction.choices = _choices(scope.jurisdiction_choices(current_user))
    if request.method == "GET" and department.id:
        form.jurisdiction.data = department.jurisdiction_id
    title = _("Edit department") if department.id else _("New department")
    if request.method == "GET":
        return _render_form(form, title)
    failed = _apply(form, title, lambda: places.save_department(
        department, actor=current_user, name=form.name.data,
        jurisdiction=_in_scope_jurisdiction(form.jurisdiction.data), active=form.active.data))
    return failed or redirect(url_for(".departments"), 303)


# --- deputies -----------------------------------------------------------------------------


@bp.get("/deputies")
def deputies():
    # Each line names the deputy's congress (title) and stations: loaded for the whole page at once.
    query = (sa.select(Deputy).options(joinedload(Deputy.congress_jurisdiction), selectinload(Deputy.stations))
             .order_by(Deputy.congress_jurisdiction_id, Deputy.name))
    q = (request.args.get("q") or "").strip()
    if q:
        query = query.where(Deputy.name.contains(q))
    query = scope.limit_to_scope(current_user, query, Deputy.congress_jurisdiction_id)
    return render_template("admin/deputies.html", deputies=db.session.scalars(query.limit(500)).all(), q=q)


@bp.route("/deputies/new", methods=["GET", "POST"])
@bp.route("/deputies/<int:deputy_id>/edit", methods=["GET", "POST"])
def deputy_edit(deputy_id=None):
    deputy = scope.get_in_scope_or_404(current_user, Deputy, deputy_id) if deputy_id else Deputy()
    form = DeputyForm(obj=None if request.method == "POST" else deputy)
    jurisdictions = scope.jurisdiction_choices(current_user)
    form.congress_jurisdiction.choices = _choices(jurisdictions)
    in_scope_stations = db.session.scalars(scope.limit_to_scope(
        current_user, sa.select(Station).where(Station.active).order_by(Station.name), Station.jurisdiction_id)).all()
    form.stations.choices = [SelectChoice(s.id, s.name) for s in in_scope_stations]
    if request.method == "GET" and deputy.id:
        form.congress_jurisdiction.data = deputy.congress_jurisdiction_id
        form.kind.data = deputy.kind.value
        form.stations.data = [s.id for s in deputy.stations]
    title = _("Edit deputy") if deputy.id else _("New deputy")
    if request.method == "GET":
        return _render_form(form, title)
    photo = None
    if form.photo.data and getattr(form.photo.data, "filename", ""):
        try:
            photo = process_portrait(form.photo.data)
        except InvalidValue as error:
            form.validate()
            form.photo.errors = [*form.photo.errors, str(error.message)]
            return _render_form(form, title, 422)
    chosen = [s for s in in_scope_stations if s.id in (form.stations.data or [])]
    failed = _apply(form, title, lambda: places.save_deputy(
        deputy, actor=current_user, stations=chosen, photo=photo, name=form.name.data,
        kind=DeputyKind(form.kind.data), congress_jurisdiction=_in_scope_jurisdiction(form.congress_jurisdiction.data),
        specialties=form.specialties.data or "", bio=form.bio.data or "", active=form.active.data))
    return failed or redirect(url_for(".deputies"), 303)
