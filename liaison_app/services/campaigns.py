"""Visit campaigns (代表集中走访月, 走访周), 1+N pairings (结对) and coverage.

Staff create a campaign over a jurisdiction for some dates, with the enterprises it sets
out to visit (its targets: every enterprise of the jurisdiction and below, those of one
industrial park there, or an imported list). The targets are stored in campaign_targets
whenever the campaign is saved, so that the progress page counts against a fixed list.
Deputies are then paired with target enterprises, by hand, by import or spread evenly over
each station's deputies; every enterprise has at most one lead deputy per campaign.

Coverage: an enterprise counts as visited in a campaign when a visit, symposium or
reception held between the campaign's first and last day includes it, whether or not it
was logged against the campaign (a deputy who logs an August visit need not pick the
campaign). By station, each target is counted under its lead deputy's primary station
(Deputy.primary_station: the lowest-numbered station the deputy sits in); targets without
a lead, and those whose lead sits in no station, are counted on lines of their own.

Each writing function checks what it is given, logs, and commits once; a CampaignError
means nothing was written. Which jurisdictions the actor may use is decided by
admin/scope.py, as everywhere else. Every figure is one grouped query.
"""

import heapq
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Optional

import openpyxl
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from openpyxl.styles import Alignment, Font
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import access
from ..admin import scope
from ..extensions import db
from ..models import (
    Deputy,
    Enterprise,
    Jurisdiction,
    Notification,
    NotificationKind,
    Pairing,
    Station,
    TargetKind,
    User,
    Visit,
    VisitCampaign,
    station_deputies,
    utcnow,
)
from ..models.visits import campaign_targets, visit_enterprises
from ..validators import InvalidValue, normalise_uscc
from ..workdays import today_local, utc_start_of
from . import imports as importing
from . import notify
from .enterprises import matching
from .paper import set_up_printing

log = logging.getLogger("liaison.campaigns")

NAME_MAX = 80
PARK_MAX = 80
NOTE_MAX = 2000
NOT_VISITED_SHOWN = 200  # the page lists this many; the export has them all

# Column headers of the files staff upload (data-format constants, as in imports.py).
ENTERPRISE_NAME = "企业名称"
ENTERPRISE_USCC = "统一社会信用代码"
DEPUTY_NAME = "代表姓名"
DEPUTY_STATION = "联络站"
DEPUTY_ID = "代表编号"
LEAD = "是否牵头"
PAIRING_HEADERS = (ENTERPRISE_NAME, ENTERPRISE_USCC, DEPUTY_NAME, DEPUTY_STATION, DEPUTY_ID, LEAD)
LEAD_VALUES = {"是": True, "否": False, "牵头": True, "Y": True, "N": False}


class CampaignError(Exception):
    """Refused; `field` names the form field that caused it, `rows` the file's bad lines."""

    def __init__(self, message, field: Optional[str] = None, rows: Optional[list["RowProblem"]] = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
        self.rows = rows or []


@dataclass(frozen=True)
class RowProblem:
    """One line of an uploaded file that could not be used."""

    number: int  # as Excel shows it
    text: str  # what the line says, for the person to find it
    message: Any


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str


def _conflict() -> CampaignError:
    return CampaignError(_l("Someone changed this campaign's pairings at the same time. Nothing was saved: "
                            "please try again."))


# --- scope ---------------------------------------------------------------------------------------


def visible_campaigns(user: User) -> sa.Select:
    """SELECT the campaigns over the user's jurisdiction and below (admins: all)."""
    return scope.limit_to_scope(user, sa.select(VisitCampaign), VisitCampaign.jurisdiction_id)


def may_manage(user: User, campaign: VisitCampaign) -> bool:
    return scope.in_scope(user, campaign.jurisdiction_id)


def park_choices(jurisdiction_id: Optional[int]) -> list[str]:
    """The industrial parks that enterprises of the jurisdiction and below lie in."""
    if jurisdiction_id is None:
        return []
    query = (sa.select(Enterprise.park).where(Enterprise.park != "",
                                              Enterprise.jurisdiction_id.in_(access.subtree_ids(jurisdiction_id)))
             .distinct().order_by(Enterprise.park))
    return list(db.session.scalars(query))


def _lock(campaign: VisitCampaign) -> None:
    """Serialise the writes that read before they write (reminders, spreading) per campaign:
    a row lock on PostgreSQL; SQLite's write transaction (BEGIN IMMEDIATE) already does."""
    db.session.execute(sa.select(VisitCampaign.id).where(VisitCampaign.id == campaign.id).with_for_update())


# --- creating and editing a campaign ---------------------------------------------------------------


@dataclass
class SaveResult:
    campaign: VisitCampaign
    targets: int
    added: int = 0
    removed: int = 0
    pairings_removed: int = 0


def save_campaign(campaign: VisitCampaign, *, actor: User, name: str, jurisdiction: Optional[Jurisdiction],
                  starts_on: Optional[date], ends_on: Optional[date], target_kind: TargetKind, park: str = "",
                  note: str = "", target_list: Optional[Upload] = None) -> SaveResult:
    """Create or change a campaign, and store its targets anew.

    ALL and PARK targets are worked out again from the enterprises as recorded now, so a
    save also takes in enterprises added since. LIST targets change only with a new file,
    whose every line must name an enterprise of the jurisdiction (by credit code or exact
    name), or nothing is saved. Pairings of enterprises that are no longer targets go.
    """
    name, park, note = name.strip(), park.strip(), note.strip()
    if not name:
        raise CampaignError(_l("Please fill this in."), "name")
    if len(name) > NAME_MAX:
        raise CampaignError(_l("At most %(max)d characters.", max=NAME_MAX), "name")
    if jurisdiction is None or not scope.in_scope(actor, jurisdiction.id):
        raise CampaignError(_l("Please choose a jurisdiction from the list."), "jurisdiction")
    if starts_on is None:
        raise CampaignError(_l("Please give a date."), "starts_on")
    if ends_on is None:
        raise CampaignError(_l("Please give a date."), "ends_on")
    if ends_on < starts_on:
        raise CampaignError(_l("The last day cannot be before the first day."), "ends_on")
    if len(note) > NOTE_MAX:
        raise CampaignError(_l("At most %(max)d characters.", max=NOTE_MAX), "note")
    subtree = access.subtree_ids(jurisdiction.id)
    target_kind = TargetKind(target_kind)
    if target_kind is TargetKind.PARK:
        if not park:
            raise CampaignError(_l("Please choose a park."), "park")
        if park not in park_choices(jurisdiction.id):
            raise CampaignError(_l("No enterprise of %(place)s is recorded in this park.", place=jurisdiction.name),
                                "park")
    else:
        park = ""

    wanted = _wanted_targets(campaign, target_kind, park, subtree, jurisdiction, target_list)
    created = campaign.id is None
    campaign.name, campaign.jurisdiction, campaign.starts_on, campaign.ends_on = name, jurisdiction, starts_on, ends_on
    campaign.target_kind, campaign.park, campaign.note = target_kind, park, note
    if created:
        campaign.created_by = actor
        db.session.add(campaign)
        db.session.flush()
    result = _store_targets(campaign, wanted) if wanted is not None else SaveResult(campaign, _target_count(campaign))
    db.session.commit()
    log.info("campaign %s %s by user %s: %s targets over jurisdiction %s from %s to %s, %d targets (+%d -%d), "
             "%d pairings removed", campaign.id, "created" if created else "changed", actor.id, target_kind.value,
             jurisdiction.id, starts_on, ends_on, result.targets, result.added, result.removed,
             result.pairings_removed)
    return result


def _wanted_targets(campaign: VisitCampaign, kind: TargetKind, park: str, subtree: list[int],
                    jurisdiction: Jurisdiction, target_list: Optional[Upload]) -> Optional[list[int]]:
    """The target enterprise ids the campaign should have; None: keep them as they are."""
    if kind is TargetKind.LIST:
        if target_list is not None:
            return read_target_list(target_list, jurisdiction, subtree)
        if campaign.id is None or campaign.target_kind is not TargetKind.LIST:
            raise CampaignError(_l("Please choose the file with the list of enterprises."), "target_file")
        outside = db.session.scalar(
            sa.select(sa.func.count()).select_from(campaign_targets)
            .join(Enterprise, Enterprise.id == campaign_targets.c.enterprise_id)
            .where(campaign_targets.c.campaign_id == campaign.id,
                   sa.or_(Enterprise.jurisdiction_id.is_(None), Enterprise.jurisdiction_id.not_in(subtree))))
        if outside:
            raise CampaignError(ngettext("%(num)d enterprise of the list lies outside %(place)s: please upload a "
                                         "list for the new jurisdiction.",
                                         "%(num)d enterprises of the list lie outside %(place)s: please upload a "
                                         "list for the new jurisdiction.", outside, place=jurisdiction.name),
                                "target_file")
        return None
    query = sa.select(Enterprise.id).where(Enterprise.jurisdiction_id.in_(subtree))
    if kind is TargetKind.PARK:
        query = query.where(Enterprise.park == park)
    return list(db.session.scalars(query.order_by(Enterprise.id)))


def _target_count(campaign: VisitCampaign) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(campaign_targets)
                             .where(campaign_targets.c.campaign_id == campaign.id))


