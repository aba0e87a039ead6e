"""Hostile uploads through every upload path: the public filing form, the tracking page's
add-information form, the deputy's visit log and the admin's deputy photo.

Each is refused with a clear Chinese message next to the photo field, the form comes back
with status 422 and every typed value kept, and nothing is written (no row, no file).
A polyglot that does decode as a photo is stored re-encoded, without a byte of its payload,
and served with a safe name, its own content type, nosniff and no path to static/.
"""

import io
import re
import struct
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from liaison_app.extensions import db
from liaison_app.models import Attachment, Deputy, Request, RequestEvent, Visit, VisitPhoto
from tests.factories import Tree, image_bytes, make_enterprise, make_qr_code, make_request, valid_uscc
from tests.test_desk import login

STATIC = Path(__file__).resolve().parent.parent / "liaison_app" / "static"
PAYLOAD = b"<html><body><script>alert('owned')</script></body></html>"
TYPED = "车间缺少熟练焊工二十名，希望对接职业院校招聘会。"

NOT_A_PHOTO = "这不是可识别的照片"
ONLY_FORMATS = "只能上传 JPEG、PNG 或 WebP 格式的照片"
TOO_MANY_PIXELS = "这张图片像素过多"
DAMAGED = "照片已损坏或不完整"
TOO_BIG = "每张照片最大 8 MB"


