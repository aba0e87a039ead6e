"""Admin pages for user accounts: create, one-time link and code, deactivate, scope."""

import hashlib
import logging
import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import time_machine

from liaison_app.extensions import db
from liaison_app.models import Level, PasswordReset, Role, User
from liaison_app.services import users as user_service
from tests.factories import (
    Tree,
    make_department,
    make_deputy,
    make_enterprise,
    make_jurisdiction,
    make_station,
    make_user,
)
from tests.test_desk import login

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new secret"


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def wanan(app):
    """万安县 (吉安市, 江西) with its own station, deputy, unit, staff and enterprise: outside 太仓市."""
    county = make_jurisdiction(name="万安县", level=Level.COUNTY, parent=make_jurisdiction(name="吉安市", level=Level.CITY))
    station = make_station(name="万安县工业园区代表联络站", jurisdiction=county)
    deputy = make_deputy(station, name="郭明华")
    department = make_department(name="万安县人社局", jurisdiction=county)
    return SimpleNamespace(
        county=county, station=station, deputy=deputy, department=department,
        deputy_user=make_user(Role.DEPUTY, deputy=deputy, display_name="郭明华"),
        staff=make_user(Role.STAFF, jurisdiction=county, display_name="万安县工作人员"),
        officer=make_user(Role.UNIT, department=department),
        free_deputy=make_deputy(station, name="肖桂兰"),
        enterprise=make_enterprise(name="万安县华瑞电子有限公司", jurisdiction=county),
    )


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def count_users() -> int:
    return db.session.scalar(sa.select(sa.func.count(User.id)))


def create(client, headers=None, **fields):
    data = {"username": "newuser", "display_name": "", "phone": "", "role": "", "jurisdiction": "",
            "department": "", "deputy": ""}
    data.update({key: str(value) for key, value in fields.items()})
    return client.post("/admin/users/new", data=data, headers=headers or {})


def handover(page: str) -> SimpleNamespace:
    """The link's path and the code as the admin sees them once."""
    link = re.search(r'id="reset-link">https://liaison\.example\.cn(/reset/[^<]+)</p>', page).group(1)
    code = "".join(re.search(r'id="reset-code">(\d{3}) (\d{3})</p>', page).groups())
    return SimpleNamespace(link=link, code=code)


def field_error(page: str, field: str) -> str:
    return re.search(rf'id="error-{field}" role="alert">([^<]*)</p>', page).group(1)


def log_in(client, login_name, password=PASSWORD):
    return client.post("/login", data={"login": login_name, "password": password})


def is_logged_in(client) -> bool:
    return client.get("/desk/").status_code == 200


def set_with_link(client, path, password=NEW_PASSWORD, again=None, **kwargs):
    return client.post(path, data={"new_password": password, "new_password_again": again or password}, **kwargs)


def set_with_code(client, login_name, code, password=NEW_PASSWORD, **kwargs):
    return client.post("/reset", data={"login": login_name, "code": code, "new_password": password,
                                       "new_password_again": password}, **kwargs)


def issue(app, user, actor):
    """A reset made through the page, as an admin would: returns its link and code."""
    admin_client = app.test_client()
    login(admin_client, actor)
    response = admin_client.post(f"/admin/users/{user.id}/reset")
    assert response.status_code == 200
    return handover(response.get_data(as_text=True))