def _store_targets(campaign: VisitCampaign, wanted: list[int]) -> SaveResult:
    """Make campaign_targets hold exactly `wanted`: add and remove the difference, so that
    the targets that stay keep their pairings."""
    have = set(db.session.scalars(sa.select(campaign_targets.c.enterprise_id)
                                  .where(campaign_targets.c.campaign_id == campaign.id)))
    wanted_set = set(wanted)
    added = [i for i in wanted if i not in have]
    removed = sorted(have - wanted_set)
    pairings_removed = 0
    if removed:
        pairings_removed = db.session.execute(
            sa.delete(Pairing).where(Pairing.campaign_id == campaign.id, Pairing.enterprise_id.in_(removed))
            .execution_options(synchronize_session=False)).rowcount
        db.session.execute(sa.delete(campaign_targets).where(campaign_targets.c.campaign_id == campaign.id,
                                                             campaign_targets.c.enterprise_id.in_(removed)))
    if added:
        db.session.execute(sa.insert(campaign_targets),
                           [{"campaign_id": campaign.id, "enterprise_id": i} for i in added])
    return SaveResult(campaign, len(wanted_set), len(added), len(removed), pairings_removed)


def _locate_header(table: importing.Table, needed: Iterable[set[str]]) -> tuple[int, dict[str, int]]:
    """The first of the first few rows holding, for each set of `needed`, one of its headers:
    its index and the position of every known header in it; CampaignError otherwise."""
    needed = list(needed)
    for index, (_number, cells) in enumerate(table.rows[:importing.HEADER_SEARCH_ROWS]):
        keys = [importing.header_key(cell) for cell in cells]
        if all(group & set(keys) for group in needed):
            return index, {key: keys.index(key) for key in PAIRING_HEADERS if key in keys}
    names = " + ".join(" / ".join(sorted(group, reverse=True)) for group in needed)
    raise CampaignError(_l("No header row found. The first row must name the columns: %(columns)s.", columns=names),
                        "file")


def _cell(cells: list[str], positions: dict[str, int], key: str) -> str:
    index = positions.get(key)
    return cells[index].strip() if index is not None and index < len(cells) else ""


def _read(upload: Upload, field_name: str) -> importing.Table:
    try:
        return importing.read_table(upload.data, upload.filename)
    except InvalidValue as error:
        raise CampaignError(error.message, field_name) from None


class _EnterpriseFinder:
    """Enterprises named by credit code or exact name, among those `query` selects."""

    def __init__(self, query: sa.Select, usccs: set[str], names: set[str]):
        self.by_uscc: dict[str, Enterprise] = {}
        self.by_name: dict[str, list[Enterprise]] = defaultdict(list)
        found = query.where(sa.or_(Enterprise.uscc.in_(usccs), Enterprise.name.in_(names))).order_by(Enterprise.id)
        for enterprise in db.session.scalars(found):
            if enterprise.uscc:
                self.by_uscc[enterprise.uscc] = enterprise
            self.by_name[enterprise.name].append(enterprise)

    def find(self, uscc: Optional[str], name: str):
        """(enterprise, None) or (None, why not)."""
        if uscc:
            if uscc in self.by_uscc:
                return self.by_uscc[uscc], None
            return None, _l("No enterprise with this credit code is recorded here.")
        named = self.by_name.get(name, [])
        if len(named) > 1:
            return None, _l("%(num)d enterprises have this name: please give the credit code.", num=len(named))
        if not named:
            return None, _l("No enterprise of exactly this name is recorded here.")
        return named[0], None


