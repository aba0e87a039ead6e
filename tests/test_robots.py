"""Group robots of places: what WeCom and DingTalk receive from us, the per-robot throttle, the
providers' answers, the secrets at rest, and the admin pages (scope, test button, forms).

A local HTTP server plays both providers; the tests check the exact JSON and URL our code sent.
"""

import base64
import hashlib
import hmac
import logging
import re
import time

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import NotificationKind, Robot, RobotProvider, Role
from liaison_app.services import notify, robots, secrets
from liaison_app.services.notify import DeliveryError
from liaison_app.services.robots import RobotThrottle, RobotTryLater, post
from tests.factories import Tree, make_jurisdiction, make_request, make_robot, make_station, make_user
from tests.limits_support import RUN_PREFIX, redis_url  # noqa: F401
from tests.stand_in import StandIn
from tests.test_desk import login

WECOM_KEY = "693a91f6-7aoc-4bc4-97a0-0ec2a1b2"
DINGTALK_TOKEN = "b955e1f0aa22d0c9af0ffb73500ce4a7e3c1d2b3"
SECRET = "SEC" + "0f94e0d33f5a8c1b" * 4
FOREIGN_HOSTS = ("qyapi.weixin.qq.com", "oapi.dingtalk.com", "127.0.0.1")


@pytest.fixture
def app_config():
    return {"ROBOT_ALLOWED_HOSTS": FOREIGN_HOSTS}


def dingtalk_sign(secret, timestamp):
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def checks_dingtalk_signature(secret):
    """A verdict for the stand-in: a DingTalk robot with this secret answers 310000 to a wrong
    signature, as DingTalk does."""
    def verdict(received):
        if received.path == "/robot/send" and received.query.get("sign") != dingtalk_sign(
                secret, received.query.get("timestamp", "")):
            return 200, {"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc]"}
        return 200, {"errcode": 0, "errmsg": "ok"}
    return verdict


def wecom_url(fake, key=WECOM_KEY):
    return fake.url(f"/cgi-bin/webhook/send?key={key}")


def dingtalk_url(fake, token=DINGTALK_TOKEN):
    return fake.url(f"/robot/send?access_token={token}")


@pytest.fixture
def fake():
    """Plays the WeCom and DingTalk robot endpoints: {"errcode": 0} unless told otherwise."""
    with StandIn({"errcode": 0, "errmsg": "ok"}) as server:
        yield server


@pytest.fixture
def tree(app):
    return Tree()


def payload_for(req, kind=NotificationKind.NEW_REQUEST):
    return notify.build_payload(kind, req, recipient="顾振华")


def wecom_robot(fake, station, **overrides):
    return make_robot(webhook_url=wecom_url(fake), station=station, **overrides)


def dingtalk_robot(fake, station, secret=None, **overrides):
    return make_robot(webhook_url=dingtalk_url(fake), secret=secret, provider=RobotProvider.DINGTALK,
                      station=station, **overrides)


# --- what the providers receive ---------------------------------------------------------------


def test_a_wecom_robot_gets_the_message_and_mentions_the_mobiles_given(app, fake, tree):
    robot = wecom_robot(fake, tree.station)
    payload = payload_for(make_request(deputy=tree.deputy))

    post(robot, [payload], ["+8613812345678", "+8613912345678", "+8613812345678", "+862152345678"])

    (sent,) = fake.received
    assert sent.path == "/cgi-bin/webhook/send" and sent.query == {"key": WECOM_KEY}
    assert sent.json == {"msgtype": "text", "text": {
        "content": notify.message_text(payload), "mentioned_mobile_list": ["13812345678", "13912345678"]}}
    assert robot.last_error is None


def test_a_signed_dingtalk_robot_gets_a_signature_and_the_mentions_in_the_text(app, fake, tree):
    fake.verdict = checks_dingtalk_signature(SECRET)
    robot = dingtalk_robot(fake, tree.station, secret=SECRET)
    payload = payload_for(make_request(deputy=tree.deputy))
    before_ms = time.time() * 1000

    post(robot, [payload], ["+8613812345678"])

    (sent,) = fake.received
    assert sent.path == "/robot/send" and sent.query["access_token"] == DINGTALK_TOKEN
    timestamp = sent.query["timestamp"]
    assert before_ms - 1000 <= int(timestamp) <= time.time() * 1000 + 1000
    assert sent.query["sign"] == dingtalk_sign(SECRET, timestamp)
    assert sent.json == {"msgtype": "text",
                            "text": {"content": notify.message_text(payload) + "\n@13812345678"},
                            "at": {"atMobiles": ["13812345678"], "isAtAll": False}}


