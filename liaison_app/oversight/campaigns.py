"""Visit campaigns (走访活动): the list, the campaign form, the progress page, 1+N pairing
(by hand, by import, spread evenly), the enterprises not yet visited, the one-tap
reminder and the coverage spreadsheet. Staff see the campaigns over their jurisdiction
and below (admin/scope.py); anything outside is 404."""

from datetime import date
from typing import Optional

from flask import abort, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError
from wtforms.validators import Optional as OptionalInput

from ..admin import scope
from ..admin.users import optional_id, strip_text
from ..extensions import db
from ..models import Deputy, Enterprise, Jurisdiction, Pairing, Role, TargetKind, VisitCampaign
from ..services import campaigns as service
from ..services.imports import MAX_FILE_BYTES, XLSX_MIMETYPE
from ..templating import attachment, is_htmx, redirect_after_post
from ..workdays import today_local
from . import add_menu_entry, bp

add_menu_entry("oversight.campaigns", _l("Visit campaigns"))

TEMPLATES = "oversight/campaigns/"
VISIT_MONTH = 8  # 代表集中走访月: August


class CampaignForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip_text], validators=[
        DataRequired(_l("Please fill this in.")),
        Length(max=service.NAME_MAX, message=_l("At most %(max)d characters."))])
    jurisdiction = SelectField(_l("Jurisdiction"), coerce=optional_id, validate_choice=False,
                               validators=[InputRequired(_l("Please choose one."))])
    starts_on = DateField(_l("First day"), validators=[InputRequired(_l("Please give a date."))])
    ends_on = DateField(_l("Last day"), validators=[InputRequired(_l("Please give a date."))])
    target_kind = RadioField(_l("Enterprises to visit"),
                             choices=[SelectChoice(kind.value, kind.label) for kind in TargetKind],
                             validators=[InputRequired(_l("Please choose one."))])
    park = SelectField(_l("Industrial park"), validate_choice=False)
    target_file = FileField(_l("List of enterprises (.xlsx or .csv)"))
    note = TextAreaField(_l("Note (optional)"), filters=[strip_text], validators=[
        OptionalInput(), Length(max=service.NOTE_MAX, message=_l("At most %(max)d characters."))])

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("The last day cannot be before the first day."))


class PairingForm(FlaskForm):
    deputy = SelectField(_l("Deputy"), coerce=optional_id, validate_choice=False,
                         validators=[InputRequired(_l("Please choose a deputy."))])
    lead = BooleanField(_l("Lead deputy for this enterprise (replaces the current lead)"))


class PairingImportForm(FlaskForm):
    file = FileField(_l("Spreadsheet (.xlsx or .csv)"), validators=[FileRequired(_l("Please choose a file."))])


def _campaign_or_404(campaign_id: int) -> VisitCampaign:
    campaign = db.session.get(VisitCampaign, campaign_id)
    if campaign is None or not service.may_manage(current_user, campaign):
        abort(404)
    return campaign


def _target_or_404(campaign: VisitCampaign, enterprise_id: int) -> Enterprise:
    enterprise = db.session.get(Enterprise, enterprise_id)
    if enterprise is None or not service.is_target(campaign, enterprise.id):
        abort(404)
    return enterprise


def _pairing_or_404(campaign: VisitCampaign, pairing_id: int) -> Pairing:
    pairing = db.session.get(Pairing, pairing_id)
    if pairing is None or pairing.campaign_id != campaign.id:
        abort(404)
    return pairing


def _upload(file_storage) -> Optional[service.Upload]:
    if file_storage is None or not getattr(file_storage, "filename", ""):
        return None
    return service.Upload(file_storage.stream.read(MAX_FILE_BYTES + 1), file_storage.filename)


# --- the list and the campaign form ---------------------------------------------------------------


@bp.get("/campaigns")
def campaigns():
    return render_template(TEMPLATES + "index.html", summaries=service.campaign_list(current_user),
                           today=today_local())


@bp.route("/campaigns/new", methods=["GET", "POST"])
def campaign_new():
    return _edit(VisitCampaign())


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def campaign_edit(campaign_id):
    return _edit(_campaign_or_404(campaign_id))