def _enterprise_cells(cells, positions) -> tuple[str, str, Optional[str], Any]:
    """(name, credit code as typed, normalised code, problem)."""
    name, typed = _cell(cells, positions, ENTERPRISE_NAME), _cell(cells, positions, ENTERPRISE_USCC)
    if not typed:
        return name, typed, None, None
    try:
        return name, typed, normalise_uscc(typed), None
    except InvalidValue as error:
        return name, typed, None, error.message


def read_target_list(upload: Upload, jurisdiction: Jurisdiction, subtree: list[int]) -> list[int]:
    """The enterprises a list file names (credit code, or exact name where no code is given),
    each within the jurisdiction; CampaignError listing every line that names none."""
    table = _read(upload, "target_file")
    header, positions = _locate_header(table, [{ENTERPRISE_NAME, ENTERPRISE_USCC}])
    lines = []
    for number, cells in table.rows[header + 1:]:
        name, typed, uscc, problem = _enterprise_cells(cells, positions)
        if name or typed:
            lines.append((number, name, typed, uscc, problem))
    if not lines:
        raise CampaignError(_l("The file lists no enterprise below its header row."), "target_file")
    finder = _EnterpriseFinder(sa.select(Enterprise).where(Enterprise.jurisdiction_id.in_(subtree)),
                               {line[3] for line in lines if line[3]}, {line[1] for line in lines if line[1]})
    ids, problems = [], []
    for number, name, typed, uscc, problem in lines:
        if problem is None:
            enterprise, problem = finder.find(uscc, name)
            if enterprise is not None:
                ids.append(enterprise.id)
                continue
        problems.append(RowProblem(number, " ".join(part for part in (name, typed) if part), problem))
    if problems:
        raise CampaignError(ngettext("%(num)d line of the list names no enterprise of %(place)s. Nothing was saved.",
                                     "%(num)d lines of the list name no enterprise of %(place)s. Nothing was saved.",
                                     len(problems), place=jurisdiction.name), "target_file", problems)
    return list(dict.fromkeys(ids))


# --- pairing -------------------------------------------------------------------------------------


def is_target(campaign: VisitCampaign, enterprise_id: int) -> bool:
    query = sa.select(campaign_targets.c.enterprise_id).where(campaign_targets.c.campaign_id == campaign.id,
                                                              campaign_targets.c.enterprise_id == enterprise_id)
    return db.session.scalar(query) is not None


def eligible_deputies(campaign: VisitCampaign) -> sa.Select:
    """SELECT the active deputies who may be paired in the campaign: those elected in its
    jurisdiction or below, and those of higher congresses who sit in a station there
    (standing-committee members included: they are deputies of the county's congress)."""
    subtree = access.subtree_ids(campaign.jurisdiction_id)
    stationed_here = (sa.select(station_deputies.c.deputy_id)
                      .join(Station, Station.id == station_deputies.c.station_id)
                      .where(Station.jurisdiction_id.in_(subtree)))
    return sa.select(Deputy).where(Deputy.active, sa.or_(Deputy.congress_jurisdiction_id.in_(subtree),
                                                         Deputy.id.in_(stationed_here)))


def deputy_choices(campaign: VisitCampaign, enterprise: Enterprise) -> tuple[list[Deputy], list[Deputy]]:
    """The deputies the pairing form offers: first those of the stations of the enterprise's
    own township, then every other eligible one; each list by station and name."""
    deputies = list(db.session.scalars(eligible_deputies(campaign).options(selectinload(Deputy.stations))
                                       .order_by(Deputy.name, Deputy.id)))
    near = [d for d in deputies if any(s.jurisdiction_id == enterprise.jurisdiction_id for s in d.stations)]
    near_ids = {d.id for d in near}
    return near, [d for d in deputies if d.id not in near_ids]


def enterprise_pairings(campaign: VisitCampaign, enterprise: Enterprise) -> list[Pairing]:
    """The enterprise's pairings in the campaign, the lead first."""
    query = (sa.select(Pairing).options(selectinload(Pairing.deputy).selectinload(Deputy.stations))
             .where(Pairing.campaign_id == campaign.id, Pairing.enterprise_id == enterprise.id)
             .order_by(Pairing.is_lead.desc(), Pairing.id))
    return list(db.session.scalars(query))


def pair(campaign: VisitCampaign, *, actor: User, deputy: Optional[Deputy], enterprise: Enterprise,
         lead: bool) -> Pairing:
    """结对: pair a deputy with a target enterprise, as its lead deputy or as one of the N others.
    A new lead takes over from the old one, who stays paired; an existing pairing changes role."""
    if not is_target(campaign, enterprise.id):
        raise CampaignError(_l("This enterprise is not among the campaign's targets."), "enterprise")
    if deputy is None or db.session.scalar(
            sa.select(eligible_deputies(campaign).where(Deputy.id == deputy.id).exists())) is not True:
        raise CampaignError(_l("Please choose a deputy from the list."), "deputy")
    pairing = db.session.scalar(sa.select(Pairing).where(Pairing.campaign_id == campaign.id,
                                                         Pairing.enterprise_id == enterprise.id,
                                                         Pairing.deputy_id == deputy.id))
    if pairing is not None and pairing.is_lead == lead:
        raise CampaignError(_l("This deputy is already paired with this enterprise as its lead.") if lead
                            else _l("This deputy is already paired with this enterprise."), "deputy")
    try:
        replaced = _demote_lead(campaign, enterprise.id, keeping=deputy.id) if lead else None
        if pairing is None:
            pairing = Pairing(campaign=campaign, deputy=deputy, enterprise=enterprise, is_lead=lead)
            db.session.add(pairing)
        pairing.is_lead = lead
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _conflict() from None
    log.info("campaign %s: deputy %s paired with enterprise %s%s by user %s%s", campaign.id, deputy.id,
             enterprise.id, " as lead" if lead else "", actor.id,
             f" (lead taken over from deputy {replaced})" if replaced else "")
    return pairing


