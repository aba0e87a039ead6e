"""The three lists (三单): problem, claim and public list pages, their filters, paging,
permissions and XLSX forms."""

import io
import re
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import quote

import openpyxl
import pytest
from flask_babel import force_locale

from liaison_app.admin import scope
from liaison_app.extensions import db
from liaison_app.models import Category, Channel, Outcome, Rating, Request, Role
from liaison_app.services import lists as lists_service
from liaison_app.services import publication
from liaison_app.services import workflow as wf
from liaison_app.services.lists import SPECS, ListKind
from liaison_app.workdays import CHINA, today_local
from liaison_app.workflow import Status
from tests.factories import Tree, make_department, make_jurisdiction, make_request, make_station, make_user
from tests.test_desk import fresh, login

URLS = {ListKind.PROBLEMS: "/oversight/lists/problems", ListKind.CLAIMS: "/oversight/lists/claims",
        ListKind.PUBLIC: "/oversight/lists/public"}


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def wanan(app):
    """Another county, outside 太仓市's scope."""
    county = make_jurisdiction(name="万安县", division_code="360828")
    return make_station(name="万安县工业园区代表联络站", jurisdiction=county)


def utc(*args) -> datetime:
    """A time in China, as the naive UTC time stored."""
    return datetime(*args, tzinfo=CHINA).astimezone(timezone.utc).replace(tzinfo=None)


def last_month_utc() -> datetime:
    first = today_local().replace(day=1)
    day = first - timedelta(days=3)
    return utc(day.year, day.month, day.day, 10)


def assigned(tree, **overrides) -> Request:
    """A request at the township, claimed by its deputy and assigned to the township's department."""
    req = make_request(deputy=tree.deputy, **overrides)
    wf.claim_request(req, actor=tree.deputy_user)
    wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version,
                      department=tree.departments["township"])
    return fresh(req)


def acknowledged(tree, **overrides) -> Request:
    req = assigned(tree, **overrides)
    wf.acknowledge(req, actor=tree.officers["township"], version=req.version)
    return fresh(req)


def closed(tree, rating=Rating.SATISFIED, **overrides) -> Request:
    req = acknowledged(tree, **overrides)
    wf.respond(req, actor=tree.officers["township"], version=req.version, outcome=Outcome.SOLVED,
               text="已协调转贷基金，续贷已办妥。")
    req = fresh(req)
    wf.accept_answer(req, actor=tree.deputy_user, version=req.version)
    req = fresh(req)
    wf.rate_request(req, version=req.version, rating=rating)
    return fresh(req)


def page_of(client, url, **headers) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def table_rows(page: str) -> list[list[str]]:
    """The cells of each body row of the list table, as text."""
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    if body is None:
        return []
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]


def table_headers(page: str) -> list[str]:
    head = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
    return [unescape(text).strip() for text in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]


def references(page: str) -> list[str]:
    return [row[1] for row in table_rows(page)]


def workbook_of(response) -> openpyxl.worksheet.worksheet.Worksheet:
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return openpyxl.load_workbook(io.BytesIO(response.data)).active


# --- the problem list ---------------------------------------------------------------------------


def test_the_problem_list_holds_what_the_county_and_its_townships_received_this_month(client, tree, wanan):
    township = make_request(deputy=tree.deputy, category=Category.LABOUR, title="招工难")
    county = make_request(station=make_station(name="太仓市代表之家", jurisdiction=tree.county))
    elsewhere = make_request(station=wanan)
    earlier = make_request(deputy=tree.deputy, created_at=last_month_utc())
    login(client, tree.staff["county"])

    page = page_of(client, URLS[ListKind.PROBLEMS])

    assert set(references(page)) == {township.reference, county.reference}
    row = table_rows(page)[0]
    with force_locale("zh_CN"):
        labels = [str(Channel.QR_DEPUTY.label), str(Category.LABOUR.label), str(Status.SUBMITTED.label)]
    assert row == ["1", township.reference, today_local().isoformat(), labels[0], township.enterprise.name,
                   labels[1], "招工难", "沙溪镇代表联络站", "顾振华", labels[2]]
    assert elsewhere.reference not in page and earlier.reference not in page


