"""The pictures of a code: inline SVG for posters, SVG and 300-dpi PNG downloads.

Error correction Q (about 25 % of the symbol can be lost): a poster on a park road
or a factory gate gets dirty, torn and sun-bleached. The quiet zone is the standard
four modules. A token's URL never changes, so the SVG is computed once per URL and
kept (`inline_svg` is cached): a batch of 500 posters does not re-encode 500 codes.
"""

import io
import math
import xml.etree.ElementTree as ET
from functools import lru_cache

import qrcode
import qrcode.constants
from markupsafe import Markup
from qrcode.image.svg import SvgPathFillImage

ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_Q
QUIET_ZONE_MODULES = 4
PRINT_DPI = 300
# The narrowest a code may be printed for a phone to read it from arm's length.
MIN_PRINT_CM = 6.0
# The size the downloaded SVG declares (it scales without loss; posters set their own).
SVG_DOWNLOAD_MM = 70

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG_NAMESPACE)


def _symbol(url: str) -> qrcode.QRCode:
    """The smallest QR version that holds `url` at level Q."""
    symbol = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=QUIET_ZONE_MODULES)
    symbol.add_data(url)
    symbol.make(fit=True)
    return symbol


@lru_cache(maxsize=8192)
def inline_svg(url: str) -> Markup:
    """`<svg>` markup for embedding in a page: one path, a white background, no
    fixed size (the stylesheet sizes it) and no id (a batch holds hundreds)."""
    image = _symbol(url).make_image(image_factory=SvgPathFillImage)
    root = image.get_image()
    for attribute in ("width", "height", "version"):
        root.attrib.pop(attribute, None)
    root.set("focusable", "false")
    root.set("aria-hidden", "true")  # the poster prints the URL in words next to it
    image.path.attrib.pop("id", None)
    return Markup(ET.tostring(root, encoding="unicode"))


def svg_document(url: str) -> bytes:
    """A standalone SVG file (for a print shop), SVG_DOWNLOAD_MM wide."""
    size = f'{SVG_DOWNLOAD_MM}mm'
    svg = str(inline_svg(url)).replace("<svg ", f'<svg width="{size}" height="{size}" ', 1)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + svg + "\n").encode("utf-8")


def png_bytes(url: str, *, dpi: int = PRINT_DPI, min_cm: float = MIN_PRINT_CM) -> bytes:
    """A black-and-white PNG at `dpi` that prints at least `min_cm` wide at that
    resolution (6 cm at 300 dpi = 709 px), with the dpi recorded in the file."""
    symbol = _symbol(url)
    modules = symbol.modules_count + 2 * QUIET_ZONE_MODULES
    symbol.box_size = math.ceil(min_cm / 2.54 * dpi / modules)
    image = symbol.make_image().get_image()
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()