def _demote_lead(campaign: VisitCampaign, enterprise_id: int, *, keeping: int) -> Optional[int]:
    """The enterprise's lead, unless it is `keeping`, becomes one of the others (at once, so
    that the one-lead index never sees two); returns that deputy's id."""
    old = db.session.scalar(sa.select(Pairing).where(Pairing.campaign_id == campaign.id,
                                                     Pairing.enterprise_id == enterprise_id, Pairing.is_lead,
                                                     Pairing.deputy_id != keeping))
    if old is None:
        return None
    old.is_lead = False
    db.session.flush()
    return old.deputy_id


def remove_pairing(pairing: Pairing, *, actor: User) -> None:
    """End a pairing. Removing the lead leaves the enterprise without one until another is named."""
    campaign_id, deputy_id, enterprise_id, was_lead = (pairing.campaign_id, pairing.deputy_id,
                                                       pairing.enterprise_id, pairing.is_lead)
    db.session.delete(pairing)
    db.session.commit()
    log.info("campaign %s: deputy %s no longer paired with enterprise %s%s, by user %s", campaign_id, deputy_id,
             enterprise_id, " (was lead)" if was_lead else "", actor.id)


# --- importing pairings ---------------------------------------------------------------------------


@dataclass
class ImportResult:
    created: int = 0
    changed: int = 0  # pairings that became, or stopped being, the lead
    unchanged: int = 0
    skipped: int = 0  # lines that name an enterprise but no deputy (the template's empty rows)


@dataclass
class _PairingLine:
    number: int
    text: str
    enterprise: Optional[Enterprise] = None
    deputy: Optional[Deputy] = None
    lead: Optional[bool] = None  # None: lead unless the enterprise has one
    problems: list = field(default_factory=list)


def import_pairings(campaign: VisitCampaign, upload: Upload, *, actor: User) -> ImportResult:
    """Pair deputies with target enterprises from a spreadsheet, all lines or none.

    A line names the enterprise (credit code, or exact name without a code) and the deputy
    (代表编号, or name, with the station where two deputies share the name); 是否牵头 is
    是 or 否, and left empty means "the lead, unless the enterprise already has one".
    Lines already recorded the same way change nothing, so a second run writes nothing.
    """
    table = _read(upload, "file")
    header, positions = _locate_header(table, [{ENTERPRISE_NAME, ENTERPRISE_USCC}, {DEPUTY_NAME, DEPUTY_ID}])
    lines, raw = [], []
    for number, cells in table.rows[header + 1:]:
        name, typed, uscc, problem = _enterprise_cells(cells, positions)
        deputy_name, station_name, deputy_id, lead = (_cell(cells, positions, key)
                                                      for key in (DEPUTY_NAME, DEPUTY_STATION, DEPUTY_ID, LEAD))
        if not (name or typed or deputy_name or deputy_id):
            continue
        line = _PairingLine(number, " ".join(p for p in (name, typed, deputy_name, station_name, deputy_id) if p))
        if problem is not None:
            line.problems.append(problem)
        elif not (name or typed):
            line.problems.append(_l("The enterprise is missing: give its credit code or name."))
        if lead:
            if lead not in LEAD_VALUES:
                line.problems.append(_l("Please write 是 or 否 under %(column)s.", column=LEAD))
            line.lead = LEAD_VALUES.get(lead)
        lines.append(line)
        raw.append((name, uscc, deputy_name, station_name, deputy_id))
    if not lines:
        raise CampaignError(_l("The file has no lines below its header row."), "file")

    targets = (sa.select(Enterprise).join(campaign_targets, campaign_targets.c.enterprise_id == Enterprise.id)
               .where(campaign_targets.c.campaign_id == campaign.id))
    finder = _EnterpriseFinder(targets, {r[1] for r in raw if r[1]}, {r[0] for r in raw if r[0]})
    deputies = list(db.session.scalars(eligible_deputies(campaign).options(selectinload(Deputy.stations))
                                       .order_by(Deputy.id)))
    by_id = {d.id: d for d in deputies}
    by_name: dict[str, list[Deputy]] = defaultdict(list)
    for deputy in deputies:
        by_name[deputy.name].append(deputy)

    result = ImportResult()
    kept = []
    for line, (name, uscc, deputy_name, station_name, deputy_id) in zip(lines, raw):
        if not line.problems:
            line.enterprise, problem = finder.find(uscc, name)
            if problem is not None:
                line.problems.append(_l("Not among the campaign's targets: %(why)s", why=problem))
        if not (deputy_name or deputy_id):
            if not line.problems:
                result.skipped += 1  # a target listed without a deputy yet
                continue
        else:
            line.deputy = _find_deputy(line, by_id, by_name, deputy_name, station_name, deputy_id)
        kept.append(line)
    lines = kept

    pairings = {(p.enterprise_id, p.deputy_id): p for p in db.session.scalars(
        sa.select(Pairing).where(Pairing.campaign_id == campaign.id))}
    leads = {enterprise_id: deputy_id for (enterprise_id, deputy_id), p in pairings.items() if p.is_lead}
    _settle_leads(lines, leads)
    problems = [RowProblem(line.number, line.text, message) for line in lines for message in line.problems]
    if problems:
        raise CampaignError(ngettext("%(num)d line of the file cannot be used. Nothing was imported.",
                                     "%(num)d lines of the file cannot be used. Nothing was imported.",
                                     len({p.number for p in problems})), "file", problems)

    try:
        _apply_pairings(campaign, lines, pairings, leads, result)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _conflict() from None
    log.info("campaign %s: pairings imported from %s by user %s: %d new, %d changed, %d unchanged, %d skipped",
             campaign.id, upload.filename, actor.id, result.created, result.changed, result.unchanged, result.skipped)
    return result


def _find_deputy(line: _PairingLine, by_id: dict, by_name: dict, name: str, station: str,
                 number: str) -> Optional[Deputy]:
    if number:
        deputy = by_id.get(int(number)) if number.isdigit() else None
        if deputy is None:
            line.problems.append(_l("No deputy who may be paired in this campaign has the number %(id)s.", id=number))
        elif name and deputy.name != name:
            line.problems.append(_l("Deputy number %(id)s is %(name)s, not %(given)s.", id=number, name=deputy.name,
                                    given=name))
            return None
        return deputy
    found = by_name.get(name, [])
    if station:
        found = [d for d in found if any(s.name == station for s in d.stations)]
    if len(found) == 1:
        return found[0]
    if not found:
        line.problems.append(_l("No deputy of this name (and station) may be paired in this campaign."))
    else:
        line.problems.append(_l("%(num)d deputies have this name: please give the station or the deputy's number.",
                                num=len(found)))
    return None


