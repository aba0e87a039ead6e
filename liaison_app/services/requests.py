"""The enterprise's side of a request: file it, add information, withdraw it."""

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError

from .. import access
from ..extensions import db
from ..models import (
    Attachment,
    Category,
    Channel,
    Enterprise,
    Deputy,
    Jurisdiction,
    QRCode,
    ReferenceCounter,
    Request,
    RequestEvent,
    RequestKind,
    Station,
    User,
    station_deputies,
    title_from,
    utcnow,
)
from ..validators import is_mobile
from ..workdays import Deadline, claim_due_on, now_local, today_local
from ..workflow import Action, Actor, WorkflowError, next_status
from . import notify, routing
from .photos import ProcessedPhoto, commit_with_photos, photo_columns


class StaleVersion(WorkflowError):
    """The request changed after the form was shown; nothing was written."""

    http_status = 409

    def __init__(self):
        super().__init__(_l("This request was updated in the meantime. Here is the latest; please try again."))


@dataclass
class Filing:
    """What the enterprise typed into the form, already validated and normalised."""

    kind: RequestKind
    enterprise_name: str
    uscc: Optional[str]
    contact_name: str
    contact_phone: str  # E.164
    category: Category
    description: str
    public_consent: bool
    sms_opt_in: bool = False  # 短信通知办理进度: kept only for a mobile number


@dataclass(frozen=True)
class Route:
    """Where a filing through a QR code goes: the code, the deputy it addresses (if any), the
    station and jurisdiction it queues at, and whether the code still takes filings. A deputy's
    code queues at the deputy's first station's jurisdiction (at the deputy's congress when the
    deputy has no station); a station's code at that station. A request staff or a deputy
    record on the enterprise's behalf has no code and names its channel (station_route)."""

    qr_code_id: Optional[int]
    deputy_id: Optional[int]
    deputy_name: Optional[str]
    station_id: Optional[int]
    jurisdiction_id: int
    jurisdiction_name: str
    live: bool
    channel: Optional[Channel] = None  # None: the code's (QR_DEPUTY or QR_STATION)

    def columns(self) -> dict:
        """The request's columns that the route decides."""
        channel = self.channel or (Channel.QR_DEPUTY if self.deputy_id else Channel.QR_STATION)
        return dict(channel=channel, qr_code_id=self.qr_code_id,
                    addressed_deputy_id=self.deputy_id, station_id=self.station_id,
                    jurisdiction_id=self.jurisdiction_id, filed_jurisdiction_id=self.jurisdiction_id)


def _route_query() -> sa.Select:
    # A deputy's stations are ordered by id (Deputy.stations): the first is the smallest id.
    first_station = (sa.select(sa.func.min(station_deputies.c.station_id))
                     .where(station_deputies.c.deputy_id == QRCode.deputy_id).scalar_subquery())
    return (
        sa.select(QRCode.id, QRCode.deputy_id, QRCode.revoked_at, Deputy.name, Deputy.active, Station.id,
                  Station.active, Jurisdiction.id, Jurisdiction.name)
        .select_from(QRCode)
        .outerjoin(Deputy, Deputy.id == QRCode.deputy_id)
        .outerjoin(Station, Station.id == sa.func.coalesce(QRCode.station_id, first_station))
        .outerjoin(Jurisdiction, Jurisdiction.id == sa.func.coalesce(Station.jurisdiction_id,
                                                                     Deputy.congress_jurisdiction_id))
        .where(QRCode.token == sa.bindparam("token"))
    )


# Built once, as the other statements of a filing (below).
_ROUTE_BY_TOKEN = _route_query()


def route_by_token(token: str) -> Optional[Route]:
    """The route of the code with this token, in one narrow row (None: no such code). A filing
    needs no more of its code: loading the code, its deputy, stations and jurisdictions as
    objects took a tenth of a filing's time (docs/benchmarks.md, filings)."""
    row = db.session.execute(_ROUTE_BY_TOKEN, {"token": token}).first()
    if row is None:
        return None
    (code_id, deputy_id, revoked_at, deputy_name, deputy_active, station_id, station_active, jurisdiction_id,
     jurisdiction_name) = row
    target_active = deputy_active if deputy_id is not None else station_active
    return Route(code_id, deputy_id, deputy_name, station_id, jurisdiction_id, jurisdiction_name,
                 live=revoked_at is None and bool(target_active))


def station_route(station: Station, channel: Channel) -> Route:
    """Where a request recorded at a station on an enterprise's behalf goes (来访, 来电, 来信,
    12345转办, 政企恳谈会...): that station's queue, as its QR code's filings do."""
    return Route(None, None, None, station.id, station.jurisdiction_id, station.jurisdiction.name,
                 live=station.active, channel=channel)