def test_the_township_sees_only_its_own_and_keeps_what_it_escalated(client, tree):
    req = make_request(deputy=tree.deputy)
    county_own = make_request(station=make_station(jurisdiction=tree.county))
    wf.claim_request(req, actor=tree.deputy_user)
    wf.escalate_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, reason="需县级协调")
    login(client, tree.staff["township"])

    page = page_of(client, URLS[ListKind.PROBLEMS])

    # Counted where it was received, though the county handles it now.
    assert references(page) == [req.reference]
    assert county_own.reference not in page


def test_the_period_chooses_by_the_date_received(client, tree):
    now = make_request(deputy=tree.deputy)
    earlier = make_request(deputy=tree.deputy, created_at=last_month_utc())
    day = last_month_utc().date()
    login(client, tree.staff["county"])

    page = page_of(client, f"{URLS[ListKind.PROBLEMS]}?from={day.replace(day=1)}&to={day}")

    assert references(page) == [earlier.reference]
    assert now.reference not in page


def test_a_reversed_or_unreadable_period_still_answers(client, tree):
    req = make_request(deputy=tree.deputy)
    today = today_local()
    login(client, tree.staff["county"])

    assert references(page_of(client, f"{URLS[ListKind.PROBLEMS]}?from={today}&to={today.replace(day=1)}")) \
        == [req.reference]
    assert references(page_of(client, f"{URLS[ListKind.PROBLEMS]}?from=yesterday&to=2026-13-45&category=x&status=y")) \
        == [req.reference]


@pytest.mark.parametrize("name", ["category", "status", "department", "station"])
def test_each_filter_narrows_the_list(client, tree, name):
    labour = assigned(tree, category=Category.LABOUR)
    finance = make_request(station=tree.other_station, category=Category.FINANCE)
    value = {"category": "labour", "status": "assigned", "department": tree.departments["township"].id,
             "station": tree.station.id}[name]
    login(client, tree.staff["county"])

    page = page_of(client, f"{URLS[ListKind.PROBLEMS]}?{name}={value}")

    assert references(page) == [labour.reference]
    assert finance.reference not in page


def test_a_department_or_station_of_another_jurisdiction_is_dropped(client, tree, wanan):
    req = make_request(deputy=tree.deputy)
    login(client, tree.staff["county"])

    page = page_of(client, f"{URLS[ListKind.PROBLEMS]}?station={wanan.id}&department=999999")

    assert references(page) == [req.reference]


# --- the claim list -----------------------------------------------------------------------------


def test_the_claim_list_shows_the_department_the_deadline_and_no_acknowledgement_yet(client, tree):
    req = assigned(tree)
    make_request(deputy=tree.deputy)  # not assigned: not on the claim list
    login(client, tree.staff["county"])

    rows = table_rows(page_of(client, URLS[ListKind.CLAIMS]))

    assert len(rows) == 1
    number, reference, *_, department, assigned_on, due_on, acknowledged_, acknowledged_on, overdue, status = rows[0]
    assert (number, reference, department) == ("1", req.reference, "沙溪镇住建局")
    assert (assigned_on, due_on) == (today_local().isoformat(), req.due_on.isoformat())
    assert (acknowledged_, acknowledged_on, overdue, status) == ("否", "", "0", "待签收")


def test_acknowledgement_and_overdue_days_on_the_claim_list(client, tree):
    req = acknowledged(tree)
    req.due_on = today_local() - timedelta(days=3)  # the deadline passed three days ago
    db.session.commit()
    login(client, tree.staff["county"])

    page = page_of(client, URLS[ListKind.CLAIMS])

    *_, acknowledged_, acknowledged_on, overdue, status = table_rows(page)[0]
    assert (acknowledged_, acknowledged_on, overdue, status) == ("是", today_local().isoformat(), "3", "办理中")
    assert 'class="overdue"' in page


def test_overdue_days_stop_once_the_department_replied(app, tree):
    req = acknowledged(tree)
    today = today_local()
    req.due_on = today - timedelta(days=2)
    assert lists_service.overdue_days(req, today) == 2
    req.status = Status.REPLIED
    assert lists_service.overdue_days(req, today) == 0
    db.session.rollback()