def _settle_leads(lines: list[_PairingLine], leads: dict[int, int]) -> None:
    """Decide each line's role, and find two lines pairing the same deputy and enterprise or
    naming two leads for one enterprise."""
    first_pair: dict[tuple, int] = {}
    first_lead: dict[int, int] = {}
    for line in lines:
        if line.enterprise is None or line.deputy is None:
            continue
        key = (line.enterprise.id, line.deputy.id)
        if key in first_pair:
            line.problems.append(_l("Line %(row)d already pairs this deputy with this enterprise.",
                                    row=first_pair[key]))
            continue
        first_pair[key] = line.number
        if line.lead:
            if line.enterprise.id in first_lead:
                line.problems.append(_l("Line %(row)d already names the lead deputy of this enterprise.",
                                        row=first_lead[line.enterprise.id]))
            else:
                first_lead[line.enterprise.id] = line.number
    for line in lines:  # an empty cell: the lead, unless someone else is (or becomes) the lead
        if line.lead is None and line.enterprise is not None and line.deputy is not None and not line.problems:
            enterprise_id = line.enterprise.id
            current = leads.get(enterprise_id)
            line.lead = (enterprise_id not in first_lead
                         and (current is None or current == line.deputy.id))
            if line.lead:
                first_lead[enterprise_id] = line.number


def _apply_pairings(campaign: VisitCampaign, lines: list[_PairingLine], pairings: dict, leads: dict[int, int],
                    result: ImportResult) -> None:
    new_leads = {line.enterprise.id: line.deputy.id for line in lines if line.lead}
    # First every lead that goes, so that the one-lead index never sees two.
    demoted = [pairings[(e, d)] for e, d in leads.items() if new_leads.get(e, d) != d]
    demoted += [pairings[(line.enterprise.id, line.deputy.id)] for line in lines
                if line.lead is False and leads.get(line.enterprise.id) == line.deputy.id]
    for pairing in dict.fromkeys(demoted):
        pairing.is_lead = False
    db.session.flush()
    for line in lines:
        pairing = pairings.get((line.enterprise.id, line.deputy.id))
        was_lead = leads.get(line.enterprise.id) == line.deputy.id
        if pairing is None:
            db.session.add(Pairing(campaign=campaign, deputy=line.deputy, enterprise=line.enterprise,
                                   is_lead=bool(line.lead)))
            result.created += 1
        elif bool(line.lead) != was_lead:
            pairing.is_lead = bool(line.lead)
            result.changed += 1
        else:
            result.unchanged += 1
    db.session.flush()


def pairing_template(campaign: VisitCampaign) -> bytes:
    """The import file to fill in: one line per target enterprise, with its lead deputy when
    it has one (so that importing it untouched changes nothing)."""
    lead = _leads(campaign)
    query = (sa.select(Enterprise.name, Enterprise.uscc, Deputy.id, Deputy.name)
             .join(campaign_targets, campaign_targets.c.enterprise_id == Enterprise.id)
             .outerjoin(lead, lead.c.enterprise_id == Enterprise.id)
             .outerjoin(Deputy, Deputy.id == lead.c.deputy_id)
             .where(campaign_targets.c.campaign_id == campaign.id)
             .order_by(Enterprise.jurisdiction_id, Enterprise.name, Enterprise.id))
    rows = [[name, uscc or "", deputy_name or "", "", str(deputy_id or ""), "是" if deputy_id else ""]
            for name, uscc, deputy_id, deputy_name in db.session.execute(query)]
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "结对名单"
    _write_table(sheet, 1, list(PAIRING_HEADERS), rows, text_columns={2, 5})
    for letter, width in zip("ABCDEF", (32, 22, 12, 24, 10, 10)):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    set_up_printing(sheet, repeat_rows=1)
    return importing.workbook_bytes(workbook)


# --- spreading evenly ------------------------------------------------------------------------------


@dataclass
class SpreadResult:
    paired: int
    unpaired: list[tuple[str, int]]  # (jurisdiction name, enterprises left without a lead)


