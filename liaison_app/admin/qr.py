"""Admin: the QR codes of deputies and stations, their posters and table cards,
image downloads and scan statistics.

Every deputy, station, jurisdiction and code is loaded through scope.py: staff see
and change only what lies in their own jurisdiction's subtree; the rest is 404.
"""

import re
from dataclasses import dataclass, field
from typing import Optional

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload, selectinload
from wtforms import SelectChoice, SelectField, StringField, ValidationError
from wtforms.validators import InputRequired, Length

from .. import access, qrimages
from ..extensions import db
from ..models import Deputy, Jurisdiction, Placement, QRCode, Role, Station
from ..public import landing_cache
from ..services.qr import (
    QRCodeError,
    create_code,
    issue_missing_codes,
    lifetime_figures,
    owner_of,
    public_url,
    revoke_code,
    scan_report,
    scans_per_day,
    stats_window,
)
from ..templating import attachment, is_htmx, redirect_after_post
from . import add_menu_entry, bp, scope

add_menu_entry("admin.qr_index", _l("QR codes and posters"))
add_menu_entry("admin.qr_stats", _l("Scan statistics"))

OWNER_MODELS = {"deputies": Deputy, "stations": Station}
BATCH_MODELS = {**OWNER_MODELS, "jurisdictions": Jurisdiction}
STATS_DAYS = 30


class CodeForm(FlaskForm):
    """A new code: where its poster hangs, and a label (the enterprise at whose gate)."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST app-wide

    placement = SelectField(
        _l("Where the poster hangs"),
        choices=[SelectChoice(p.value, p.label) for p in Placement],
        validators=[InputRequired(_l("Please choose one."))],
    )
    label = StringField(
        _l("Label"),
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[Length(max=80, message=_l("At most %(max)d characters."))],
    )

    def validate_label(self, label):
        if self.placement.data in (Placement.ENTERPRISE_GATE, Placement.OTHER) and not label.data:
            raise ValidationError(_l("Please say where exactly, e.g. the enterprise at whose gate it hangs."))


# --- where printing starts -------------------------------------------------------------------


@bp.get("/qr")
def qr_index():
    """A jurisdiction's stations and deputies with their live codes, and its sub-jurisdictions."""
    jurisdiction = _chosen_jurisdiction()
    if jurisdiction is None:
        return render_template("admin/qr/choose.html", roots=_top_jurisdictions(), endpoint="admin.qr_index")
    stations = db.session.scalars(
        sa.select(Station).where(Station.jurisdiction_id == jurisdiction.id, Station.active).order_by(Station.id)
    ).all()
    deputies = db.session.scalars(
        sa.select(Deputy)
        .where(Deputy.congress_jurisdiction_id == jurisdiction.id, Deputy.active)
        .options(selectinload(Deputy.stations))
        .order_by(Deputy.id)
    ).all()
    return render_template("admin/qr/index.html", stations=stations, deputies=deputies,
                           live_counts=_live_code_counts(stations, deputies), **_navigation(jurisdiction))


def _chosen_jurisdiction() -> Optional[Jurisdiction]:
    """?jurisdiction=<id> within the user's scope; by default a staff member's own
    jurisdiction. Admins choose among the top-level jurisdictions first (None)."""
    chosen = request.args.get("jurisdiction", type=int)
    if chosen is not None:
        return scope.get_in_scope_or_404(current_user, Jurisdiction, chosen)
    if current_user.role is Role.STAFF:
        return current_user.jurisdiction
    return None


def _top_jurisdictions() -> list[Jurisdiction]:
    return db.session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.parent_id.is_(None), Jurisdiction.active)
        .order_by(Jurisdiction.division_code)
    ).all()


def _navigation(jurisdiction: Jurisdiction) -> dict:
    """The drill-down: ancestors the user may open (top first) and active children."""
    return {
        "jurisdiction": jurisdiction,
        "trail": [j for j in reversed(jurisdiction.ancestors()) if scope.in_scope(current_user, j.id)],
        "children": [j for j in jurisdiction.children if j.active],
    }


