"""Visits, symposia and receptions (走访 / 座谈 / 接待) that deputies log from their phones,
and the problems raised there: each problem becomes a request in the same step, so that
nothing said in a factory is lost.

Which jurisdiction a visit belongs to: that of its station. The station is the reception
day's for a reception, else the one the deputy chose among their own stations, else the
deputy's primary station (Deputy.primary_station); a deputy who sits in no station logs at
the jurisdiction of the congress that elected them. The monthly report counts the visit
and its deputies there, and the visit's requests are filed and queued there, as a filing
through the deputy's own QR code would be (services/requests.Route).

A request born on a visit is addressed to the logging deputy and claimed by them at once:
its trail starts with FILE and CLAIM, both by that deputy. Its channel is "visit" (also for
a symposium) or "reception".

log_visit() checks everything before it writes anything, writes the visit, its requests,
the reception day's link and its photos in one transaction, logs, and commits once. A
VisitError means nothing was written; the same idempotency key always yields the same
visit (a double tap or a resubmitted draft writes nothing more).
"""

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable, Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, selectinload

from .. import access
from ..extensions import db
from ..models import (
    Category,
    Channel,
    Deputy,
    Enterprise,
    Jurisdiction,
    Level,
    Pairing,
    ReceptionDay,
    Request,
    Role,
    Station,
    User,
    Visit,
    VisitCampaign,
    VisitForm,
    VisitPhoto,
    station_deputies,
    utcnow,
)
from ..models.visits import visit_deputies, visit_enterprises
from ..validators import InvalidValue, is_mobile, normalise_phone
from ..workdays import now_local, today_local
from ..workflow import Action
from .enterprises import matching
from . import notify
from .photos import ProcessedPhoto, commit_with_photos, photo_columns
from .requests import open_request, record_event, reserve_references

log = logging.getLogger("liaison.visits")

DAYS_BACK = 60  # how long after the day a visit may still be logged from the phone
NOTES_MAX = 4000
DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 2000  # as on the enterprise's filing form
CONTACT_NAME_MAX = 40
MAX_PROBLEMS = 20
RECENT_DAYS = 90  # the enterprise picker puts what the deputy visited lately first
EARLIER_REQUESTS_SHOWN = 5  # per enterprise on 我的结对企业


