"""Photos: verified by decoding, re-encoded without metadata, stored under generated names."""

import hashlib
import io
import os
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from flask import current_app, send_file
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from ..extensions import db
from ..models import Attachment, Deputy, VisitPhoto
from ..validators import InvalidValue
from ..workdays import now_local

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
# The content types a stored photo may be served as, with the extension of its download name.
SERVED_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@dataclass
class ProcessedPhoto:
    """A photo that decoded cleanly, re-encoded as JPEG, not yet on disk."""

    data: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def process_photo(stream, *, max_bytes: int, max_pixels: int, max_side: int, square: bool = False) -> ProcessedPhoto:
    """Decode an upload and re-encode it; raise InvalidValue with the reason when it is not a photo.

    The re-encoding drops EXIF (GPS included) and anything hidden after the
    image data; the orientation EXIF asked for is applied to the pixels first.
    """
    raw = stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise InvalidValue(_l("A photo may be at most %(mb)d MB.", mb=max_bytes // (1024 * 1024)))
    if not raw:
        raise InvalidValue(_l("The photo file is empty."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.format not in ACCEPTED_FORMATS:
                raise InvalidValue(_l("Only JPEG, PNG or WebP photos can be attached."))
            if image.width * image.height > max_pixels:
                raise InvalidValue(_l("This picture has too many pixels to be a phone photo."))
            image.load()
    except InvalidValue:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidValue(_l("This picture has too many pixels to be a phone photo.")) from None
    except UnidentifiedImageError:
        raise InvalidValue(_l("This file is not a photo we can read (JPEG, PNG or WebP).")) from None
    except (OSError, SyntaxError, ValueError):
        raise InvalidValue(_l("This photo is damaged or incomplete; please take or choose it again.")) from None

    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        image = background
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if square:  # a portrait for posters: the centre, cropped to a square
        image = ImageOps.fit(image, (max_side, max_side), centering=(0.5, 0.4))
    else:
        image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=82, optimize=True)
    return ProcessedPhoto(data=out.getvalue(), width=image.width, height=image.height)


def process_uploads(files) -> list[ProcessedPhoto]:
    """Process up to MAX_PHOTOS uploads from a form; empty file inputs are ignored."""
    config = current_app.config
    files = [f for f in files if f and f.filename]
    if len(files) > config["MAX_PHOTOS"]:
        raise InvalidValue(_l("At most %(n)d photos can be attached.", n=config["MAX_PHOTOS"]))
    return [
        process_photo(
            f.stream,
            max_bytes=config["MAX_PHOTO_BYTES"],
            max_pixels=config["MAX_PHOTO_PIXELS"],
            max_side=config["PHOTO_MAX_SIDE"],
        )
        for f in files
    ]


def process_portrait(upload) -> ProcessedPhoto:
    """A deputy's photo: verified like any photo, then cropped to a 600 px square."""
    config = current_app.config
    return process_photo(upload.stream, max_bytes=config["MAX_PHOTO_BYTES"], max_pixels=config["MAX_PHOTO_PIXELS"],
                         max_side=600, square=True)


def upload_path(stored_name: str) -> str:
    return os.path.join(current_app.config["UPLOAD_FOLDER"], stored_name)


def send_photo(stored_name: str, content_type: str, name: str, *, max_age: int, private: bool = True):
    """Serve a stored photo inline under a generated download name whose extension follows its
    content type (`name` is ours, never the uploader's). A content type that is not a photo's
    (a tampered row) is sent as an opaque download, so a browser never renders it as a page."""
    extension = SERVED_TYPES.get(content_type)
    response = send_file(
        upload_path(stored_name),
        mimetype=content_type if extension else "application/octet-stream",
        as_attachment=extension is None,
        download_name=f"{name}.{extension or 'bin'}",
        max_age=max_age,
    )
    if private:  # a proxy must not keep it for someone else
        response.cache_control.private = True
        response.cache_control.public = False
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def write_photo(photo: ProcessedPhoto) -> str:
    """Write the photo under a new generated name (yyyy/mm/random.jpg) and return that name."""
    month = now_local().strftime("%Y/%m")
    stored_name = f"{month}/{secrets.token_hex(16)}.jpg"
    path = upload_path(stored_name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "xb") as handle:
        handle.write(photo.data)
    return stored_name


def remove_files(stored_names: list[str]) -> None:
    """Undo write_photo for a transaction that did not commit."""
    for name in stored_names:
        try:
            os.remove(upload_path(name))
        except FileNotFoundError:
            pass


def photo_columns(photo: ProcessedPhoto, stored_name: str) -> dict:
    """The columns every stored photo's row has (Attachment, VisitPhoto)."""
    return dict(stored_name=stored_name, content_type=photo.content_type, size=len(photo.data),
                sha256=photo.sha256, width=photo.width, height=photo.height)


def commit_with_photos(photos: list[ProcessedPhoto], row_for: Callable[[ProcessedPhoto, str], object]) -> None:
    """Write the photos, add the row `row_for(photo, stored_name)` makes for each, and commit
    them with everything else; on any failure roll back and remove the files again, so no
    photo is left without its row."""
    written: list[str] = []
    try:
        for photo in photos:
            stored_name = write_photo(photo)
            written.append(stored_name)
            db.session.add(row_for(photo, stored_name))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        remove_files(written)
        raise


@dataclass
class UploadSweep:
    removed: list[str]  # files no row named, older than the age given: deleted (or, in a dry run, to delete)
    missing: list[str]  # names in the database without their file: only a restore brings these back


def sweep_uploads(*, min_age_seconds: float, dry_run: bool = False) -> UploadSweep:
    """Delete the photo files no row names. A photo is written before the transaction that names
    it commits, so a committed row always has its file; a worker killed in between (SIGKILL, the
    OOM killer, gunicorn's worker timeout) leaves a file without a row, which nothing else ever
    removes. Files younger than `min_age_seconds` may belong to a transaction still under way
    and are kept; so are dot-named ones (a restore's staging folder)."""
    folder = current_app.config["UPLOAD_FOLDER"]
    on_disk = {}
    for root, directories, files in os.walk(folder):
        directories[:] = [d for d in directories if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                path = os.path.join(root, name)
                on_disk[os.path.relpath(path, folder).replace(os.sep, "/")] = path
    named = set()
    for column in (Attachment.stored_name, VisitPhoto.stored_name, Deputy.photo):
        named.update(db.session.scalars(sa.select(column).where(column.isnot(None))))
    db.session.rollback()

    cutoff = time.time() - min_age_seconds
    removed = []
    for name in sorted(set(on_disk) - named):
        try:
            if os.stat(on_disk[name]).st_mtime > cutoff:
                continue
            if not dry_run:
                os.remove(on_disk[name])
        except FileNotFoundError:
            continue
        removed.append(name)
    return UploadSweep(removed=removed, missing=sorted(named - set(on_disk)))
