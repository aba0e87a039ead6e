"""Admin pages for user accounts: find, create, hand over a one-time password link, deactivate.

Admins manage every account; staff the accounts of their jurisdiction's subtree (never an
admin's). Accounts outside are not listed and their pages are 404.
"""

from typing import Optional

import sqlalchemy as sa
from flask import current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ..extensions import db
from ..models import Department, Deputy, Jurisdiction, Role, User
from ..services import users as user_service
from ..templating import dom_id, is_htmx
from . import add_menu_entry, bp, scope

add_menu_entry("admin.users", _l("Users"))

LIST_LIMIT = 100  # a county has hundreds of deputies: search narrows the list


def strip_text(value):
    """A form filter (also used by the enterprise pages)."""
    return value.strip() if isinstance(value, str) else value


def _role_or_none(value) -> Optional[Role]:
    if isinstance(value, Role) or value is None:
        return value
    try:
        return Role(value)
    except ValueError:
        return None


def optional_id(value) -> Optional[int]:
    """Coerce a select's value to an id; blank or garbage is None, which the checks then refuse."""
    if isinstance(value, int) or value is None:
        return value
    return int(value) if str(value).isdigit() else None


class UserForm(FlaskForm):
    """A new account. Choices depend on who creates it; the service checks them again."""

    username = StringField(_l("Username"), filters=[strip_text], validators=[
        DataRequired(_l("Please fill this in.")), Length(max=40, message=_l("At most %(max)d characters."))])
    display_name = StringField(_l("Name shown in the app"), filters=[strip_text], validators=[
        Length(max=40, message=_l("At most %(max)d characters."))])
    phone = StringField(_l("Phone number (optional)"), filters=[strip_text], validators=[
        Length(max=30, message=_l("At most %(max)d characters."))])
    role = SelectField(_l("Role"), coerce=_role_or_none, validate_choice=False,
                       validators=[DataRequired(_l("Please choose a role."))])
    jurisdiction = SelectField(_l("Works for the jurisdiction"), coerce=optional_id, validate_choice=False)
    department = SelectField(_l("Handling unit"), coerce=optional_id, validate_choice=False)
    deputy = SelectField(_l("Deputy"), coerce=optional_id, validate_choice=False)


def account_scope(user: User) -> str:
    """What the account is tied to, in words: 太仓市 / 太仓市住建局 / 顾振华 (沙溪镇)."""
    if user.role is Role.STAFF:
        return user.jurisdiction.name
    if user.role is Role.UNIT:
        return user.department.name
    if user.role is Role.DEPUTY:
        return f"{user.deputy.name} ({user.deputy.congress_jurisdiction.name})"
    return _("All jurisdictions")


@bp.context_processor
def _account_helpers():
    return {"account_scope": account_scope}


# --- the list ------------------------------------------------------------------------------


def users_in_scope(actor: User) -> sa.Select:
    """SELECT the accounts the actor manages: the SQL form of scope.jurisdiction_of(User)."""
    query = sa.select(User)
    ids = scope.managed_jurisdiction_ids(actor)
    if ids is None:
        return query
    return query.where(sa.or_(
        sa.and_(User.role == Role.STAFF, User.jurisdiction_id.in_(ids)),
        sa.and_(User.role == Role.UNIT,
                User.department_id.in_(sa.select(Department.id).where(Department.jurisdiction_id.in_(ids)))),
        sa.and_(User.role == Role.DEPUTY,
                User.deputy_id.in_(sa.select(Deputy.id).where(Deputy.congress_jurisdiction_id.in_(ids)))),
    ))


def _matching(query: sa.Select, text: str) -> sa.Select:
    """By username or name (any part, any case) or by digits of the phone number."""
    if not text:
        return query
    conditions = [User.username.icontains(text, autoescape=True), User.display_name.icontains(text, autoescape=True)]
    digits = "".join(ch for ch in text if ch.isdigit()).removeprefix("0")  # 0512… is stored as +86512…
    if len(digits) >= 3:
        conditions.append(User.phone.contains(digits, autoescape=True))
    return query.where(sa.or_(*conditions))


@bp.get("/users")
def users():
    text = request.args.get("q", "").strip()[:40]
    query = (_matching(users_in_scope(current_user), text).order_by(User.username)
             .options(selectinload(User.jurisdiction), selectinload(User.department),
                      selectinload(User.deputy).selectinload(Deputy.congress_jurisdiction))
             .limit(LIST_LIMIT + 1))
    rows = db.session.scalars(query).all()
    context = dict(users=rows[:LIST_LIMIT], cut=len(rows) > LIST_LIMIT, q=text)
    return render_template("admin/users/_list.html" if is_htmx() else "admin/users/index.html", **context)


