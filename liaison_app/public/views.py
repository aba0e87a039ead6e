"""Views of the enterprise's path: load (or 404), validate, call one service, render."""

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from .. import access, limits
from ..extensions import db, reads_only
from ..models import Attachment, Deputy, QRCode, Rating, Request, Station
from ..services import receptions
from ..services.photos import process_uploads, send_photo
from ..services.qr import record_scan, scan_flush_if_due
from ..services.requests import add_information, file_request, route_by_token, withdraw_request
from ..services.workflow import close_if_unrated, rate_request
from ..templating import is_htmx, redirect_after_post
from ..validators import InvalidValue, normalise_phone, normalise_uscc
from ..workflow import Action, WorkflowError
from . import bp, landing_cache
from .forms import AddInfoForm, FilingForm, RatingForm, WithdrawForm, new_idempotency_key


@bp.get("/")
def index():
    return render_template("public/index.html")


# --- QR landing page and filing -------------------------------------------------------


@bp.get("/q/<token>")
def qr_landing(token):
    # Scans are buffered in the worker (QR_SCAN_FLUSH_SECONDS) and written after the answer of
    # the request that finds them due; an anonymous visitor may get the page from this worker's
    # cache (QR_LANDING_CACHE_SECONDS, landing_cache).
    record_scan(token)
    shared = landing_cache.shareable()
    html = landing_cache.get(token) if shared else None
    if html is None:
        code = _code_or_404(token)
        if not _code_is_live(code):
            return _after_landing(make_response(_retired_code_page(code)))
        # 接待日: the station's next reception day, or the deputy's next duty day (two queries).
        next_day = receptions.next_duty(code.deputy) if code.deputy else receptions.next_reception(code.station)
        html = render_template("public/landing.html", code=code, next_reception=next_day, shared_page=shared)
        if shared:
            landing_cache.put(token, html)
    if shared:
        request.environ[landing_cache.SHARED_ANSWER] = True  # FastPath may keep the whole answer
    return _after_landing(make_response(html))


def _after_landing(response: Response) -> Response:
    """Write the buffered scans once this answer has gone out, when they are due."""
    flush = scan_flush_if_due()
    if flush is not None:
        response.call_on_close(flush)
    return response


@bp.route("/q/<token>/file", methods=["GET", "POST"])
@limits.filing_per_address
@limits.filing_per_code
def request_file(token):
    if request.method == "GET":
        code = _code_or_404(token)
        if not _code_is_live(code):
            return _retired_code_page(code)
        form = FilingForm()
        form.idempotency_key.data = new_idempotency_key()
        return _render_filing(form, code)

    # A filing reads where its code sends it, in one narrow row; the whole code is loaded only
    # to show a page again (bench/throughput.py: a tenth of a filing's time).
    route = route_by_token(token)
    if route is None or not route.live:
        return _retired_code_page(_code_or_404(token))
    form = FilingForm()
    form_ok, photos = _validate_with_photos(form)
    if not form_ok:
        return _render_filing(form, _code_or_404(token), status=422)

    req, created = file_request(form.filing(), route=route, idempotency_key=form.idempotency_key.data, photos=photos)
    if created:
        flash(_("Your request has been filed. Keep this page's link to follow it."), "success")
    response = redirect_after_post(url_for(".tracking", token=req.tracking_token))
    _remember_request(response, req.tracking_token)
    return response


def _validate_with_photos(form):
    """Validate the fields and decode the photos, so that every problem shows at once."""
    form_ok = form.validate()
    try:
        photos = process_uploads(form.photos.data or [])
    except InvalidValue as error:
        form.photos.errors = [*form.photos.errors, str(error.message)]
        return False, []
    return form_ok, photos


def render_filing_after_csrf_error(token):
    """The CSRF token expired while the worker was typing: show the form again with
    every value kept (photos excepted) instead of losing the text."""
    code = _code_or_404(token)
    form = FilingForm(meta={"csrf": False})
    form.validate()  # to show what else needs fixing; nothing is written
    form.csrf_expired = True
    return _render_filing(form, code, status=422)


def render_filing_after_rate_limit(token, message):
    """Too many filings from this network or with this code: the form comes back as it was
    typed (photos excepted), with its idempotency key, to be sent again later."""
    code = _code_or_404(token)
    form = FilingForm(meta={"csrf": False})
    form.rate_limited = message
    return _render_filing(form, code, status=429)