def test_an_unsigned_dingtalk_robot_gets_no_signature(app, fake, tree):
    robot = dingtalk_robot(fake, tree.station)

    post(robot, [payload_for(make_request(deputy=tree.deputy))], [])

    (sent,) = fake.received
    assert sent.query == {"access_token": DINGTALK_TOKEN}
    assert sent.json["at"] == {"atMobiles": [], "isAtAll": False}
    assert "@1" not in sent.json["text"]["content"]


def test_several_payloads_become_one_digest_with_a_line_and_a_link_each(app, fake, tree):
    robot = wecom_robot(fake, tree.station)
    requests = [make_request(deputy=tree.deputy) for _ in range(3)]

    post(robot, [payload_for(req) for req in requests], ["+8613812345678"])

    (sent,) = fake.received
    lines = sent.json["text"]["content"].split("\n")
    assert lines[0] == "【3条新消息】"
    assert len(lines) == 4
    for line, req in zip(lines[1:], requests):  # what happened, the reference, the title cut short, the link
        assert line == f"已提交：{req.reference} 银行贷款到期续贷需要过… https://liaison.example.cn/desk/requests/{req.id}"
    assert sent.json["text"]["mentioned_mobile_list"] == ["13812345678"]


@pytest.mark.parametrize("provider,limit", [(RobotProvider.WECOM, 2048), (RobotProvider.DINGTALK, 20000)])
def test_a_long_digest_is_cut_within_the_providers_limit_and_says_how_many_are_left_out(
        app, fake, tree, provider, limit):
    robot = (wecom_robot if provider is RobotProvider.WECOM else dingtalk_robot)(fake, tree.station)
    payload = payload_for(make_request(deputy=tree.deputy))
    count = 400

    post(robot, [payload] * count, ["+8613812345678"])

    content = fake.received[0].json["text"]["content"]
    assert len(content.encode()) <= limit
    if provider is RobotProvider.DINGTALK:
        assert content.endswith("\n@13812345678")
        content = content.removesuffix("\n@13812345678")
    listed = content.count(payload["link"])
    left_out = re.search(r"…等(\d+)条$", content)
    assert left_out and listed + int(left_out.group(1)) == count and listed > 5


def test_one_long_message_is_cut_too(app, fake, tree):
    robot = wecom_robot(fake, tree.station)

    post(robot, [{"text": "很长的测试消息" * 200}], [])

    content = fake.received[0].json["text"]["content"]
    assert len(content.encode()) <= 2048 and content.endswith("…")


# --- the throttle -----------------------------------------------------------------------------


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_the_21st_message_in_a_minute_waits_for_a_slot(app, fake, tree, storage, request):
    """With Redis, two workers (two throttles of their own) share each robot's count."""
    if storage == "redis":
        url = request.getfixturevalue("redis_url")
        workers = [RobotThrottle(url, f"{RUN_PREFIX}-robots") for _ in range(2)]
    else:
        workers = [RobotThrottle("memory://", "liaison")]
    robot = wecom_robot(fake, tree.station)
    payload = payload_for(make_request(deputy=tree.deputy))

    for n in range(20):
        app.extensions[RobotThrottle.EXTENSION] = workers[n % len(workers)]
        post(robot, [payload], [])
    for worker in workers:
        app.extensions[RobotThrottle.EXTENSION] = worker
        with pytest.raises(RobotTryLater) as later:
            post(robot, [payload], [])
        assert 1 <= later.value.retry_after <= 60

    assert len(fake.received) == 20  # the 21st never left
    assert robot.last_error is None  # waiting is no failure


def test_robots_are_counted_apart_and_the_setting_is_the_limit(app, fake, tree):
    app.config["ROBOT_MESSAGES_PER_MINUTE"] = 2
    first = wecom_robot(fake, tree.station)
    second = make_robot(webhook_url=wecom_url(fake, "another-robot-key-0001"), station=tree.other_station)
    payload = {"text": "测试"}

    post(first, [payload], []), post(first, [payload], [])
    post(second, [payload], [])

    with pytest.raises(RobotTryLater):
        post(first, [payload], [])
    assert len(fake.received) == 3


