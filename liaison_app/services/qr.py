"""QR code services: issuing, revoking and reissuing codes, and counting scans.

A code is issued for one placement of a deputy's or a station's poster (站内,
园区主干道, 企业门口 + the enterprise's name). A torn or misplaced poster is
revoked; a reissued code takes its place and the old poster's landing page
points to it. Scans are counted per code and per day (Asia/Shanghai), with
nothing about who scanned, so staff can see which posters work.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Optional, Union

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
    """Count one scan of a live code, in total and for today. Its own write
    transaction, run before the page loads anything, so concurrent scans are all
    counted and a SQLite read transaction never has to be upgraded to a write.

    On PostgreSQL the commit does not wait for the WAL to reach the disk: a crash may lose
    the last fraction of a second of scan counts, never a request, and each landing page
    answers ~5 ms sooner on a busy disk (docs/benchmarks.md)."""
    begin_write()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
    code_id = db.session.scalar(
        sa.update(QRCode)
        .where(QRCode.token == token, QRCode.revoked_at.is_(None))
        .values(scan_count=QRCode.scan_count + 1, last_scanned_at=utcnow())
        .returning(QRCode.id)
    )
    if code_id is not None:
        _count_scan_day(code_id, today_local())
    db.session.commit()


def _count_scan_day(code_id: int, day: date) -> None:
    """Add one to the (code, day) row, creating it on the day's first scan. When two
    first scans race, the loser's INSERT fails in its savepoint and it updates."""
    bump = sa.update(QRScanDay).where(QRScanDay.qr_code_id == code_id, QRScanDay.day == day).values(
        count=QRScanDay.count + 1
    )
    if db.session.execute(bump).rowcount:
        return
    try:
        with db.session.begin_nested():
            db.session.execute(sa.insert(QRScanDay).values(qr_code_id=code_id, day=day, count=1))
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

