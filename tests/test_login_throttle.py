"""Login throttling: at most 100 failed logins per account in any hour, per-address limits,
and the known-device cookie that keeps a deputy able to log in while someone guesses."""

import logging
import re
from datetime import datetime, timezone

import pytest
import time_machine
from argon2 import PasswordHasher

from liaison_app.extensions import db
from liaison_app.models import Role
from liaison_app.services import users as user_service
from tests.factories import make_user
from tests.limits_support import limits_config, redis_url  # noqa: F401 (fixtures)

PASSWORD = "correct horse battery"
START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
# The same argon2id, made cheap so that a hundred wrong passwords take no time; the app's own
# parameters are checked in test_passwords.py.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
CHEAP_HASH = CHEAP_HASHER.hash(PASSWORD)
ACCOUNT_LOCKED = "此账号在过去一小时内密码输错次数过多"


@pytest.fixture
def app_config(limits_config):
    return limits_config


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr("liaison_app.models.people.password_hasher", CHEAP_HASHER)


@pytest.fixture
def deputy(app):
    user = make_user(Role.DEPUTY, username="luJianguo", phone="+8613812345678")
    user.password_hash = CHEAP_HASH
    db.session.commit()
    return user


def log_in(client, login, password=PASSWORD, address="203.0.113.7", **kwargs):
    return client.post("/login", data={"login": login, "password": password},
                       environ_base={"REMOTE_ADDR": address}, **kwargs)


def problem(page: str) -> str:
    return re.search(r'<p class="notice notice-error" role="alert">([^<]*)</p>', page).group(1)


def attack(app, count=100):
    """`count` wrong passwords for the deputy, each from another address (a botnet), in the
    spellings a login accepts."""
    spellings = ["luJianguo", "LUJIANGUO", "13812345678", "138 1234 5678"]
    for n in range(count):
        response = log_in(app.test_client(), spellings[n % 4], "wrong guess!", address=f"198.51.100.{n}")
        assert response.status_code == 422, n


def test_the_101st_login_in_an_hour_is_refused_even_with_the_right_password(app, deputy, caplog):
    with time_machine.travel(START, tick=False):
        attack(app)

        with caplog.at_level(logging.INFO, logger="liaison.auth"):
            response = log_in(app.test_client(), "lujianguo", address="192.0.2.1")

    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert 3500 < int(response.headers["Retry-After"]) <= 3601
    assert problem(page).startswith(ACCOUNT_LOCKED) and "60 分钟" in problem(page)
    assert 'value="lujianguo"' in page and PASSWORD not in page
    assert "login refused for 'lujianguo': too many failed logins for this account" in caplog.text
    assert db.session.get(type(deputy), deputy.id).last_login_at is None


def test_the_lock_lasts_one_rolling_hour(app, deputy):
    with time_machine.travel(START, tick=False) as clock:
        attack(app, 60)
        clock.shift(30 * 60)
        attack(app, 40)  # 100 within the hour: the oldest 60 are half an hour old
        clock.shift(29 * 60)
        assert log_in(app.test_client(), "luJianguo", address="192.0.2.1").status_code == 429

        clock.shift(61)  # the first 60 failures are now more than an hour old
        response = log_in(app.test_client(), "luJianguo", address="192.0.2.1")

    assert response.status_code == 303


def test_a_phone_that_logged_in_before_still_logs_in_during_an_attack(app, deputy):
    phone = app.test_client()
    with time_machine.travel(START, tick=False) as clock:
        assert log_in(phone, "luJianguo", address="192.0.2.50").status_code == 303
        phone.post("/logout")  # logging out everywhere keeps the phone known
        clock.shift(3600 * 24 * 7)
        attack(app)
        assert log_in(app.test_client(), "luJianguo", address="192.0.2.50").status_code == 429

        typo = log_in(phone, "luJianguo", "correct horse batery", address="192.0.2.50")
        response = log_in(phone, "luJianguo", address="192.0.2.50")

    assert typo.status_code == 422 and problem(typo.get_data(as_text=True)) == "用户名或密码错误。"
    assert response.status_code == 303 and phone.get("/desk/").status_code == 200