def test_a_returned_request_leaves_the_claim_list(client, tree):
    req = assigned(tree)
    wf.return_request(req, actor=tree.officers["township"], version=req.version, reason="不属于本单位职责")
    login(client, tree.staff["county"])

    assert table_rows(page_of(client, URLS[ListKind.CLAIMS])) == []


def test_the_claim_list_counts_where_the_request_is_handled_now(client, tree):
    req = make_request(deputy=tree.deputy)
    wf.claim_request(req, actor=tree.deputy_user)
    wf.escalate_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, reason="需县级协调")
    wf.claim_request(fresh(req), actor=tree.staff["county"])
    wf.assign_request(fresh(req), actor=tree.staff["county"], version=fresh(req).version,
                      department=tree.departments["county"])

    login(client, tree.staff["county"])
    assert references(page_of(client, URLS[ListKind.CLAIMS])) == [req.reference]
    login(client, tree.staff["township"])
    assert references(page_of(client, URLS[ListKind.CLAIMS])) == []


def test_the_claim_list_period_is_by_the_date_assigned(client, tree):
    req = assigned(tree)
    req.assigned_at = last_month_utc()
    db.session.commit()
    day = last_month_utc().date()
    login(client, tree.staff["county"])

    assert references(page_of(client, URLS[ListKind.CLAIMS])) == []
    assert references(page_of(client, f"{URLS[ListKind.CLAIMS]}?from={day}&to={day}")) == [req.reference]


# --- the public list ----------------------------------------------------------------------------


def test_the_public_list_shows_the_result_the_days_taken_and_the_rating(client, tree):
    req = closed(tree, rating=Rating.MOSTLY_SATISFIED)
    req.created_at = req.closed_at - timedelta(days=5)
    db.session.commit()
    open_one = acknowledged(tree)
    rejected = make_request(deputy=tree.deputy)
    wf.reject_request(rejected, actor=tree.deputy_user, version=rejected.version, reason="不属于涉企诉求")
    login(client, tree.staff["county"])

    rows = table_rows(page_of(client, URLS[ListKind.PUBLIC]))

    assert [row[1] for row in rows] == [req.reference]
    *_, result, done, department, closed_on, days, rating, consent, publication_state = rows[0]
    assert (result, done, department) == ("已解决", "已协调转贷基金，续贷已办妥。", "沙溪镇住建局")
    assert (closed_on, days, rating, consent) == (today_local().isoformat(), "5", "基本满意", "否")
    assert publication_state == "不公示"
    assert open_one.reference not in str(rows)


def test_the_public_list_shows_which_summaries_wait_and_links_them_to_the_card(client, tree):
    to_write, to_approve, approved = (closed(tree, public_consent=True) for _ in range(3))
    for req in (to_approve, approved):
        publication.save_public_summary(req, actor=tree.deputy_user, version=req.version,
                                        problem="企业续贷需要过桥资金", result="协调转贷基金500万元")
    publication.approve_public_summary(fresh(approved), actor=tree.deputy_user, version=fresh(approved).version)
    login(client, tree.staff["township"])

    page = page_of(client, URLS[ListKind.PUBLIC])
    rows = {row[1]: row for row in table_rows(page)}

    assert [rows[req.reference][-1] for req in (to_write, to_approve, approved)] == [
        "待撰写公示摘要", "待审核", "已公示"]
    # 办理情况: the approved summary's words; a draft not yet approved is not taken for them
    assert rows[approved.reference][6] == "协调转贷基金500万元"
    assert rows[to_approve.reference][6] == "已协调转贷基金，续贷已办妥。"
    for req in (to_write, to_approve, approved):
        assert len(re.findall(f'href="/desk/requests/{req.id}"', page)) == 2  # the reference and the state


def test_unrated_requests_are_listed_apart_from_satisfied_ones(app, tree):
    req = closed(tree)
    req.rating = Rating.UNRATED
    db.session.commit()
    filters = lists_service.filters_from_args({}, tree.staff["county"])

    row = lists_service.list_page(ListKind.PUBLIC, filters).rows[0]

    assert str(SPECS[ListKind.PUBLIC].columns[-3].value(row)) == "未评价"


