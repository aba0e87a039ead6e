"""Photos are decoded before they are accepted and re-encoded without metadata."""

import io

import pytest
from PIL import Image

from liaison_app.services.photos import process_photo
from liaison_app.validators import InvalidValue
from tests.factories import image_bytes

LIMITS = dict(max_bytes=8 * 1024 * 1024, max_pixels=40_000_000, max_side=2048)


def process(data: bytes, **limits):
    return process_photo(io.BytesIO(data), **{**LIMITS, **limits})


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_come_out_as_jpeg(fmt):
    photo = process(image_bytes(fmt))

    with Image.open(io.BytesIO(photo.data)) as image:
        assert image.format == "JPEG"
        assert (image.width, image.height) == (64, 48)


def test_transparent_png_is_flattened_on_white():
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(out, "PNG")

    photo = process(out.getvalue())

    with Image.open(io.BytesIO(photo.data)) as image:
        assert image.getpixel((5, 5))[0] > 240


def test_large_photos_are_scaled_down():
    photo = process(image_bytes(size=(4000, 3000)))

    assert max(photo.width, photo.height) == 2048


def test_exif_orientation_is_applied_then_dropped():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    photo = process(image_bytes(size=(64, 48), exif=exif))

    assert (photo.width, photo.height) == (48, 64)
    with Image.open(io.BytesIO(photo.data)) as image:
        assert not image.getexif()


@pytest.mark.parametrize(
    "data,message",
    [
        (b"<html><body>not a photo</body></html>", "not a photo"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "not a photo"),
        (b"", "empty"),
        (image_bytes("GIF"), "Only JPEG"),
        (image_bytes("BMP"), "Only JPEG"),
        (image_bytes(size=(800, 600))[:2000], "damaged"),
    ],
    ids=["html", "svg", "empty", "gif", "bmp", "truncated"],
)
def test_non_photos_are_refused_with_the_reason(app, data, message):
    with app.test_request_context("/?lang=en"):
        with pytest.raises(InvalidValue) as error:
            process(data)
        assert message in str(error.value.message)


def test_too_many_pixels_is_refused_before_decoding(app):
    with app.test_request_context("/?lang=en"):
        with pytest.raises(InvalidValue, match="too many pixels"):
            process(image_bytes("PNG", size=(5000, 5000)), max_pixels=10_000_000)


def test_oversize_file_is_refused(app):
    with app.test_request_context("/?lang=en"):
        with pytest.raises(InvalidValue, match="at most"):
            process(image_bytes(size=(300, 300)), max_bytes=1000)
