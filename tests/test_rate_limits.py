"""Rate limits of the public pages: filings per address and per QR code, guessing tracking
links, the friendly 429 answer, and a Redis that fails."""

import logging
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
import time_machine

from liaison_app.extensions import db
from liaison_app.models import Request
from tests.factories import make_deputy, make_qr_code, make_request, make_user
from tests.limits_support import limits_config, redis_url  # noqa: F401 (fixtures)
from tests.test_filing import form_data

START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
FACTORY = "203.0.113.40"  # one NATed address for a whole factory floor


@pytest.fixture
def app_config(limits_config):
    return limits_config | {"FILING_LIMIT_PER_IP": "3 per minute", "FILING_LIMIT_PER_CODE": "2 per minute"}


def file(app, code, address=FACTORY, **kwargs):
    return app.test_client().post(f"/q/{code.token}/file", data=form_data(), environ_base={"REMOTE_ADDR": address},
                                  **kwargs)


def filed() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Request))


# --- filing ------------------------------------------------------------------------------


def test_filings_per_code_are_limited_and_the_form_comes_back_as_typed(app):
    code, other = make_qr_code(deputy=make_deputy()), make_qr_code(deputy=make_deputy())
    with time_machine.travel(START, tick=False) as clock:
        assert [file(app, code, address=f"192.0.2.{n}").status_code for n in range(2)] == [303, 303]

        refused = file(app, code, address="192.0.2.9")
        assert file(app, other, address="192.0.2.9").status_code == 303  # another deputy's poster
        clock.shift(61)
        later = file(app, code, address="192.0.2.9")

    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 61
    assert "刚才从此网络或用此二维码提交的诉求过多。您填写的内容都已保留，请 1 分钟后再提交。" in page
    assert "太仓市恒丰精密机械有限公司" in page and "今年订单增加，车间缺少熟练焊工二十名" in page and "王海燕" in page
    assert '<form' in page and "<html" in page
    assert later.status_code == 303
    assert filed() == 4


def test_filings_per_address_are_limited_but_other_addresses_file_on(app):
    codes = [make_qr_code(deputy=make_deputy()) for _ in range(5)]
    with time_machine.travel(START, tick=False):
        assert [file(app, codes[n]).status_code for n in range(3)] == [303, 303, 303]

        refused = file(app, codes[3])
        elsewhere = file(app, codes[4], address="203.0.113.41")

    assert refused.status_code == 429 and elsewhere.status_code == 303
    assert filed() == 4


def test_htmx_gets_the_filing_form_alone_back(app, htmx):
    code = make_qr_code(deputy=make_deputy())
    for n in range(2):
        file(app, code, address=f"192.0.2.{n}")

    response = file(app, code, headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 429 and "<html" not in page
    assert "您填写的内容都已保留" in page and "今年订单增加，车间缺少熟练焊工二十名" in page


def test_opening_the_filing_form_is_not_counted(app):
    code = make_qr_code(deputy=make_deputy())
    client = app.test_client()
    for _ in range(5):
        assert client.get(f"/q/{code.token}/file", environ_base={"REMOTE_ADDR": FACTORY}).status_code == 200

    assert file(app, code).status_code == 303


class TestDefaults:
    @pytest.fixture
    def app_config(self, limits_config):
        return limits_config

    def test_a_factory_sharing_one_address_files_thirty_requests_in_a_minute(self, app):
        codes = [make_qr_code(deputy=make_deputy()) for _ in range(2)]
        with time_machine.travel(START, tick=False):
            statuses = [file(app, codes[n % 2]).status_code for n in range(30)]
            one_more = file(app, codes[0], address="203.0.113.41")

        assert statuses == [303] * 30 and one_more.status_code == 303


# --- tracking links ----------------------------------------------------------------------


@pytest.fixture
def tracked(app):
    return make_request(deputy=make_deputy())


def track(app, token, address=FACTORY):
    return app.test_client().get(f"/t/{token}", environ_base={"REMOTE_ADDR": address})


def test_thirty_missed_tracking_links_in_ten_minutes_then_a_pause(app, tracked):
    with time_machine.travel(START, tick=False) as clock:
        misses = [track(app, f"guess{n:04d}").status_code for n in range(30)]
        refused = track(app, "guess9999")
        own_link = track(app, tracked.tracking_token)  # the guesser's own address: refused too
        elsewhere = track(app, tracked.tracking_token, address="203.0.113.41")
        photo_guess = app.test_client().get("/t/guess/photos/1", environ_base={"REMOTE_ADDR": FACTORY})
        clock.shift(10 * 60 + 1)
        later = track(app, "guess9999")

    assert misses == [404] * 30
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 500
    assert "此网络打开了过多不存在的查询链接。请检查您的链接，10 分钟后再试。" in page
    assert own_link.status_code == 429 and photo_guess.status_code == 429
    assert elsewhere.status_code == 200
    assert later.status_code == 404


def test_opening_real_tracking_links_is_not_counted(app, tracked):
    for _ in range(35):
        assert track(app, tracked.tracking_token).status_code == 200

    assert track(app, "guess").status_code == 404


# --- switched off, and Redis down ---------------------------------------------------------


class TestOff:
    @pytest.fixture
    def app_config(self):
        return {"RATELIMIT_ENABLED": False, "FILING_LIMIT_PER_CODE": "1 per minute"}

    def test_nothing_is_limited_with_ratelimit_enabled_false(self, app):
        code = make_qr_code(deputy=make_deputy())

        assert [file(app, code).status_code for _ in range(3)] == [303] * 3
        assert [track(app, "guess").status_code for _ in range(40)] == [404] * 40


class TestRedisDown:
    @pytest.fixture
    def app_config(self):
        # Port 1 on this machine: nothing listens, the connection is refused at once.
        return {"RATELIMIT_ENABLED": True, "REDIS_URL": "redis://127.0.0.1:1/0", "FILING_LIMIT_PER_CODE": "2 per minute"}

    def test_the_site_keeps_serving_logs_it_and_counts_in_memory(self, app, caplog):
        code = make_qr_code(deputy=make_deputy())
        user = make_user(username="wanghy")

        with caplog.at_level(logging.WARNING):
            login = app.test_client().post("/login", data={"login": "wanghy", "password": "correct horse battery"})
            filings = [file(app, code, address=f"192.0.2.{n}").status_code for n in range(3)]

        assert login.status_code == 303
        assert "Rate limit storage unreachable - falling back to in-memory storage" in caplog.text
        assert filings == [303, 303, 429]  # the limits still hold, counted in this process


def test_redis_url_and_the_switch_come_from_the_environment(monkeypatch, test_database, tmp_path):
    from liaison_app import create_app

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")

    app = create_app({"TESTING": True, "DATABASE_URL": test_database.url, "UPLOAD_FOLDER": str(tmp_path)})

    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"
    assert app.config["RATELIMIT_ENABLED"] is False
    with app.app_context():
        db.engine.dispose()
