"""Every XLSX export prints as the paper form: each one is converted to PDF by Debian's
LibreOffice (headless, as staff print them) and read back with pypdf.

One page wide means no page holds only the right-hand columns: a sheet of a few rows is
one page, and every page shows the first and the last column's header, the whole title
inside the paper and its page number in the footer. Without LibreOffice these tests are
skipped with one clear reason (`make libreoffice` installs it), except with CI=true, where
that is a failure.
"""

import io
import os
import re
import subprocess
from dataclasses import dataclass

import openpyxl
import pytest

from liaison_app.extensions import db
from liaison_app.models import Level, Request
from liaison_app.services import imports as importing
from tests.conftest import _in_ci
from tests.factories import make_jurisdiction, make_request, make_station
from tests.world import client_for, module_app, urls_for  # noqa: F401  (module_app is a fixture)

LIBREOFFICE = "/usr/bin/libreoffice"


@pytest.fixture(scope="session")
def libreoffice():
    problem = None
    try:
        import pypdf  # noqa: F401
    except ImportError:
        problem = "pypdf is not installed (make install-dev)"
    if not os.access(LIBREOFFICE, os.X_OK):
        problem = f"LibreOffice is not installed at {LIBREOFFICE} (make libreoffice)"
    if problem:
        if _in_ci():
            pytest.fail(f"{problem}; CI=true requires the print tests of the XLSX exports.", pytrace=False)
        pytest.skip(f"print tests skipped: {problem}")
    return LIBREOFFICE


def print_to_pdf(libreoffice, tmp_path, files: dict[str, bytes]) -> dict[str, list["Page"]]:
    """Each workbook printed by one LibreOffice run (with a profile of its own), as pages."""
    from pypdf import PdfReader

    for name, data in files.items():
        (tmp_path / f"{name}.xlsx").write_bytes(data)
    subprocess.run([libreoffice, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), *(str(tmp_path / f"{n}.xlsx") for n in files)],
                   check=True, capture_output=True, timeout=180)
    return {name: [Page.read(page) for page in PdfReader(tmp_path / f"{name}.pdf").pages] for name in files}


@dataclass
class Page:
    width: float
    text: str  # without any white space: a cell's text may wrap anywhere
    lines: dict[float, list[tuple[float, str, float]]]  # y -> (x, text, font size) of each piece

    @classmethod
    def read(cls, page):
        lines = {}

        def piece(text, cm, tm, font, size):
            if text.strip():
                lines.setdefault(round(tm[5]), []).append((tm[4], text, size))

        text = page.extract_text(visitor_text=piece)
        return cls(float(page.mediabox.width), re.sub(r"\s+", "", text), lines)

    def extent_of(self, title: str) -> tuple[float, float] | None:
        """Where the line that reads `title` starts and (about) ends: a CJK character is one
        font size wide, anything else about half."""
        for pieces in self.lines.values():
            pieces = sorted(pieces)
            if re.sub(r"\s+", "", "".join(text for _, text, _ in pieces)) == title:
                start, end = pieces[0][0], pieces[-1][0]
                text, size = pieces[-1][1].strip(), pieces[-1][2]
                return start, end + sum(size if ord(c) > 0x2E80 else size * 0.6 for c in text)
        return None


@dataclass
class SheetForm:
    name: str
    title: str | None  # row 1 when it is merged across the table
    first_header: str
    last_header: str

    @classmethod
    def of(cls, sheet):
        merged_title = any(r.min_row == 1 and r.min_col == 1 and r.max_col > 1 for r in sheet.merged_cells.ranges)
        header = max((row for row in sheet.iter_rows(min_row=1, max_row=4, values_only=True)),
                     key=lambda row: sum(value is not None for value in row))
        header = [str(value) for value in header if value is not None]
        return cls(sheet.title, sheet["A1"].value if merged_title else None, header[0], header[-1])


def shows_header(page: Page, header: str) -> bool:
    """A header's first line is on the page (a long header wraps inside its cell)."""
    return header[:4] in page.text


def export_urls(app, world) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.endswith(".xlsx"):
            continue
        if "<kind>" in rule.rule:
            urls += [rule.rule.replace("<kind>", kind.value) for kind in importing.ImportKind]
        else:
            urls += urls_for(rule, world.near)
    return urls


def test_every_export_prints_one_page_wide(module_app, libreoffice, tmp_path):
    app, world = module_app
    client = client_for(app, world.tree.admin)
    urls = export_urls(app, world)
    # The report, the three lists, coverage, pairings, and each register's template and export.
    assert len(urls) >= 6 + 2 * len(importing.ImportKind)
    files = {}
    for number, url in enumerate(urls):
        response = client.get(url)
        assert response.status_code == 200, url
        files[f"export-{number}"] = response.data

    printed = print_to_pdf(libreoffice, tmp_path, files)

    for (name, data), url in zip(files.items(), urls):
        sheets = [SheetForm.of(sheet) for sheet in openpyxl.load_workbook(io.BytesIO(data)).worksheets]
        pages = printed[name]
        # A few rows each: a sheet split across the paper's width would print twice as many.
        assert len(pages) == len(sheets), (url, [s.name for s in sheets], len(pages))
        for number, (sheet, page) in enumerate(zip(sheets, pages), start=1):
            where = (url, sheet.name)
            assert shows_header(page, sheet.first_header) and shows_header(page, sheet.last_header), where
            # LibreOffice numbers the pages of the whole workbook.
            assert f"第{number}页，共{len(pages)}页" in page.text, where
            if sheet.title:
                start, end = page.extent_of(sheet.title) or pytest.fail(f"title not whole: {where}")
                assert 0 <= start and end <= page.width, (where, start, end, page.width)


def test_a_long_monthly_report_repeats_its_title_and_headers_on_every_page(module_app, libreoffice, tmp_path):
    """The issue's report: 一月一小结 of a county with forty townships, printed to A4."""
    app, world = module_app
    county = make_jurisdiction(name="长表县", level=Level.COUNTY, parent=world.tree.city)
    for number in range(40):
        township = make_jurisdiction(name=f"第{number + 1}镇", level=Level.TOWNSHIP, parent=county)
        make_request(station=make_station(jurisdiction=township))
    month = db.session.get(Request, world.near["request_id"]).created_at.strftime("%Y-%m")
    client = client_for(app, world.tree.admin)

    data = client.get(f"/oversight/report.xlsx?jurisdiction={county.id}&month={month}").data

    title = openpyxl.load_workbook(io.BytesIO(data)).active["A1"].value
    assert title.startswith("一月一小结（")
    pages = print_to_pdf(libreoffice, tmp_path, {"report": data})["report"]
    assert len(pages) >= 2
    headers = [cell.value for cell in openpyxl.load_workbook(io.BytesIO(data)).active[3]]
    for number, page in enumerate(pages, start=1):
        assert all(shows_header(page, header) for header in headers), number
        assert f"第{number}页，共{len(pages)}页" in page.text
        start, end = page.extent_of(title) or pytest.fail(f"title not whole on page {number}")
        assert 0 <= start and end <= page.width