def test_one_throttle_per_app_not_per_call(app):
    assert robots.throttle() is robots.throttle()


# --- the providers' answers -------------------------------------------------------------------


@pytest.mark.parametrize("provider,answer", [
    (RobotProvider.WECOM, {"errcode": 45009, "errmsg": "api freq out of limit"}),
    (RobotProvider.DINGTALK, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}),
    (RobotProvider.DINGTALK, {"errcode": 410100, "errmsg": "发送速度太快而限流"}),
])
def test_too_many_messages_at_the_provider_means_try_again_in_a_minute(app, fake, tree, provider, answer):
    robot = (wecom_robot if provider is RobotProvider.WECOM else dingtalk_robot)(fake, tree.station)
    fake.answers.append((200, answer))

    with pytest.raises(RobotTryLater) as later:
        post(robot, [{"text": "测试"}], [])

    assert later.value.retry_after == 60
    assert robot.last_error is None


@pytest.mark.parametrize("provider,answer,explanation", [
    (RobotProvider.WECOM, {"errcode": 93000, "errmsg": "invalid webhook url, hint: [1755605200], from ip: 1.2.3.4"},
     "机器人地址无效"),
    (RobotProvider.DINGTALK, {"errcode": 300001, "errmsg": "token is not exist"}, "机器人地址无效"),
    (RobotProvider.DINGTALK, {"errcode": 310000, "errmsg": "keywords not in content"}, "自定义关键词"),
    (RobotProvider.DINGTALK, {"errcode": 310000, "errmsg": "ip 1.2.3.4 not in whitelist"}, "IP 白名单"),
    (RobotProvider.DINGTALK, {"errcode": 310000, "errmsg": "invalid timestamp"}, "时钟"),
    (RobotProvider.WECOM, {"errcode": 40008, "errmsg": "invalid message type"}, "机器人拒收了消息"),
])
def test_a_refusal_is_a_delivery_error_that_names_the_errcode_and_says_what_to_change(
        app, fake, tree, provider, answer, explanation):
    robot = (wecom_robot if provider is RobotProvider.WECOM else dingtalk_robot)(fake, tree.station)
    fake.answers.append((200, answer))

    with pytest.raises(DeliveryError) as error:
        post(robot, [{"text": "测试"}], [])

    text = str(error.value)
    assert explanation in text
    assert f"errcode {answer['errcode']}: {answer['errmsg']}" in text
    assert robot.last_error == text


def test_a_wrong_dingtalk_secret_is_named_as_such(app, fake, tree):
    fake.verdict = checks_dingtalk_signature(SECRET)
    robot = dingtalk_robot(fake, tree.station, secret="SEC" + "1" * 64)

    with pytest.raises(DeliveryError, match="钉钉拒绝了签名.*errcode 310000: sign not match"):
        post(robot, [{"text": "测试"}], [])


def test_http_errors_timeouts_and_refused_connections_are_delivery_errors(app, fake, tree):
    robot = wecom_robot(fake, tree.station)
    fake.answers.append((502, {"message": "bad gateway"}))
    with pytest.raises(DeliveryError, match="HTTP 502"):
        post(robot, [{"text": "测试"}], [])

    fake.answers.append((200, {"not": "a robot"}))
    with pytest.raises(DeliveryError, match="不像群机器人"):
        post(robot, [{"text": "测试"}], [])

    app.config["NOTIFY_TIMEOUT_SECONDS"] = 0.2
    fake.delay = 1
    with pytest.raises(DeliveryError, match="无法连接机器人服务器.*timed out"):
        post(robot, [{"text": "测试"}], [])
    fake.delay = 0

    refused = make_robot(station=tree.station)  # port 9: nobody listens
    with pytest.raises(DeliveryError, match="无法连接机器人服务器.*Connection refused"):
        post(refused, [{"text": "测试"}], [])


def test_neither_the_key_nor_the_secret_reaches_an_error_or_a_log_line(app, fake, tree, caplog):
    caplog.set_level(logging.DEBUG)
    robot = dingtalk_robot(fake, tree.station, secret=SECRET)
    fake.answers.append((200, {"errcode": 400999, "errmsg": f"bad token {DINGTALK_TOKEN} with {SECRET}"}))

    with pytest.raises(DeliveryError) as error:
        post(robot, [{"text": "测试"}], [])

    for text in (str(error.value), robot.last_error, caplog.text):
        assert DINGTALK_TOKEN not in text and SECRET not in text
    assert f"robot {robot.id} ({robot.name})" in caplog.text