@bp.post("/validate/<field>")
@reads_only
def validate_field(field):
    """Inline validation when a field is left: returns the field's error line only."""
    checks = {"uscc": normalise_uscc, "contact_phone": normalise_phone}
    if field not in checks:
        abort(404)
    value = (request.form.get(field) or "").strip()
    message = ""
    if value or field == "contact_phone":
        try:
            checks[field](value)
        except InvalidValue as error:
            message = str(error.message)
    return render_template("macros/_field_error.html", field_id=field, message=message)


def _render_filing(form, code, status=200):
    template = "public/_filing_form.html" if is_htmx() else "public/file.html"
    photos_dropped = request.method == "POST" and any(f and f.filename for f in (form.photos.data or []))
    return render_template(template, form=form, code=code, photos_dropped=photos_dropped), status


# A code with what the landing page and the form show of its deputy or station (the deputy's
# stations and their jurisdictions): one query, a row per station of the deputy (one or two),
# instead of a lazy load for each (bench/pages.py). Built once: building it and its cache key
# anew took 0.4 ms of a page (bench/throughput.py).
_CODE_BY_TOKEN = sa.select(QRCode).where(QRCode.token == sa.bindparam("token")).options(
    joinedload(QRCode.deputy).joinedload(Deputy.congress_jurisdiction),
    joinedload(QRCode.deputy).joinedload(Deputy.stations).joinedload(Station.jurisdiction),
    joinedload(QRCode.station).joinedload(Station.jurisdiction),
)


def _code_or_404(token) -> QRCode:
    code = db.session.execute(_CODE_BY_TOKEN, {"token": token}).unique().scalar_one_or_none()
    if code is None:
        abort(404, description=_("This code is not known. Please check that you scanned the whole code."))
    return code


def _code_is_live(code: QRCode) -> bool:
    target = code.deputy or code.station
    return not code.is_revoked and target.active


def _retired_code_page(code: QRCode):
    """A retired poster still helps: it says so and points at a code that works."""
    return render_template("public/retired_code.html", code=code, replacement=_replacement_for(code))


def _replacement_for(code: QRCode):
    current = code.current_code()
    if current is not None and _code_is_live(current):
        return current
    if code.deputy is not None and code.deputy.active:
        owner = QRCode.deputy_id == code.deputy_id
    elif code.deputy is not None and code.deputy.primary_station is not None:
        owner = QRCode.station_id == code.deputy.primary_station.id
    else:
        owner = QRCode.station_id == code.station_id
    candidates = db.session.scalars(
        sa.select(QRCode).where(owner, QRCode.revoked_at.is_(None)).order_by(QRCode.id.desc())
    )
    return next((c for c in candidates if _code_is_live(c)), None)


# --- Tracking --------------------------------------------------------------------------


@bp.get("/t/<token>")
@limits.tracking_misses
def tracking(token):
    req = _tracked_or_404(token)
    close_if_unrated(req)
    response = make_response(_render_tracking(req))
    _remember_request(response, req.tracking_token)
    return response


@bp.post("/t/<token>/info")
@limits.tracking_misses
def tracking_add_info(token):
    req = _tracked_or_404(token)
    form = AddInfoForm()
    form_ok, photos = _validate_with_photos(form)
    if not form_ok:
        return _render_tracking(req, info_form=form, status=422)
    try:
        add_information(req, text=form.text.data, version=form.version.data, photos=photos)
    except WorkflowError as error:
        return _render_tracking(_reload(req), info_form=form, problem=error.message, status=error.http_status)
    return _after_tracking_change(req, _("Thank you, your information was added."))


@bp.post("/t/<token>/withdraw")
@limits.tracking_misses
def tracking_withdraw(token):
    req = _tracked_or_404(token)
    form = WithdrawForm()
    if not form.validate():
        return _render_tracking(req, withdraw_form=form, status=422)
    try:
        withdraw_request(req, version=form.version.data, reason=form.reason.data)
    except WorkflowError as error:
        return _render_tracking(_reload(req), problem=error.message, status=error.http_status)
    return _after_tracking_change(req, _("Your request was withdrawn."))


