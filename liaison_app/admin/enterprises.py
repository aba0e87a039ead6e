"""Admin pages for enterprises: find (name, USCC, pinyin initials), correct, merge duplicates.

Staff see the enterprises of their jurisdiction's subtree and those without a jurisdiction
that filed a request there (services.enterprises.visible_enterprises); others are 404.
"""

import sqlalchemy as sa
from flask import abort, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from .. import access
from ..extensions import db
from ..models import Enterprise, Jurisdiction, Request, Role
from ..services import enterprises as enterprise_service
from ..templating import is_htmx, redirect_after_post
from . import add_menu_entry, bp, scope
from .users import optional_id, strip_text

add_menu_entry("admin.enterprises", _l("Enterprises"))

LIST_LIMIT = 100


def _text(label, max_length: int, required: bool = False):
    validators = [Length(max=max_length, message=_l("At most %(max)d characters."))]
    if required:
        validators.insert(0, DataRequired(_l("Please fill this in.")))
    return StringField(label, filters=[strip_text], validators=validators)


FIELD_LABELS = {
    "name": _l("Name"),
    "uscc": _l("Unified social credit code"),
    "address": _l("Address"),
    "jurisdiction_id": _l("Jurisdiction"),
    "industry": _l("Industry"),
    "park": _l("Industrial park"),
}


class EnterpriseForm(FlaskForm):
    name = _text(FIELD_LABELS["name"], 120, required=True)
    uscc = _text(FIELD_LABELS["uscc"], 30)
    address = _text(FIELD_LABELS["address"], 200)
    jurisdiction = SelectField(FIELD_LABELS["jurisdiction_id"], coerce=optional_id, validate_choice=False)
    industry = _text(FIELD_LABELS["industry"], 60)
    park = _text(FIELD_LABELS["park"], 80)


def _enterprise_or_404(enterprise_id: int) -> Enterprise:
    enterprise = db.session.get(Enterprise, enterprise_id)
    if enterprise is None or not enterprise_service.may_manage(current_user, enterprise):
        abort(404)
    return enterprise


def _found(text: str, *, leaving_out: int = 0) -> tuple[list, bool]:
    """The enterprises in scope that match, each with its number of requests; and whether cut."""
    requests = (sa.select(sa.func.count(Request.id)).where(Request.enterprise_id == Enterprise.id)
                .correlate(Enterprise).scalar_subquery())
    query = enterprise_service.matching(enterprise_service.visible_enterprises(current_user), text)
    query = query.options(joinedload(Enterprise.jurisdiction))  # each row names it
    rows = db.session.execute(query.add_columns(requests).where(Enterprise.id != leaving_out)
                              .order_by(Enterprise.name, Enterprise.id).limit(LIST_LIMIT + 1)).all()
    return rows[:LIST_LIMIT], len(rows) > LIST_LIMIT


@bp.get("/enterprises")
def enterprises():
    text = request.args.get("q", "").strip()[:60]
    rows, cut = _found(text)
    context = dict(rows=rows, cut=cut, q=text)
    return render_template("admin/enterprises/_list.html" if is_htmx() else "admin/enterprises/index.html", **context)


@bp.get("/enterprises/<int:enterprise_id>")
def enterprise(enterprise_id):
    enterprise = _enterprise_or_404(enterprise_id)
    # Only the requests this user may open are listed; the count says how many there are in all.
    visible = (access.visible_requests(current_user).where(Request.enterprise_id == enterprise.id)
               .order_by(Request.id.desc()).limit(50))
    total = db.session.scalar(sa.select(sa.func.count(Request.id)).where(Request.enterprise_id == enterprise.id))
    notice = _("The two records were merged.") if request.args.get("done") == "merged" else None
    return render_template("admin/enterprises/show.html", enterprise=enterprise, total=total, notice=notice,
                           requests=db.session.scalars(visible).all())


@bp.route("/enterprises/<int:enterprise_id>/edit", methods=["GET", "POST"])
def enterprise_edit(enterprise_id):
    enterprise = _enterprise_or_404(enterprise_id)
    form = EnterpriseForm(obj=None if request.method == "POST" else enterprise)
    choices = scope.jurisdiction_select(current_user)
    if current_user.role is Role.ADMIN or enterprise.jurisdiction_id is None:
        choices.insert(0, SelectChoice("", _("(not known)")))
    form.jurisdiction.choices = choices
    if request.method == "GET":
        form.jurisdiction.data = enterprise.jurisdiction_id
        return _render_form(form, enterprise)
    if not form.validate():
        return _render_form(form, enterprise, 422)
    jurisdiction = db.session.get(Jurisdiction, form.jurisdiction.data) if form.jurisdiction.data else None
    try:
        enterprise_service.update_enterprise(
            enterprise, actor=current_user, name=form.name.data, uscc=form.uscc.data or "",
            address=form.address.data or "", jurisdiction=jurisdiction, industry=form.industry.data or "",
            park=form.park.data or "")
    except enterprise_service.EnterpriseError as error:
        db.session.rollback()
        target = form[error.field] if error.field else form.name
        target.errors = [*target.errors, str(error.message)]
        return _render_form(form, enterprise, 422)
    return redirect_after_post(url_for(".enterprise", enterprise_id=enterprise.id))


def _render_form(form: EnterpriseForm, enterprise: Enterprise, status: int = 200):
    template = "admin/enterprises/_form.html" if is_htmx() else "admin/enterprises/edit.html"
    return render_template(template, form=form, enterprise=enterprise), status


# --- merging two records of one company ----------------------------------------------------


@bp.get("/enterprises/<int:enterprise_id>/merge")
def enterprise_merge(enterprise_id):
    """Step 1: find the duplicate (active search); step 2 (?duplicate=): the preview."""
    kept = _enterprise_or_404(enterprise_id)
    duplicate_id = request.args.get("duplicate", type=int)
    if duplicate_id is None:
        text = request.args.get("q", "").strip()[:60]
        rows, cut = _found(text, leaving_out=kept.id) if text else ([], False)
        context = dict(kept=kept, rows=rows, cut=cut, q=text)
        template = "admin/enterprises/_merge_candidates.html" if is_htmx() else "admin/enterprises/merge.html"
        return render_template(template, **context)
    return _render_preview(kept, _enterprise_or_404(duplicate_id))


@bp.post("/enterprises/<int:enterprise_id>/merge")
def enterprise_merge_confirm(enterprise_id):
    kept = _enterprise_or_404(enterprise_id)
    duplicate = _enterprise_or_404(request.form.get("duplicate", type=int) or 0)
    try:
        enterprise_service.merge_enterprises(kept, duplicate, actor=current_user)
    except enterprise_service.EnterpriseError as error:
        db.session.rollback()
        return _render_preview(kept, duplicate, problem=error.message, status=409)
    return redirect_after_post(url_for(".enterprise", enterprise_id=kept.id, done="merged"))


def _render_preview(kept: Enterprise, duplicate: Enterprise, *, problem=None, status: int = 200):
    plan = None
    if problem is None:
        try:
            plan = enterprise_service.plan_merge(kept, duplicate, actor=current_user)
        except enterprise_service.EnterpriseError as error:
            problem = error.message
    context = dict(kept=kept, duplicate=duplicate, plan=plan, problem=problem, field_labels=FIELD_LABELS)
    template = "admin/enterprises/_merge_preview.html" if is_htmx() else "admin/enterprises/merge.html"
    return make_response(render_template(template, **context), status)