# --- the hostile files ----------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decompression_bomb(width=20_000, height=10_000) -> bytes:
    """A valid 1-bit greyscale PNG of 200 megapixels, all black: some 25 KB on the wire, 200 MB
    (in RGB 600 MB) once decoded."""
    row = b"\0" + b"\0" * (width // 8)  # filter byte + packed pixels
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(row * height, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def noisy_jpeg(size=(800, 600)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def zip_of(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, data)
    return out.getvalue()


REFUSED = {
    # name: (bytes, filename, content type the browser claims, the message shown)
    "html-renamed-jpg": (PAYLOAD, "photo.jpg", "image/jpeg", NOT_A_PHOTO),
    "svg-renamed-jpg": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>',
                        "photo.jpg", "image/jpeg", NOT_A_PHOTO),
    "gif-zip-polyglot": (image_bytes("GIF") + zip_of("index.html", PAYLOAD), "photo.jpg", "image/jpeg",
                         ONLY_FORMATS),
    "200-megapixel-bomb": (decompression_bomb(), "bomb.png", "image/png", TOO_MANY_PIXELS),
    "truncated-jpeg": (noisy_jpeg()[:30_000], "cut.jpg", "image/jpeg", DAMAGED),
    "10-mb-file": (image_bytes() + b"\0" * (10 * 1024 * 1024), "big.jpg", "image/jpeg", TOO_BIG),
}

POLYGLOTS = {
    # valid photos that carry something else after the image data
    "jpeg-with-html": image_bytes() + PAYLOAD,
    "jpeg-with-zip": image_bytes() + zip_of("index.html", PAYLOAD),
    "png-with-html": image_bytes("PNG") + PAYLOAD,
}


def test_the_hostile_files_are_what_they_claim():
    bomb = decompression_bomb()
    assert len(bomb) < 100_000
    assert struct.unpack(">II", bomb[16:24]) == (20_000, 10_000)  # IHDR: 200 megapixels
    assert len(REFUSED["10-mb-file"][0]) > 10 * 1024 * 1024
    with pytest.raises(OSError):
        Image.open(io.BytesIO(REFUSED["truncated-jpeg"][0])).load()
    for data in POLYGLOTS.values():
        Image.open(io.BytesIO(data)).load()  # decodes as an image
        assert PAYLOAD in data or b"PK\x03\x04" in data


# --- the upload paths -----------------------------------------------------------------------------


class UploadPath:
    """One form that takes photos: post(photo) → response; written() → what was stored."""

    field = "photos"
    counted: tuple = ()  # the tables a refused upload must leave as they were

    def __init__(self, app, tree):
        self.app, self.tree = app, tree
        self.client = app.test_client()

    def rows(self) -> tuple[int, ...]:
        return tuple(count(model) for model in self.counted)

    def data(self) -> dict:
        raise NotImplementedError

    def post(self, upload):
        data = self.data()
        data[self.field] = upload
        return self.client.post(self.url, data=data, content_type="multipart/form-data")

    def stored(self) -> list[tuple[str, str]]:
        """(stored name, the URL that serves it) of every photo written through this path."""
        raise NotImplementedError


class ToRequest(UploadPath):
    """Photos of a request (attachments), served on its tracking page."""

    counted = (Request, RequestEvent, Attachment)

    def stored(self):
        return [(a.stored_name, f"/t/{a.request.tracking_token}/photos/{a.id}")
                for a in db.session.scalars(sa.select(Attachment))]


class Filing(ToRequest):
    def __init__(self, app, tree):
        super().__init__(app, tree)
        self.url = f"/q/{make_qr_code(deputy=tree.deputy).token}/file"

    def data(self):
        return {"kind": "request", "enterprise_name": "太仓市恒丰精密机械有限公司", "uscc": valid_uscc(424242),
                "contact_name": "王海燕", "contact_phone": "13812345678", "category": "labour",
                "description": TYPED, "idempotency_key": uuid.uuid4().hex}


class TrackingInfo(ToRequest):
    def __init__(self, app, tree):
        super().__init__(app, tree)
        self.req = make_request(deputy=tree.deputy)
        self.url = f"/t/{self.req.tracking_token}/info"

    def data(self):
        return {"text": TYPED, "version": self.req.version}


class VisitLog(UploadPath):
    url = "/desk/visits/new"
    counted = (Visit, VisitPhoto, Request)

    def __init__(self, app, tree):
        super().__init__(app, tree)
        self.firm = make_enterprise(jurisdiction=tree.township)
        login(self.client, tree.deputy_user)

    def data(self):
        from liaison_app.workdays import today_local

        return {"idempotency_key": uuid.uuid4().hex, "kind": "visit", "held_on": today_local().isoformat(),
                "enterprises": [str(self.firm.id)], "notes": TYPED}

    def stored(self):
        return [(p.stored_name, f"/desk/visits/{p.visit_id}/photos/{p.id}")
                for p in db.session.scalars(sa.select(VisitPhoto))]


class DeputyPhoto(UploadPath):
    url = "/admin/deputies/new"
    field = "photo"
    counted = (Deputy,)

    def __init__(self, app, tree):
        super().__init__(app, tree)
        login(self.client, tree.admin)

    def data(self):
        return {"name": "吴志强", "kind": "deputy", "congress_jurisdiction": self.tree.county.id,
                "stations": [self.tree.station.id], "specialties": "法律服务", "bio": TYPED, "active": "y"}

    def stored(self):
        return [(d.photo, f"/deputies/{d.id}/photo")
                for d in db.session.scalars(sa.select(Deputy).where(Deputy.photo.is_not(None)))]


PATHS = {"filing": Filing, "tracking-info": TrackingInfo, "visit-log": VisitLog, "deputy-photo": DeputyPhoto}


def count(model) -> int:
    db.session.commit()  # see what the request wrote on its own connection
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def files_under(folder) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if p.is_file()]


@pytest.fixture(params=sorted(PATHS))
def path(request, app):
    return PATHS[request.param](app, Tree())


def test_every_upload_field_is_one_of_the_paths_tested_here(app):
    """A new form with a file field must be added to PATHS (spreadsheet imports excepted)."""
    from liaison_app.admin.forms import DeputyForm
    from liaison_app.desk.forms import VisitLogForm
    from liaison_app.public.forms import AddInfoForm, FilingForm

    with app.test_request_context():
        photo_forms = {name for name, form in (("filing", FilingForm), ("tracking-info", AddInfoForm),
                                               ("visit-log", VisitLogForm), ("deputy-photo", DeputyForm))
                       if any(f.type in ("FileField", "MultipleFileField") for f in form(meta={"csrf": False}))}
    assert photo_forms == set(PATHS)
    package = Path(__file__).resolve().parent.parent / "liaison_app"
    callers = {p.relative_to(package).as_posix() for p in package.rglob("*.py")
               if re.search(r"process_(uploads|portrait|photo)\(", p.read_text(encoding="utf-8"))}
    assert callers == {"services/photos.py", "public/views.py", "desk/visits.py", "admin/places.py"}


@pytest.mark.parametrize("attack", sorted(REFUSED))
def test_a_hostile_file_is_refused_with_the_reason_and_the_text_kept(app, path, attack):
    data, filename, content_type, message = REFUSED[attack]
    rows_before = path.rows()

    response = path.post((io.BytesIO(data), filename, content_type))

    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[-800:]
    error = re.search(rf'id="error-{path.field}" role="alert">([^<]*)<', page)
    assert error and message in error.group(1), (attack, error and error.group(1))
    assert TYPED in page  # what the user typed comes back
    assert "<script>alert" not in page and "Traceback" not in page
    assert path.rows() == rows_before
    assert files_under(app.config["UPLOAD_FOLDER"]) == []


@pytest.mark.parametrize("polyglot", sorted(POLYGLOTS))
def test_a_polyglot_photo_is_stored_re_encoded_without_its_payload(app, path, polyglot):
    response = path.post((io.BytesIO(POLYGLOTS[polyglot]), "photo.jpg", "image/jpeg"))

    assert response.status_code == 303, response.get_data(as_text=True)[-800:]
    ((stored_name, url),) = path.stored()
    stored = Path(app.config["UPLOAD_FOLDER"]) / stored_name
    assert stored.resolve().is_relative_to(Path(app.config["UPLOAD_FOLDER"]).resolve())
    assert not stored.resolve().is_relative_to(STATIC)
    data = stored.read_bytes()
    for fragment in (b"<script", b"alert", b"<html", b"PK\x03\x04", b"index.html"):
        assert fragment not in data, fragment
    with Image.open(stored) as image:
        assert image.format == "JPEG"
        image.load()
    assert data.endswith(b"\xff\xd9")  # nothing after the end of the image

    served = path.client.get(url)
    assert served.status_code == 200
    assert served.data == data
    assert_served_safely(served)


def assert_served_safely(served, extension=".jpg", mimetype="image/jpeg"):
    assert served.mimetype == mimetype
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    disposition = served.headers["Content-Disposition"]
    match = re.fullmatch(r'(inline|attachment); filename="?([A-Za-z0-9._-]+)"?', disposition)
    assert match, disposition
    assert match.group(2).endswith(extension) and ".." not in match.group(2)


def test_nothing_is_ever_written_under_static(app, path):
    before = set(files_under(STATIC))
    for data in POLYGLOTS.values():
        path.post((io.BytesIO(data), "../../static/x.jpg", "image/jpeg"))
    assert set(files_under(STATIC)) == before
    assert all(".." not in name and not name.startswith("/") for name, _ in path.stored())


# --- serving: the download name follows the stored content type -----------------------------------


def stored_photo(fmt: str) -> dict:
    from liaison_app.services.photos import ProcessedPhoto, photo_columns, write_photo

    photo = ProcessedPhoto(data=image_bytes(fmt), width=64, height=48, content_type=f"image/{fmt.lower()}")
    return photo_columns(photo, write_photo(photo))


@pytest.mark.parametrize("fmt,extension", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp")])
def test_every_photo_route_names_the_download_after_its_content_type(app, fmt, extension):
    from liaison_app.models import VisitForm
    from liaison_app.services.visits import log_visit
    from liaison_app.workdays import today_local

    tree = Tree()
    req = make_request(deputy=tree.deputy)
    visit, _ = log_visit(actor=tree.deputy_user, form=VisitForm.VISIT, held_on=today_local(),
                         enterprise_ids=[make_enterprise(jurisdiction=tree.township).id],
                         idempotency_key=uuid.uuid4().hex, problems=[])
    attachment = Attachment(request_id=req.id, **stored_photo(fmt))
    visit_photo = VisitPhoto(visit_id=visit.id, **stored_photo(fmt))
    db.session.add_all([attachment, visit_photo])
    db.session.commit()
    client = app.test_client()
    login(client, tree.deputy_user)

    for url in (f"/t/{req.tracking_token}/photos/{attachment.id}", f"/desk/requests/{req.id}/photos/{attachment.id}",
                f"/desk/visits/{visit.id}/photos/{visit_photo.id}"):
        served = client.get(url)
        assert served.status_code == 200, url
        assert_served_safely(served, extension, f"image/{fmt.lower()}")
        assert served.headers["Content-Disposition"].startswith("inline")
        assert "private" in served.headers["Cache-Control"]


def test_a_stored_type_that_is_not_a_photo_is_only_ever_an_opaque_download(app):
    tree = Tree()
    req = make_request(deputy=tree.deputy)
    attachment = Attachment(request_id=req.id, **{**stored_photo("JPEG"), "content_type": "text/html"})
    db.session.add(attachment)
    db.session.commit()

    served = app.test_client().get(f"/t/{req.tracking_token}/photos/{attachment.id}")

    assert served.status_code == 200
    assert served.mimetype == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_a_deputy_portrait_is_public_but_only_while_the_deputy_is_active(app):
    tree = Tree()
    tree.deputy.photo = stored_photo("JPEG")["stored_name"]
    db.session.commit()
    client = app.test_client()

    served = client.get(f"/deputies/{tree.deputy.id}/photo")
    assert served.status_code == 200
    assert_served_safely(served)
    assert served.headers["Content-Disposition"] == f"inline; filename=deputy-{tree.deputy.id}.jpg"

    tree.deputy.active = False
    db.session.commit()
    assert client.get(f"/deputies/{tree.deputy.id}/photo").status_code == 404
    assert client.get(f"/deputies/{tree.colleague.id}/photo").status_code == 404  # no photo


def test_an_upload_folder_under_static_is_refused_at_start(tmp_path):
    from liaison_app import ConfigError, create_app

    with pytest.raises(ConfigError, match="UPLOAD_FOLDER"):
        create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "UPLOAD_FOLDER": str(STATIC / "uploads")})
    assert not (STATIC / "uploads").exists()
