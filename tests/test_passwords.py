"""The password rule, the same for every way of setting a password: argon2id, 8 to 128
characters, not one of the most common passwords, not the account's username or phone."""

import re

import pytest
import sqlalchemy as sa
from argon2 import Type

from liaison_app.extensions import db
from liaison_app.models import PasswordReset, Role, User
from liaison_app.models.people import password_hasher
from liaison_app.services import users as user_service
from liaison_app.services.users import password_problem
from tests.factories import make_user

PASSWORD = "correct horse battery"


def log_in(client, login, password=PASSWORD):
    return client.post("/login", data={"login": login, "password": password})


def change(client, new, current=PASSWORD):
    return client.post("/account/password",
                       data={"current_password": current, "new_password": new, "new_password_again": new})


def field_error(page: str, field: str) -> str:
    match = re.search(rf'id="error-{field}"[^>]*>([^<]*)<', page)
    return match.group(1).strip() if match else ""


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


# --- argon2id ----------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2id_at_rfc_9106_strength():
    assert password_hasher.type is Type.ID
    # RFC 9106's second recommendation (and above OWASP's minimum of 19 MiB, 2 passes).
    assert password_hasher.memory_cost >= 64 * 1024 and password_hasher.time_cost >= 3
    assert password_hasher.salt_len >= 16


def test_a_password_set_through_the_page_is_stored_as_an_argon2id_hash(client):
    user = make_user(Role.DEPUTY, username="wanghy")
    log_in(client, user.username)

    assert change(client, "a new long secret").status_code == 303

    stored = reload(user).password_hash
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "a new long secret" not in stored


# --- the rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["k8#mQ2!v", "代表联络站很好用", "z9#Q" * 32])
def test_eight_to_128_characters_of_anything_uncommon_are_accepted(password):
    assert password_problem(password) is None


@pytest.mark.parametrize("password", ["password1", "PASSWORD1", "Qwertyuiop", "1qaz2wsx", "iloveyou",
                                      "88888888", "12121212", "123123123"])
def test_the_most_common_passwords_are_refused_in_any_case(app, password):
    assert "常见" in str(password_problem(password))


@pytest.mark.parametrize("password,names", [
    ("WangHY2024", ("wanghy2024", None)),
    ("13812345678", ("wanghy", "+8613812345678")),
    ("138 1234 5678", ("wanghy", "+8613812345678")),
    ("+86 138-1234-5678", ("wanghy", "+8613812345678")),
])
def test_the_username_or_phone_number_itself_is_refused(app, password, names):
    assert str(password_problem(password, names=names)) == "密码不能是您的用户名或手机号。"


def test_a_password_merely_containing_the_username_is_allowed():
    assert password_problem("wanghy likes tea", names=("wanghy", None)) is None


# --- every way of setting one ------------------------------------------------------------


@pytest.mark.parametrize("new,message", [
    ("seven77", "密码至少 8 个字符。"),
    ("x1" * 64 + "y", "密码最多 128 个字符。"),
    ("password1", "这是最常见的密码之一，很容易被猜到，请换一个。"),
    ("LiuXin88", "密码不能是您的用户名或手机号。"),
    ("139-0000-1111", "密码不能是您的用户名或手机号。"),
], ids=["7 characters", "129 characters", "common", "username", "phone"])
def test_changing_ones_password_follows_the_rule(client, new, message):
    user = make_user(Role.STAFF, username="liuxin88", phone="+8613900001111")
    log_in(client, user.username)

    response = change(client, new)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(page, "new_password") == message
    assert reload(user).check_password(PASSWORD)


@pytest.mark.parametrize("length", [8, 128])
def test_both_ends_of_the_length_rule_are_accepted_when_changing(client, length):
    user = make_user(Role.STAFF)
    log_in(client, user.username)
    new = ("k8#mQ2!v" * 16)[:length]

    assert change(client, new).status_code == 303
    assert reload(user).check_password(new)


def issue(user):
    admin = make_user(Role.ADMIN)
    return user_service.issue_reset(user, actor=admin)


def test_a_reset_link_refuses_a_common_password_and_stays_usable(client):
    user = make_user(Role.DEPUTY, username="zhaol")
    given = issue(user)

    response = client.post(f"/reset/{given.token}",
                           data={"new_password": "iloveyou", "new_password_again": "iloveyou"})

    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "new_password") == "这是最常见的密码之一，很容易被猜到，请换一个。"
    response = client.post(f"/reset/{given.token}", data={"new_password": "Zhaol", "new_password_again": "Zhaol"})
    assert "密码至少 8 个字符" in response.get_data(as_text=True)
    response = client.post(f"/reset/{given.token}",
                           data={"new_password": "zhaol-uses-this", "new_password_again": "zhaol-uses-this"})
    assert response.status_code == 303
    assert reload(user).check_password("zhaol-uses-this")


def test_a_reset_code_refuses_the_username_and_keeps_what_was_typed(client):
    user = make_user(Role.DEPUTY, username="sunmei01", phone="+8613700002222")
    given = issue(user)

    # Typed with the phone number: the username is only checked once the code is right,
    # and that right code is not counted as a wasted try.
    response = client.post("/reset", data={"login": "137 0000 2222", "code": given.code,
                                           "new_password": "SunMei01", "new_password_again": "SunMei01"})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(page, "new_password") == "密码不能是您的用户名或手机号。"
    assert 'value="137 0000 2222"' in page and f'value="{given.code}"' in page
    assert "SunMei01" not in page
    reset = db.session.get(PasswordReset, given.reset.id)
    assert reset.attempts == 0 and reset.used_at is None
    assert reload(user).check_password(PASSWORD)

    response = client.post("/reset", data={"login": "137 0000 2222", "code": given.code,
                                           "new_password": "sunmei's own", "new_password_again": "sunmei's own"})
    assert response.status_code == 303
    assert reload(user).check_password("sunmei's own")


def test_a_reset_code_refuses_the_login_typed_before_counting_the_code(client):
    user = make_user(Role.DEPUTY, username="zhoujie")
    given = issue(user)

    response = client.post("/reset", data={"login": "13655556666", "code": "000000",
                                           "new_password": "136 5555 6666", "new_password_again": "136 5555 6666"})

    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "new_password") == "密码不能是您的用户名或手机号。"
    assert db.session.get(PasswordReset, given.reset.id).attempts == 0


@pytest.mark.parametrize("password,message", [
    ("password1", "one of the most common"),
    ("zhangsan", "must not be your username"),
    ("1234567", "at least 8 characters"),
])
def test_create_user_on_the_command_line_follows_the_rule(runner, password, message):
    result = runner.invoke(args=["create-user", "--username", "zhangsan", "--role", "admin", "--password-stdin"],
                           input=password + "\n")

    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalar(sa.select(User).where(User.username == "zhangsan")) is None


# --- no default account ------------------------------------------------------------------


def test_a_freshly_migrated_database_has_no_user_at_all(test_database, tmp_path):
    """A production install starts empty: only `flask seed-demo` makes (demo) accounts."""
    from flask_migrate import upgrade

    from tests.conftest import make_app

    app = make_app(test_database.new_url(), tmp_path)
    with app.app_context():
        upgrade()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
        db.session.remove()
        db.engine.dispose()