@bp.get("/campaigns/parks")
def campaign_parks():
    """The park drop-down for the chosen jurisdiction (htmx swaps it when the jurisdiction changes)."""
    form = CampaignForm(formdata=None)
    chosen = request.args.get("jurisdiction", type=int)
    if chosen is not None:
        scope.get_in_scope_or_404(current_user, Jurisdiction, chosen)
    form.park.data = request.args.get("park", "")[:service.PARK_MAX]
    _set_park_choices(form, chosen)
    return render_template(TEMPLATES + "_park_field.html", form=form)


def _edit(campaign: VisitCampaign):
    """Validate → save_campaign → 303 to the campaign; refused input comes back with 422."""
    form = CampaignForm(obj=None if request.method == "POST" else campaign)
    form.jurisdiction.choices = scope.jurisdiction_select(current_user, keeping=campaign.jurisdiction,
                                                          blank=_("Choose…"))
    if request.method == "GET":
        _fill_defaults(form, campaign)
    _set_park_choices(form, form.jurisdiction.data)
    if request.method == "GET":
        return _render_form(form, campaign)
    if not form.validate():
        return _render_form(form, campaign, status=422)
    try:
        result = service.save_campaign(
            campaign, actor=current_user, name=form.name.data, jurisdiction=db.session.get(
                Jurisdiction, form.jurisdiction.data or 0), starts_on=form.starts_on.data, ends_on=form.ends_on.data,
            target_kind=TargetKind(form.target_kind.data), park=form.park.data or "", note=form.note.data or "",
            target_list=_upload(form.target_file.data))
    except service.CampaignError as error:
        db.session.rollback()
        target = form[error.field] if error.field in form else form.name
        target.errors = [*target.errors, str(error.message)]
        return _render_form(form, campaign, rows=error.rows, status=422)
    flash(ngettext("Saved: %(num)d target enterprise.", "Saved: %(num)d target enterprises.", result.targets),
          "success")
    if result.pairings_removed:
        flash(ngettext("%(num)d pairing of an enterprise no longer targeted was removed.",
                       "%(num)d pairings of enterprises no longer targeted were removed.", result.pairings_removed),
              "warning")
    return redirect_after_post(url_for(".campaign", campaign_id=result.campaign.id))


def _fill_defaults(form: CampaignForm, campaign: VisitCampaign) -> None:
    if campaign.id:
        form.jurisdiction.data = campaign.jurisdiction_id
        form.target_kind.data = campaign.target_kind.value
        return
    # A new campaign: the next visit month (August) in the user's own jurisdiction.
    today = today_local()
    year = today.year if today <= date(today.year, VISIT_MONTH, 31) else today.year + 1
    form.name.data = _("%(year)d Deputies' Visit Month", year=year)
    form.starts_on.data, form.ends_on.data = date(year, VISIT_MONTH, 1), date(year, VISIT_MONTH, 31)
    form.target_kind.data = TargetKind.ALL.value
    if current_user.role is Role.STAFF:
        form.jurisdiction.data = current_user.jurisdiction_id


def _set_park_choices(form: CampaignForm, jurisdiction_id: Optional[int]) -> None:
    parks = service.park_choices(jurisdiction_id)
    if form.park.data and form.park.data not in parks:
        parks.insert(0, form.park.data)  # keep what was chosen; the service says why it no longer fits
    form.park.choices = [SelectChoice("", _("Choose…"))] + [SelectChoice(park, park) for park in parks]


def _render_form(form: CampaignForm, campaign: VisitCampaign, *, rows=(), status: int = 200):
    return render_template(TEMPLATES + "form.html", form=form, campaign=campaign, rows=rows,
                           listed=campaign.id is not None and campaign.target_kind is TargetKind.LIST,
                           headers=(service.ENTERPRISE_NAME, service.ENTERPRISE_USCC)), status


# --- the progress page ----------------------------------------------------------------------------


@bp.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id):
    campaign = _campaign_or_404(campaign_id)
    return render_template(TEMPLATES + "show.html", campaign=campaign, report=service.coverage(campaign),
                           today=today_local())


@bp.get("/campaigns/<int:campaign_id>/not-visited")
def campaign_not_visited(campaign_id):
    campaign = _campaign_or_404(campaign_id)
    report = service.coverage(campaign)
    return render_template(TEMPLATES + "not_visited.html", campaign=campaign, total=report.total,
                           rows=service.not_visited(campaign))