# --- creating an account -------------------------------------------------------------------


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    # A GET with values is htmx asking for the form again after the role changed.
    form = UserForm(formdata=request.args or None) if request.method == "GET" else UserForm()
    _fill_choices(form)
    if request.method == "GET":
        return _render_form(form)
    if not form.validate():
        return _render_form(form, status=422)
    try:
        issued = user_service.create_account(_draft(form), actor=current_user)
    except user_service.AccountRejected as rejected:
        for name, message in rejected.errors.items():
            form[name].errors = [*form[name].errors, str(message)]
        return _render_form(form, status=422)
    response = _render_card(issued.user, issued=issued, notice=_("The account was created. Hand the user the "
                                                                  "link or the code below to choose a password."))
    response.headers["HX-Push-Url"] = url_for(".user", user_id=issued.user.id)
    return response


def _fill_choices(form: UserForm) -> None:
    roles = [Role.STAFF, Role.UNIT, Role.DEPUTY]
    if current_user.role is Role.ADMIN:
        roles.insert(0, Role.ADMIN)
    choose = SelectChoice("", _("Choose…"))
    form.role.choices = [choose] + [SelectChoice(role.value, role.label) for role in roles]
    form.jurisdiction.choices = scope.jurisdiction_select(current_user, blank=_("Choose…"))
    departments = scope.limit_to_scope(
        current_user, sa.select(Department).join(Jurisdiction).where(Department.active)
        .order_by(Jurisdiction.division_code, Department.name), Department.jurisdiction_id)
    form.department.choices = [choose] + [SelectChoice(d.id, d.name) for d in db.session.scalars(departments)]
    with_account = sa.select(User.deputy_id).where(User.deputy_id.is_not(None))
    deputies = scope.limit_to_scope(
        current_user, sa.select(Deputy).join(Jurisdiction).where(Deputy.active, Deputy.id.not_in(with_account))
        .order_by(Jurisdiction.division_code, Deputy.name), Deputy.congress_jurisdiction_id)
    form.deputy.choices = [choose] + [SelectChoice(d.id, f"{d.name} ({d.congress_jurisdiction.name})")
                                      for d in db.session.scalars(deputies)]


def _draft(form: UserForm) -> user_service.AccountDraft:
    """The form's values, each chosen row loaded (None when unknown: the service says so)."""
    def load(model, object_id):
        return db.session.get(model, object_id) if object_id else None

    return user_service.AccountDraft(
        username=form.username.data, role=form.role.data, display_name=form.display_name.data or "",
        phone=form.phone.data or None, jurisdiction=load(Jurisdiction, form.jurisdiction.data),
        department=load(Department, form.department.data), deputy=load(Deputy, form.deputy.data))


def _render_form(form: UserForm, status: int = 200):
    scope_field = user_service.SCOPE_FIELDS.get(form.role.data)
    template = "admin/users/_form.html" if is_htmx() else "admin/users/new.html"
    # Once a role is chosen only its own scope field is shown; before, each with a hint.
    shown = [scope_field] if scope_field else ([] if form.role.data else list(user_service.SCOPE_FIELDS.values()))
    return render_template(template, form=form, scope_fields=shown), status


# --- one account -------------------------------------------------------------------------


def _user_or_404(user_id: int) -> User:
    return scope.get_in_scope_or_404(current_user, User, user_id)


@bp.get("/users/<int:user_id>")
def user(user_id):
    return _render_card(_user_or_404(user_id), notice=request.args.get("done") and _DONE.get(request.args["done"]))


@bp.post("/users/<int:user_id>/reset")
def user_reset(user_id):
    """The one-time link and code are shown in this response and never again."""
    account = _user_or_404(user_id)
    try:
        issued = user_service.issue_reset(account, actor=current_user)
    except user_service.AccountRefused as refused:
        db.session.rollback()
        return _render_card(account, problem=refused.message, status=409)
    return _render_card(account, issued=issued, notice=_("A new one-time link and code were made; "
                                                          "any earlier one no longer works."))


@bp.post("/users/<int:user_id>/deactivate")
def user_deactivate(user_id):
    return _change_state(user_id, "deactivated", user_service.deactivate_user)


@bp.post("/users/<int:user_id>/reactivate")
def user_reactivate(user_id):
    return _change_state(user_id, "reactivated", user_service.reactivate_user)


_DONE = {
    "deactivated": _l("The account is deactivated and logged out everywhere."),
    "reactivated": _l("The account is active again."),
}


def _change_state(user_id: int, done: str, change):
    account = _user_or_404(user_id)
    try:
        change(account, actor=current_user)
    except user_service.AccountRefused as refused:
        db.session.rollback()
        return _render_card(account, problem=refused.message, status=409)
    if not is_htmx():
        return redirect(url_for(".user", user_id=account.id, done=done), 303)
    return _render_card(_user_or_404(user_id), notice=_DONE[done])


def _render_card(account: User, *, issued=None, notice=None, problem=None, status: int = 200):
    context = dict(account=account, issued=issued, notice=notice, problem=problem,
                   latest_reset=user_service.latest_reset(account),
                   reset_url=issued and current_app.config["PUBLIC_BASE_URL"] + url_for("auth.reset_link",
                                                                                         token=issued.token),
                   code_url=current_app.config["PUBLIC_BASE_URL"] + url_for("auth.reset_code"),
                   card_id=dom_id(account, "card"))
    template = "admin/users/_card.html" if is_htmx() else "admin/users/show.html"
    return make_response(render_template(template, **context), status)
