"""Logging in and out, remember me, ending sessions, changing one's password."""

import logging
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
from argon2 import PasswordHasher

from liaison_app.extensions import db
from liaison_app.models import Role, User
from liaison_app.services.users import authenticate, deactivate_user
from tests.factories import make_user

PASSWORD = "correct horse battery"
HOMES = {Role.ADMIN: "/desk/", Role.STAFF: "/desk/", Role.DEPUTY: "/desk/", Role.UNIT: "/desk/unit"}


def log_in(client, login, password=PASSWORD, **extra):
    return client.post("/login", data={"login": login, "password": password, **extra})


def problem(page: str) -> str:
    return re.search(r'<p class="notice notice-error" role="alert">([^<]*)</p>', page).group(1)


def next_field(page: str) -> str:
    return re.search(r'<input id="next" name="next" type="hidden" value="([^"]*)">', page).group(1)


def set_cookies(response) -> dict:
    """Set-Cookie headers by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def is_logged_in(client) -> bool:
    return client.get("/desk/").status_code == 200


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


# --- Logging in --------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_each_role_lands_on_its_own_home(client, role):
    user = make_user(role)

    response = log_in(client, user.username)

    assert response.status_code == 303
    assert response.headers["Location"] == HOMES[role]
    assert client.get(HOMES[role]).status_code == 200
    assert reload(user).last_login_at is not None


def test_the_username_is_not_case_sensitive(client):
    make_user(Role.DEPUTY, username="luJianguo")

    assert log_in(client, "LUJIANGUO").status_code == 303


@pytest.mark.parametrize("typed", ["138 1234 5678", "13812345678", "+86 138-1234-5678"])
def test_a_phone_number_in_any_usual_spelling_logs_in(client, typed):
    make_user(Role.DEPUTY, phone="+8613812345678")

    response = log_in(client, typed)

    assert response.status_code == 303 and response.headers["Location"] == "/desk/"


def test_htmx_login_redirects_the_whole_page(client, htmx):
    user = make_user(Role.UNIT)

    response = client.post("/login", data={"login": user.username, "password": PASSWORD}, headers=htmx)

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/desk/unit"


def test_htmx_gets_the_form_alone_back_when_the_login_fails(client, htmx):
    response = client.post("/login", data={"login": "nobody", "password": "wrong password!"}, headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.lstrip().startswith('<form id="login-form"') and "<html" not in page
    assert "用户名或密码错误" in page


@pytest.mark.parametrize("case", ["wrong password", "unknown user", "inactive user"])
def test_a_failed_login_says_the_same_whatever_the_reason(client, case, caplog):
    user = make_user(Role.DEPUTY, username="wanghy", active=(case != "inactive user"))
    login = "nobody" if case == "unknown user" else user.username
    password = "wrong password!" if case == "wrong password" else PASSWORD

    with caplog.at_level(logging.INFO, logger="liaison.auth"):
        response = log_in(client, login, password)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert problem(page) == "用户名或密码错误。"  # nothing tells which of the three it was
    assert f'value="{login}"' in page  # the typed username is kept
    assert password not in page  # the password never is
    assert not is_logged_in(client)
    assert login in caplog.text and password not in caplog.text


@pytest.mark.parametrize("login", ["wanghy", "nobody", "139 0000 0000"])
def test_an_unknown_login_costs_the_same_argon2_work_as_a_known_one(app, monkeypatch, login):
    make_user(Role.DEPUTY, username="wanghy")
    calls = []
    verify = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, *args: calls.append(1) or verify(self, *args))

    assert authenticate(login, "wrong password!") is None
    assert len(calls) == 1


def test_empty_fields_are_marked_next_to_the_field(client):
    response = client.post("/login", data={"login": "", "password": ""})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请输入用户名或手机号" in page and "请输入密码" in page


def test_a_fresh_session_starts_at_login(client):
    user = make_user(Role.STAFF)
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "from before the login"
    before = client.get_cookie("session").value

    log_in(client, user.username)

    assert client.get_cookie("session").value != before
    with client.session_transaction() as session:
        assert "planted" not in session


def test_a_logged_in_user_opening_the_login_page_goes_home(client):
    user = make_user(Role.UNIT)
    log_in(client, user.username)

    response = client.get("/login")

    assert response.status_code == 302 and response.headers["Location"] == "/desk/unit"


def test_the_top_bar_offers_login_or_home_and_logout(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/login"' in page and 'action="/logout"' not in page

    log_in(client, make_user(Role.UNIT).username)

    page = client.get("/").get_data(as_text=True)
    assert 'href="/desk/unit"' in page
    assert re.search(r'<form method="post" action="/logout">\s*<input type="hidden" name="csrf_token"', page)


# --- The next parameter ------------------------------------------------------------------


def test_a_desk_page_without_login_asks_to_log_in_and_comes_back(client):
    response = client.get("/desk/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fdesk%2F"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert next_field(page) == "/desk/"

    user = make_user(Role.UNIT)
    response = log_in(client, user.username, next="/desk/")
    assert response.headers["Location"] == "/desk/"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)", "desk"],
)
def test_a_next_to_another_site_is_ignored(client, target):
    user = make_user(Role.DEPUTY)

    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert next_field(page) == ""

    response = log_in(client, user.username, next=target)

    assert response.headers["Location"] == "/desk/"


# --- Remember me -------------------------------------------------------------------------


def test_remember_me_sets_an_httponly_lax_cookie_for_30_days(client):
    user = make_user(Role.DEPUTY)

    response = log_in(client, user.username, remember="y")

    cookie = set_cookies(response)["remember_token"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" in cookie  # the tests' PUBLIC_BASE_URL is https (tests/test_security_headers.py: http)
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    assert abs(expires - datetime.now(timezone.utc) - timedelta(days=30)) < timedelta(minutes=1)


def test_without_remember_me_there_is_no_remember_cookie(client):
    response = log_in(client, make_user(Role.DEPUTY).username)

    assert "remember_token" not in set_cookies(response)


def test_the_remember_cookie_alone_keeps_the_phone_logged_in(client):
    log_in(client, make_user(Role.DEPUTY).username, remember="y")
    client.delete_cookie("session")  # the browser was closed

    assert is_logged_in(client)


class TestSecureCookies:
    @pytest.fixture
    def app_config(self):
        return {"SESSION_COOKIE_SECURE": True}

    def test_remember_cookie_is_secure_too(self, client):
        response = log_in(client, make_user(Role.DEPUTY).username, remember="y")

        assert "Secure" in set_cookies(response)["remember_token"]
        assert "Secure" in set_cookies(response)["session"]


# --- Logging out and ending sessions -----------------------------------------------------


def test_logout_ends_every_session_of_the_user(app):
    user = make_user(Role.DEPUTY)
    phone, computer, remembered = app.test_client(), app.test_client(), app.test_client()
    for client in (phone, computer, remembered):
        log_in(client, user.username, remember="y")
    remembered.delete_cookie("session")  # only the remember cookie left
    assert all(is_logged_in(c) for c in (phone, computer, remembered))
    remembered.delete_cookie("session")

    response = phone.post("/logout")

    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert set_cookies(response)["remember_token"].startswith("remember_token=;")  # deleted here
    for client in (phone, computer, remembered):
        response = client.get("/desk/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_logout_does_not_touch_other_users(app):
    mine, theirs = make_user(Role.DEPUTY), make_user(Role.DEPUTY)
    phone, other = app.test_client(), app.test_client()
    log_in(phone, mine.username)
    log_in(other, theirs.username)

    phone.post("/logout")

    assert is_logged_in(other)


def test_logout_is_post_only(client):
    log_in(client, make_user(Role.STAFF).username)

    assert client.get("/logout").status_code == 405
    assert is_logged_in(client)


def test_deactivating_a_user_ends_their_sessions_and_logins(app, client):
    admin, user = make_user(Role.ADMIN), make_user(Role.DEPUTY)
    log_in(client, user.username, remember="y")

    deactivate_user(user, actor=admin)

    assert not is_logged_in(client)
    client.delete_cookie("session")
    assert not is_logged_in(client)
    assert log_in(client, user.username).status_code == 422


class TestCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    @staticmethod
    def token(page):
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def log_in(self, client, user):
        token = self.token(client.get("/login").get_data(as_text=True))
        response = log_in(client, user.username, csrf_token=token)
        assert response.status_code == 303

    def test_logout_needs_the_token(self, client):
        self.log_in(client, make_user(Role.DEPUTY))

        assert client.post("/logout").status_code == 400
        assert is_logged_in(client)

        token = self.token(client.get("/desk/").get_data(as_text=True))
        assert client.post("/logout", data={"csrf_token": token}).status_code == 303
        assert not is_logged_in(client)

    def test_login_needs_the_token(self, client):
        user = make_user(Role.DEPUTY)

        assert log_in(client, user.username).status_code == 400
        assert not is_logged_in(client)


# --- Changing one's password -------------------------------------------------------------


def change(client, current=PASSWORD, new="a new long secret", again=None, **kwargs):
    data = {"current_password": current, "new_password": new, "new_password_again": again or new}
    return client.post("/account/password", data=data, **kwargs)


def test_the_password_page_needs_a_login(client):
    response = client.get("/account/password")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Faccount%2Fpassword"


@pytest.mark.parametrize(
    "fields,message",
    [
        (dict(current="not my password"), "当前密码不正确"),
        (dict(new="short"), "至少 8 个字符"),
        (dict(new="x" * 129), "最多 128 个字符"),
        (dict(new=PASSWORD), "新密码不能与当前密码相同"),
        (dict(new="a new long secret", again="another secret"), "两次输入的新密码不一致"),
    ],
    ids=["wrong current password", "too short", "too long", "unchanged", "typed differently"],
)
def test_a_rejected_password_change_says_why_and_changes_nothing(client, fields, message):
    user = make_user(Role.STAFF)
    log_in(client, user.username)

    response = change(client, **fields)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert "a new long secret" not in page
    user = reload(user)
    assert user.check_password(PASSWORD) and user.session_generation == 0
    assert is_logged_in(client)


def test_a_changed_password_keeps_this_phone_and_logs_out_the_others(app):
    user = make_user(Role.DEPUTY)
    phone, computer = app.test_client(), app.test_client()
    log_in(phone, user.username, remember="y")
    log_in(computer, user.username)

    response = change(phone)

    assert response.status_code == 303 and response.headers["Location"] == "/desk/"
    assert is_logged_in(phone)
    phone.delete_cookie("session")
    assert is_logged_in(phone)  # the remember cookie was renewed with the new session id
    assert not is_logged_in(computer)
    assert reload(user).check_password("a new long secret")
    assert log_in(computer, user.username, "a new long secret").status_code == 303


def test_a_password_change_over_htmx_redirects_the_page(client, htmx):
    user = make_user(Role.UNIT)
    log_in(client, user.username)

    response = change(client, headers=htmx)

    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/desk/unit"