# --- paging -------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_htmx", [False, True])
def test_paging_keeps_every_request_once_and_numbers_on(client, tree, monkeypatch, use_htmx):
    monkeypatch.setattr(lists_service, "PAGE_SIZE", 3)
    made = [make_request(deputy=tree.deputy) for _ in range(5)]
    login(client, tree.staff["county"])
    headers = {"HX-Request": "true"} if use_htmx else {}

    first = page_of(client, URLS[ListKind.PROBLEMS], **headers)
    following = re.search(r'href="(/oversight/lists/problems\?[^"]*after=[^"]*)"', first).group(1)
    second = page_of(client, unescape(following), **headers)

    numbers = [row[0] for row in table_rows(first) + table_rows(second)]
    assert numbers == ["1", "2", "3", "4", "5"]
    assert references(first) + references(second) == [r.reference for r in made]
    assert "5 件诉求" in first and "5 件诉求" in second
    assert "after=" not in second.split("<tbody>")[1]  # no page after the last
    assert "第一页" in second and "第一页" not in first


# --- the XLSX form ------------------------------------------------------------------------------

HEADERS = {
    ListKind.PROBLEMS: ["序号", "编号", "受理日期", "来源渠道", "企业名称", "问题类别", "问题摘要", "联络站", "联系代表", "办理状态"],
    ListKind.CLAIMS: ["序号", "编号", "问题摘要", "企业名称", "问题类别", "承办单位", "交办日期", "办理期限", "是否签收",
                      "签收日期", "超期天数", "办理状态"],
    ListKind.PUBLIC: ["序号", "编号", "企业名称", "问题类别", "问题摘要", "办理结果", "办理情况", "承办单位", "办结日期",
                      "办理用时（天）", "满意度", "同意公示", "公示状态"],
}
TITLES = {ListKind.PROBLEMS: "问题清单", ListKind.CLAIMS: "认领清单", ListKind.PUBLIC: "公示清单"}


@pytest.mark.parametrize("kind", list(ListKind))
def test_each_export_is_the_paper_form_with_the_rows_of_the_page(client, tree, kind):
    made = [closed(tree), closed(tree)]
    login(client, tree.staff["county"])
    today = today_local()

    page = page_of(client, URLS[kind])
    response = client.get(URLS[kind] + ".xlsx")
    sheet = workbook_of(response)

    assert sheet.title == TITLES[kind]
    assert sheet["A1"].value == f"{TITLES[kind]}（{today.year}年{today.month}月）"
    assert f"A1:{openpyxl.utils.get_column_letter(len(HEADERS[kind]))}1" in sheet.merged_cells
    assert sheet["A2"].value == (f"填报单位：太仓市人大常委会　填报人：太仓市工作人员"
                                 f"　填报日期：{today.year}年{today.month}月{today.day}日")
    assert [cell.value for cell in sheet[3]] == HEADERS[kind] == table_headers(page)
    assert (sheet.freeze_panes, sheet.print_title_rows, sheet.page_setup.orientation) == ("A4", "$1:$3", "landscape")
    cells = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=4)]
    assert [(row[0], row[1]) for row in cells] == [(1, made[0].reference), (2, made[1].reference)]
    assert [[lists_service.cell_text(value.date() if isinstance(value, datetime) else value) for value in row]
            for row in cells] == table_rows(page)
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{kind}-{today.replace(day=1):%Y%m%d}-'
        f'{lists_service.month_of(today)[1]:%Y%m%d}.xlsx"; '
        f"filename*=UTF-8''{quote(f'{TITLES[kind]}-太仓市-{today.year}年{today.month}月.xlsx')}"
    )


def test_the_form_is_in_chinese_whatever_the_page_language(client, tree):
    make_request(deputy=tree.deputy, category=Category.LABOUR)
    login(client, tree.staff["county"])

    page = page_of(client, URLS[ListKind.PROBLEMS] + "?lang=en")
    sheet = workbook_of(client.get(URLS[ListKind.PROBLEMS] + ".xlsx?lang=en"))

    assert table_headers(page)[:3] == ["No.", "Reference", "Received on"]
    assert "Hiring and labour" in page
    assert [cell.value for cell in sheet[3]] == HEADERS[ListKind.PROBLEMS]
    with force_locale("zh_CN"):
        assert sheet["F4"].value == str(Category.LABOUR.label) != "Hiring and labour"
    assert "太仓市人大常委会" in sheet["A2"].value


