"""QR code services."""

import sqlalchemy as sa

from ..extensions import begin_write, db
from ..models import QRCode, utcnow


def record_scan(token: str) -> None:
    """Count one scan of a live code. One UPDATE in its own write transaction, run
    before the page loads anything, so concurrent scans are all counted and a
    SQLite read transaction never has to be upgraded to a write."""
    begin_write()
    db.session.execute(
        sa.update(QRCode)
        .where(QRCode.token == token, QRCode.revoked_at.is_(None))
        .values(scan_count=QRCode.scan_count + 1, last_scanned_at=utcnow())
    )
    db.session.commit()
