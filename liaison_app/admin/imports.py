"""Import and export of the registers (deputies, enterprises, handling units) as spreadsheets.

Upload → dry run (every row's problems, nothing written) → import (one transaction).
The checked file waits on the server for an hour under a token bound to the user.
"""


from flask import abort, flash, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectChoice, SelectField
from wtforms.validators import DataRequired

from ..services import imports as importing
from ..templating import attachment, is_htmx, redirect_after_post
from ..validators import InvalidValue
from ..workdays import today_local
from . import add_menu_entry, bp

add_menu_entry("admin.imports", _l("Import and export"))

# A dry run lists at most this many rows; the counts always cover the whole file.
SHOWN_ROWS = 500


class UploadForm(FlaskForm):
    kind = SelectField(
        _l("What the file holds"),
        choices=[SelectChoice(kind.value, kind.label) for kind in importing.ImportKind],
        validators=[DataRequired(_l("Please choose what the file holds."))],
    )
    file = FileField(_l("Spreadsheet (.xlsx or .csv)"), validators=[FileRequired(_l("Please choose a file."))])


class RunForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])


@bp.get("/imports")
def imports():
    return _render_upload(UploadForm())


@bp.post("/imports/check")
def import_check():
    """试导入: show what importing the file would do; nothing is written."""
    form = UploadForm()
    if not form.validate():
        return _render_upload(form, status=422)
    kind, upload = importing.ImportKind(form.kind.data), form.file.data
    data = upload.stream.read(importing.MAX_FILE_BYTES + 1)
    try:
        plan = importing.plan_import(kind, data, upload.filename, actor=current_user)
    except InvalidValue as error:
        form.file.errors = [*form.file.errors, str(error.message)]
        return _render_upload(form, status=422)
    token = importing.stash_upload(kind, data, upload.filename, actor=current_user) if plan.ready else None
    return _render_plan(plan, token=token)


@bp.post("/imports/run")
def import_run():
    form = RunForm()
    if not form.validate():
        abort(400)
    try:
        plan = importing.import_upload(form.token.data, actor=current_user)
    except InvalidValue as error:
        upload_form = UploadForm(formdata=None)
        upload_form.file.errors = [str(error.message)]
        return _render_upload(upload_form, status=422)
    except importing.ImportConflict as error:
        return _render_upload(UploadForm(formdata=None), problem=error.message, status=409)
    if not plan.applied:
        # The data changed since the dry run: show what stands in the way now.
        problem = _("Nothing was imported: the records changed since the check. Here is the file checked again.")
        return _render_plan(plan, token=None, problem=problem, status=409)
    counts = plan.counts
    flash(_("%(kind)s imported: %(created)d new, %(updated)d updated, %(unchanged)d unchanged.",
            kind=plan.kind.label, created=counts[importing.RowStatus.CREATE],
            updated=counts[importing.RowStatus.UPDATE], unchanged=counts[importing.RowStatus.UNCHANGED]), "success")
    return redirect_after_post(url_for(".imports"))


@bp.get("/imports/template/<kind>.xlsx")
def import_template(kind):
    kind = _kind_or_404(kind)
    return _xlsx_response(importing.template_workbook(kind), f"{kind.sheet_name}导入模板.xlsx",
                          f"{kind.value}-template.xlsx")


@bp.get("/exports/<kind>.xlsx")
def export_register(kind):
    """The register in the user's jurisdiction, in the template's columns."""
    kind = _kind_or_404(kind)
    day = today_local().strftime("%Y%m%d")
    return _xlsx_response(importing.export_workbook(kind, actor=current_user), f"{kind.sheet_name}名单-{day}.xlsx",
                          f"{kind.value}-{day}.xlsx")


def _kind_or_404(value: str) -> importing.ImportKind:
    try:
        return importing.ImportKind(value)
    except ValueError:
        abort(404)


def _xlsx_response(data: bytes, filename: str, ascii_filename: str):
    return attachment(data, importing.XLSX_MIMETYPE, filename, ascii_filename)


def _render_upload(form, *, problem=None, status=200):
    context = dict(form=form, kinds=list(importing.ImportKind), problem=problem, max_rows=importing.MAX_ROWS,
                   max_mb=importing.MAX_FILE_BYTES // 2**20)
    if is_htmx():
        return render_template("admin/imports/_upload_form.html", **context), status
    return render_template("admin/imports/index.html", **context), status


def _render_plan(plan, *, token, problem=None, status=200):
    rows = [row for row in plan.rows if row.status is importing.RowStatus.ERROR] if plan.has_errors else \
        [row for row in plan.rows if row.status is not importing.RowStatus.UNCHANGED]
    context = dict(plan=plan, rows=rows[:SHOWN_ROWS], hidden_rows=max(0, len(rows) - SHOWN_ROWS),
                   form=RunForm(formdata=None, token=token), token=token, problem=problem,
                   statuses=importing.RowStatus)
    if is_htmx():
        return render_template("admin/imports/_plan.html", **context), status
    return render_template("admin/imports/check.html", **context), status