@bp.post("/campaigns/<int:campaign_id>/remind")
def campaign_remind(campaign_id):
    """催促 in one tap: one message to each deputy behind, at most once a day each."""
    campaign = _campaign_or_404(campaign_id)
    result = service.remind_behind(campaign, actor=current_user)
    notice, category = _reminder_notice(result)
    if not is_htmx():
        flash(notice, category)
        return redirect_after_post(url_for(".campaign", campaign_id=campaign.id, _anchor="campaign-remind"))
    return render_template(TEMPLATES + "_remind.html", campaign=campaign, report=service.coverage(campaign),
                           notice=notice, category=category)


def _reminder_notice(result: service.ReminderResult) -> tuple[str, str]:
    if result.queued:
        notice = ngettext("A reminder was sent to %(num)d deputy.", "Reminders were sent to %(num)d deputies.",
                          result.queued)
        if result.already:
            notice += " " + ngettext("%(num)d more was already reminded today.",
                                     "%(num)d more were already reminded today.", result.already)
        return notice, "success"
    if result.already:
        return ngettext("The %(num)d deputy behind was already reminded today: nothing was sent.",
                        "All %(num)d deputies behind were already reminded today: nothing was sent.",
                        result.already), "warning"
    return _("No deputy is behind: every paired enterprise has been visited."), "success"


@bp.get("/campaigns/<int:campaign_id>/coverage.xlsx")
def campaign_export(campaign_id):
    campaign = _campaign_or_404(campaign_id)
    data = service.coverage_workbook(service.coverage(campaign), service.not_visited(campaign, limit=None))
    return attachment(data, XLSX_MIMETYPE, *service.export_filename(campaign))


# --- pairing ----------------------------------------------------------------------------------------


@bp.get("/campaigns/<int:campaign_id>/pairings")
def campaign_pairings(campaign_id):
    """The pairing screen: spread evenly, import, and a search of the target enterprises."""
    campaign = _campaign_or_404(campaign_id)
    text = request.args.get("q", "").strip()[:60]
    rows = service.target_search(campaign, text)
    if is_htmx():
        return render_template(TEMPLATES + "_targets.html", campaign=campaign, rows=rows, q=text)
    return _render_pairings(campaign, PairingImportForm(formdata=None), rows=rows, q=text)


def _render_pairings(campaign: VisitCampaign, import_form: PairingImportForm, *, rows=None, q: str = "",
                     problems=(), spread=None, status: int = 200):
    if rows is None:
        rows = service.target_search(campaign, q)
    return render_template(TEMPLATES + "pairings.html", campaign=campaign, rows=rows, q=q, import_form=import_form,
                           problems=problems, spread=spread, headers=service.PAIRING_HEADERS,
                           report=service.coverage(campaign)), status