def test_an_export_keeps_the_filters_and_a_period_that_is_not_a_month(client, tree):
    labour = make_request(deputy=tree.deputy, category=Category.LABOUR)
    make_request(deputy=tree.deputy, category=Category.FINANCE)
    today = today_local()
    login(client, tree.staff["county"])

    page = page_of(client, f"{URLS[ListKind.PROBLEMS]}?category=labour&from={today}&to={today}")
    link = unescape(re.search(r'id="list-export" href="([^"]+)"', page).group(1))
    sheet = workbook_of(client.get(link))

    assert "category=labour" in link
    assert [row[1] for row in sheet.iter_rows(min_row=4, values_only=True)] == [labour.reference]
    day = f"{today.year}年{today.month}月{today.day}日"
    assert sheet["A1"].value == f"问题清单（{day}至{day}）"


def test_text_typed_by_the_public_never_becomes_a_formula(client, tree):
    make_request(deputy=tree.deputy, title="=HYPERLINK(\"http://x\")")
    login(client, tree.staff["county"])

    sheet = workbook_of(client.get(URLS[ListKind.PROBLEMS] + ".xlsx"))

    assert sheet["G4"].data_type == "s"


def test_too_many_rows_to_export_is_refused_with_the_page(client, tree, monkeypatch):
    monkeypatch.setattr(lists_service, "MAX_EXPORT_ROWS", 1)
    make_request(deputy=tree.deputy)
    make_request(deputy=tree.deputy)
    login(client, tree.staff["county"])

    response = client.get(URLS[ListKind.PROBLEMS] + ".xlsx")

    page = response.get_data(as_text=True)
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert "More than 1 rows" in page or "超过 1 行" in page
    assert 'id="list-export"' not in page
    assert 'action="/oversight/lists/problems"' in page  # the filters still lead to the page


# --- who sees what ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ListKind))
@pytest.mark.parametrize("suffix", ["", ".xlsx"])
def test_staff_of_one_county_get_404_for_another(client, tree, wanan, kind, suffix):
    login(client, tree.staff["county"])

    assert client.get(f"{URLS[kind]}{suffix}?jurisdiction={wanan.jurisdiction_id}").status_code == 404
    assert client.get(f"{URLS[kind]}{suffix}?jurisdiction=abc").status_code == 404
    assert client.get(f"{URLS[kind]}{suffix}?jurisdiction=999999").status_code == 404
    assert client.get(f"{URLS[kind]}{suffix}?jurisdiction={tree.township.id}").status_code == 200


def test_township_staff_cannot_look_up_at_the_county(client, tree):
    login(client, tree.staff["township"])

    assert client.get(f"{URLS[ListKind.PROBLEMS]}?jurisdiction={tree.county.id}").status_code == 404


def test_admins_see_any_jurisdiction_and_start_at_the_first_top_level(client, tree, wanan):
    far = make_request(station=wanan)
    near = make_request(deputy=tree.deputy)
    login(client, tree.admin)

    default = page_of(client, URLS[ListKind.PROBLEMS])
    chosen = page_of(client, f"{URLS[ListKind.PROBLEMS]}?jurisdiction={wanan.jurisdiction_id}")

    # The first top-level jurisdiction by division code: 360828 (万安县) before p… (江苏省).
    assert references(default) == [far.reference]
    assert references(chosen) == [far.reference] and near.reference not in chosen


@pytest.mark.parametrize("kind", list(ListKind))
@pytest.mark.parametrize("suffix", ["", ".xlsx"])
def test_deputies_and_unit_officers_are_refused_and_strangers_sent_to_log_in(app, tree, kind, suffix):
    for user, expected in ((tree.deputy_user, 403), (tree.officers["county"], 403), (None, 302)):
        client = app.test_client()
        if user is not None:
            login(client, user)
        assert client.get(URLS[kind] + suffix).status_code == expected


