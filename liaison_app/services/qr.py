"""QR code services: issuing, revoking and reissuing codes, and counting scans.

A code is issued for one placement of a deputy's or a station's poster (站内,
园区主干道, 企业门口 + the enterprise's name). A torn or misplaced poster is
revoked; a reissued code takes its place and the old poster's landing page
points to it. Scans are counted per code and per day (Asia/Shanghai), with
nothing about who scanned, so staff can see which posters work.
"""

import atexit
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Optional, Union

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..extensions import begin_write, db
from ..models import Deputy, Placement, QRCode, QRScanDay, Request, Station, User, utcnow
from ..workdays import today_local, utc_start_of
from ..workflow import WorkflowError

log = logging.getLogger("liaison.qr")

Owner = Union[Deputy, Station]


class QRCodeError(WorkflowError):
    """A code cannot be issued or revoked as asked; nothing was changed."""


def public_url(code: QRCode) -> str:
    """What the printed code encodes: PUBLIC_BASE_URL + /q/<token>."""
    return current_app.config["PUBLIC_BASE_URL"] + url_for("public.qr_landing", token=code.token)


def owner_of(code: QRCode) -> Owner:
    return code.deputy or code.station


# --- issuing and revoking ----------------------------------------------------------------


def create_code(owner: Owner, placement: Placement, label: str = "", *, actor: User) -> QRCode:
    """发码: a new code for one poster of a deputy or a station at one placement."""
    if not owner.active:
        raise QRCodeError(_l("%(name)s is no longer active: no new code can be issued.", name=owner.name))
    code = _new_code(owner, placement, label)
    db.session.commit()
    log.info("qr code %s issued for %r at %s by user %s", code.token, owner, placement.value, actor.id)
    return code


def issue_missing_codes(owners: list[Owner], *, actor: User) -> int:
    """One 站内 code for each active deputy or station that has no live code yet, in one
    transaction: after an import, a whole batch of posters can be printed at once."""
    issued = 0
    for owner in owners:
        if owner.active:
            _new_code(owner, Placement.STATION, "")
            issued += 1
    db.session.commit()
    log.info("%d qr codes issued in a batch by user %s", issued, actor.id)
    return issued