@bp.post("/t/<token>/rate")
@limits.tracking_misses
def tracking_rate(token):
    req = _tracked_or_404(token)
    form = RatingForm()
    if not form.validate():
        return _render_tracking(req, rating_form=form, status=422)
    try:
        rate_request(req, version=form.version.data, rating=Rating(form.rating.data), comment=form.comment.data)
    except WorkflowError as error:
        return _render_tracking(_reload(req), rating_form=form, problem=error.message, status=error.http_status)
    return _after_tracking_change(req, _("Thank you for your rating."))


def render_tracking_after_csrf_error(token):
    req = _tracked_or_404(token)
    form = AddInfoForm(meta={"csrf": False})
    problem = _("Your session had expired. Your text is kept below: please send it again.")
    return _render_tracking(req, info_form=form, problem=problem, status=422)


@bp.get("/t/<token>/photos/<int:attachment_id>")
@limits.tracking_misses
def tracking_photo(token, attachment_id):
    req = _tracked_or_404(token)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.request_id != req.id:
        abort(404)
    return send_photo(attachment.stored_name, attachment.content_type, f"{req.reference}-{attachment.id}",
                      max_age=3600)


def _tracked_or_404(token) -> Request:
    req = db.session.scalar(sa.select(Request).where(Request.tracking_token == token))
    if req is None:
        abort(404, description=_("No request has this tracking link. Please check that the link is complete."))
    return req


def _reload(req: Request) -> Request:
    db.session.expire_all()
    return db.session.get(Request, req.id)


def _render_tracking(req, *, info_form=None, withdraw_form=None, rating_form=None, problem=None, notice=None,
                     status=200):
    context = dict(
        rating_form=rating_form or RatingForm(formdata=None),
        can_rate=access.enterprise_can(Action.RATE, req),
        req=req,
        notice=notice,
        info_form=info_form or AddInfoForm(formdata=None),
        withdraw_form=withdraw_form or WithdrawForm(formdata=None),
        can_withdraw=access.enterprise_can(Action.WITHDRAW, req),
        can_add_info=access.enterprise_can(Action.ADD_INFO, req),
        problem=problem,
        tracking_url=current_app.config["PUBLIC_BASE_URL"] + url_for(".tracking", token=req.tracking_token),
    )
    template = "public/_tracking_card.html" if is_htmx() else "public/tracking.html"
    return render_template(template, **context), status


def _after_tracking_change(req, message):
    """htmx swaps the fresh card in place; a plain form post gets 303 back to the page."""
    if is_htmx():
        return _render_tracking(_reload(req), notice=message)
    flash(message, "success")
    return redirect(url_for(".tracking", token=req.tracking_token), 303)


# --- 我的诉求 ---------------------------------------------------------------------------


@bp.get("/mine")
def my_requests():
    tokens = _remembered_tokens()
    requests = []
    if tokens:
        found = db.session.scalars(sa.select(Request).where(Request.tracking_token.in_(tokens))).all()
        by_token = {r.tracking_token: r for r in found}
        requests = [by_token[t] for t in tokens if t in by_token]
    return render_template("public/mine.html", requests=requests)


def _remembered_tokens() -> list[str]:
    raw = request.cookies.get(current_app.config["MY_REQUESTS_COOKIE"], "")
    return [t for t in raw.split(".") if t and len(t) <= 40][: current_app.config["MY_REQUESTS_MAX"]]


def _remember_request(response: Response, token: str) -> None:
    remember_requests(response, [token])


def remember_requests(response: Response, tokens: list[str]) -> None:
    """`tokens` first (in their order), then those remembered before; at most MY_REQUESTS_MAX,
    in a long-lived HttpOnly cookie."""
    config = current_app.config
    tokens = list(dict.fromkeys([*tokens, *_remembered_tokens()]))
    response.set_cookie(
        config["MY_REQUESTS_COOKIE"],
        ".".join(tokens[: config["MY_REQUESTS_MAX"]]),
        max_age=int(config["MY_REQUESTS_LIFETIME"].total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=config["SESSION_COOKIE_SECURE"],
    )


@bp.get("/deputies/<int:deputy_id>/photo")
def deputy_photo(deputy_id):
    deputy = db.session.get(Deputy, deputy_id)
    if deputy is None or not deputy.photo or not deputy.active:
        abort(404)
    # Portraits are always re-encoded as JPEG (services.photos.process_portrait); public.
    return send_photo(deputy.photo, "image/jpeg", f"deputy-{deputy.id}", max_age=86400, private=False)