def test_references_link_to_the_card_only_where_the_user_may_open_it(client, tree):
    req = make_request(deputy=tree.deputy)
    wf.claim_request(req, actor=tree.deputy_user)
    wf.escalate_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, reason="需县级协调")
    mine = make_request(deputy=tree.deputy)
    login(client, tree.staff["township"])

    page = page_of(client, URLS[ListKind.PROBLEMS])

    assert f'href="/desk/requests/{mine.id}"' in page
    assert f'href="/desk/requests/{req.id}"' not in page and req.reference in page


# --- htmx ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ListKind))
def test_each_page_whole_and_as_the_fragment_htmx_swaps(client, tree, kind, htmx):
    closed(tree)
    login(client, tree.staff["county"])

    whole = client.get(URLS[kind])
    fragment = client.get(URLS[kind], headers=htmx)

    assert "<h1>" in whole.get_data(as_text=True) and 'id="list"' in whole.get_data(as_text=True)
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="list">')
    assert "<h1>" not in fragment.get_data(as_text=True)
    assert table_rows(whole.get_data(as_text=True)) == table_rows(fragment.get_data(as_text=True))
    assert "HX-Request" in whole.headers["Vary"] and whole.headers["Cache-Control"] == "no-store"


def test_the_lists_are_on_the_oversight_menu(client, tree):
    login(client, tree.staff["county"])

    page = page_of(client, "/oversight/")

    for url in URLS.values():
        assert f'href="{url}"' in page


def test_a_staff_member_without_requests_sees_an_empty_list(client, app):
    login(client, make_user(Role.STAFF))

    for kind in ListKind:
        page = page_of(client, URLS[kind])
        assert table_rows(page) == [] and 'id="list-export"' in page
        assert len(workbook_of(client.get(URLS[kind] + ".xlsx"))["A"]) == 3


def test_departments_offered_are_those_of_the_chosen_jurisdiction_and_below(client, tree, wanan):
    far = make_department(name="万安县住建局", jurisdiction=wanan.jurisdiction)
    login(client, tree.staff["county"])

    page = page_of(client, f"{URLS[ListKind.CLAIMS]}?jurisdiction={tree.township.id}")

    assert "沙溪镇住建局" in page and "太仓市住建局" not in page and far.name not in page


# --- filter menus at the scale of a province ------------------------------------------------------


def test_a_filter_menu_with_too_many_entries_asks_for_a_smaller_jurisdiction(client, tree, monkeypatch):
    """A province's 5,000 stations are not sent as <option>s on every page."""
    monkeypatch.setattr(lists_service, "MAX_CHOICES", 1)
    make_station(jurisdiction=tree.township, name="沙溪镇第二联络站")
    login(client, tree.staff["province"])

    page = client.get(f"/oversight/lists/problems?jurisdiction={tree.province.id}").get_data(as_text=True)
    assert '<select id="station"' not in page and "再按此项筛选" in page
    assert '<select id="category"' in page  # the short menus are still there

    chosen = client.get(f"/oversight/lists/problems?jurisdiction={tree.province.id}&station={tree.station.id}")
    assert f'<option value="{tree.station.id}" selected>' in chosen.get_data(as_text=True)  # the choice is kept


@pytest.mark.parametrize("path", ["/oversight/lists/problems", "/oversight/dashboard", "/oversight/report"])
def test_in_a_province_the_jurisdiction_menu_lists_townships_of_the_chosen_county_only(client, tree, monkeypatch, path):
    monkeypatch.setattr(scope, "MENU_LIMIT", 3)
    elsewhere = make_jurisdiction(name="昆山市", parent=tree.city, level=tree.county.level, division_code="320583")
    far_town = make_jurisdiction(name="周市镇", parent=elsewhere, level=tree.township.level, division_code="320583101")
    login(client, tree.staff["province"])

    def menu(jurisdiction):
        page = client.get(f"{path}?jurisdiction={jurisdiction.id}").get_data(as_text=True)
        return re.search(r'<select id="[a-z-]*jurisdiction"[^>]*>(.*?)</select>', page, re.S).group(1)

    shown = menu(tree.county)
    assert tree.township.name in shown and elsewhere.name in shown and far_town.name not in shown
    assert f'<option value="{tree.county.id}" selected>' in shown

    shown = menu(elsewhere)
    assert far_town.name in shown and tree.township.name not in shown