# --- creating accounts -------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.STAFF, Role.UNIT, Role.DEPUTY, Role.ADMIN])
def test_an_admin_creates_each_kind_of_account_and_the_user_sets_the_password(app, client, tree, role):
    scope = {Role.STAFF: {"jurisdiction": tree.county.id}, Role.UNIT: {"department": tree.departments["county"].id},
             Role.DEPUTY: {"deputy": make_deputy(tree.station, name="沈国强").id}, Role.ADMIN: {}}[role]
    login(client, tree.admin)

    response = create(client, username="shengq", display_name="沈国强", phone="139 1234 0001", role=role.value, **scope)

    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "账号已创建" in page
    user = db.session.scalar(sa.select(User).where(User.username == "shengq"))
    assert user.role is role and user.display_name == "沈国强" and user.phone == "+8613912340001"
    assert (user.jurisdiction_id, user.department_id, user.deputy_id) == (
        scope.get("jurisdiction"), scope.get("department"), scope.get("deputy"))
    given = handover(page)
    assert log_in(app.test_client(), "shengq", given.code).status_code == 422  # no password until it is chosen

    phone = app.test_client()
    assert "shengq" in phone.get(given.link).get_data(as_text=True)  # the page tells the username
    response = set_with_link(phone, given.link)

    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert log_in(phone, "shengq", NEW_PASSWORD).status_code == 303


def test_the_role_decides_which_scope_field_the_form_shows(client, tree, htmx):
    login(client, tree.admin)

    page = client.get("/admin/users/new").get_data(as_text=True)
    assert all(f'name="{name}"' in page for name in ("jurisdiction", "department", "deputy"))  # without JavaScript

    fragment = client.get("/admin/users/new?role=deputy&username=shengq", headers=htmx).get_data(as_text=True)
    assert fragment.lstrip().startswith('<form id="user-form"') and "<html" not in fragment
    assert 'name="deputy"' in fragment and 'name="jurisdiction"' not in fragment
    assert 'value="shengq"' in fragment  # what was typed stays
    assert 'data-hx-get="/admin/users/new"' in fragment


def test_the_deputy_select_offers_only_deputies_without_an_account(client, tree):
    free = make_deputy(tree.station, name="沈国强")
    login(client, tree.admin)

    page = client.get("/admin/users/new?role=deputy").get_data(as_text=True)

    assert f'value="{free.id}"' in page and f'value="{tree.deputy.id}"' not in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (dict(username="a b", role="admin"), "username", "3 到 40 个"),
        (dict(username="", role="admin"), "username", "请填写此项"),
        (dict(role="admin", phone="12345"), "phone", "号码不是有效号码"),
        (dict(role="staff"), "jurisdiction", "请选择该工作人员所在的行政区划"),
        (dict(role="unit"), "department", "请选择该工作人员所在的承办单位"),
        (dict(role="deputy"), "deputy", "请选择使用该账号的代表"),
        (dict(role=""), "role", "请选择角色"),
        (dict(role="admin", display_name="长" * 41), "display_name", "最多 40 个字"),
    ],
    ids=["malformed username", "no username", "bad phone", "staff without jurisdiction", "unit without unit",
         "deputy without deputy", "no role", "long name"],
)
def test_a_refused_account_says_why_next_to_the_field_and_writes_nothing(client, tree, fields, field, message, htmx):
    login(client, tree.admin)
    before = count_users()

    response = create(client, headers=htmx, **fields)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.lstrip().startswith('<form id="user-form"')
    assert message in field_error(page, field)
    assert "账号未创建" in page
    assert count_users() == before and db.session.scalar(sa.select(sa.func.count(PasswordReset.id))) == 0


def test_clashes_with_existing_accounts_are_all_reported_at_once(client, tree):
    make_user(Role.ADMIN, username="taken", phone="+8613800000001")
    login(client, tree.admin)

    response = create(client, username="TAKEN", phone="138 0000 0001", role="deputy", deputy=tree.deputy.id)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "用户名 TAKEN 已被占用" in field_error(page, "username")
    assert "已被其他用户使用" in field_error(page, "phone")
    assert "顾振华已有账号" in field_error(page, "deputy")


