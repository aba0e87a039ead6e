"""How every XLSX export prints: as the paper form is printed, on A4.

County staff print the exports for meetings, so each sheet says how it goes on paper:
portrait or landscape by the width of its columns, scaled to one page wide (as many pages
tall as it needs), its title and header rows again on every page, and 第 1 页，共 3 页 in
the footer. tests/test_xlsx_print.py prints every export with LibreOffice to check it.
"""

from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

# Column-width units (characters of the default font) that fit across A4 portrait between
# the default margins at 100 %; a wider sheet is turned to landscape, so it shrinks less.
PORTRAIT_WIDTH = 90
DEFAULT_COLUMN_WIDTH = 8.43  # what Excel and LibreOffice show for a column given no width
FOOTER = "第 &P 页，共 &N 页"


def set_up_printing(sheet: Worksheet, *, repeat_rows: int) -> None:
    """A4, one page wide, rows 1 to `repeat_rows` (title and headers) on every page, page
    numbers in the footer. Call it once the columns have their widths."""
    setup = sheet.page_setup
    setup.paperSize = sheet.PAPERSIZE_A4
    setup.orientation = sheet.ORIENTATION_LANDSCAPE if width_of(sheet) > PORTRAIT_WIDTH else sheet.ORIENTATION_PORTRAIT
    setup.fitToWidth = 1
    setup.fitToHeight = 0  # as many pages tall as the rows need
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"1:{repeat_rows}"
    sheet.oddFooter.center.text = FOOTER


def width_of(sheet: Worksheet) -> float:
    """The width of the used columns, in column-width units."""
    total = 0.0
    for index in range(1, sheet.max_column + 1):
        dimension = sheet.column_dimensions.get(get_column_letter(index))
        total += dimension.width if dimension is not None and dimension.customWidth else DEFAULT_COLUMN_WIDTH
    return total