def _live_code_counts(stations, deputies) -> dict[tuple[str, int], int]:
    counts: dict[tuple[str, int], int] = {}
    for column, kind, owners in ((QRCode.station_id, "stations", stations), (QRCode.deputy_id, "deputies", deputies)):
        if owners:
            rows = db.session.execute(
                sa.select(column, sa.func.count())
                .where(column.in_([o.id for o in owners]), QRCode.revoked_at.is_(None))
                .group_by(column)
            )
            counts.update({(kind, owner_id): n for owner_id, n in rows})
    return counts


# --- the codes of one deputy or station ------------------------------------------------------


@bp.get("/qr/<any(deputies, stations):kind>/<int:owner_id>")
def qr_codes(kind, owner_id):
    owner = _owner_or_404(kind, owner_id)
    return _render_codes(kind, owner, CodeForm(formdata=None))


@bp.post("/qr/<any(deputies, stations):kind>/<int:owner_id>/codes")
def qr_code_create(kind, owner_id):
    owner = _owner_or_404(kind, owner_id)
    form = CodeForm()
    if not form.validate():
        return _render_code_form(kind, owner, form, 422)
    try:
        code = create_code(owner, Placement(form.placement.data), form.label.data or "", actor=current_user)
    except QRCodeError as error:
        return _render_code_form(kind, owner, form, error.http_status, problem=error.message)
    flash(_("New code issued: %(where)s.", where=_where(code)), "success")
    return redirect_after_post(url_for(".qr_codes", kind=kind, owner_id=owner.id))


@bp.post("/qr/codes/<int:code_id>/revoke")
def qr_code_revoke(code_id):
    code = scope.get_in_scope_or_404(current_user, QRCode, code_id)
    kind, owner = _kind_of(code), owner_of(code)
    try:
        replacement = revoke_code(code, actor=current_user, reissue=request.form.get("reissue") == "1")
    except QRCodeError as error:
        return _render_codes(kind, owner, CodeForm(formdata=None), problem=error.message, status=error.http_status)
    landing_cache.forget(code.token)  # this worker's; the others' expire (QR_LANDING_CACHE_SECONDS)
    if replacement is not None:
        flash(_("The code was revoked and a new one issued: print its poster and replace the old one."), "success")
    else:
        flash(_("The code was revoked. Its poster now says so and points to another code."), "success")
    return redirect_after_post(url_for(".qr_codes", kind=kind, owner_id=owner.id))


def _owner_or_404(kind: str, owner_id: int):
    return scope.get_in_scope_or_404(current_user, OWNER_MODELS[kind], owner_id)


def _kind_of(code: QRCode) -> str:
    return "deputies" if code.deputy_id else "stations"


def _render_codes(kind, owner, form, *, problem=None, status=200):
    column = QRCode.deputy_id if kind == "deputies" else QRCode.station_id
    codes = db.session.scalars(
        sa.select(QRCode).where(column == owner.id)
        .order_by(QRCode.revoked_at.is_not(None), QRCode.id.desc())
        .options(selectinload(QRCode.replaced_by))
    ).all()
    days = stats_window(STATS_DAYS)
    return render_template(
        "admin/qr/codes.html",
        kind=kind,
        owner=owner,
        codes=codes,
        form=form,
        problem=problem,
        figures=lifetime_figures(codes),
        daily=scans_per_day([c.id for c in codes], days),
        days=days,
        urls={c.id: public_url(c) for c in codes},
    ), status


def _render_code_form(kind, owner, form, status, problem=None):
    """htmx swaps the form alone (errors by their fields); a plain post gets the page."""
    if is_htmx():
        return render_template("admin/qr/_code_form.html", kind=kind, owner=owner, form=form,
                               problem=problem), status
    return _render_codes(kind, owner, form, problem=problem, status=status)


