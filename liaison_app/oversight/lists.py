"""The three lists (三单): problem, claim and public list, each a filtered page and an
XLSX laid out like the paper form. Filters are query arguments, so a list is a link
that can be shared; htmx swaps the list in place as a filter changes."""

from typing import Optional

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from ..admin import scope
from ..models import Category
from ..services import lists as service
from ..services.imports import XLSX_MIMETYPE
from ..services.lists import ListKind
from ..templating import attachment, is_htmx
from ..workflow import Status
from . import add_menu_entry, bp

for _kind in ListKind:
    add_menu_entry(f"oversight.list_{_kind}", _kind.label)


@bp.get("/lists/problems")
def list_problems():
    return _page(ListKind.PROBLEMS)


@bp.get("/lists/claims")
def list_claims():
    return _page(ListKind.CLAIMS)


@bp.get("/lists/public")
def list_public():
    return _page(ListKind.PUBLIC)


@bp.get("/lists/problems.xlsx")
def export_problems():
    return _export(ListKind.PROBLEMS)


@bp.get("/lists/claims.xlsx")
def export_claims():
    return _export(ListKind.CLAIMS)


@bp.get("/lists/public.xlsx")
def export_public():
    return _export(ListKind.PUBLIC)


def _filters() -> service.ListFilters:
    try:
        return service.filters_from_args(request.args, current_user)
    except service.OutOfScope:
        abort(404)


def _page(kind: ListKind, filters: Optional[service.ListFilters] = None, *, problem=None, status: int = 200):
    filters = filters or _filters()
    page = service.list_page(kind, filters, after=request.args.get("after", type=int),
                             start=request.args.get("start", 1, type=int))
    context = dict(page=page, kinds=list(ListKind), jurisdictions=scope.jurisdiction_menu(current_user, filters.jurisdiction),
                   categories=list(Category), statuses=list(Status),
                   scope_ids=_scope_ids(), problem=problem, max_export_rows=service.MAX_EXPORT_ROWS)
    template = "oversight/lists/_list.html" if is_htmx() else "oversight/lists/list.html"
    return render_template(template, **context), status


def _export(kind: ListKind):
    filters = _filters()
    try:
        data = service.export_workbook(kind, filters, actor=current_user)
    except service.TooManyRows:
        return _page(kind, filters, status=422, problem=_(
            "More than %(num)d rows: narrow the period or the filters to export.", num=service.MAX_EXPORT_ROWS))
    filename, ascii_filename = service.export_filename(kind, filters)
    return attachment(data, XLSX_MIMETYPE, filename, ascii_filename)


def _scope_ids() -> Optional[set[int]]:
    """The levels whose requests this user may open on the desk (None: all)."""
    ids = scope.managed_jurisdiction_ids(current_user)
    return None if ids is None else set(ids)