def test_the_known_device_cookie_is_httponly_signed_and_tied_to_the_password(app, deputy):
    phone = app.test_client()
    with time_machine.travel(START, tick=False):
        response = log_in(phone, "luJianguo")
        cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("known_device="))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/login" in cookie
        assert "Max-Age=31536000" in cookie
        value = phone.get_cookie("known_device", path="/login").value

        forged = app.test_client()
        forged.set_cookie("known_device", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"), path="/login")
        other_account = app.test_client()
        stranger = make_user(Role.STAFF)
        stranger.password_hash = CHEAP_HASH
        db.session.commit()
        assert log_in(other_account, stranger.username).status_code == 303

        attack(app)

        assert log_in(forged, "luJianguo").status_code == 429  # a tampered cookie counts for nothing
        assert log_in(other_account, "luJianguo").status_code == 429  # known to another account only
        # The password is reset (e.g. after a lost phone): the old cookie no longer helps.
        given = user_service.issue_reset(deputy, actor=make_user(Role.ADMIN))
        user_service.set_password_with_link(given.token, "a brand new secret")
        attack(app)  # the reset ended the lock (below); a new attack locks the account again
        assert log_in(phone, "luJianguo", "a brand new secret").status_code == 429


def test_a_password_change_renews_this_phones_cookie(app, deputy):
    phone = app.test_client()
    with time_machine.travel(START, tick=False):
        log_in(phone, "luJianguo")
        response = phone.post("/account/password", data={"current_password": PASSWORD,
                                                         "new_password": "a brand new secret",
                                                         "new_password_again": "a brand new secret"})
        assert response.status_code == 303
        phone.post("/logout")
        attack(app)

        assert log_in(phone, "luJianguo", "a brand new secret").status_code == 303


def test_a_reset_from_the_admin_ends_the_lock_on_a_new_phone(app, deputy):
    admin = make_user(Role.ADMIN, username="admin-wang")
    with time_machine.travel(START, tick=False):
        attack(app)
        assert log_in(app.test_client(), "luJianguo", address="192.0.2.1").status_code == 429
        issued = user_service.issue_reset(deputy, actor=admin)

        response = app.test_client().post("/reset", data={
            "login": "luJianguo", "code": issued.code, "new_password": "a brand new secret",
            "new_password_again": "a brand new secret"}, environ_base={"REMOTE_ADDR": "192.0.2.2"})
        assert response.status_code == 303

        # A phone that never logged in, minutes after the attack: the new password works.
        assert log_in(app.test_client(), "luJianguo", "a brand new secret", address="192.0.2.3").status_code == 303


def test_an_attack_after_the_reset_locks_the_account_again(app, deputy):
    admin = make_user(Role.ADMIN, username="admin-wang")
    with time_machine.travel(START, tick=False):
        attack(app)
        issued = user_service.issue_reset(deputy, actor=admin)
        app.test_client().post("/reset", data={
            "login": "luJianguo", "code": issued.code, "new_password": "a brand new secret",
            "new_password_again": "a brand new secret"}, environ_base={"REMOTE_ADDR": "192.0.2.2"})
        attack(app)

        assert log_in(app.test_client(), "luJianguo", "a brand new secret", address="192.0.2.3").status_code == 429


def test_twenty_login_attempts_a_minute_from_one_address_then_a_pause(app, deputy):
    make_user(Role.STAFF, username="colleague")
    with time_machine.travel(START, tick=False) as clock:
        for n in range(20):  # any account, right or wrong: each costs an argon2 check
            assert log_in(app.test_client(), "luJianguo", "wrong guess!" if n % 2 else PASSWORD).status_code in (303, 422)

        refused = log_in(app.test_client(), "luJianguo")
        elsewhere = log_in(app.test_client(), "luJianguo", address="203.0.113.99")
        clock.shift(61)
        later = log_in(app.test_client(), "luJianguo")

    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) <= 61
    assert problem(page) == "此网络的登录尝试过于频繁，请 1 分钟后再试。"
    assert 'value="luJianguo"' in page
    assert elsewhere.status_code == 303 and later.status_code == 303


def test_the_login_page_itself_is_never_limited(app, deputy):
    client = app.test_client()
    for _ in range(25):
        log_in(client, "luJianguo", "wrong guess!")

    assert client.get("/login").status_code == 200


def test_htmx_gets_the_login_form_back_with_the_refusal(app, deputy, htmx):
    with time_machine.travel(START, tick=False):
        attack(app)
        response = log_in(app.test_client(), "luJianguo", headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert page.lstrip().startswith('<form id="login-form"') and ACCOUNT_LOCKED in page


class TestResetCodeForm:
    @pytest.fixture
    def app_config(self, limits_config):
        return limits_config | {"LOGIN_LIMIT_PER_IP": "2 per minute"}

    def test_the_code_form_is_limited_per_address_and_keeps_the_login(self, app, deputy, caplog):
        def send(address="203.0.113.7"):
            return app.test_client().post("/reset", data={"login": "luJianguo", "code": "123456",
                                                          "new_password": "a brand new secret",
                                                          "new_password_again": "a brand new secret"},
                                          environ_base={"REMOTE_ADDR": address})

        with time_machine.travel(START, tick=False):
            tries = [send().status_code for _ in range(2)]
            with caplog.at_level(logging.WARNING, logger="liaison.auth"):
                refused = send()
            elsewhere = send(address="203.0.113.8")

        page = refused.get_data(as_text=True)
        assert tries == [422, 422] and elsewhere.status_code == 422
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        assert "此网络的尝试过于频繁，请 1 分钟后再试。" in page and 'value="luJianguo"' in page
        assert "reset code refused for 'luJianguo'" in caplog.text