# The request's column of each deadline it stores (签收期限 follows from assigned_at).
DEADLINE_COLUMNS = {Deadline.CLAIM: "claim_due_on", Deadline.RESPONSE: "due_on", Deadline.RATING: "rating_due_on"}


def record_event(
    request: Request, action: Action, actor: Actor, *, actor_user=None, note: str = "", public: bool = True,
    deadline: Optional[tuple[Deadline, Optional[date]]] = None,
) -> RequestEvent:
    """Apply `action` through the workflow table and append the event that records it.

    `deadline`: the deadline this action sets, and its new date (None: it no longer applies);
    the event keeps the date before and after, the trail shows both.
    Raises a WorkflowError before anything changes when the table does not allow it.
    """
    from_status = request.status
    to_status = next_status(from_status, action, actor)
    request.status = to_status
    event = RequestEvent(
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor_kind=actor,
        actor=actor_user,
        note=note,
        is_public=public,
    )
    if deadline is not None:
        kind, due = deadline
        event.deadline, event.due_before, event.due_after = kind, getattr(request, DEADLINE_COLUMNS[kind]), due
        setattr(request, DEADLINE_COLUMNS[kind], due)
    # The level and department the request is at after this event. A request set up
    # through relationships has no ids before the flush, one set up by id no objects.
    for name in ("jurisdiction", "department"):
        target = getattr(request, name)
        if target is not None:
            setattr(event, name, target)
        else:
            setattr(event, f"{name}_id", getattr(request, f"{name}_id"))
    request.events.append(event)
    return event


def open_request(*, reference: str, actor: Actor, actor_user=None, description: str, **columns) -> Request:
    """A new request, 待受理, with its tracking token, title, claim deadline and FILE event;
    not yet added to the session. Shared by the enterprise's filing and the problems a
    deputy logs on a visit (services/visits.py)."""
    request = Request(
        reference=reference,
        tracking_token=secrets.token_urlsafe(24),
        title=title_from(description),
        description=description,
        **columns,
    )
    # A new request has no status yet: the table's (None, FILE) row makes it 待受理.
    record_event(request, Action.FILE, actor, actor_user=actor_user,
                 deadline=(Deadline.CLAIM, claim_due_on(today_local())))
    return request


def file_request(
    filing: Filing, *, route: Route, idempotency_key: str, photos: list[ProcessedPhoto] = (),
    recorded_by: Optional[User] = None,
) -> tuple[Request, bool]:
    """提交诉求: one transaction writes the request, its first event, its photos and the
    deputy's notification (sent after the commit, see services/notify.py).

    `recorded_by`: staff or a deputy filing on the enterprise's behalf (代为登记, desk/intake.py);
    the FILE event is theirs. Who may file at which station is the caller's to check
    (access.intake_stations).

    The same idempotency key always yields the same request: a double tap or a
    retried POST returns the first one (created=False) and writes nothing. The key's
    unique index decides, not a look-up first: a retry is rare, and its INSERT fails
    and rolls back everything this one had begun (the reference number included).
    """
    request = open_request(
        reference="",  # taken last, below
        actor=Actor.ENTERPRISE if recorded_by is None else access.actor_kind(recorded_by),
        actor_user=recorded_by,
        idempotency_key=idempotency_key,
        kind=filing.kind,
        category=filing.category,
        description=filing.description,
        enterprise=_find_or_create_enterprise(filing.enterprise_name, filing.uscc),
        contact_name=filing.contact_name,
        contact_phone=filing.contact_phone,
        public_consent=filing.public_consent,
        sms_opt_in=filing.sms_opt_in and is_mobile(filing.contact_phone),
        **route.columns(),
    )
    event = request.events[0]
    # Who is told is worked out first: the counter row below is locked until the commit.
    announcement = notify.prepare(routing.route_for_filing(request), request, jurisdiction_name=route.jurisdiction_name)
    try:
        # The year's counter row stays locked until the commit, and every filing of the year
        # waits for it: everything else is read and built before, and once the number is
        # taken Core INSERTs write the request, its event and its messages
        # (the unit of work took twice as long to sort and write them: docs/benchmarks.md).
        request.reference = _next_reference()
        request.id = db.session.scalar(_INSERT_REQUEST, _columns(request, enterprise_id=request.enterprise.id))
        event.id = db.session.scalar(_INSERT_EVENT, _columns(event, request_id=request.id,
                                                             actor_user_id=recorded_by and recorded_by.id))
        announcement.write(request)
        commit_with_photos(photos, lambda photo, stored_name: Attachment(
            request_id=request.id, event_id=event.id, **photo_columns(photo, stored_name)))
    except IntegrityError:
        # The same key committed before (a retried POST), or a moment ago on another
        # connection (a double tap).
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
    return _written(request), True