def spread_evenly(campaign: VisitCampaign, *, actor: User) -> SpreadResult:
    """一键平均分配: give every target enterprise that has no lead deputy a lead from the
    stations of its own township (the enterprise's jurisdiction).

    The deputies of all active stations of a township (in station order, then by deputy
    id) take the enterprises (by id) one at a time, each going to whoever leads the fewest
    enterprises in the campaign so far: on a campaign without pairings that is plain
    round-robin, so the counts differ by at most one. Running it again pairs nothing new.
    Enterprises of a township without an active station or deputy are left unpaired and
    reported.
    """
    _lock(campaign)
    subtree = access.subtree_ids(campaign.jurisdiction_id)
    has_lead = sa.exists().where(Pairing.campaign_id == campaign.id, Pairing.enterprise_id == Enterprise.id,
                                 Pairing.is_lead)
    waiting = db.session.execute(
        sa.select(Enterprise.id, Enterprise.jurisdiction_id)
        .join(campaign_targets, campaign_targets.c.enterprise_id == Enterprise.id)
        .where(campaign_targets.c.campaign_id == campaign.id, ~has_lead).order_by(Enterprise.id)).all()
    seats = db.session.execute(
        sa.select(Station.jurisdiction_id, station_deputies.c.deputy_id)
        .join(station_deputies, station_deputies.c.station_id == Station.id)
        .join(Deputy, Deputy.id == station_deputies.c.deputy_id)
        .where(Station.active, Deputy.active, Station.jurisdiction_id.in_(subtree))
        .order_by(Station.id, Deputy.id)).all()
    deputies_of: dict[int, list[int]] = defaultdict(list)
    for jurisdiction_id, deputy_id in seats:
        if deputy_id not in deputies_of[jurisdiction_id]:
            deputies_of[jurisdiction_id].append(deputy_id)
    load = dict(db.session.execute(sa.select(Pairing.deputy_id, sa.func.count())
                                   .where(Pairing.campaign_id == campaign.id, Pairing.is_lead)
                                   .group_by(Pairing.deputy_id)).all())
    existing = {(enterprise_id, deputy_id): pairing_id for enterprise_id, deputy_id, pairing_id in db.session.execute(
        sa.select(Pairing.enterprise_id, Pairing.deputy_id, Pairing.id).where(Pairing.campaign_id == campaign.id))}

    queues: dict[int, list] = {}
    new_rows, promoted, left = [], [], defaultdict(int)
    for enterprise_id, jurisdiction_id in waiting:
        if not deputies_of.get(jurisdiction_id):
            left[jurisdiction_id] += 1
            continue
        queue = queues.get(jurisdiction_id)
        if queue is None:
            queue = queues[jurisdiction_id] = [(load.get(d, 0), position, d)
                                               for position, d in enumerate(deputies_of[jurisdiction_id])]
            heapq.heapify(queue)
        while True:  # a deputy of two townships may have taken more elsewhere meanwhile
            count, position, deputy_id = heapq.heappop(queue)
            if count == load.get(deputy_id, 0):
                break
            heapq.heappush(queue, (load.get(deputy_id, 0), position, deputy_id))
        load[deputy_id] = count + 1
        heapq.heappush(queue, (count + 1, position, deputy_id))
        if (enterprise_id, deputy_id) in existing:
            promoted.append(existing[(enterprise_id, deputy_id)])
        else:
            new_rows.append({"campaign_id": campaign.id, "enterprise_id": enterprise_id, "deputy_id": deputy_id,
                             "is_lead": True, "created_at": utcnow()})
    try:
        if promoted:
            db.session.execute(sa.update(Pairing).where(Pairing.id.in_(promoted)).values(is_lead=True)
                               .execution_options(synchronize_session=False))
        if new_rows:
            db.session.execute(sa.insert(Pairing.__table__), new_rows)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _conflict() from None
    names = dict(db.session.execute(sa.select(Jurisdiction.id, Jurisdiction.name)
                                    .where(Jurisdiction.id.in_([i for i in left if i is not None]))).all())
    unpaired = sorted(((names.get(i, ""), count) for i, count in left.items()), key=lambda item: item[0])
    paired = len(new_rows) + len(promoted)
    log.info("campaign %s spread evenly by user %s: %d leads named, %d enterprises left unpaired", campaign.id,
             actor.id, paired, sum(left.values()))
    return SpreadResult(paired, unpaired)


# --- coverage ----------------------------------------------------------------------------------------


def _leads(campaign: VisitCampaign) -> sa.Subquery:
    """(enterprise_id, deputy_id) of each lead pairing: at most one row per enterprise."""
    return (sa.select(Pairing.enterprise_id, Pairing.deputy_id)
            .where(Pairing.campaign_id == campaign.id, Pairing.is_lead).subquery())


def _primary_stations() -> sa.Subquery:
    """(deputy_id, station_id) of each deputy's primary station, as Deputy.primary_station:
    the lowest-numbered station they sit in."""
    return (sa.select(station_deputies.c.deputy_id, sa.func.min(station_deputies.c.station_id).label("station_id"))
            .group_by(station_deputies.c.deputy_id).subquery())


def _visited(campaign: VisitCampaign, enterprise_id) -> sa.Exists:
    """The campaign's rule for "visited": a visit, symposium or reception held within its
    dates includes the enterprise, whichever campaign (if any) it was logged against."""
    return sa.exists().where(visit_enterprises.c.enterprise_id == enterprise_id,
                             visit_enterprises.c.visit_id == Visit.id,
                             Visit.held_on.between(campaign.starts_on, campaign.ends_on))


def _visited_count(campaign: VisitCampaign) -> sa.ColumnElement:
    target = campaign_targets.c.enterprise_id
    return sa.func.count(sa.case((_visited(campaign, target), target)))


@dataclass(frozen=True)
class CoverageLine:
    """Targets and how many of them were visited, for one township, station or the whole."""

    key: Any  # a jurisdiction or station id; NO_LEAD / NO_STATION / None for the special lines
    label: str
    target: int
    visited: int

    @property
    def not_visited(self) -> int:
        return self.target - self.visited

    @property
    def rate(self) -> Optional[float]:
        return self.visited / self.target if self.target else None


@dataclass(frozen=True)
class DeputyLine:
    deputy_id: int
    name: str
    station: str
    active: bool
    paired: int
    leads: int
    visited: int  # of the paired enterprises

    @property
    def not_visited(self) -> int:
        return self.paired - self.visited

    @property
    def rate(self) -> Optional[float]:
        return self.visited / self.paired if self.paired else None


NO_LEAD = "no_lead"
NO_STATION = "no_station"


@dataclass
class Coverage:
    campaign: VisitCampaign
    total: CoverageLine
    by_township: list[CoverageLine]
    by_station: list[CoverageLine]
    by_deputy: list[DeputyLine]

    @property
    def behind(self) -> int:
        """Active deputies with paired enterprises not yet visited."""
        return sum(1 for line in self.by_deputy if line.active and line.not_visited)

    @property
    def without_lead(self) -> int:
        return sum(line.target for line in self.by_station if line.key == NO_LEAD)