def test_staff_create_accounts_inside_their_jurisdiction(client, tree):
    newcomer = make_deputy(tree.station, name="沈国强")
    login(client, tree.staff["county"])

    response = create(client, username="shengq", role="deputy", deputy=newcomer.id)

    assert response.status_code == 200
    assert reload(db.session.scalar(sa.select(User).where(User.username == "shengq"))).deputy_id == newcomer.id


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (lambda t, w: dict(role="admin"), "role", "只有管理员才能创建管理员账号"),
        (lambda t, w: dict(role="staff", jurisdiction=w.county.id), "jurisdiction", "超出了您的管辖范围"),
        (lambda t, w: dict(role="staff", jurisdiction=t.city.id), "jurisdiction", "超出了您的管辖范围"),
        (lambda t, w: dict(role="unit", department=w.department.id), "department", "超出了您的管辖范围"),
        (lambda t, w: dict(role="deputy", deputy=w.free_deputy.id), "deputy", "超出了您的管辖范围"),
    ],
    ids=["an admin", "staff of another county", "staff of the level above", "an officer elsewhere",
         "a deputy elsewhere"],
)
def test_staff_cannot_create_admins_or_accounts_outside_their_jurisdiction(client, tree, wanan, fields, field, message):
    login(client, tree.staff["county"])
    before = count_users()

    response = create(client, username="intruder", **fields(tree, wanan))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in field_error(page, field)
    assert count_users() == before


def test_the_staff_form_offers_nothing_outside_their_jurisdiction(client, tree, wanan):
    login(client, tree.staff["county"])

    page = client.get("/admin/users/new").get_data(as_text=True)

    assert "万安县" not in page and "肖桂兰" not in page and "苏州市" not in page
    assert 'value="admin"' not in page
    assert "太仓市" in page and "沙溪镇" in page


# --- the one-time link and code ----------------------------------------------------------


def test_the_link_works_once(app, tree):
    given = issue(app, tree.deputy_user, tree.admin)
    phone = app.test_client()

    assert set_with_link(phone, given.link).status_code == 303
    assert reload(tree.deputy_user).check_password(NEW_PASSWORD)

    again = phone.get(given.link)
    assert again.status_code == 404 and "链接已失效" in again.get_data(as_text=True)
    assert set_with_link(phone, given.link, password="yet another secret").status_code == 404
    assert not reload(tree.deputy_user).check_password("yet another secret")


def test_the_link_expires_after_a_day(app, tree):
    given = issue(app, tree.deputy_user, tree.admin)

    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=24, minutes=1), tick=False):
        assert app.test_client().get(given.link).status_code == 404
        assert set_with_link(app.test_client(), given.link).status_code == 404
    assert reload(tree.deputy_user).check_password(PASSWORD)


def test_the_link_refuses_a_short_password_and_stays_usable(app, tree, htmx):
    given = issue(app, tree.deputy_user, tree.admin)
    phone = app.test_client()

    response = set_with_link(phone, given.link, password="short", headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 422 and page.lstrip().startswith('<form id="reset-link-form"')
    assert "至少 8 个字符" in field_error(page, "new_password")
    assert "short" not in page
    assert set_with_link(phone, given.link).status_code == 303


def test_the_code_works_once_with_the_username_or_the_phone_number(app, tree):
    tree.deputy_user.phone = "+8613912345000"
    db.session.commit()
    given = issue(app, tree.deputy_user, tree.admin)
    phone = app.test_client()

    response = set_with_code(phone, "139 1234 5000", f"{given.code[:3]} {given.code[3:]}")

    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert "密码已设置" in phone.get("/login").get_data(as_text=True)
    assert log_in(phone, tree.deputy_user.username, NEW_PASSWORD).status_code == 303
    again = set_with_code(app.test_client(), tree.deputy_user.username, given.code, password="yet another secret")
    assert again.status_code == 422
    assert "用户名或验证码不正确" in field_error(again.get_data(as_text=True), "code")


def test_the_code_expires_after_a_day(app, tree):
    given = issue(app, tree.deputy_user, tree.admin)

    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=25), tick=False):
        response = set_with_code(app.test_client(), tree.deputy_user.username, given.code)

    assert response.status_code == 422
    assert reload(tree.deputy_user).check_password(PASSWORD)