class VisitError(Exception):
    """Refused; nothing was written. `field` names the form field that caused it, and
    `problem` the index (in the list given to log_visit) of the problem it is about."""

    def __init__(self, message, field: Optional[str] = None, problem: Optional[int] = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
        self.problem = problem


@dataclass
class Problem:
    """A problem raised on the visit, as typed: it becomes one request."""

    category: Category
    description: str
    enterprise_id: Optional[int] = None  # which enterprise raised it; may be left out when only one was there
    contact_name: str = ""
    contact_phone: str = ""  # as typed; normalised to E.164 here


# --- who sees what ----------------------------------------------------------------------------


def visible_visits(user: User) -> sa.Select:
    """SELECT the visits a user may open: a deputy those they logged or took part in;
    staff those of their jurisdiction and below; admins all; unit officers none."""
    query = sa.select(Visit)
    if user.role is Role.ADMIN:
        return query
    if user.role is Role.STAFF:
        return query.where(Visit.jurisdiction_id.in_(access.subtree_ids(user.jurisdiction_id)))
    if user.role is Role.DEPUTY:
        took_part = sa.select(visit_deputies.c.visit_id).where(visit_deputies.c.deputy_id == user.deputy_id)
        return query.where(sa.or_(Visit.logged_by_id == user.id, Visit.id.in_(took_part)))
    return query.where(sa.false())


def visit_for(user: User, visit_id: int) -> Optional[Visit]:
    return db.session.scalar(visible_visits(user).where(Visit.id == visit_id))


def linked_requests(user: User, visit: Visit) -> list[Request]:
    """The requests the visit produced that this user may open, in the order they were logged."""
    query = access.visible_requests(user).where(Request.visit_id == visit.id)
    return list(db.session.scalars(query.options(selectinload(Request.enterprise)).order_by(Request.id)))


# --- what a deputy may choose -------------------------------------------------------------------


def home_station(deputy: Deputy, station_id: Optional[int] = None) -> Optional[Station]:
    """The station a visit is logged at: the chosen one of the deputy's stations, or the
    primary one. None when the id is not one of theirs."""
    if station_id is None:
        return deputy.primary_station
    return next((s for s in deputy.stations if s.id == station_id), None)


def visit_jurisdiction(deputy: Deputy, station: Optional[Station]) -> Jurisdiction:
    """Where the visit is counted and its requests are filed (see the module's docstring)."""
    return station.jurisdiction if station is not None else deputy.congress_jurisdiction


def fellow_deputies(deputy: Deputy, reception_day: Optional[ReceptionDay] = None) -> list[Deputy]:
    """Who may be recorded as taking part besides the deputy: the active deputies of the
    deputy's stations, and those on duty on the reception day."""
    station_ids = [s.id for s in deputy.stations]
    in_stations = sa.select(station_deputies.c.deputy_id).where(station_deputies.c.station_id.in_(station_ids))
    condition = Deputy.id.in_(in_stations)
    if reception_day is not None:
        condition = sa.or_(condition, Deputy.id.in_([d.id for d in reception_day.deputies]))
    query = sa.select(Deputy).where(condition, Deputy.active, Deputy.id != deputy.id).order_by(Deputy.name, Deputy.id)
    return list(db.session.scalars(query))


def _area_ids(deputy: Deputy) -> list[int]:
    """The jurisdictions whose enterprises the deputy may log visits to: for each of the
    deputy's stations and their congress, its county-level jurisdiction (a township's
    parent) and everything below it. Visits happen within a county."""
    tops: set[int] = set()
    for place in [s.jurisdiction for s in deputy.stations] + [deputy.congress_jurisdiction]:
        while place.level is Level.TOWNSHIP and place.parent is not None:
            place = place.parent
        tops.add(place.id)
    return sorted({i for top in tops for i in access.subtree_ids(top)})


def pickable_enterprises(deputy: Deputy) -> sa.Select:
    """SELECT the enterprises the deputy may log a visit to: those of the deputy's area,
    those whose jurisdiction is not known yet (filed without one), and those paired with
    the deputy in any campaign."""
    paired = sa.select(Pairing.enterprise_id).where(Pairing.deputy_id == deputy.id)
    return sa.select(Enterprise).where(sa.or_(Enterprise.jurisdiction_id.in_(_area_ids(deputy)),
                                              Enterprise.jurisdiction_id.is_(None), Enterprise.id.in_(paired)))


def preferred_enterprise_ids(deputy: Deputy, today: Optional[date] = None) -> list[int]:
    """The enterprises the picker offers first: those paired with the deputy in the current
    campaign not yet visited, then those the deputy visited lately (latest first), then the
    other paired ones."""
    today = today or today_local()
    campaign = pairing_campaign(deputy, today)
    paired: list[int] = []
    visited: set[int] = set()
    if campaign is not None:
        paired = list(db.session.scalars(
            sa.select(Pairing.enterprise_id).join(Enterprise, Enterprise.id == Pairing.enterprise_id)
            .where(Pairing.campaign_id == campaign.id, Pairing.deputy_id == deputy.id)
            .order_by(Pairing.is_lead.desc(), Enterprise.name)))
        visited = set(_last_visits(campaign, paired))
    recent = db.session.execute(
        sa.select(visit_enterprises.c.enterprise_id, sa.func.max(Visit.held_on))
        .join(Visit, Visit.id == visit_enterprises.c.visit_id)
        .join(visit_deputies, visit_deputies.c.visit_id == Visit.id)
        .where(visit_deputies.c.deputy_id == deputy.id, Visit.held_on >= today - timedelta(days=RECENT_DAYS))
        .group_by(visit_enterprises.c.enterprise_id)
    ).all()
    recent_ids = [i for i, _held in sorted(recent, key=lambda row: (row[1], row[0]), reverse=True)]
    ordered = [i for i in paired if i not in visited] + recent_ids + paired
    return list(dict.fromkeys(ordered))


def search_enterprises(deputy: Deputy, text: str, *, leave_out: Iterable[int] = (), limit: int = 8) -> list[Enterprise]:
    """The picker's short list: part of the name, the start of the pinyin initials or of the
    USCC; the deputy's paired and recently visited enterprises first. With nothing typed,
    only those."""
    preferred = preferred_enterprise_ids(deputy)
    query = matching(pickable_enterprises(deputy), text)
    if leave_out := [i for i in leave_out if i is not None]:
        query = query.where(Enterprise.id.not_in(leave_out))
    if not text.strip():
        if not preferred:
            return []
        query = query.where(Enterprise.id.in_(preferred))
    order = [Enterprise.name, Enterprise.id]
    if preferred:
        order.insert(0, sa.case({eid: rank for rank, eid in enumerate(preferred)}, value=Enterprise.id,
                                else_=len(preferred)))
    return list(db.session.scalars(query.order_by(*order).limit(limit)))


def chosen_enterprises(deputy: Deputy, ids: Iterable[Optional[int]]) -> list[Enterprise]:
    """The enterprises of `ids` the deputy may choose, in the order given."""
    wanted = list(dict.fromkeys(i for i in ids if i is not None))
    if not wanted:
        return []
    found = {e.id: e for e in db.session.scalars(pickable_enterprises(deputy).where(Enterprise.id.in_(wanted)))}
    return [found[i] for i in wanted if i in found]


def reception_day_for(deputy: Deputy, day_id: int) -> Optional[ReceptionDay]:
    """A reception day the deputy may log: at one of their stations, or one they were on duty on."""
    day = db.session.get(ReceptionDay, day_id)
    if day is None:
        return None
    if day.station_id in {s.id for s in deputy.stations} or deputy in day.deputies:
        return day
    return None


def campaign_for(jurisdiction: Jurisdiction, held_on: date) -> Optional[VisitCampaign]:
    """The campaign a visit held on that day belongs to: one over the visit's jurisdiction or
    a level above it whose dates contain the day; the closest level wins."""
    levels = access.ancestor_ids(jurisdiction)  # the jurisdiction first, then upwards
    campaigns = db.session.scalars(
        sa.select(VisitCampaign).where(VisitCampaign.jurisdiction_id.in_(levels),
                                       VisitCampaign.starts_on <= held_on, VisitCampaign.ends_on >= held_on)
        .order_by(VisitCampaign.starts_on.desc(), VisitCampaign.id.desc())
    ).all()
    return min(campaigns, key=lambda c: levels.index(c.jurisdiction_id), default=None)


# --- logging a visit ----------------------------------------------------------------------------


def log_visit(*, actor: User, form: VisitForm, held_on: date, enterprise_ids: Iterable[Optional[int]],
              idempotency_key: str, deputy_ids: Iterable[Optional[int]] = (), notes: str = "",
              problems: list[Problem] = (), station_id: Optional[int] = None,
              reception_day: Optional[ReceptionDay] = None, photos: list[ProcessedPhoto] = ()) -> tuple[Visit, bool]:
    """走访记录: the deputy logs a visit (one enterprise), a symposium (the enterprises present)
    or a reception (those received, if any), with the deputies who took part. Every problem
    raised becomes a request of the visit's jurisdiction, claimed by the deputy at once.

    Returns (visit, created); created is False when the idempotency key was seen before.
    """
    existing = _by_idempotency_key(idempotency_key)
    if existing is not None:
        return existing, False

    plan = _check(actor=actor, form=form, held_on=held_on, enterprise_ids=enterprise_ids, deputy_ids=deputy_ids,
                  notes=notes, problems=list(problems), station_id=station_id, reception_day=reception_day)
    try:
        visit = _write(plan, actor=actor, form=form, held_on=held_on, notes=notes.strip(),
                       idempotency_key=idempotency_key, reception_day=reception_day)
        commit_with_photos(list(photos), lambda photo, stored_name: VisitPhoto(
            visit=visit, **photo_columns(photo, stored_name)))
    except IntegrityError:
        # The same key committed a moment ago (a double tap on another connection).
        db.session.rollback()
        notify.forget_queued()
        existing = _by_idempotency_key(idempotency_key)
        if existing is None:
            raise
        return existing, False
    except BaseException:
        db.session.rollback()
        notify.forget_queued()
        raise
    notify.deliver_after_commit()
    log.info("visit %s (%s, %s) logged by user %s at jurisdiction %s: %d enterprises, %d deputies, "
             "%d photos, requests %s", visit.id, form.value, held_on.isoformat(), actor.id, plan.jurisdiction.id,
             len(plan.enterprises), len(plan.deputies), len(photos),
             ", ".join(plan.references) or "none")
    return visit, True


@dataclass
class _Plan:
    """What log_visit() will write, every part checked."""

    deputy: Deputy
    station: Optional[Station]
    jurisdiction: Jurisdiction
    enterprises: list[Enterprise]
    deputies: list[Deputy]
    problems: list["_CheckedProblem"]
    references: list[str] = field(default_factory=list)  # of the requests written


def _check(*, actor: User, form: VisitForm, held_on: date, enterprise_ids, deputy_ids, notes: str,
           problems: list[Problem], station_id: Optional[int], reception_day: Optional[ReceptionDay]) -> _Plan:
    if actor.role is not Role.DEPUTY or actor.deputy is None or not actor.deputy.active:
        raise VisitError(_l("Only a deputy can log a visit."))
    deputy = actor.deputy
    _check_date(held_on)
    if reception_day is not None:
        _check_reception_day(deputy, form, held_on, reception_day)
        station = reception_day.station
    else:
        station = home_station(deputy, station_id)
        if station_id is not None and station is None:
            raise VisitError(_l("Please choose one of your stations."), "station")
    if len(notes) > NOTES_MAX:
        raise VisitError(_l("At most %(max)d characters.", max=NOTES_MAX), "notes")
    enterprises = _check_enterprises(deputy, form, list(enterprise_ids))
    deputies = _check_deputies(deputy, list(deputy_ids), reception_day)
    if len(problems) > MAX_PROBLEMS:
        raise VisitError(_l("At most %(n)d problems can be logged with one visit.", n=MAX_PROBLEMS), "problems")
    # A visit is to one enterprise: its problems are that enterprise's, whatever else they say.
    checked = [_check_problem(index, problem, enterprises, only=form is VisitForm.VISIT)
               for index, problem in enumerate(problems)]
    return _Plan(deputy=deputy, station=station, jurisdiction=visit_jurisdiction(deputy, station),
                 enterprises=enterprises, deputies=deputies, problems=checked)


def _check_date(held_on: date) -> None:
    today = today_local()
    if held_on > today:
        raise VisitError(_l("A visit is logged once it has taken place: the date cannot be in the future."),
                         "held_on")
    if held_on < today - timedelta(days=DAYS_BACK):
        raise VisitError(_l("Visits more than %(days)d days ago cannot be logged here; please ask the liaison "
                            "office to record it.", days=DAYS_BACK), "held_on")


def _check_reception_day(deputy: Deputy, form: VisitForm, held_on: date, day: ReceptionDay) -> None:
    if form is not VisitForm.RECEPTION:
        raise VisitError(_l("A reception day is logged as a reception."), "form")
    if reception_day_for(deputy, day.id) is None:
        raise VisitError(_l("This reception day is not at one of your stations."), "reception")
    if day.cancelled_at is not None:
        raise VisitError(_l("This reception day was cancelled."), "reception")
    if day.visit_id is not None:
        raise VisitError(_l("This reception day has already been logged."), "reception")
    if held_on != day.held_on:
        raise VisitError(_l("The reception day was on %(day)s: please log it with that date.",
                            day=day.held_on.isoformat()), "held_on")


def _check_enterprises(deputy: Deputy, form: VisitForm, ids: list[Optional[int]]) -> list[Enterprise]:
    if None in ids:
        raise VisitError(_l("Please choose enterprises from the list."), "enterprises")
    enterprises = chosen_enterprises(deputy, ids)
    if len(enterprises) != len(set(ids)):
        raise VisitError(_l("Please choose enterprises from the list."), "enterprises")
    if form is VisitForm.VISIT and len(enterprises) != 1:
        raise VisitError(_l("A visit is to one enterprise: choose exactly one (several present: a symposium)."),
                         "enterprises")
    if form is VisitForm.SYMPOSIUM and not enterprises:
        raise VisitError(_l("Please choose the enterprises present at the symposium."), "enterprises")
    return enterprises


def _check_deputies(deputy: Deputy, ids: list[Optional[int]], reception_day: Optional[ReceptionDay]) -> list[Deputy]:
    """The deputy always takes part; the others must be fellow deputies."""
    others = {i for i in ids if i != deputy.id}
    if not others:
        return [deputy]
    fellows = {d.id: d for d in fellow_deputies(deputy, reception_day)}
    if None in others or not others <= fellows.keys():
        raise VisitError(_l("Please choose deputies from the list."), "deputies")
    return sorted([deputy] + [fellows[i] for i in others], key=lambda d: d.id)


@dataclass(frozen=True)
class _CheckedProblem:
    category: Category
    description: str
    enterprise: Enterprise
    contact_name: str
    contact_phone: str  # E.164, or ""


def _check_problem(index: int, problem: Problem, enterprises: list[Enterprise], *, only: bool) -> _CheckedProblem:
    def refuse(message, field_name):
        return VisitError(message, field_name, problem=index)

    if not isinstance(problem.category, Category):
        raise refuse(_l("Please choose a category."), "category")
    description = problem.description.strip()
    if not DESCRIPTION_MIN <= len(description) <= DESCRIPTION_MAX:
        raise refuse(_l("Please write between %(min)d and %(max)d characters.", min=DESCRIPTION_MIN,
                        max=DESCRIPTION_MAX), "description")
    present = {e.id: e for e in enterprises}
    if only or (problem.enterprise_id is None and len(enterprises) == 1):
        enterprise = enterprises[0]
    elif problem.enterprise_id in present:
        enterprise = present[problem.enterprise_id]
    elif not enterprises:
        raise refuse(_l("Add the enterprise this problem came from to the visit first."), "enterprise")
    else:
        raise refuse(_l("Please choose which of the enterprises present raised this problem."), "enterprise")
    name, phone = problem.contact_name.strip(), problem.contact_phone.strip()
    if len(name) > CONTACT_NAME_MAX:
        raise refuse(_l("At most %(max)d characters.", max=CONTACT_NAME_MAX), "contact_name")
    if phone and not name:
        raise refuse(_l("Please tell us whom to contact."), "contact_name")
    if name and not phone:
        raise refuse(_l("Please give a phone number."), "contact_phone")
    if phone:
        try:
            phone = normalise_phone(phone)
        except InvalidValue as error:
            raise refuse(error.message, "contact_phone") from None
    return _CheckedProblem(problem.category, description, enterprise, name, phone)


def _write(plan: _Plan, *, actor: User, form: VisitForm, held_on: date, notes: str, idempotency_key: str,
           reception_day: Optional[ReceptionDay]) -> Visit:
    # The reference numbers first: the counter's UPDATE must not flush half a visit.
    references = reserve_references(now_local().year, len(plan.problems)) if plan.problems else []
    visit = Visit(form=form, held_on=held_on, jurisdiction=plan.jurisdiction,
                  campaign=campaign_for(plan.jurisdiction, held_on), station=plan.station, logged_by=actor,
                  notes=notes, idempotency_key=idempotency_key, deputies=plan.deputies,
                  enterprises=plan.enterprises)
    db.session.add(visit)
    db.session.flush()  # the visit's id, for its requests and the reception day
    if reception_day is not None:
        _mark_reception_logged(reception_day, visit)
    actor_kind = access.actor_kind(actor)
    channel = Channel.RECEPTION if form is VisitForm.RECEPTION else Channel.VISIT
    for reference, problem in zip(references, plan.problems):
        request = open_request(
            reference=reference, actor=actor_kind, actor_user=actor, description=problem.description,
            category=problem.category, enterprise=problem.enterprise, contact_name=problem.contact_name,
            contact_phone=problem.contact_phone, channel=channel, visit_id=visit.id, addressed_deputy=plan.deputy,
            station=plan.station, jurisdiction=plan.jurisdiction, filed_jurisdiction=plan.jurisdiction,
            # The enterprise gets its tracking link by SMS (the notification layer sends it).
            sms_opt_in=is_mobile(problem.contact_phone),
        )
        # Raised to the deputy in person, so theirs at once: nobody else can see it before the commit.
        record_event(request, Action.CLAIM, actor_kind, actor_user=actor)
        request.claimant, request.claimed_at = actor, utcnow()
        db.session.add(request)
        notify.announce("recorded", request)
        plan.references.append(reference)
    return visit


def _mark_reception_logged(day: ReceptionDay, visit: Visit) -> None:
    """One visit per reception day, even when two deputies on duty log it at the same moment."""
    taken = db.session.execute(
        sa.update(ReceptionDay).where(ReceptionDay.id == day.id, ReceptionDay.visit_id.is_(None))
        .values(visit_id=visit.id).execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise VisitError(_l("This reception day has already been logged."), "reception")


def _by_idempotency_key(key: str) -> Optional[Visit]:
    return db.session.scalar(sa.select(Visit).where(Visit.idempotency_key == key))


# --- 我的结对企业 ----------------------------------------------------------------------------------


def pairing_campaign(deputy: Deputy, today: date) -> Optional[VisitCampaign]:
    """The campaign whose pairings the deputy sees: the one running today, else the latest
    (an upcoming one included) of those the deputy is paired in."""
    running = sa.and_(VisitCampaign.starts_on <= today, VisitCampaign.ends_on >= today)
    return db.session.scalar(
        sa.select(VisitCampaign)
        .where(VisitCampaign.id.in_(sa.select(Pairing.campaign_id).where(Pairing.deputy_id == deputy.id)))
        .order_by(sa.case((running, 0), else_=1), VisitCampaign.starts_on.desc(), VisitCampaign.id.desc())
        .limit(1)
    )


def _last_visits(campaign: VisitCampaign, enterprise_ids: list[int]) -> dict[int, date]:
    """enterprise id → the last day it was visited within the campaign's dates (the campaigns'
    rule for "visited": whichever campaign, if any, the visit was logged against)."""
    if not enterprise_ids:
        return {}
    rows = db.session.execute(
        sa.select(visit_enterprises.c.enterprise_id, sa.func.max(Visit.held_on))
        .join(Visit, Visit.id == visit_enterprises.c.visit_id)
        .where(visit_enterprises.c.enterprise_id.in_(enterprise_ids),
               Visit.held_on.between(campaign.starts_on, campaign.ends_on))
        .group_by(visit_enterprises.c.enterprise_id)
    )
    return dict(rows.tuples().all())


@dataclass
class PairedEnterprise:
    enterprise: Enterprise
    is_lead: bool
    partners: list[Deputy]  # the other deputies paired with it (1+N)
    visited_on: Optional[date]  # the last visit within the campaign's dates
    requests: list[Request]  # its latest requests this user may open
    more_requests: int  # its other requests: older ones and those handled elsewhere


@dataclass
class PairingOverview:
    campaign: Optional[VisitCampaign]
    enterprises: list[PairedEnterprise]

    @property
    def visited(self) -> int:
        return sum(1 for p in self.enterprises if p.visited_on is not None)


def pairing_overview(user: User, today: Optional[date] = None) -> PairingOverview:
    """我的结对企业: the deputy's paired enterprises in the current (or latest) campaign, those
    not yet visited first, each with its address, its partners and its earlier requests."""
    deputy = user.deputy
    campaign = pairing_campaign(deputy, today or today_local())
    if campaign is None:
        return PairingOverview(None, [])
    mine = db.session.scalars(
        sa.select(Pairing).where(Pairing.campaign_id == campaign.id, Pairing.deputy_id == deputy.id)
        .options(selectinload(Pairing.enterprise))
    ).all()
    ids = [p.enterprise_id for p in mine]
    partners: dict[int, list[Deputy]] = {}
    for pairing in db.session.scalars(
            sa.select(Pairing).where(Pairing.campaign_id == campaign.id, Pairing.enterprise_id.in_(ids),
                                     Pairing.deputy_id != deputy.id)
            .options(selectinload(Pairing.deputy)).order_by(Pairing.is_lead.desc(), Pairing.id)):
        partners.setdefault(pairing.enterprise_id, []).append(pairing.deputy)
    visited = _last_visits(campaign, ids)
    latest, totals = _earlier_requests(user, ids)
    rows = [PairedEnterprise(enterprise=p.enterprise, is_lead=p.is_lead, partners=partners.get(p.enterprise_id, []),
                             visited_on=visited.get(p.enterprise_id), requests=latest.get(p.enterprise_id, []),
                             more_requests=totals.get(p.enterprise_id, 0) - len(latest.get(p.enterprise_id, [])))
            for p in mine]
    rows.sort(key=lambda r: (r.visited_on is not None, not r.is_lead, r.enterprise.name, r.enterprise.id))
    return PairingOverview(campaign, rows)


def _earlier_requests(user: User, enterprise_ids: list[int]) -> tuple[dict[int, list[Request]], dict[int, int]]:
    """The latest few requests of each enterprise that the user may open, and how many
    requests each enterprise has in all: two queries, whatever the number of requests."""
    if not enterprise_ids:
        return {}, {}
    position = sa.func.row_number().over(partition_by=Request.enterprise_id, order_by=Request.id.desc())
    ranked = (access.visible_requests(user).where(Request.enterprise_id.in_(enterprise_ids))
              .add_columns(position.label("position")).subquery())
    shown = aliased(Request, ranked)
    latest: dict[int, list[Request]] = {}
    for req in db.session.scalars(sa.select(shown).where(ranked.c.position <= EARLIER_REQUESTS_SHOWN)
                                  .order_by(ranked.c.id.desc())):
        latest.setdefault(req.enterprise_id, []).append(req)
    totals = dict(db.session.execute(
        sa.select(Request.enterprise_id, sa.func.count()).where(Request.enterprise_id.in_(enterprise_ids))
        .group_by(Request.enterprise_id)).tuples().all())
    return latest, totals