# --- secrets at rest --------------------------------------------------------------------------


def test_the_address_and_the_secret_are_stored_encrypted(app, fake, tree):
    robot = dingtalk_robot(fake, tree.station, secret=SECRET)

    row = db.session.execute(sa.text("SELECT webhook_url_encrypted, secret_encrypted FROM robots WHERE id = :id"),
                             {"id": robot.id}).one()
    for stored in row:
        assert DINGTALK_TOKEN not in stored and SECRET not in stored and "dingtalk" not in stored
    assert secrets.decrypt(row[0]) == dingtalk_url(fake) and secrets.decrypt(row[1]) == SECRET


def test_a_new_secret_key_makes_them_unreadable_unless_secrets_key_keeps_them(app, fake, tree):
    robot = dingtalk_robot(fake, tree.station, secret=SECRET)
    stored = robot.webhook_url_encrypted

    app.config["SECRETS_KEY"] = base64.urlsafe_b64encode(b"k" * 32).decode()
    assert secrets.decrypt(stored) == dingtalk_url(fake)  # set later: the old values still open
    assert secrets.decrypt(secrets.encrypt("new")) == "new"

    app.config["SECRET_KEY"] = "a different secret key"
    with pytest.raises(secrets.SecretUnreadable):
        secrets.decrypt(stored)
    with pytest.raises(DeliveryError, match="SECRET_KEY"):
        post(robot, [{"text": "测试"}], [])
    assert fake.received == []


def test_a_secrets_key_that_is_no_fernet_key_stops_the_start(test_database, tmp_path):
    from liaison_app.config import ConfigError
    from tests.conftest import make_app

    with pytest.raises(ConfigError, match="SECRETS_KEY"):
        make_app(test_database.url, tmp_path, SECRETS_KEY="not a key")


# --- the admin pages --------------------------------------------------------------------------


def as_user(app, user):
    client = app.test_client()
    login(client, user)
    return client


def form(**overrides):
    values = {"name": "沙溪镇联络站工作群", "provider": "wecom", "place": "", "webhook_url": "", "secret": "",
              "active": "y"}
    values.update(overrides)
    return values


def test_an_admin_adds_a_robot_and_the_list_shows_only_the_host_and_the_keys_end(app, fake, tree, caplog):
    caplog.set_level(logging.INFO, logger="liaison.admin")
    client = as_user(app, tree.admin)

    response = client.post("/admin/robots/new", data=form(
        provider="dingtalk", place=f"station:{tree.station.id}", webhook_url=dingtalk_url(fake), secret=SECRET))

    assert response.status_code == 303
    robot = db.session.scalar(sa.select(Robot))
    assert (robot.station_id, robot.provider, robot.created_by_id) == (tree.station.id, RobotProvider.DINGTALK,
                                                                       tree.admin.id)
    page = client.get("/admin/robots").get_data(as_text=True)
    assert "沙溪镇联络站工作群" in page and f"127.0.0.1 …{DINGTALK_TOKEN[-4:]}" in page and "已加签" in page
    assert DINGTALK_TOKEN not in page and SECRET not in page
    assert f"robot {robot.id} (沙溪镇联络站工作群) created by user {tree.admin.id}" in caplog.text
    assert DINGTALK_TOKEN not in caplog.text and SECRET not in caplog.text


def test_a_form_with_an_error_comes_back_with_what_was_typed_except_the_secrets(app, fake, tree):
    client = as_user(app, tree.admin)

    response = client.post("/admin/robots/new", data=form(
        provider="wecom", place=f"station:{tree.station.id}", webhook_url=dingtalk_url(fake), secret=SECRET))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "沙溪镇联络站工作群" in page and re.search(f'<option selected value="station:{tree.station.id}">', page)
    assert "这是钉钉群机器人的地址，请在上方选择该类型。" in page
    assert "企业微信机器人不使用加签" in page
    assert DINGTALK_TOKEN not in page and SECRET not in page and "请重新粘贴" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Robot)) == 0