def test_five_wrong_codes_void_the_reset_link_included(app, tree, htmx):
    given = issue(app, tree.deputy_user, tree.admin)
    wrong = f"{(int(given.code) + 1) % 10 ** 6:06d}"
    guesser = app.test_client()

    answers = [set_with_code(guesser, tree.deputy_user.username, wrong, headers=htmx) for _ in range(5)]

    assert all(answer.status_code == 422 for answer in answers)
    assert "用户名或验证码不正确" in field_error(answers[3].get_data(as_text=True), "code")
    assert "错误次数过多" in field_error(answers[4].get_data(as_text=True), "code")
    assert set_with_code(guesser, tree.deputy_user.username, given.code).status_code == 422
    assert app.test_client().get(given.link).status_code == 404
    reset = db.session.scalar(sa.select(PasswordReset).where(PasswordReset.user_id == tree.deputy_user.id))
    assert reset.attempts == 5 and reset.voided_at is not None and reset.used_at is None
    assert reload(tree.deputy_user).check_password(PASSWORD)


def test_a_wrong_code_is_not_offered_back_and_the_other_fields_are_kept(app, tree):
    given = issue(app, tree.deputy_user, tree.admin)
    wrong = f"{(int(given.code) + 1) % 10 ** 6:06d}"

    page = set_with_code(app.test_client(), tree.deputy_user.username, wrong).get_data(as_text=True)

    assert f'value="{tree.deputy_user.username}"' in page and wrong not in page
    assert NEW_PASSWORD not in page


def test_an_unknown_username_gets_the_same_answer_and_uses_no_try(app, tree):
    given = issue(app, tree.deputy_user, tree.admin)

    response = set_with_code(app.test_client(), "nobody", given.code)

    assert response.status_code == 422
    assert "用户名或验证码不正确" in field_error(response.get_data(as_text=True), "code")
    assert db.session.scalar(sa.select(PasswordReset.attempts)) == 0


def test_a_new_reset_voids_the_earlier_one(app, tree):
    first = issue(app, tree.deputy_user, tree.admin)
    second = issue(app, tree.deputy_user, tree.admin)

    assert app.test_client().get(first.link).status_code == 404
    assert set_with_code(app.test_client(), tree.deputy_user.username, first.code).status_code == 422
    assert set_with_link(app.test_client(), second.link).status_code == 303


def test_only_hashes_are_stored(app, tree):
    given = issue(app, tree.deputy_user, tree.admin)

    reset = db.session.scalar(sa.select(PasswordReset))
    token = given.link.rsplit("/", 1)[1]
    assert reset.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert reset.code_hash.startswith("$argon2id$") and given.code not in reset.code_hash
    assert reset.created_by_id == tree.admin.id
    assert reset.expires_at - reset.created_at == timedelta(hours=24)


def test_using_a_reset_logs_the_user_out_everywhere(app, tree):
    phone = app.test_client()
    assert log_in(phone, tree.deputy_user.username).status_code == 303
    given = issue(app, tree.deputy_user, tree.admin)
    assert is_logged_in(phone)  # a reset alone changes nothing until it is used

    set_with_link(app.test_client(), given.link)

    assert not is_logged_in(phone)
    assert reload(tree.deputy_user).session_generation == 1


def test_the_login_page_leads_to_the_code_form(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/reset"' in page
    assert client.get("/reset").status_code == 200


def test_the_reset_pages_are_never_cached(app, tree):
    given = issue(app, tree.deputy_user, tree.admin)
    assert app.test_client().get(given.link).headers["Cache-Control"] == "no-store"
    admin = app.test_client()
    login(admin, tree.admin)
    assert admin.post(f"/admin/users/{tree.deputy_user.id}/reset").headers["Cache-Control"] == "no-store"


def test_a_deactivated_account_gets_no_reset(client, tree):
    tree.deputy_user.active = False
    db.session.commit()
    login(client, tree.admin)

    response = client.post(f"/admin/users/{tree.deputy_user.id}/reset")

    assert response.status_code == 409 and "请先启用" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(PasswordReset.id))) == 0