def _where(code: QRCode) -> str:
    """站内, or 企业门口 · 恒拓精密机械有限公司门口."""
    return f"{code.placement.label} · {code.label}" if code.label else str(code.placement.label)


# --- downloads --------------------------------------------------------------------------------


@bp.get("/qr/codes/<int:code_id>.svg")
def qr_code_svg(code_id):
    code = scope.get_in_scope_or_404(current_user, QRCode, code_id)
    return _download(qrimages.svg_document(public_url(code)), "image/svg+xml", code, "svg")


@bp.get("/qr/codes/<int:code_id>.png")
def qr_code_png(code_id):
    code = scope.get_in_scope_or_404(current_user, QRCode, code_id)
    return _download(qrimages.png_bytes(public_url(code)), "image/png", code, "png")


def _download(data: bytes, mimetype: str, code: QRCode, extension: str) -> Response:
    """An attachment named 周建华-站内.png (RFC 6266), qr-<token>.png for old clients."""
    return attachment(data, mimetype, _file_name(code, extension), f"qr-{code.token}.{extension}")


def _file_name(code: QRCode, extension: str) -> str:
    """周建华-站内.png; a label is added when there is one (周建华-企业门口-恒拓门口.png)."""
    parts = [owner_of(code).name, str(code.placement.label), code.label]
    name = "-".join(re.sub(r'[\\/:*?"<>|\s]+', "_", part) for part in parts if part)
    if code.is_revoked:
        name += "-" + _("revoked")
    return f"{name}.{extension}"


# --- posters and table cards -------------------------------------------------------------------


@dataclass
class PrintBatch:
    """The live codes to print, in order, and what the page should tell staff about."""

    title: str
    inactive: bool = False  # the deputy or station itself is no longer active
    placement: Optional[Placement] = None  # ?placement=: only codes posted there
    codes: list[QRCode] = field(default_factory=list)
    without_codes: list[tuple] = field(default_factory=list)  # (kind, owner): active, with no live code
    left_out: list[Deputy] = field(default_factory=list)  # a station's deputies outside the user's scope


@bp.get("/qr/<any(deputies, stations, jurisdictions):kind>/<int:owner_id>/posters")
def qr_posters(kind, owner_id):
    """One A4 poster per live code, a page each: a deputy's, a station's (with its
    deputies'), or every active one in a jurisdiction and those below it."""
    batch = _print_batch(kind, owner_id)
    return _render_print("admin/qr/posters.html", batch)


@bp.get("/qr/<any(deputies, stations, jurisdictions):kind>/<int:owner_id>/cards")
def qr_cards(kind, owner_id):
    """Table cards for enterprise gates and front desks: four per A4 page."""
    batch = _print_batch(kind, owner_id)
    pages = [batch.codes[i:i + 4] for i in range(0, len(batch.codes), 4)]
    return _render_print("admin/qr/cards.html", batch, pages=pages)


@bp.post("/qr/<any(deputies, stations, jurisdictions):kind>/<int:owner_id>/issue-missing")
def qr_issue_missing(kind, owner_id):
    """Issue a 站内 code to everyone in the batch who has none, then show the posters."""
    batch = _print_batch(kind, owner_id)
    issued = issue_missing_codes([owner for _kind, owner in batch.without_codes], actor=current_user)
    flash(ngettext("%(num)d code issued.", "%(num)d codes issued.", issued), "success")
    return redirect(url_for(".qr_posters", kind=kind, owner_id=owner_id), 303)


def _render_print(template, batch, **context):
    urls = {c.id: public_url(c) for c in batch.codes}
    svgs = {code_id: qrimages.inline_svg(url) for code_id, url in urls.items()}
    return render_template(template, batch=batch, urls=urls, svgs=svgs, **context)


