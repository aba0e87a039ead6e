"""Issue 7, page weight: on a first visit (nothing cached) the QR landing page of a station and
of a deputy, with every stylesheet and script it references, fits in 60 KB compressed, and the
HTML and CSS alone in 14 KB (what a first round trip over a weak mobile signal can carry).

Each file is measured as the app sends it to a phone that accepts brotli ("gzip, deflate, br")
and to one that accepts only gzip: the bytes on the wire, compressed by the app itself
(flask-compress; files under 500 bytes go as they are). `pytest -s` prints the sizes, recorded
in docs/benchmarks.md.
"""

import gzip
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import brotli
import pytest
import sqlalchemy as sa

from liaison_app import demo
from liaison_app.extensions import db
from liaison_app.models import QRCode

KB = 1024
BUDGET_ALL = 60 * KB  # HTML + CSS + JS
BUDGET_HTML_CSS = 14 * KB  # HTML + CSS


class _References(HTMLParser):
    """The stylesheets, scripts and other files (icons, images: listed, outside the budget)
    a page makes the browser fetch at once."""

    def __init__(self):
        super().__init__()
        self.css, self.js, self.other = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and attrs.get("src") and attrs.get("loading") != "lazy":
            self.other.append(attrs["src"])
        elif tag == "script" and attrs.get("src"):
            self.js.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            rel = set((attrs.get("rel") or "").lower().split())
            if "stylesheet" in rel:
                self.css.append(attrs["href"])
            elif "modulepreload" in rel or ("preload" in rel and attrs.get("as") in ("script", "style")):
                (self.js if attrs.get("as") != "style" else self.css).append(attrs["href"])
            elif rel & {"icon", "preload", "manifest"}:
                self.other.append(attrs["href"])


ACCEPT_ENCODING = {"br": "gzip, deflate, br", "gzip": "gzip"}
DECOMPRESS = {"br": brotli.decompress, "gzip": gzip.decompress}


def on_the_wire(client, url: str, encoding: str) -> tuple[int, bytes]:
    """Bytes the app sends for `url`, and the content they carry."""
    parts = urlsplit(url)
    assert parts.scheme in ("", "http", "https") and parts.netloc in ("", "localhost"), \
        f"{url}: everything is self-hosted"
    response = client.get(parts.path + (f"?{parts.query}" if parts.query else ""),
                          headers={"Accept-Encoding": ACCEPT_ENCODING[encoding]})
    assert response.status_code == 200, url
    sent = response.get_data()
    used = response.headers.get("Content-Encoding")
    assert used in (None, encoding), f"{url}: {used}"
    assert used or len(sent) < 500, f"{url} ({len(sent)} bytes) is sent uncompressed"
    return len(sent), (DECOMPRESS[used](sent) if used else sent)


def weigh(client, path: str, encoding: str) -> dict:
    """Bytes on the wire of the page and of everything it references, by kind."""
    size, html = on_the_wire(client, path, encoding)
    refs = _References()
    refs.feed(html.decode("utf-8"))
    assert refs.css, "the page has a stylesheet"
    sizes = {"html": {path: size}, "css": {}, "js": {}, "other": {}}
    for kind in ("css", "js", "other"):
        for url in getattr(refs, kind):
            if url.startswith("data:"):
                continue  # inline: already counted with the HTML
            sizes[kind][url] = on_the_wire(client, urljoin(path, url), encoding)[0]
    return sizes


def report(name: str, sizes: dict, encoding: str) -> tuple[int, int]:
    html_css = sum(sizes["html"].values()) + sum(sizes["css"].values())
    everything = html_css + sum(sizes["js"].values())
    print(f"\n{name}: bytes sent with {encoding}, first visit")
    for kind in ("html", "css", "js", "other"):
        for url, size in sizes[kind].items():
            print(f"  {kind:5} {size / KB:6.1f} KB  {url}")
    print(f"  HTML + CSS      {html_css / KB:6.1f} KB (budget {BUDGET_HTML_CSS // KB} KB)")
    print(f"  HTML + CSS + JS {everything / KB:6.1f} KB (budget {BUDGET_ALL // KB} KB)")
    return html_css, everything


def demo_codes() -> dict[str, QRCode]:
    """From the demo data, the heaviest landing pages: the station with the most deputies
    (each is listed on its page), and a deputy of it."""
    demo.seed_demo()
    codes = db.session.scalars(sa.select(QRCode).where(QRCode.revoked_at.is_(None)).order_by(QRCode.id)).all()
    station = max((c for c in codes if c.station), key=lambda c: len(c.station.deputies))
    deputy = next(c for c in codes if c.deputy and c.deputy in station.station.deputies)
    return {"station": station, "deputy": deputy}


@pytest.mark.parametrize("encoding", ["br", "gzip"])
@pytest.mark.parametrize("owner", ["station", "deputy"])
def test_the_qr_landing_page_fits_the_budget_on_a_first_visit(app, client, owner, encoding):
    code = demo_codes()[owner]

    sizes = weigh(client, f"/q/{code.token}", encoding)

    name = code.station.name if code.station else code.deputy.name
    html_css, everything = report(f"QR landing page of a {owner} ({name})", sizes, encoding)
    assert sizes["js"], "the page's scripts were found and weighed"
    assert html_css <= BUDGET_HTML_CSS, f"HTML + CSS is {html_css / KB:.1f} KB compressed"
    assert everything <= BUDGET_ALL, f"HTML + CSS + JS is {everything / KB:.1f} KB compressed"