@bp.post("/campaigns/<int:campaign_id>/spread")
def campaign_spread(campaign_id):
    """一键平均分配: every target without a lead gets one from its township's stations."""
    campaign = _campaign_or_404(campaign_id)
    try:
        result = service.spread_evenly(campaign, actor=current_user)
    except service.CampaignError as error:
        flash(str(error.message), "error")
        return redirect_after_post(url_for(".campaign_pairings", campaign_id=campaign.id))
    flash(ngettext("%(num)d enterprise was given a lead deputy.", "%(num)d enterprises were given a lead deputy.",
                   result.paired), "success")
    for place, count in result.unpaired:
        flash(ngettext("%(place)s: %(num)d enterprise left unpaired (no station with active deputies there).",
                       "%(place)s: %(num)d enterprises left unpaired (no station with active deputies there).",
                       count, place=place or _("jurisdiction not known")), "warning")
    return redirect_after_post(url_for(".campaign_pairings", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/pairings/import")
def pairing_import(campaign_id):
    campaign = _campaign_or_404(campaign_id)
    form = PairingImportForm()
    if not form.validate():
        return _render_pairings(campaign, form, status=422)
    try:
        result = service.import_pairings(campaign, _upload(form.file.data), actor=current_user)
    except service.CampaignError as error:
        db.session.rollback()
        form.file.errors = [*form.file.errors, str(error.message)]
        return _render_pairings(campaign, form, problems=error.rows, status=422)
    flash(_("Pairings imported: %(created)d new, %(changed)d changed, %(unchanged)d unchanged.",
            created=result.created, changed=result.changed, unchanged=result.unchanged), "success")
    if result.skipped:
        flash(ngettext("%(num)d line names no deputy and was skipped.",
                       "%(num)d lines name no deputy and were skipped.", result.skipped), "warning")
    return redirect_after_post(url_for(".campaign_pairings", campaign_id=campaign.id))


@bp.get("/campaigns/<int:campaign_id>/pairings/template.xlsx")
def pairing_template(campaign_id):
    """The import file to fill in: the targets, with their lead deputies where named."""
    campaign = _campaign_or_404(campaign_id)
    day = today_local().strftime("%Y%m%d")
    return attachment(service.pairing_template(campaign), XLSX_MIMETYPE, f"结对名单-{campaign.name}-{day}.xlsx",
                      f"campaign-{campaign.id}-pairings-{day}.xlsx")


@bp.get("/campaigns/<int:campaign_id>/enterprises/<int:enterprise_id>")
def campaign_enterprise(campaign_id, enterprise_id):
    """One target enterprise's deputies, with the form to pair another."""
    campaign = _campaign_or_404(campaign_id)
    return _render_enterprise(campaign, _target_or_404(campaign, enterprise_id), PairingForm(formdata=None))


def _render_enterprise(campaign: VisitCampaign, enterprise: Enterprise, form: PairingForm, *, status: int = 200):
    near, others = service.deputy_choices(campaign, enterprise)
    near_label, others_label = _("Deputies of this township's stations"), _("Other deputies")
    form.deputy.choices = [SelectChoice("", _("Choose…"))] + [
        SelectChoice(d.id, _deputy_label(d), optgroup=near_label) for d in near] + [
        SelectChoice(d.id, _deputy_label(d), optgroup=others_label) for d in others]
    return render_template(TEMPLATES + "enterprise.html", campaign=campaign, enterprise=enterprise, form=form,
                           pairings=service.enterprise_pairings(campaign, enterprise)), status


def _deputy_label(deputy: Deputy) -> str:
    station = deputy.primary_station
    return f"{deputy.name} · {station.name}" if station else deputy.name


@bp.post("/campaigns/<int:campaign_id>/enterprises/<int:enterprise_id>/pairings")
def pairing_add(campaign_id, enterprise_id):
    campaign = _campaign_or_404(campaign_id)
    enterprise = _target_or_404(campaign, enterprise_id)
    form = PairingForm()
    if not form.validate():
        return _render_enterprise(campaign, enterprise, form, status=422)
    deputy = db.session.get(Deputy, form.deputy.data) if form.deputy.data else None
    try:
        service.pair(campaign, actor=current_user, deputy=deputy, enterprise=enterprise, lead=form.lead.data)
    except service.CampaignError as error:
        db.session.rollback()
        form.deputy.errors = [*form.deputy.errors, str(error.message)]
        return _render_enterprise(campaign, enterprise, form, status=422)
    flash(_("%(deputy)s is paired with %(enterprise)s.", deputy=deputy.name, enterprise=enterprise.name), "success")
    return redirect_after_post(url_for(".campaign_enterprise", campaign_id=campaign.id, enterprise_id=enterprise.id))


@bp.post("/campaigns/<int:campaign_id>/pairings/<int:pairing_id>/lead")
def pairing_lead(campaign_id, pairing_id):
    """Make this deputy the enterprise's lead; the old lead stays paired."""
    campaign = _campaign_or_404(campaign_id)
    pairing = _pairing_or_404(campaign, pairing_id)
    enterprise_id = pairing.enterprise_id
    try:
        service.pair(campaign, actor=current_user, deputy=pairing.deputy, enterprise=pairing.enterprise, lead=True)
    except service.CampaignError as error:
        db.session.rollback()
        flash(str(error.message), "error")
    else:
        flash(_("%(deputy)s is now the lead deputy.", deputy=pairing.deputy.name), "success")
    return redirect_after_post(url_for(".campaign_enterprise", campaign_id=campaign.id, enterprise_id=enterprise_id))


@bp.post("/campaigns/<int:campaign_id>/pairings/<int:pairing_id>/remove")
def pairing_remove(campaign_id, pairing_id):
    campaign = _campaign_or_404(campaign_id)
    pairing = _pairing_or_404(campaign, pairing_id)
    enterprise_id, name = pairing.enterprise_id, pairing.deputy.name
    service.remove_pairing(pairing, actor=current_user)
    flash(_("%(deputy)s is no longer paired with this enterprise.", deputy=name), "success")
    return redirect_after_post(url_for(".campaign_enterprise", campaign_id=campaign.id, enterprise_id=enterprise_id))