def coverage(campaign: VisitCampaign) -> Coverage:
    """The campaign's progress: targets visited overall, by township, by station and by
    deputy. Three grouped queries, whatever the number of enterprises."""
    target = campaign_targets.c.enterprise_id
    in_campaign = campaign_targets.c.campaign_id == campaign.id
    visited = _visited_count(campaign)

    townships = db.session.execute(
        sa.select(Jurisdiction.id, Jurisdiction.name, sa.func.count(target), visited)
        .select_from(campaign_targets).join(Enterprise, Enterprise.id == target)
        .outerjoin(Jurisdiction, Jurisdiction.id == Enterprise.jurisdiction_id).where(in_campaign)
        .group_by(Jurisdiction.id, Jurisdiction.name, Jurisdiction.division_code)
        .order_by(Jurisdiction.division_code)).all()
    by_township = [CoverageLine(key, name or "", count, seen) for key, name, count, seen in townships]
    total = CoverageLine(None, "", sum(line.target for line in by_township), sum(line.visited for line in by_township))

    lead = _leads(campaign)
    primary = _primary_stations()
    stations = db.session.execute(
        sa.select(Station.id, Station.name, lead.c.deputy_id.is_(None), sa.func.count(target), visited)
        .select_from(campaign_targets).outerjoin(lead, lead.c.enterprise_id == target)
        .outerjoin(primary, primary.c.deputy_id == lead.c.deputy_id)
        .outerjoin(Station, Station.id == primary.c.station_id).where(in_campaign)
        .group_by(Station.id, Station.name, lead.c.deputy_id.is_(None))
        .order_by(Station.id)).all()
    by_station, extra = [], []
    for key, name, without_lead, count, seen in stations:
        if key is not None:
            by_station.append(CoverageLine(key, name, count, seen))
        else:
            extra.append(CoverageLine(NO_LEAD if without_lead else NO_STATION, "", count, seen))
    by_station += sorted(extra, key=lambda line: line.key)

    deputies = db.session.execute(
        sa.select(Deputy.id, Deputy.name, Deputy.active, Station.name, sa.func.count(Pairing.id),
                  sa.func.count(sa.case((Pairing.is_lead, Pairing.id))), visited)
        .select_from(Pairing)
        .join(campaign_targets, sa.and_(campaign_targets.c.campaign_id == Pairing.campaign_id,
                                        target == Pairing.enterprise_id))
        .join(Deputy, Deputy.id == Pairing.deputy_id)
        .outerjoin(primary, primary.c.deputy_id == Deputy.id)
        .outerjoin(Station, Station.id == primary.c.station_id)
        .where(Pairing.campaign_id == campaign.id)
        .group_by(Deputy.id, Deputy.name, Deputy.active, Station.name)
        .order_by((sa.func.count(Pairing.id) - visited).desc(), Deputy.name, Deputy.id)).all()
    by_deputy = [DeputyLine(i, name, station or "", active, paired, leads, seen)
                 for i, name, active, station, paired, leads, seen in deputies]
    return Coverage(campaign, total, by_township, by_station, by_deputy)


@dataclass(frozen=True)
class NotVisited:
    enterprise_id: int
    name: str
    uscc: str
    township: str
    park: str
    address: str
    lead: str  # the lead deputy's name, or ""
    lead_station: str


def not_visited(campaign: VisitCampaign, *, limit: Optional[int] = NOT_VISITED_SHOWN) -> list[NotVisited]:
    """The targets not yet visited, by township and name, each with its lead deputy."""
    lead = _leads(campaign)
    primary = _primary_stations()
    query = (sa.select(Enterprise.id, Enterprise.name, Enterprise.uscc, Jurisdiction.name, Enterprise.park,
                       Enterprise.address, Deputy.name, Station.name)
             .join(campaign_targets, campaign_targets.c.enterprise_id == Enterprise.id)
             .outerjoin(Jurisdiction, Jurisdiction.id == Enterprise.jurisdiction_id)
             .outerjoin(lead, lead.c.enterprise_id == Enterprise.id)
             .outerjoin(Deputy, Deputy.id == lead.c.deputy_id)
             .outerjoin(primary, primary.c.deputy_id == Deputy.id)
             .outerjoin(Station, Station.id == primary.c.station_id)
             .where(campaign_targets.c.campaign_id == campaign.id, ~_visited(campaign, Enterprise.id))
             .order_by(Jurisdiction.division_code, Enterprise.name, Enterprise.id))
    if limit is not None:
        query = query.limit(limit)
    return [NotVisited(i, name, uscc or "", township or "", park, address, lead_name or "", station or "")
            for i, name, uscc, township, park, address, lead_name, station in db.session.execute(query)]


def target_search(campaign: VisitCampaign, text: str, *, limit: int = 30) -> list[tuple[Enterprise, str]]:
    """Target enterprises matching what was typed (name, credit code, pinyin initials), each
    with its lead deputy's name; unpaired ones first when nothing is typed."""
    lead = _leads(campaign)
    query = (sa.select(Enterprise, Deputy.name).options(selectinload(Enterprise.jurisdiction))
             .join(campaign_targets, campaign_targets.c.enterprise_id == Enterprise.id)
             .outerjoin(lead, lead.c.enterprise_id == Enterprise.id)
             .outerjoin(Deputy, Deputy.id == lead.c.deputy_id)
             .where(campaign_targets.c.campaign_id == campaign.id))
    query = matching(query, text)
    order = (Enterprise.name, Enterprise.id) if text.strip() else (lead.c.deputy_id.is_not(None), Enterprise.name,
                                                                   Enterprise.id)
    return [(enterprise, name or "") for enterprise, name in db.session.execute(query.order_by(*order).limit(limit))]


@dataclass(frozen=True)
class CampaignSummary:
    campaign: VisitCampaign
    target: int
    visited: int

    @property
    def rate(self) -> Optional[float]:
        return self.visited / self.target if self.target else None


def campaign_list(user: User, *, limit: int = 100) -> list[CampaignSummary]:
    """The campaigns in the user's area, latest first, each with its progress (two queries)."""
    campaigns = list(db.session.scalars(visible_campaigns(user).options(selectinload(VisitCampaign.jurisdiction))
                                        .order_by(VisitCampaign.starts_on.desc(), VisitCampaign.id.desc())
                                        .limit(limit)))
    if not campaigns:
        return []
    target = campaign_targets.c.enterprise_id
    visited = sa.exists().where(visit_enterprises.c.enterprise_id == target, visit_enterprises.c.visit_id == Visit.id,
                                Visit.held_on.between(VisitCampaign.starts_on, VisitCampaign.ends_on))
    counts = {campaign_id: (count, seen) for campaign_id, count, seen in db.session.execute(
        sa.select(campaign_targets.c.campaign_id, sa.func.count(target), sa.func.count(sa.case((visited, target))))
        .join(VisitCampaign, VisitCampaign.id == campaign_targets.c.campaign_id)
        .where(campaign_targets.c.campaign_id.in_([c.id for c in campaigns]))
        .group_by(campaign_targets.c.campaign_id))}
    return [CampaignSummary(c, *counts.get(c.id, (0, 0))) for c in campaigns]


# --- reminding the deputies behind -------------------------------------------------------------------


@dataclass
class ReminderResult:
    queued: int  # deputies reminded now
    already: int  # deputies behind who were reminded earlier today