def revoke_code(code: QRCode, *, actor: User, reissue: bool) -> Optional[QRCode]:
    """停用 (and 重新发码): the code stops taking requests; with `reissue`, a new code
    for the same owner, placement and label replaces it and the old poster's landing
    page sends people there. Revoking twice (two staff at once) is refused."""
    owner = owner_of(code)
    if reissue and not owner.active:
        raise QRCodeError(_l("%(name)s is no longer active: the code cannot be reissued.", name=owner.name))
    revoked = db.session.execute(
        sa.update(QRCode).where(QRCode.id == code.id, QRCode.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    if revoked.rowcount == 0:
        db.session.rollback()
        raise QRCodeError(_l("This code has already been revoked."))
    replacement = _new_code(owner, code.placement, code.label) if reissue else None
    code.replaced_by = replacement
    db.session.commit()
    log.info("qr code %s revoked by user %s%s", code.token, actor.id,
             f", replaced by {replacement.token}" if replacement else "")
    return replacement


def _new_code(owner: Owner, placement: Placement, label: str) -> QRCode:
    code = QRCode(placement=placement, label=label.strip())
    if isinstance(owner, Deputy):
        code.deputy = owner
    else:
        code.station = owner
    db.session.add(code)
    db.session.flush()
    return code


# --- counting scans ------------------------------------------------------------------------


def record_scan(token: str) -> None:
    """Count one scan of a code: at once when QR_SCAN_FLUSH_SECONDS is 0, otherwise in this
    worker's buffer (`ScanBuffer`), written by the first landing page that finds it due
    (after its answer) and at the worker's exit. Call it before loading anything: with the
    write at once, SQLite never has to upgrade a read transaction to a write."""
    seconds = current_app.config["QR_SCAN_FLUSH_SECONDS"]
    if not seconds:
        write_scans({token: (1, utcnow(), {today_local(): 1})})
        return
    buffer = current_app.extensions.get("qr_scan_buffer")
    if buffer is None:
        buffer = current_app.extensions.setdefault("qr_scan_buffer", ScanBuffer(current_app._get_current_object()))
    buffer.add(token, utcnow(), today_local())


def scan_flush_if_due() -> Optional[Callable[[], None]]:
    """This worker's buffered scans' flush when they are older than QR_SCAN_FLUSH_SECONDS,
    to run once the answer has gone out (Response.call_on_close); else None."""
    buffer = current_app.extensions.get("qr_scan_buffer")
    seconds = current_app.config["QR_SCAN_FLUSH_SECONDS"]
    return buffer.flush if buffer is not None and seconds and buffer.due(seconds) else None


class ScanBuffer:
    """Scans counted in this worker's memory, {token: (scans, last scan, {local day: scans})},
    written in one short transaction every few seconds instead of one write per scan.

    A worker that is killed (SIGKILL, gunicorn's timeout) loses the scans it had not yet
    written, at most QR_SCAN_FLUSH_SECONDS of them; a graceful exit writes them (atexit).
    Never a request: those are written at once. Scans of a code revoked before the flush are
    not counted (as a scan after revocation is not)."""

    MAX_CODES = 2000  # this many codes pending: written at the end of this request

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.pending: dict[str, tuple[int, datetime, dict[date, int]]] = {}
        self.since: Optional[float] = None  # monotonic time of the oldest pending scan
        atexit.register(self.flush)

    def add(self, token: str, when: datetime, day: date) -> None:
        with self.lock:
            scans, _last, days = self.pending.get(token, (0, when, {}))
            days[day] = days.get(day, 0) + 1
            self.pending[token] = (scans + 1, when, days)
            if self.since is None:
                self.since = time.monotonic()
            if len(self.pending) >= self.MAX_CODES:  # unknown tokens too: keep memory bounded
                self.since = float("-inf")

    def due(self, seconds: float) -> bool:
        since = self.since
        return since is not None and time.monotonic() - since >= seconds

    def flush(self) -> None:
        with self.lock:
            pending, self.pending, self.since = self.pending, {}, None
        if not pending:
            return
        try:
            with self.app.app_context():
                try:
                    write_scans(pending)
                finally:
                    db.session.remove()
        except Exception:  # the database is away: keep the scans for the next flush
            log.exception("could not write %d codes' scan counts; kept for the next try", len(pending))
            with self.lock:
                for token, (scans, when, days) in pending.items():
                    self._merge(token, scans, when, days)
                if self.since is None:
                    self.since = time.monotonic()

    def _merge(self, token: str, scans: int, when: datetime, days: dict[date, int]) -> None:
        old_scans, old_when, old_days = self.pending.get(token, (0, when, {}))
        for day, count in days.items():
            old_days[day] = old_days.get(day, 0) + count
        self.pending[token] = (old_scans + scans, max(old_when, when), old_days)


def write_scans(pending: dict[str, tuple[int, datetime, dict[date, int]]]) -> None:
    """Add the scans to each live code's total and days, in one write transaction.

    On PostgreSQL the commit does not wait for the WAL to reach the disk: a crash may lose
    the last fraction of a second of scan counts, never a request (docs/benchmarks.md)."""
    begin_write()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
    for token, (scans, when, days) in sorted(pending.items()):  # one order: no deadlock between workers
        code_id = db.session.scalar(
            sa.update(QRCode)
            .where(QRCode.token == token, QRCode.revoked_at.is_(None))
            .values(scan_count=QRCode.scan_count + scans,  # another worker may have written a later scan
                    last_scanned_at=sa.case((QRCode.last_scanned_at > when, QRCode.last_scanned_at), else_=when))
            .returning(QRCode.id)
        )
        if code_id is not None:
            for day, count in sorted(days.items()):
                _count_scan_day(code_id, day, count)
    db.session.commit()


def _count_scan_day(code_id: int, day: date, scans: int = 1) -> None:
    """Add the scans to the (code, day) row, creating it on the day's first scans. When two
    first writes race, the loser's INSERT fails in its savepoint and it updates."""
    bump = sa.update(QRScanDay).where(QRScanDay.qr_code_id == code_id, QRScanDay.day == day).values(
        count=QRScanDay.count + scans
    )
    if db.session.execute(bump).rowcount:
        return
    try:
        with db.session.begin_nested():
            db.session.execute(sa.insert(QRScanDay).values(qr_code_id=code_id, day=day, count=scans))
    except IntegrityError:
        db.session.execute(bump)


# --- statistics (read only) ----------------------------------------------------------------


@dataclass
class CodeFigures:
    """Scans of a code (or a placement) and the requests filed through it."""

    scans: int = 0
    requests: int = 0

    @property
    def conversion(self) -> Optional[float]:
        """Requests per scan, in percent; None before the first scan."""
        return 100.0 * self.requests / self.scans if self.scans else None

    def add(self, other: "CodeFigures") -> None:
        self.scans += other.scans
        self.requests += other.requests


@dataclass
class CodeRow:
    """One code in a report: its figures over the window and its scans by day."""

    code: QRCode
    figures: CodeFigures
    daily: dict[date, int]


@dataclass
class ScanReport:
    """Which posters work in a set of jurisdictions over a window of days."""

    days: list[date]
    rows: list[CodeRow]  # most scanned first
    total: CodeFigures = field(default_factory=CodeFigures)
    by_placement: dict[Placement, CodeFigures] = field(default_factory=dict)
    live_by_placement: dict[Placement, int] = field(default_factory=dict)
    per_day: dict[date, int] = field(default_factory=dict)


def scan_report(jurisdiction_ids: list[int], days: list[date]) -> ScanReport:
    """Scans per code and day, requests filed via each code (both within `days`) and
    the sums per placement and per day, for the codes of the stations in these
    jurisdictions and of the deputies their congresses elected. Every live code is
    listed (a poster nobody scans is news too); a revoked one only if it still did
    something in the window."""
    code_ids = sa.select(QRCode.id).where(sa.or_(
        QRCode.station_id.in_(sa.select(Station.id).where(Station.jurisdiction_id.in_(jurisdiction_ids))),
        QRCode.deputy_id.in_(sa.select(Deputy.id).where(Deputy.congress_jurisdiction_id.in_(jurisdiction_ids))),
    ))
    daily = scans_per_day(code_ids, days)
    requests = requests_per_code(code_ids, since=days[0])
    codes = db.session.scalars(
        sa.select(QRCode).where(QRCode.id.in_(code_ids)).options(selectinload(QRCode.deputy),
                                                                 selectinload(QRCode.station))
    )
    rows = []
    for code in codes:
        scans = daily.get(code.id, {})
        figures = CodeFigures(scans=sum(scans.values()), requests=requests.get(code.id, 0))
        if not code.is_revoked or figures.scans or figures.requests:
            rows.append(CodeRow(code=code, figures=figures, daily=scans))
    rows.sort(key=lambda r: (-r.figures.scans, -r.figures.requests, r.code.id))

    report = ScanReport(days=days, rows=rows, by_placement={p: CodeFigures() for p in Placement},
                        live_by_placement=dict.fromkeys(Placement, 0), per_day=dict.fromkeys(days, 0))
    for row in rows:
        report.total.add(row.figures)
        report.by_placement[row.code.placement].add(row.figures)
        report.live_by_placement[row.code.placement] += not row.code.is_revoked
        for day, count in row.daily.items():
            report.per_day[day] += count
    return report


def stats_window(days: int = 30, today: Optional[date] = None) -> list[date]:
    """The last `days` local dates, oldest first, ending today."""
    today = today or today_local()
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def lifetime_figures(codes: list[QRCode]) -> dict[int, CodeFigures]:
    """Every scan since the code was printed (QRCode.scan_count) and every request filed with it."""
    requests = requests_per_code([c.id for c in codes])
    return {c.id: CodeFigures(scans=c.scan_count, requests=requests.get(c.id, 0)) for c in codes}


def requests_per_code(code_ids, since: Optional[date] = None) -> dict[int, int]:
    """Requests filed through each code (since a local date, when given)."""
    query = sa.select(Request.qr_code_id, sa.func.count()).where(Request.qr_code_id.in_(code_ids))
    if since is not None:
        query = query.where(Request.created_at >= utc_start_of(since))
    return dict(db.session.execute(query.group_by(Request.qr_code_id)).all())


def scans_per_day(code_ids, days: list[date]) -> dict[int, dict[date, int]]:
    """{code id: {day: scans}} over the window; days without scans are absent."""
    rows = db.session.execute(
        sa.select(QRScanDay.qr_code_id, QRScanDay.day, QRScanDay.count).where(
            QRScanDay.qr_code_id.in_(code_ids), QRScanDay.day.between(days[0], days[-1])
        )
    )
    result: dict[int, dict[date, int]] = {}
    for code_id, day, count in rows:
        result.setdefault(code_id, {})[day] = count
    return result

