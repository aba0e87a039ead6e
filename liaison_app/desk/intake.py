"""代为登记: staff and deputies file a request on an enterprise's behalf (来访, 来电, 来信,
12345转办, 政企恳谈会...) with the enterprise's own form, at a station of their scope.

The filing is the enterprise's (services/requests.file_request: one transaction, the same
idempotency key files once, the same notification); the FILE event is the recorder's.
Who may file at which station is access.intake_stations; a station outside it is 404.
"""

from flask import abort, current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload
from wtforms import SelectChoice

from .. import access
from ..extensions import db
from ..models import Channel, Jurisdiction, Request, RequestEvent, Station
from ..public.forms import new_idempotency_key
from ..public.views import _validate_with_photos
from ..services.requests import file_request, station_route
from ..templating import is_htmx, redirect_after_post
from ..workflow import Action
from . import bp
from .forms import IntakeForm


@bp.before_request
def _intake_needs_staff_or_a_deputy():
    """Runs after the desk's login check, for the intake pages only."""
    if (request.endpoint or "").startswith("desk.intake") and not access.may_take_intake(current_user):
        abort(403)
    return None


@bp.route("/intake", methods=["GET", "POST"])
def intake():
    """The enterprise's form with the channel and the station: validate → file_request → 303
    to the page that reads out the reference and the tracking link."""
    stations = _stations()
    if request.method == "GET":
        form = IntakeForm(formdata=None)
        form.idempotency_key.data = new_idempotency_key()
        form.channel.data = request.args.get("channel") or form.channel.data
        form.station.data = request.args.get("station", type=int) or (stations[0].id if len(stations) == 1 else None)
        return _render_form(form, stations)

    form = IntakeForm()
    # A station outside the user's scope is refused before anything else, whatever the rest says.
    station = access.get_intake_station_or_404(current_user, form.station.data) if form.station.data else None
    form_ok, photos = _validate_with_photos(form)
    if not form_ok:
        return _render_form(form, stations, status=422)
    req, created = file_request(form.filing(), route=station_route(station, Channel(form.channel.data)),
                                idempotency_key=form.idempotency_key.data, photos=photos, recorded_by=current_user)
    if created:
        flash(_("Recorded. Read the reference and the tracking link to the enterprise."), "success")
    return redirect_after_post(url_for(".intake_filed", request_id=req.id))


@bp.get("/intake/<int:request_id>")
def intake_filed(request_id):
    """What was just recorded: its reference and tracking link, to read out on the phone. Only
    for the person who recorded it (the link lets its holder act as the enterprise)."""
    req = db.session.scalar(
        access.visible_requests(current_user).join(RequestEvent, RequestEvent.request_id == Request.id)
        .where(Request.id == request_id, RequestEvent.action == Action.FILE,
               RequestEvent.actor_user_id == current_user.id))
    if req is None:
        abort(404)
    tracking_url = current_app.config["PUBLIC_BASE_URL"] + url_for("public.tracking", token=req.tracking_token)
    return render_template("desk/intake/filed.html", req=req, tracking_url=tracking_url)


def _stations() -> list[Station]:
    query = (access.intake_stations(current_user).join(Jurisdiction, Station.jurisdiction_id == Jurisdiction.id)
             .options(joinedload(Station.jurisdiction)).order_by(Jurisdiction.division_code, Station.name))
    return list(db.session.scalars(query))


def _render_form(form: IntakeForm, stations: list[Station], *, status=200):
    # Stations of several jurisdictions are told apart by their jurisdiction's name.
    several = len({s.jurisdiction_id for s in stations}) > 1
    form.station.choices = [SelectChoice("", _("Please choose"))] + [
        SelectChoice(s.id, f"{s.jurisdiction.name} · {s.name}" if several else s.name) for s in stations]
    photos_dropped = request.method == "POST" and any(f and f.filename for f in (form.photos.data or []))
    template = "desk/intake/_form.html" if is_htmx() else "desk/intake/new.html"
    return render_template(template, form=form, stations=stations, photos_dropped=photos_dropped), status
