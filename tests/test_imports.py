"""Bulk import and export: templates, the dry run, the one-transaction import, scope, round trips."""

import codecs
import csv
import io
import os
import re
from html import unescape
from urllib.parse import quote

import openpyxl
import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Department, Deputy, DeputyKind, Enterprise, Level, Role
from liaison_app.services import imports as importing
from liaison_app.services.imports import ImportKind, RowStatus
from tests.factories import Tree, make_enterprise, make_jurisdiction, make_station, make_user, valid_uscc
from tests.test_desk import login

DEPUTY_HEADERS = [c.header for c in importing.COLUMNS[ImportKind.DEPUTIES]]
ENTERPRISE_HEADERS = [c.header for c in importing.COLUMNS[ImportKind.ENTERPRISES]]
DEPARTMENT_HEADERS = [c.header for c in importing.COLUMNS[ImportKind.DEPARTMENTS]]


@pytest.fixture
def app_config(tmp_path):
    return {"IMPORT_FOLDER": str(tmp_path / "imports")}


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def other_county(tree):
    """万安县: a county beside 太仓市, with its own station, deputy, firm and staff."""
    county = make_jurisdiction(name="万安县", level=Level.COUNTY, division_code="360828", parent=tree.city)
    station = make_station(name="万安县工业园区代表联络站", jurisdiction=county)
    deputy = Deputy(name="胡国平", congress_jurisdiction=county, stations=[station])
    firm = Enterprise(name="万安县示范电子有限公司", uscc=valid_uscc(777), jurisdiction=county)
    db.session.add_all([deputy, firm])
    db.session.commit()
    county.staff = make_user(Role.STAFF, jurisdiction=county)
    county.firm = firm
    return county


def code(jurisdiction) -> str:
    return f"{jurisdiction.division_code} {jurisdiction.name}"