def remind_behind(campaign: VisitCampaign, *, actor: User) -> ReminderResult:
    """催促走访 in one tap: one message to each active deputy with paired enterprises the
    campaign has not visited yet, saying how many; at most one per deputy per day."""
    _lock(campaign)
    target = campaign_targets.c.enterprise_id
    behind = dict(db.session.execute(
        sa.select(Pairing.deputy_id, sa.func.count(Pairing.id))
        .join(campaign_targets, sa.and_(campaign_targets.c.campaign_id == Pairing.campaign_id,
                                        target == Pairing.enterprise_id))
        .join(Deputy, Deputy.id == Pairing.deputy_id)
        .where(Pairing.campaign_id == campaign.id, Deputy.active, ~_visited(campaign, Pairing.enterprise_id))
        .group_by(Pairing.deputy_id)).all())
    reminded_today = set(db.session.scalars(
        sa.select(Notification.recipient_deputy_id)
        .where(Notification.campaign_id == campaign.id, Notification.kind == NotificationKind.VISIT_REMINDER,
               Notification.created_at >= utc_start_of(today_local()))))
    due = [deputy_id for deputy_id in behind if deputy_id not in reminded_today]
    deputies = list(db.session.scalars(sa.select(Deputy).where(Deputy.id.in_(due)).order_by(Deputy.id))) if due else []
    for deputy in deputies:
        notify.queue_visit_reminder(campaign, deputy=deputy, not_visited=behind[deputy.id])
    db.session.commit()
    notify.deliver_after_commit()
    result = ReminderResult(len(deputies), len(behind) - len(due))
    log.info("campaign %s: %d deputies reminded by user %s (%d already today)", campaign.id, result.queued, actor.id,
             result.already)
    return result


# --- the spreadsheet ----------------------------------------------------------------------------------

COVERAGE_TITLE = "走访覆盖情况"
TOTALS_SHEET = "覆盖统计"
NOT_VISITED_SHEET = "未走访企业"
TOTAL_HEADERS = ["分组", "名称", "目标企业数", "已走访", "未走访", "走访率"]
DEPUTY_HEADERS = ["代表", "所属联络站", "结对企业数", "其中牵头", "已走访", "未走访", "走访率"]
NOT_VISITED_HEADERS = ["序号", "企业名称", "统一社会信用代码", "所属乡镇（街道）", "园区", "地址", "牵头代表",
                       "牵头代表所属联络站"]
# The special lines' names in the spreadsheet (data, in Chinese whatever the page's language).
SPECIAL_LINES = {NO_LEAD: "未确定牵头代表", NO_STATION: "牵头代表未进站", None: "行政区划不详"}
_BOLD = Font(bold=True)
_CENTRED = Alignment(horizontal="center", vertical="center", wrap_text=True)


def coverage_workbook(report: Coverage, missing: list[NotVisited]) -> bytes:
    """Two sheets: the totals (overall, by township, by station, then by deputy) and the
    enterprises not yet visited with their lead deputies."""
    campaign = report.campaign
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = TOTALS_SHEET
    sheet["A1"] = f"{campaign.name}{COVERAGE_TITLE}"
    sheet["A1"].font = Font(bold=True, size=16)
    sheet.merge_cells("A1:G1")
    sheet["A2"] = (f"{campaign.jurisdiction.name}　{_chinese(campaign.starts_on)}至{_chinese(campaign.ends_on)}"
                   f"　统计日期：{_chinese(today_local())}")
    sheet.merge_cells("A2:G2")
    rows = [["合计", campaign.jurisdiction.name, *_figures(report.total)]]
    rows += [["乡镇（街道）", line.label or SPECIAL_LINES[None], *_figures(line)] for line in report.by_township]
    rows += [["联络站", line.label or SPECIAL_LINES[line.key], *_figures(line)] for line in report.by_station]
    end = _write_table(sheet, 4, TOTAL_HEADERS, rows, percent_columns={6})
    deputy_rows = [[line.name, line.station, line.paired, line.leads, line.visited, line.not_visited, line.rate]
                   for line in report.by_deputy]
    _write_table(sheet, end + 2, DEPUTY_HEADERS, deputy_rows, percent_columns={7})
    for letter, width in zip("ABCDEFG", (16, 26, 12, 10, 10, 10, 10)):
        sheet.column_dimensions[letter].width = width
    # Only the title: the header of the first table would mislead above the deputies'.
    set_up_printing(sheet, repeat_rows=2)

    listing = workbook.create_sheet(NOT_VISITED_SHEET)
    _write_table(listing, 1, NOT_VISITED_HEADERS,
                 [[number, e.name, e.uscc, e.township, e.park, e.address, e.lead, e.lead_station]
                  for number, e in enumerate(missing, start=1)], text_columns={3})
    for letter, width in zip("ABCDEFGH", (6, 32, 22, 14, 16, 32, 12, 22)):
        listing.column_dimensions[letter].width = width
    listing.freeze_panes = "A2"
    set_up_printing(listing, repeat_rows=1)
    return importing.workbook_bytes(workbook)


def _figures(line: CoverageLine) -> list:
    return [line.target, line.visited, line.not_visited, line.rate]


def _chinese(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _write_table(sheet, first_row: int, headers: list[str], rows: list[list], *, percent_columns=frozenset(),
                 text_columns=frozenset()) -> int:
    """A header row and its rows from `first_row`; returns the last row written. Numbers stay
    numbers; text typed by people never becomes a formula."""
    for index, header in enumerate(headers, start=1):
        cell = sheet.cell(row=first_row, column=index, value=header)
        cell.font, cell.alignment = _BOLD, _CENTRED
    row_number = first_row
    for row_number, values in enumerate(rows, start=first_row + 1):
        for index, value in enumerate(values, start=1):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cell = sheet.cell(row=row_number, column=index, value=value)
                if index in percent_columns:
                    cell.number_format = "0.0%"
            elif value is None:
                continue
            else:
                importing.write_text(sheet, row_number, index, str(value), as_text=index in text_columns)
    return row_number


def export_filename(campaign: VisitCampaign) -> tuple[str, str]:
    """(Chinese name, ASCII fallback) of the coverage download."""
    day = today_local().strftime("%Y%m%d")
    name = re.sub(r'[\\/:*?"<>|\s]+', "_", f"{campaign.name}-{COVERAGE_TITLE}-{day}")
    return f"{name}.xlsx", f"campaign-{campaign.id}-coverage-{day}.xlsx"