# --- deactivating ------------------------------------------------------------------------


def test_deactivating_ends_the_sessions_blocks_login_and_voids_the_link(app, client, tree, caplog):
    phone = app.test_client()
    log_in(phone, tree.deputy_user.username)
    given = issue(app, tree.deputy_user, tree.admin)
    login(client, tree.admin)

    with caplog.at_level(logging.INFO, logger="liaison.admin"):
        response = client.post(f"/admin/users/{tree.deputy_user.id}/deactivate")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/users/{tree.deputy_user.id}?done=deactivated"
    assert "已停用" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert not is_logged_in(phone)
    assert log_in(phone, tree.deputy_user.username).status_code == 422
    assert app.test_client().get(given.link).status_code == 404
    assert f"user {tree.deputy_user.username} deactivated by {tree.admin.username}" in caplog.text


def test_reactivating_lets_the_user_log_in_again(client, tree, htmx):
    tree.deputy_user.active = False
    db.session.commit()
    login(client, tree.admin)

    response = client.post(f"/admin/users/{tree.deputy_user.id}/reactivate", headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 200 and page.lstrip().startswith(f'<section id="user-{tree.deputy_user.id}-card"')
    assert "账号已重新启用" in page
    assert reload(tree.deputy_user).active
    assert log_in(client.application.test_client(), tree.deputy_user.username).status_code == 303


def test_deactivating_asks_first_and_nobody_deactivates_themselves(client, tree):
    login(client, tree.staff["county"])

    page = client.get(f"/admin/users/{tree.deputy_user.id}").get_data(as_text=True)
    assert re.search(r'action="/admin/users/\d+/deactivate" hx-post="[^"]+" hx-target="[^"]+" hx-swap="outerHTML"\s*'
                     r'hx-confirm="[^"]+"', page)
    assert "/deactivate" not in client.get(f"/admin/users/{tree.staff['county'].id}").get_data(as_text=True)

    response = client.post(f"/admin/users/{tree.staff['county'].id}/deactivate")

    assert response.status_code == 409 and "不能停用自己的账号" in response.get_data(as_text=True)
    assert reload(tree.staff["county"]).active


# --- the list ----------------------------------------------------------------------------


def test_the_list_shows_role_scope_masked_phone_and_last_login_in_local_time(client, tree):
    tree.deputy_user.phone = "+8613812345678"
    tree.deputy_user.last_login_at = datetime(2026, 3, 1, 2, 30)  # UTC
    db.session.commit()
    login(client, tree.admin)

    page = client.get("/admin/users").get_data(as_text=True)

    row = re.search(rf'<li id="user-{tree.deputy_user.id}-row">(.*?)</li>', page, re.S).group(1)
    assert "代表" in row and "顾振华 (沙溪镇)" in row
    assert "138****5678" in row and "13812345678" not in page and "138 1234 5678" not in page
    assert "2026-03-01 10:30" in row
    never = re.search(rf'<li id="user-{tree.colleague_user.id}-row">(.*?)</li>', page, re.S).group(1)
    assert "从未登录" in never


def test_the_account_page_shows_the_last_login_and_the_full_phone(client, tree):
    tree.deputy_user.phone = "+8613812345678"
    tree.deputy_user.last_login_at = datetime(2026, 3, 1, 2, 30)
    db.session.commit()
    login(client, tree.admin)

    page = client.get(f"/admin/users/{tree.deputy_user.id}").get_data(as_text=True)

    assert "2026-03-01 10:30" in page and "138 1234 5678" in page


@pytest.mark.parametrize("typed", ["liu", "刘春", "1390001", "139 0001"])
def test_search_by_username_name_or_phone(client, tree, typed, htmx):
    tree.colleague_user.username = "liuchm"
    tree.colleague_user.phone = "+8613900012222"
    db.session.commit()
    login(client, tree.admin)

    for headers in ({}, htmx):
        page = client.get("/admin/users", query_string={"q": typed}, headers=headers).get_data(as_text=True)
        assert f'id="user-{tree.colleague_user.id}-row"' in page
        assert f'id="user-{tree.deputy_user.id}-row"' not in page
    fragment = client.get("/admin/users", query_string={"q": typed}, headers=htmx).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="user-list"') and "<html" not in fragment


def test_the_search_box_searches_as_one_types(client, tree):
    login(client, tree.admin)

    page = client.get("/admin/users").get_data(as_text=True)

    assert 'hx-trigger="search, keyup changed delay:300ms"' in page and 'hx-target="#user-list"' in page


# --- scope -------------------------------------------------------------------------------


def test_staff_list_only_the_accounts_of_their_jurisdiction(client, tree, wanan):
    login(client, tree.staff["county"])

    page = client.get("/admin/users").get_data(as_text=True)

    listed = {int(i) for i in re.findall(r'id="user-(\d+)-row"', page)}
    inside = {tree.deputy_user.id, tree.colleague_user.id, tree.outsider_user.id, tree.staff["county"].id,
              tree.staff["township"].id, tree.officers["county"].id, tree.officers["township"].id}
    assert listed == inside  # not the city's or province's staff, not 万安县, not the admin
    assert "万安县" not in page


@pytest.mark.parametrize("who", ["deputy_user", "staff", "officer", "admin"])
@pytest.mark.parametrize("method,path", [("GET", ""), ("POST", "/reset"), ("POST", "/deactivate"),
                                         ("POST", "/reactivate")])
def test_staff_get_404_for_accounts_outside_their_jurisdiction(client, tree, wanan, who, method, path):
    target = tree.admin if who == "admin" else getattr(wanan, who)
    login(client, tree.staff["county"])

    response = client.open(f"/admin/users/{target.id}{path}", method=method)

    assert response.status_code == 404
    assert reload(target).active and db.session.scalar(sa.select(sa.func.count(PasswordReset.id))) == 0


def test_service_refuses_an_account_out_of_scope_without_http(app, tree, wanan):
    with pytest.raises(user_service.OutOfScope):
        user_service.deactivate_user(wanan.deputy_user, actor=tree.staff["county"])
    with pytest.raises(user_service.OutOfScope):
        user_service.issue_reset(wanan.deputy_user, actor=tree.staff["county"])
    assert reload(wanan.deputy_user).active


@pytest.mark.parametrize("role", ["deputy_user", "unit"])
@pytest.mark.parametrize("method,path", [
    ("GET", "/admin/users"), ("GET", "/admin/users/new"), ("POST", "/admin/users/new"),
    ("GET", "/admin/users/{id}"), ("POST", "/admin/users/{id}/reset"), ("POST", "/admin/users/{id}/deactivate"),
    ("POST", "/admin/users/{id}/reactivate"),
])
def test_deputies_and_unit_officers_get_403(client, tree, role, method, path):
    user = tree.deputy_user if role == "deputy_user" else tree.officers["township"]
    login(client, user)

    response = client.open(path.format(id=tree.colleague_user.id), method=method, data={"username": "x"})

    assert response.status_code == 403


def test_the_admin_home_lists_users(client, tree):
    login(client, tree.staff["county"])

    assert 'href="/admin/users"' in client.get("/admin/").get_data(as_text=True)


def test_account_changes_are_logged(app, client, tree, caplog):
    login(client, tree.admin)

    with caplog.at_level(logging.INFO, logger="liaison.admin"):
        create(client, username="shengq", role="staff", jurisdiction=tree.county.id)
        user = db.session.scalar(sa.select(User).where(User.username == "shengq"))
        client.post(f"/admin/users/{user.id}/reset")

    assert f"user shengq (staff) created by {tree.admin.username}" in caplog.text
    assert f"password reset for shengq issued by {tree.admin.username}" in caplog.text