_INSERT_REQUEST = sa.insert(Request.__table__).returning(Request.__table__.c.id)
_INSERT_EVENT = sa.insert(RequestEvent.__table__).returning(RequestEvent.__table__.c.id)


def _columns(obj, **more) -> dict:
    """The column values set on a new mapped object (the table's defaults fill the rest),
    for a Core INSERT; its version column, if any, starts at 1 as the ORM's would."""
    mapper = sa.inspect(obj).mapper
    values = {prop.key: obj.__dict__[prop.key] for prop in mapper.column_attrs if prop.key in obj.__dict__}
    if mapper.version_id_col is not None:
        values[mapper.version_id_col.key] = 1
    return {**values, **more}


def _written(request: Request) -> Request:
    """The request just written by Core, as a persistent object of the session that knows
    its id and tracking link (the answer's redirect) and loads the rest when asked."""
    written = Request(id=request.id, tracking_token=request.tracking_token)
    make_transient_to_detached(written)
    db.session.add(written)
    return written


def add_information(request: Request, *, text: str, version: int, photos: list[ProcessedPhoto] = ()) -> RequestEvent:
    """补充说明: the enterprise adds details; a new public event on the trail."""
    _check_version(request, version)
    event = record_event(request, Action.ADD_INFO, Actor.ENTERPRISE, note=text)
    request.updated_at = utcnow()  # a column change, so the UPDATE bumps the version
    try:
        _commit_with_photos(photos, request=request, event=event)
    except StaleDataError:
        raise StaleVersion() from None
    return event


def withdraw_request(request: Request, *, version: int, reason: str = "") -> RequestEvent:
    """撤回: the enterprise takes back a request that no deputy has claimed yet."""
    _check_version(request, version)
    access.check_enterprise(Action.WITHDRAW, request)
    event = record_event(request, Action.WITHDRAW, Actor.ENTERPRISE, note=reason)
    request.closed_at = utcnow()
    _commit_or_stale()
    return event


def _commit_with_photos(photos: list[ProcessedPhoto], *, request: Request, event: RequestEvent) -> None:
    commit_with_photos(photos, lambda photo, stored_name: Attachment(
        request=request, event=event, **photo_columns(photo, stored_name)))


def _commit_or_stale() -> None:
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise StaleVersion() from None


def _check_version(request: Request, version: int) -> None:
    if request.version != version:
        raise StaleVersion()


def _by_idempotency_key(key: str) -> Optional[Request]:
    return db.session.scalar(sa.select(Request).where(Request.idempotency_key == key))


# The statements of every filing, built once: building one and its cache key anew costs more
# than a tenth of a millisecond each time (docs/benchmarks.md, filings).
_ENTERPRISE_BY_USCC, _ENTERPRISE_BY_NAME = (
    sa.select(Enterprise).where(column == sa.bindparam("key")).order_by(Enterprise.id).limit(1)
    for column in (Enterprise.uscc, Enterprise.name)
)
_BUMP_COUNTER = (
    sa.update(ReferenceCounter).where(ReferenceCounter.year == sa.bindparam("counter_year"))
    .values(last_value=ReferenceCounter.last_value + sa.bindparam("taken", type_=sa.Integer))
    .returning(ReferenceCounter.last_value).execution_options(synchronize_session=False)
)


def _find_or_create_enterprise(name: str, uscc: Optional[str]) -> Enterprise:
    """The USCC identifies a company when given; otherwise the exact registered name does."""
    query, key = (_ENTERPRISE_BY_USCC, uscc) if uscc else (_ENTERPRISE_BY_NAME, name)
    enterprise = db.session.scalar(query, {"key": key})
    if enterprise is not None:
        return enterprise
    enterprise = Enterprise(name=name, uscc=uscc)
    try:
        with db.session.begin_nested():
            db.session.add(enterprise)
    except IntegrityError:
        # Another filing created the same company a moment ago.
        enterprise = db.session.scalar(query, {"key": key})
    return enterprise


def _next_reference() -> str:
    return reserve_references(now_local().year, 1)[0]


def reserve_references(year: int, count: int) -> list[str]:
    """Take `count` consecutive reference numbers of `year` (2026-000123) from the
    per-year counter: gap-free and safe under concurrent filings, as the counter
    row stays locked until the transaction ends."""
    last = db.session.scalar(_BUMP_COUNTER, {"counter_year": year, "taken": count})
    if last is None:  # the year's first reference
        try:
            with db.session.begin_nested():
                db.session.execute(sa.insert(ReferenceCounter).values(year=year, last_value=count))
            last = count
        except IntegrityError:
            last = db.session.scalar(_BUMP_COUNTER, {"counter_year": year, "taken": count})
    return [f"{year}-{value:06d}" for value in range(last - count + 1, last + 1)]