def xlsx_bytes(headers, rows) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_bytes(headers, rows, encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def check(client, kind, data, filename="名单.xlsx", headers=None):
    return client.post("/admin/imports/check", headers=headers or {},
                       data={"kind": kind, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def token_of(page: str) -> str:
    return re.search(r'name="token"[^>]*value="([^"]+)"', page).group(1)


def cell(page: str, row: int, column: str) -> str:
    """The text shown for one cell of the dry run: its value and the problems under it."""
    block = re.search(rf'<li id="import-row-{row}".*?</li>', page, re.S)
    assert block, f"row {row} is not listed"
    dd = re.search(rf'<dd data-column="{column}">(.*?)</dd>', block.group(0), re.S)
    return unescape(re.sub(r"<[^>]+>", " ", dd.group(1)))


def listed_rows(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li id="import-row-(\d+)"', page)]


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def good_deputy_rows(tree):
    return [
        ["钱志刚", code(tree.county), "人大代表", "沙溪镇代表联络站", "用工", "太仓某公司总经理", "在任"],
        ["孙丽", code(tree.township), "街道议政代表", "沙溪镇代表联络站、浏河镇代表联络站", "", "", ""],
    ]


# --- templates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, headers, chinese", [
    ("deputies", DEPUTY_HEADERS, "代表导入模板.xlsx"),
    ("enterprises", ENTERPRISE_HEADERS, "企业导入模板.xlsx"),
    ("departments", DEPARTMENT_HEADERS, "承办单位导入模板.xlsx"),
])
def test_each_template_opens_in_excel_with_the_chinese_headers_and_a_notes_sheet(client, tree, kind, headers, chinese):
    login(client, tree.admin)

    response = client.get(f"/admin/imports/template/{kind}.xlsx")

    assert response.status_code == 200
    assert response.mimetype == importing.XLSX_MIMETYPE
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"filename*=UTF-8''{quote(chinese)}" in disposition
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = workbook.worksheets[0]
    assert [c.value for c in sheet[1]] == headers
    assert sheet.max_row == 2  # one example row
    assert sheet.freeze_panes == "A2"
    notes = workbook["填写说明"]
    assert [notes.cell(row=i + 2, column=1).value for i in range(len(headers))] == headers
    assert all(notes.cell(row=i + 2, column=3).value for i in range(len(headers)))


def test_the_example_row_of_an_untouched_template_is_skipped(app, tree):
    data = importing.template_workbook(ImportKind.DEPARTMENTS)
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    workbook.worksheets[0].append(["沙溪镇人社所", code(tree.township)])
    out = io.BytesIO()
    workbook.save(out)

    plan = importing.plan_import(ImportKind.DEPARTMENTS, out.getvalue(), "t.xlsx", actor=tree.admin)

    assert [row.number for row in plan.rows] == [3]
    assert "第 2 行是模板中的示例" in str(plan.notices[0])


@pytest.mark.parametrize("kind", list(ImportKind))
def test_the_example_row_of_each_template_passes_its_own_dry_run(app, client, kind):
    """The demo's places are the examples' (Taicang): the example, typed as data by Taicang's
    staff, has no problem (the enterprises' once named 320585100, which is 城厢镇, as 沙溪镇;
    the deputies' a station the demo does not have)."""
    from liaison_app import demo
    from liaison_app.models import User

    demo.seed_demo()
    login(client, db.session.scalar(sa.select(User).where(User.username == "staff")))
    template = client.get(f"/admin/imports/template/{kind.value}.xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(template.data))
    sheet = workbook.worksheets[0]
    sheet.append([cell.value for cell in sheet[2]])  # row 2 is skipped as the example: its copy is checked
    out = io.BytesIO()
    workbook.save(out)

    page = check(client, kind.value, out.getvalue()).get_data(as_text=True)

    assert "notice-error" not in page
    assert listed_rows(page) == [3]
    assert token_of(page)  # ready to import


# --- the dry run -------------------------------------------------------------------------------


def test_the_dry_run_shows_each_problem_by_its_row_and_column_and_writes_nothing(client, tree, other_county):
    staff = tree.staff["county"]
    rows = good_deputy_rows(tree) + [
        ["", code(tree.county), "", "", "", "", ""],  # row 4: no name
        ["周明", "999999", "", "", "", "", ""],  # row 5: unknown jurisdiction
        ["钱志刚", tree.county.division_code, "", "", "", "", ""],  # row 6: same as row 2
        ["吴强", code(other_county), "", "", "", "", ""],  # row 7: another county
        ["郑华", tree.county.name, "市长", "不存在的联络站", "", "", "退休"],  # row 8: bad kind, station, status
    ]
    data = xlsx_bytes(DEPUTY_HEADERS, rows)
    before = count(Deputy)
    login(client, staff)

    response = check(client, "deputies", data)

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert listed_rows(page) == [4, 5, 6, 7, 8]  # only the rows with problems
    assert "缺少姓名" in cell(page, 4, "name")
    assert "没有这个代码或名称的行政区划" in cell(page, 5, "jurisdiction")
    assert "第 2 行已有这位代表" in cell(page, 6, "name")
    assert "超出您的管辖范围" in cell(page, 7, "jurisdiction")
    assert "请填写以下之一：人大代表、街道议政代表" in cell(page, 8, "kind")
    assert "您管辖范围内没有名为 不存在的联络站 的联络站" in cell(page, 8, "stations")
    assert "请填写以下之一：在任、离任" in cell(page, 8, "status")
    assert "缺少姓名" not in cell(page, 5, "name")
    assert 'name="token"' not in page  # no import button
    assert count(Deputy) == before
    folder = client.application.config["IMPORT_FOLDER"]
    assert not os.path.isdir(folder) or os.listdir(folder) == []  # nothing kept for an import


def test_a_bad_credit_code_is_shown_with_what_is_wrong(client, tree):
    good = valid_uscc(5)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")  # a typo in the check character
    data = xlsx_bytes(ENTERPRISE_HEADERS, [
        ["太仓恒丰精密机械有限公司", valid_uscc(4), code(tree.township), "沙溪镇工业园区", "机械"],
        ["太仓宏达纺织有限公司", bad, code(tree.township), "", ""],
        ["太仓短码有限公司", "1234", "", "", ""],
    ])
    login(client, tree.admin)

    page = check(client, "enterprises", data).get_data(as_text=True)

    assert listed_rows(page) == [3, 4]
    assert "校验位不符" in cell(page, 3, "uscc")
    assert "统一社会信用代码应为 18 位" in cell(page, 4, "uscc")
    assert count(Enterprise) == 0


def test_a_jurisdiction_may_be_named_by_code_name_or_both_but_they_must_agree(app, tree):
    data = xlsx_bytes(DEPARTMENT_HEADERS, [
        ["沙溪镇经发局", tree.township.division_code],
        ["沙溪镇人社所", tree.township.name],
        ["沙溪镇城管中队", f" {tree.township.division_code}\u3000{tree.township.name} "],
        ["沙溪镇司法所", f"{tree.township.division_code} 太仓市"],
    ])

    plan = importing.plan_import(ImportKind.DEPARTMENTS, data, "d.xlsx", actor=tree.admin)

    assert [row.status for row in plan.rows] == [RowStatus.CREATE] * 3 + [RowStatus.ERROR]
    assert "不是 太仓市" in str(plan.rows[3].problems["jurisdiction"][0])


def test_headers_are_matched_despite_spaces_full_width_brackets_and_order(app, tree):
    headers = ["所属行政区划 (代码或名称)", " 单位名称 ", "备注"]
    data = xlsx_bytes(headers, [[tree.county.division_code, "太仓市应急管理局", "随便写"]])

    plan = importing.plan_import(ImportKind.DEPARTMENTS, data, "d.xlsx", actor=tree.admin)

    assert plan.rows[0].status is RowStatus.CREATE
    assert plan.rows[0].values == {"name": "太仓市应急管理局", "jurisdiction": tree.county.division_code}
    assert "“备注”列不在模板中，已忽略" in str(plan.notices[0])


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "utf-8"])
def test_csv_is_read_in_utf8_with_or_without_bom_and_in_gb18030(client, tree, encoding):
    data = csv_bytes(ENTERPRISE_HEADERS, [
        ["太仓恒丰精密机械有限公司", valid_uscc(11), code(tree.township), "沙溪镇岳王工业园", "机械"],
        ["太仓宏达纺织有限公司", "", code(tree.county), "", "纺织"],
    ], encoding)
    if encoding == "utf-8-sig":
        assert data.startswith(codecs.BOM_UTF8)
    login(client, tree.admin)

    page = check(client, "enterprises", data, "企业.csv").get_data(as_text=True)

    assert listed_rows(page) == [2, 3]
    assert "太仓恒丰精密机械有限公司" in cell(page, 2, "name")
    assert "沙溪镇岳王工业园" in cell(page, 2, "address")
    assert "纺织" in cell(page, 3, "industry")
    assert 'name="token"' in page


@pytest.mark.parametrize("filename, data, message", [
    ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "请选择 Excel 工作簿（.xlsx）或 CSV 文件（.csv）"),
    ("名单.xlsx", b"this is not a workbook", "无法作为 Excel 工作簿读取"),
    ("名单.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "旧版 Excel 文件（.xls）无法读取"),
    ("名单.csv", b"\x00\x01\x02\x03binary", "无法读取这个 CSV 文件"),
    ("名单.csv", "姓名,电话\n张三,123\n".encode(), "没有找到表头行"),
    ("名单.csv", "姓名*,代表层级\n".encode(), "表头行下面没有要导入的行"),
])
def test_a_file_that_is_not_a_usable_spreadsheet_is_refused_next_to_the_file_field(client, tree, filename, data,
                                                                                      message):
    login(client, tree.admin)

    response = check(client, "deputies", data, filename)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    error_line = re.search(r'<p class="field-error" id="error-file"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert message in unescape(error_line)


def test_a_file_too_large_or_too_long_is_refused(app, tree, monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 3)
    data = xlsx_bytes(DEPARTMENT_HEADERS, [[f"局{i}", tree.county.division_code] for i in range(4)])
    with pytest.raises(importing.InvalidValue, match="3"):
        importing.plan_import(ImportKind.DEPARTMENTS, data, "d.xlsx", actor=tree.admin)

    monkeypatch.setattr(importing, "MAX_FILE_BYTES", 100)
    with pytest.raises(importing.InvalidValue):
        importing.plan_import(ImportKind.DEPARTMENTS, b"x" * 101, "d.csv", actor=tree.admin)


def test_no_file_and_no_kind_are_form_errors(client, tree, htmx):
    login(client, tree.admin)

    response = client.post("/admin/imports/check", data={"kind": ""}, headers=htmx,
                           content_type="multipart/form-data")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.lstrip().startswith('<form id="import-panel"')
    assert "请选择文件" in page


# --- the import --------------------------------------------------------------------------------


def test_importing_a_checked_file_writes_every_row(client, tree):
    data = xlsx_bytes(DEPUTY_HEADERS, good_deputy_rows(tree))
    login(client, tree.staff["county"])
    page = check(client, "deputies", data).get_data(as_text=True)
    assert listed_rows(page) == [2, 3]
    assert "新增" in page

    response = client.post("/admin/imports/run", data={"token": token_of(page)})

    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/imports")
    db.session.expire_all()
    qian = db.session.scalar(sa.select(Deputy).where(Deputy.name == "钱志刚"))
    sun = db.session.scalar(sa.select(Deputy).where(Deputy.name == "孙丽"))
    assert qian.congress_jurisdiction_id == tree.county.id and qian.kind is DeputyKind.DEPUTY
    assert [s.name for s in qian.stations] == ["沙溪镇代表联络站"] and qian.specialties == "用工" and qian.active
    assert sun.kind is DeputyKind.STREET_REPRESENTATIVE
    assert {s.name for s in sun.stations} == {"沙溪镇代表联络站", "浏河镇代表联络站"}
    assert "代表导入完成：新增 2 条，更新 0 条，无变化 0 条。" in client.get("/admin/imports").get_data(as_text=True)

    again = client.post("/admin/imports/run", data={"token": token_of(page)})
    assert again.status_code == 422 and "请重新上传" in again.get_data(as_text=True)  # the file was used up


def test_the_import_is_one_transaction_a_failure_midway_leaves_nothing(app, tree, monkeypatch):
    rows = [[f"局{i}", code(tree.county)] for i in range(5)]
    data = xlsx_bytes(DEPARTMENT_HEADERS, rows)
    monkeypatch.setattr(importing, "FLUSH_BATCH", 1)  # the first rows reach the database before the failure
    created = []
    original = importing.DepartmentRegister.create

    def failing_create(self, row):
        if len(created) == 3:
            raise RuntimeError("disk full")
        created.append(row.number)
        return original(self, row)

    monkeypatch.setattr(importing.DepartmentRegister, "create", failing_create)
    before = count(Department)

    with pytest.raises(RuntimeError):
        importing.run_import(ImportKind.DEPARTMENTS, data, "d.xlsx", actor=tree.admin)

    assert created == [2, 3, 4]
    assert count(Department) == before


def test_a_failure_during_the_import_over_http_writes_nothing(client, tree, monkeypatch):
    data = xlsx_bytes(DEPUTY_HEADERS, good_deputy_rows(tree))
    login(client, tree.admin)
    token = token_of(check(client, "deputies", data).get_data(as_text=True))
    before = count(Deputy)
    original = importing.DeputyRegister.create
    calls = []

    def failing_create(self, row):
        calls.append(row.number)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return original(self, row)

    monkeypatch.setattr(importing, "FLUSH_BATCH", 1)
    monkeypatch.setattr(importing.DeputyRegister, "create", failing_create)

    response = client.post("/admin/imports/run", data={"token": token})

    assert response.status_code == 500
    assert count(Deputy) == before


def test_importing_the_same_file_twice_changes_nothing_the_second_time(app, tree):
    data = xlsx_bytes(ENTERPRISE_HEADERS, [
        ["太仓恒丰精密机械有限公司", valid_uscc(21), code(tree.township), "沙溪镇岳王工业园", "机械"],
        ["太仓宏达纺织有限公司", "", code(tree.county), "", "纺织"],
    ])
    first = importing.run_import(ImportKind.ENTERPRISES, data, "e.xlsx", actor=tree.admin)
    assert first.applied and first.counts[RowStatus.CREATE] == 2
    stored = {e.id: (e.name, e.created_at) for e in db.session.scalars(sa.select(Enterprise))}
    writes = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        second = importing.run_import(ImportKind.ENTERPRISES, data, "e.xlsx", actor=tree.admin)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)

    assert second.counts == {RowStatus.CREATE: 0, RowStatus.UPDATE: 0, RowStatus.UNCHANGED: 2, RowStatus.ERROR: 0}
    assert writes == []
    db.session.expire_all()
    assert {e.id: (e.name, e.created_at) for e in db.session.scalars(sa.select(Enterprise))} == stored


def test_a_changed_cell_updates_only_that_record_and_an_empty_cell_keeps_the_value(app, tree):
    firm = make_enterprise(name="太仓恒丰精密机械有限公司", uscc=valid_uscc(31), jurisdiction=tree.township,
                           address="沙溪镇岳王工业园", industry="机械")
    unnamed = make_enterprise(name="太仓宏达纺织有限公司", uscc=None)  # filed by QR without a code
    data = xlsx_bytes(ENTERPRISE_HEADERS, [
        ["太仓恒丰精密机械股份有限公司", valid_uscc(31), "", "", "精密机械"],
        ["太仓宏达纺织有限公司", valid_uscc(32), code(tree.county), "", ""],
    ])

    plan = importing.run_import(ImportKind.ENTERPRISES, data, "e.xlsx", actor=tree.admin)

    assert [row.status for row in plan.rows] == [RowStatus.UPDATE, RowStatus.UPDATE]
    assert plan.rows[0].changed == {"name", "industry"}
    db.session.expire_all()
    firm, unnamed = db.session.get(Enterprise, firm.id), db.session.get(Enterprise, unnamed.id)
    assert (firm.name, firm.address, firm.industry, firm.jurisdiction_id) == (
        "太仓恒丰精密机械股份有限公司", "沙溪镇岳王工业园", "精密机械", tree.township.id)
    assert firm.name_initials == "tchfjmjxgfyxgs"
    assert (unnamed.uscc, unnamed.jurisdiction_id) == (valid_uscc(32), tree.county.id)
    assert count(Enterprise) == 2


def test_records_that_cannot_be_told_apart_are_a_row_problem(app, tree):
    make_enterprise(name="太仓同名有限公司", uscc=valid_uscc(41))
    make_enterprise(name="太仓同名有限公司", uscc=valid_uscc(42))
    data = xlsx_bytes(ENTERPRISE_HEADERS, [["太仓同名有限公司", "", "", "", ""]])

    plan = importing.plan_import(ImportKind.ENTERPRISES, data, "e.xlsx", actor=tree.admin)

    assert plan.rows[0].status is RowStatus.ERROR
    assert "请填写统一社会信用代码以便区分" in str(plan.rows[0].problems["name"][0])

    db.session.add(Deputy(name="顾振华", congress_jurisdiction=tree.township, stations=[tree.station]))
    db.session.commit()
    data = xlsx_bytes(DEPUTY_HEADERS, [["顾振华", code(tree.township), "", "", "擅长融资", "", ""]])
    plan = importing.plan_import(ImportKind.DEPUTIES, data, "d.xlsx", actor=tree.admin)
    assert "已登记 2 位同名代表，无法区分" in str(plan.rows[0].problems["name"][0])


@pytest.mark.parametrize("with_htmx", [True, False])
def test_when_the_records_changed_after_the_check_the_import_shows_why_and_writes_nothing(client, tree, with_htmx):
    data = xlsx_bytes(DEPUTY_HEADERS, good_deputy_rows(tree))
    login(client, tree.admin)
    token = token_of(check(client, "deputies", data).get_data(as_text=True))
    tree.other_station.name = "浏河镇代表之家"  # renamed meanwhile: row 3 names a station that is gone
    db.session.commit()

    response = client.post("/admin/imports/run", data={"token": token},
                           headers={"HX-Request": "true"} if with_htmx else {})

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert page.lstrip().startswith('<section id="import-panel"') is with_htmx
    assert ("<html" in page) is not with_htmx
    assert "没有导入任何记录" in page
    assert "浏河镇代表联络站" in cell(page, 3, "stations")
    assert count(Deputy) == 3


def test_a_token_is_bound_to_the_user_who_checked_the_file(client, tree):
    data = xlsx_bytes(DEPUTY_HEADERS, good_deputy_rows(tree))
    login(client, tree.admin)
    token = token_of(check(client, "deputies", data).get_data(as_text=True))

    login(client, tree.staff["county"])
    response = client.post("/admin/imports/run", data={"token": token})

    assert response.status_code == 422
    assert count(Deputy) == 3
    assert client.post("/admin/imports/run", data={"token": "../../etc/passwd"}).status_code == 422


def test_a_checked_file_expires_after_an_hour(app, tree, monkeypatch):
    token = importing.stash_upload(ImportKind.DEPARTMENTS, b"data", "d.csv", actor=tree.admin)
    assert importing.load_upload(token, actor=tree.admin).data == b"data"

    monkeypatch.setattr(importing, "STASH_SECONDS", -1)

    with pytest.raises(importing.InvalidValue):
        importing.load_upload(token, actor=tree.admin)


# --- export and the round trip -----------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ImportKind))
def test_an_export_imported_again_is_all_unchanged(client, tree, other_county, kind):
    make_enterprise(name="=HYPERLINK(\"http://x\")公司", uscc=None, jurisdiction=tree.county, address="多行\n地址")
    make_enterprise(name="太仓无区划有限公司")
    tree.colleague.active = False
    tree.colleague.bio = "第一行\n第二行"
    tree.colleague.kind = DeputyKind.STREET_REPRESENTATIVE
    tree.colleague.stations.append(tree.other_station)
    db.session.commit()
    login(client, tree.admin)

    response = client.get(f"/admin/exports/{kind}.xlsx")

    assert response.status_code == 200
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert [c.value for c in sheet[1]] == [c.header for c in importing.COLUMNS[kind]]
    assert sheet.column_dimensions["A"].width > 10
    plan = importing.plan_import(kind, response.data, "export.xlsx", actor=tree.admin)
    assert plan.rows and all(row.status is RowStatus.UNCHANGED for row in plan.rows), [
        (row.number, row.problems, row.changed) for row in plan.rows if row.status is not RowStatus.UNCHANGED]


def test_an_export_keeps_text_that_looks_like_a_formula_as_text(app, tree):
    make_enterprise(name="=1+1", uscc=None, jurisdiction=tree.county)

    data = importing.export_workbook(ImportKind.ENTERPRISES, actor=tree.admin)

    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet["A2"].value == "=1+1" and sheet["A2"].data_type == "s"


def test_staff_export_only_their_jurisdiction(client, tree, other_county):
    make_enterprise(name="太仓恒丰精密机械有限公司", jurisdiction=tree.township)
    login(client, tree.staff["county"])

    sheets = {kind: openpyxl.load_workbook(io.BytesIO(client.get(f"/admin/exports/{kind}.xlsx").data)).worksheets[0]
              for kind in ImportKind}

    deputies = [row[0] for row in sheets[ImportKind.DEPUTIES].iter_rows(min_row=2, values_only=True)]
    assert sorted(deputies) == sorted(["顾振华", "刘春梅", "陈立新"]) and "胡国平" not in deputies
    firms = [row[0] for row in sheets[ImportKind.ENTERPRISES].iter_rows(min_row=2, values_only=True)]
    assert firms == ["太仓恒丰精密机械有限公司"]
    units = [row[0] for row in sheets[ImportKind.DEPARTMENTS].iter_rows(min_row=2, values_only=True)]
    assert sorted(units) == ["太仓市住建局", "沙溪镇住建局"]


def test_staff_cannot_import_into_or_over_another_countys_records(app, tree, other_county):
    staff = tree.staff["county"]
    data = xlsx_bytes(ENTERPRISE_HEADERS, [
        ["万安县示范电子有限公司", other_county.firm.uscc, code(tree.county), "", ""],  # theirs, by its code
        ["新开的公司", "", "", "", ""],  # no jurisdiction: would fall outside everyone's view
        ["另一家公司", "", code(other_county), "", ""],
    ])

    plan = importing.plan_import(ImportKind.ENTERPRISES, data, "e.xlsx", actor=staff)

    assert [row.status for row in plan.rows] == [RowStatus.ERROR] * 3
    assert "该企业登记在您的管辖范围之外" in str(plan.rows[0].problems["uscc"][0])
    assert "请填写所属行政区划" in str(plan.rows[1].problems["jurisdiction"][0])
    assert "超出您的管辖范围" in str(plan.rows[2].problems["jurisdiction"][0])
    stations = xlsx_bytes(DEPUTY_HEADERS, [["钱志刚", code(tree.county), "", "万安县工业园区代表联络站", "", "", ""]])
    plan = importing.plan_import(ImportKind.DEPUTIES, stations, "d.xlsx", actor=staff)
    assert "您管辖范围内没有名为 万安县工业园区代表联络站 的联络站" in str(plan.rows[0].problems["stations"][0])


def test_staff_keep_a_deputys_stations_outside_their_jurisdiction(app, tree, other_county):
    tree.deputy.stations.append(other_county.stations[0])
    db.session.commit()
    data = xlsx_bytes(DEPUTY_HEADERS, [["顾振华", code(tree.township), "", "浏河镇代表联络站", "", "", ""]])

    plan = importing.run_import(ImportKind.DEPUTIES, data, "d.xlsx", actor=tree.staff["township"])

    assert plan.applied and plan.rows[0].changed == {"stations"}
    db.session.expire_all()
    deputy = db.session.get(Deputy, tree.deputy.id)
    assert {s.name for s in deputy.stations} == {"浏河镇代表联络站", "万安县工业园区代表联络站"}


# --- who may, and htmx -------------------------------------------------------------------------


@pytest.mark.parametrize("method, url", [
    ("get", "/admin/imports"),
    ("get", "/admin/imports/template/deputies.xlsx"),
    ("get", "/admin/exports/deputies.xlsx"),
    ("post", "/admin/imports/check"),
    ("post", "/admin/imports/run"),
])
def test_deputies_and_unit_officers_get_403_and_anonymous_users_log_in(client, tree, method, url):
    for user in (tree.deputy_user, tree.officers["county"]):
        login(client, user)
        assert getattr(client, method)(url).status_code == 403
    anonymous = client.application.test_client()
    response = getattr(anonymous, method)(url)
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_an_unknown_kind_is_404(client, tree):
    login(client, tree.admin)
    assert client.get("/admin/exports/passwords.xlsx").status_code == 404
    assert client.get("/admin/imports/template/x.xlsx").status_code == 404


def test_the_page_lists_templates_exports_and_the_upload_form(client, tree):
    login(client, tree.staff["county"])

    page = client.get("/admin/imports").get_data(as_text=True)

    assert "<html" in page
    assert 'enctype="multipart/form-data"' in page and 'hx-post="/admin/imports/check"' in page
    for kind in ImportKind:
        assert f"/admin/imports/template/{kind}.xlsx" in page and f"/admin/exports/{kind}.xlsx" in page
    assert "/admin/imports" in client.get("/admin/").get_data(as_text=True)


def test_the_dry_run_is_a_fragment_for_htmx_and_a_page_otherwise(client, tree, htmx):
    data = xlsx_bytes(DEPUTY_HEADERS, good_deputy_rows(tree))
    login(client, tree.admin)

    fragment = check(client, "deputies", data, headers=htmx).get_data(as_text=True)
    page = check(client, "deputies", data).get_data(as_text=True)

    assert fragment.lstrip().startswith('<section id="import-panel"') and "<html" not in fragment
    assert "<html" in page and '<section id="import-panel"' in page
    assert 'hx-post="/admin/imports/run"' in fragment


def test_the_import_redirects_htmx_with_a_header(client, tree, htmx):
    data = xlsx_bytes(DEPARTMENT_HEADERS, [["沙溪镇经发局", code(tree.township)]])
    login(client, tree.admin)
    token = token_of(check(client, "departments", data, headers=htmx).get_data(as_text=True))

    response = client.post("/admin/imports/run", data={"token": token}, headers=htmx)

    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/admin/imports"
    assert db.session.scalar(sa.select(Department).where(Department.name == "沙溪镇经发局")) is not None


def test_an_expired_token_for_htmx_returns_the_upload_form(client, tree, htmx):
    login(client, tree.admin)

    response = client.post("/admin/imports/run", data={"token": "A" * 32}, headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 422 and page.lstrip().startswith('<form id="import-panel"')
    assert "请重新上传" in page


def test_a_file_with_nothing_new_offers_no_import(client, tree):
    data = xlsx_bytes(DEPARTMENT_HEADERS, [["太仓市住建局", code(tree.county)]])
    login(client, tree.admin)

    page = check(client, "departments", data).get_data(as_text=True)

    assert 'name="token"' not in page
    assert "导入不会改变任何记录" in page
