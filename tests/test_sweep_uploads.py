"""flask sweep-uploads: a worker killed between writing a photo and committing its row leaves a
file that nothing names; the sweep deletes such files once they are old enough, and nothing else."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Attachment, Request
from liaison_app.services.photos import ProcessedPhoto, photo_columns, write_photo
from tests.factories import image_bytes, make_qr_code, make_request

ROOT = Path(__file__).resolve().parent.parent


def files_in(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


def stored_photo(req=None) -> str:
    photo = ProcessedPhoto(data=image_bytes(), width=64, height=48)
    name = write_photo(photo)
    if req is not None:
        db.session.add(Attachment(request_id=req.id, event_id=req.events[0].id, **photo_columns(photo, name)))
        db.session.commit()
    return name


def age(app, name: str, minutes: float) -> None:
    then = time.time() - minutes * 60
    os.utime(os.path.join(app.config["UPLOAD_FOLDER"], name), (then, then))


def file_and_get_killed_before_the_commit(app, tmp_path, code_id: int):
    """A filing with a photo in another process that is SIGKILLed at its commit."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from tests.conftest import make_app
        from tests.factories import image_bytes
        from liaison_app.extensions import db
        from liaison_app.models import Category, QRCode, RequestKind
        from liaison_app.services.photos import ProcessedPhoto
        from liaison_app.services.requests import Filing, file_request, route_by_token

        app = make_app({app.config["DATABASE_URL"]!r}, Path({str(tmp_path)!r}))
        with app.app_context():
            code = db.session.get(QRCode, {code_id})
            db.session.commit = lambda: os.kill(os.getpid(), signal.SIGKILL)
            file_request(Filing(kind=RequestKind.REQUEST, enterprise_name="太仓市恒丰精密机械有限公司", uscc=None,
                                contact_name="王海燕", contact_phone="+8613812345678", category=Category.LABOUR,
                                description="车间缺少熟练焊工二十名，希望帮助对接招聘会。", public_consent=False),
                         route=route_by_token(code.token), idempotency_key="0" * 32,
                         photos=[ProcessedPhoto(data=image_bytes(), width=64, height=48)])
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_a_photo_left_by_a_worker_killed_before_its_commit_is_swept_and_kept_photos_stay(app, runner, tmp_path):
    code = make_qr_code()
    kept = stored_photo(make_request())
    db.session.commit()

    killed = file_and_get_killed_before_the_commit(app, tmp_path, code.id)

    assert killed.returncode == -9, killed.stderr
    uploads = app.config["UPLOAD_FOLDER"]
    (orphan,) = set(files_in(uploads)) - {kept}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Request)) == 1  # only the kept one

    result = runner.invoke(args=["sweep-uploads", "--min-age-minutes", "0"])

    assert result.exit_code == 0, result.output
    assert f"1 photo file(s) without a row deleted.\n  {orphan}\n" in result.output
    assert files_in(uploads) == [kept]


def test_young_files_are_kept_a_dry_run_deletes_nothing_and_missing_files_are_named(app, runner):
    req = make_request()
    kept, lost = stored_photo(req), stored_photo(req)
    old_orphan, young_orphan = stored_photo(), stored_photo()
    for name in (kept, lost, old_orphan):
        age(app, name, 90)
    os.remove(os.path.join(app.config["UPLOAD_FOLDER"], lost))
    uploads = app.config["UPLOAD_FOLDER"]

    dry = runner.invoke(args=["sweep-uploads", "--dry-run"])

    assert f"1 photo file(s) without a row would be deleted.\n  {old_orphan}\n" in dry.output
    assert f"1 photo row(s) without their file (restore them from a backup):\n  {lost}" in dry.output
    assert files_in(uploads) == sorted([kept, old_orphan, young_orphan])

    runner.invoke(args=["sweep-uploads"])  # default: files older than 60 minutes

    assert files_in(uploads) == sorted([kept, young_orphan])