@pytest.mark.parametrize("url,problem", [
    ("http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "地址必须以 https:// 开头。"),
    ("https://evil.example.com/cgi-bin/webhook/send?key=abc", "机器人地址只能是"),
    ("https://qyapi.weixin.qq.com/cgi-bin/other?key=abc", "这不像企业微信群机器人的地址"),
    ("qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "请粘贴机器人完整的 Webhook 地址"),
])
def test_an_address_that_is_not_the_providers_is_refused_by_its_field(app, tree, url, problem):
    client = as_user(app, tree.admin)

    response = client.post("/admin/robots/new", data=form(place=f"station:{tree.station.id}", webhook_url=url))

    assert response.status_code == 422
    assert problem in response.get_data(as_text=True)


def test_an_empty_address_or_secret_keeps_the_stored_one_and_the_secret_can_be_removed(app, fake, tree):
    robot = dingtalk_robot(fake, tree.station, secret=SECRET)
    stored_url, stored_secret = robot.webhook_url_encrypted, robot.secret_encrypted
    client = as_user(app, tree.admin)
    edit = client.get(f"/admin/robots/{robot.id}/edit").get_data(as_text=True)
    assert f"已保存：127.0.0.1 …{DINGTALK_TOKEN[-4:]}" in edit and DINGTALK_TOKEN not in edit and SECRET not in edit

    response = client.post(f"/admin/robots/{robot.id}/edit", data=form(
        name="改名后的群", provider="dingtalk", place=f"department:{tree.departments['township'].id}"))

    assert response.status_code == 303
    db.session.refresh(robot)
    assert (robot.name, robot.station_id, robot.department_id) == ("改名后的群", None, tree.departments["township"].id)
    assert (robot.webhook_url_encrypted, robot.secret_encrypted) == (stored_url, stored_secret)

    client.post(f"/admin/robots/{robot.id}/edit", data=form(
        provider="dingtalk", place=f"department:{tree.departments['township'].id}", remove_secret="y"))
    db.session.refresh(robot)
    assert robot.secret_encrypted is None and robot.webhook_url_encrypted == stored_url


def test_a_robot_whose_address_cannot_be_read_is_shown_as_such_and_asks_for_it_again(app, fake, tree):
    robot = wecom_robot(fake, tree.station)
    app.config["SECRET_KEY"] = "a different secret key"
    client = as_user(app, tree.admin)

    page = client.get("/admin/robots").get_data(as_text=True)
    assert "该机器人已保存的地址或密钥无法读取" in page

    response = client.post(f"/admin/robots/{robot.id}/edit", data=form(place=f"station:{tree.station.id}"))
    assert response.status_code == 422 and "已保存的地址无法读取，请重新粘贴。" in response.get_data(as_text=True)

    response = client.post(f"/admin/robots/{robot.id}/edit", data=form(place=f"station:{tree.station.id}",
                                                                       webhook_url=wecom_url(fake)))
    assert response.status_code == 303
    db.session.refresh(robot)
    assert secrets.decrypt(robot.webhook_url_encrypted) == wecom_url(fake)


def test_staff_manage_the_robots_of_their_subtree_and_nothing_else(app, fake, tree):
    near = wecom_robot(fake, tree.station, name="沙溪镇的群")
    county_office = make_robot(webhook_url=wecom_url(fake), jurisdiction=tree.county, name="太仓市人大的群")
    wanan = make_jurisdiction(name="万安县", division_code="360828")
    far = wecom_robot(fake, make_station(jurisdiction=wanan), name="万安县的群")
    county_staff, township_staff = tree.staff["county"], tree.staff["township"]
    far_staff = make_user(Role.STAFF, jurisdiction=wanan)

    page = as_user(app, county_staff).get("/admin/robots").get_data(as_text=True)
    assert "沙溪镇的群" in page and "太仓市人大的群" in page and "万安县的群" not in page
    page = as_user(app, township_staff).get("/admin/robots").get_data(as_text=True)
    assert "沙溪镇的群" in page and "太仓市人大的群" not in page

    client = as_user(app, far_staff)
    for robot in (near, county_office):
        assert client.get(f"/admin/robots/{robot.id}/edit").status_code == 404
        assert client.post(f"/admin/robots/{robot.id}/edit", data=form(name="x")).status_code == 404
        assert client.post(f"/admin/robots/{robot.id}/test").status_code == 404
        assert client.post(f"/admin/robots/{robot.id}/delete").status_code == 404
    assert fake.received == []
    assert db.session.scalar(sa.select(Robot.name).where(Robot.id == near.id)) == "沙溪镇的群"
    # and the place menu offers only their own places
    new_form = client.get("/admin/robots/new").get_data(as_text=True)
    assert "万安县" in new_form and f'value="station:{tree.station.id}"' not in new_form and "太仓市" not in new_form
    refused = client.post("/admin/robots/new", data=form(place=f"station:{tree.station.id}",
                                                          webhook_url=wecom_url(fake)))
    assert refused.status_code == 422


def test_deputies_and_unit_officers_get_403(app, fake, tree):
    robot = wecom_robot(fake, tree.station)
    for user in (tree.deputy_user, tree.officers["township"]):
        client = as_user(app, user)
        assert client.get("/admin/robots").status_code == 403
        assert client.post(f"/admin/robots/{robot.id}/test").status_code == 403
    assert fake.received == []


def test_the_test_button_posts_through_the_robot_and_says_it_worked(app, fake, tree, caplog, htmx):
    caplog.set_level(logging.INFO, logger="liaison.admin")
    fake.verdict = checks_dingtalk_signature(SECRET)
    robot = dingtalk_robot(fake, tree.station, secret=SECRET)
    client = as_user(app, tree.staff["county"])

    response = client.post(f"/admin/robots/{robot.id}/test", headers=htmx)

    card = response.get_data(as_text=True)
    assert response.status_code == 200 and card.strip().startswith(f'<section id="robot-{robot.id}-card"')
    assert "测试消息已发出，请到群里确认是否收到。" in card
    (sent,) = fake.received
    assert sent.query["sign"] == dingtalk_sign(SECRET, sent.query["timestamp"])
    assert sent.json["text"]["content"].startswith("【测试】这是码上找代表发来的测试消息：本群将收到沙溪镇代表联络站的通知。")
    assert f"robot {robot.id} ({robot.name}) tested by user {tree.staff['county'].id}: posted" in caplog.text

    page = client.post(f"/admin/robots/{robot.id}/test", follow_redirects=True).get_data(as_text=True)
    assert "测试消息已发出" in page  # without JavaScript: back to the list with the outcome


def test_the_test_button_shows_the_chinese_error_for_a_wrong_secret(app, fake, tree):
    fake.verdict = checks_dingtalk_signature(SECRET)
    robot = dingtalk_robot(fake, tree.station, secret="SEC" + "2" * 64)
    client = as_user(app, tree.admin)

    page = client.post(f"/admin/robots/{robot.id}/test", follow_redirects=True).get_data(as_text=True)

    assert "测试消息未发出：钉钉拒绝了签名：请到机器人安全设置中重新复制加签密钥" in page
    assert "errcode 310000" in page
    db.session.refresh(robot)
    assert "钉钉拒绝了签名" in robot.last_error  # and the list keeps it
    assert "钉钉拒绝了签名" in client.get("/admin/robots").get_data(as_text=True)


def test_the_test_button_waits_when_the_robot_has_no_slot_left(app, fake, tree, htmx):
    app.config["ROBOT_MESSAGES_PER_MINUTE"] = 1
    robot = wecom_robot(fake, tree.station)
    client = as_user(app, tree.admin)
    client.post(f"/admin/robots/{robot.id}/test", headers=htmx)

    card = client.post(f"/admin/robots/{robot.id}/test", headers=htmx).get_data(as_text=True)

    assert "该机器人一分钟内的发送条数已达上限" in card
    assert len(fake.received) == 1


def test_deleting_a_robot_is_logged(app, fake, tree, caplog, htmx):
    caplog.set_level(logging.INFO, logger="liaison.admin")
    robot_id = wecom_robot(fake, tree.station, name="要删除的群").id
    client = as_user(app, tree.staff["township"])

    answer = client.post(f"/admin/robots/{robot_id}/delete", headers=htmx).get_data(as_text=True)

    assert "已删除群机器人“要删除的群”。" in answer and f'id="robot-{robot_id}-card"' in answer
    assert db.session.scalar(sa.select(Robot).where(Robot.id == robot_id)) is None
    assert f"robot {robot_id} (要删除的群) deleted by user {tree.staff['township'].id}" in caplog.text
