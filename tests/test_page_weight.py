"""Issue 7, page weight: on a first visit (nothing cached) the QR landing page of a station and
of a deputy, with every stylesheet and script it references, fits in 60 KB compressed, and the
HTML and CSS alone in 14 KB (what a first round trip over a weak mobile signal can carry).

Each file is measured compressed as nginx would send it (gzip, level 6). `pytest -s` prints
the sizes so that they can be recorded.
"""

import gzip
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

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


def gzipped(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


def fetch(client, url: str) -> bytes:
    parts = urlsplit(url)
    assert parts.scheme in ("", "http", "https") and parts.netloc in ("", "localhost"), \
        f"{url}: everything is self-hosted"
    response = client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
    assert response.status_code == 200, url
    return response.data


def weigh(client, path: str) -> dict:
    """Compressed bytes of the page and of everything it references, by kind."""
    response = client.get(path)
    assert response.status_code == 200
    html = response.data
    refs = _References()
    refs.feed(html.decode("utf-8"))
    assert refs.css, "the page has a stylesheet"
    sizes = {"html": {path: gzipped(html)}, "css": {}, "js": {}, "other": {}}
    for kind in ("css", "js", "other"):
        for url in getattr(refs, kind):
            if url.startswith("data:"):
                continue  # inline: already counted with the HTML
            sizes[kind][url] = gzipped(fetch(client, urljoin(path, url)))
    return sizes


def report(name: str, sizes: dict) -> tuple[int, int]:
    html_css = sum(sizes["html"].values()) + sum(sizes["css"].values())
    everything = html_css + sum(sizes["js"].values())
    print(f"\n{name}: gzip -6 sizes, first visit")
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


@pytest.mark.parametrize("owner", ["station", "deputy"])
def test_the_qr_landing_page_fits_the_budget_on_a_first_visit(app, client, owner):
    code = demo_codes()[owner]

    sizes = weigh(client, f"/q/{code.token}")

    name = code.station.name if code.station else code.deputy.name
    html_css, everything = report(f"QR landing page of a {owner} ({name})", sizes)
    assert sizes["js"], "the page's scripts were found and weighed"
    assert html_css <= BUDGET_HTML_CSS, f"HTML + CSS is {html_css / KB:.1f} KB compressed"
    assert everything <= BUDGET_ALL, f"HTML + CSS + JS is {everything / KB:.1f} KB compressed"