def _print_batch(kind: str, owner_id: int) -> PrintBatch:
    owner = scope.get_in_scope_or_404(current_user, BATCH_MODELS[kind], owner_id)
    batch = PrintBatch(title=owner.name, inactive=kind != "jurisdictions" and not owner.active,
                       placement=_placement_filter())
    stations, deputies = _owners_to_print(kind, owner, batch)
    rank = {("stations", s.id): i for i, s in enumerate(stations)}
    rank.update({("deputies", d.id): len(stations) + i for i, d in enumerate(deputies)})
    only = request.args.get("code", type=int)
    codes = _live_codes(stations, deputies, batch.placement, only)
    batch.codes = sorted(codes, key=lambda c: (rank[(_kind_of(c), owner_of(c).id)], c.id))
    if only is None:  # reprinting one poster says nothing about the others
        printed = {(_kind_of(c), owner_of(c).id) for c in batch.codes}
        batch.without_codes = [(kind_, o) for kind_, owners in (("stations", stations), ("deputies", deputies))
                               for o in owners if (kind_, o.id) not in printed]
    return batch


def _owners_to_print(kind: str, owner, batch: PrintBatch) -> tuple[list[Station], list[Deputy]]:
    """The active stations and deputies whose codes a batch prints, in print order."""
    if kind == "jurisdictions":
        ids = access.subtree_ids(owner.id)
        stations = db.session.scalars(
            sa.select(Station).join(Station.jurisdiction)
            .where(Station.jurisdiction_id.in_(ids), Station.active)
            .order_by(Jurisdiction.division_code, Station.id)
        ).all()
        deputies = db.session.scalars(
            sa.select(Deputy).join(Deputy.congress_jurisdiction)
            .where(Deputy.congress_jurisdiction_id.in_(ids), Deputy.active)
            .order_by(Jurisdiction.division_code, Deputy.id)
        ).all()
        return list(stations), list(deputies)
    if batch.inactive:
        return [], []
    if kind == "deputies":
        return [], [owner]
    # A station prints its own codes and those of its deputies that this user manages.
    active = [d for d in owner.deputies if d.active]
    deputies = [d for d in active if scope.in_scope(current_user, d.congress_jurisdiction_id)]
    batch.left_out = [d for d in active if d not in deputies]
    return [owner], deputies


def _placement_filter() -> Optional[Placement]:
    placement = request.args.get("placement")
    if not placement:
        return None
    if placement not in {p.value for p in Placement}:
        abort(404)
    return Placement(placement)


def _live_codes(stations, deputies, placement: Optional[Placement], code_id: Optional[int]) -> list[QRCode]:
    """Live codes of these owners (at one placement, or one code alone, when asked), with
    what a poster shows loaded up front: a batch of 500 posters is a handful of queries."""
    if not stations and not deputies:
        return []
    query = (
        sa.select(QRCode)
        .where(
            QRCode.revoked_at.is_(None),
            sa.or_(QRCode.station_id.in_([s.id for s in stations]), QRCode.deputy_id.in_([d.id for d in deputies])),
        )
        .options(
            selectinload(QRCode.deputy).options(
                joinedload(Deputy.congress_jurisdiction),
                selectinload(Deputy.stations),
            ),
            selectinload(QRCode.station).options(
                joinedload(Station.jurisdiction),
                selectinload(Station.deputies).joinedload(Deputy.congress_jurisdiction),
            ),
        )
    )
    if placement is not None:
        query = query.where(QRCode.placement == placement)
    if code_id is not None:
        query = query.where(QRCode.id == code_id)
    return list(db.session.scalars(query))


# --- scan statistics -----------------------------------------------------------------------------


@bp.get("/qr/stats")
def qr_stats():
    """Which posters work: scans per day over the last 30 days, requests filed via
    each code and the conversion, per code and per placement, for a jurisdiction
    and everything below it."""
    jurisdiction = _chosen_jurisdiction()
    if jurisdiction is None:
        return render_template("admin/qr/choose.html", roots=_top_jurisdictions(), endpoint="admin.qr_stats")
    report = scan_report(access.subtree_ids(jurisdiction.id), stats_window(STATS_DAYS))
    return render_template("admin/qr/stats.html", report=report, days=report.days, **_navigation(jurisdiction))
