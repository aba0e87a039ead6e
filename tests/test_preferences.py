"""提醒设置: each person chooses what reaches them by SMS and by a group robot's @mention; staff
set the defaults of their jurisdiction's people. The choices decide what the next event sends."""

import logging
import re

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import (
    Level, Notification, NotificationChannel, NotificationKind, NotificationPreference, Request, Role,
)
from liaison_app.services import notify, preferences, routing
from liaison_app.services import workflow as wf
from tests.factories import Tree, make_jurisdiction, make_request, make_user
from tests.test_desk import login

SMS, ROBOT = NotificationChannel.SMS, NotificationChannel.ROBOT
PAGE, DEFAULTS = "/desk/settings/notifications", "/desk/settings/notifications/defaults"


@pytest.fixture
def app_config():
    return {"NOTIFY_DELIVER_IMMEDIATELY": False}  # the outbox's rows are what is looked at


@pytest.fixture
def tree(app):
    tree = Tree()
    for n, user in enumerate((tree.deputy_user, tree.officers["township"], tree.staff["county"]), start=1):
        user.phone = f"+86138123400{n:02d}"
    db.session.commit()
    return tree


def checked(page: str) -> dict[str, str]:
    """The boxes the page shows ticked, as the browser would send them."""
    return {name: "on" for name in re.findall(r'<input type="checkbox" name="([^"]+)" checked', page)}


def selected(page: str) -> dict[str, str]:
    """Each select of the defaults page and its selected option, as the browser would send them."""
    found = {}
    for name, body in re.findall(r'<select id="[^"]+" name="([^"]+)">(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        found[name] = chosen.group(1) if chosen else None
    return found


def own_rows(**owner) -> set[tuple]:
    db.session.expire_all()
    (column, value), = owner.items()
    return {(row.kind, row.channel, row.enabled) for row in db.session.scalars(
        sa.select(NotificationPreference).where(getattr(NotificationPreference, column) == value))}


def sms_to(user) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.recipient_user_id == user.id, Notification.channel == SMS)))


def chosen(user, kind) -> dict:
    person = routing.person_of(user.id)
    found = routing.choices([person], kind)
    return {channel: found[(user.id, channel)] for channel in (SMS, ROBOT)}


def announce_filing(tree) -> Request:
    """A request filed through the deputy's own code: the deputy is told."""
    req = make_request(deputy=tree.deputy)
    notify.announce("filed_by_deputy", req)
    db.session.commit()
    return req


def assign(tree, req, department) -> None:
    wf.claim_request(req, actor=tree.deputy_user)
    db.session.expire_all()
    req = db.session.get(Request, req.id)
    wf.assign_request(req, actor=tree.deputy_user, version=req.version, department=department)


# --- a person's own choices ----------------------------------------------------------------------------


def test_the_page_shows_what_holds_now_and_why(client, tree):
    login(client, tree.deputy_user)

    page = client.get(PAGE).get_data(as_text=True)

    assert "提醒设置" in page and "所有提醒都会进入“消息”" in page
    assert len(re.findall(r'<fieldset class="card choice-row"', page)) == len(routing.CHOOSABLE_KINDS)
    ticked = checked(page)
    assert "new_request.sms" in ticked and "new_request.robot" in ticked  # a deputy hears of new requests by SMS
    assert "claimed.sms" not in ticked  # nothing asks them to act there
    assert "默认：开（系统默认）" in page and "disabled" not in page and "恢复默认" not in page


def test_a_choice_saved_decides_whether_the_next_assignment_sends_an_sms(app, client, tree):
    officer = tree.officers["township"]
    department = tree.departments["township"]
    req = make_request(deputy=tree.deputy)
    assign(tree, req, department)
    assert len(sms_to(officer)) == 1 and chosen(officer, NotificationKind.ASSIGNED)[SMS] is True

    login(client, officer)
    sent = checked(client.get(PAGE).get_data(as_text=True))
    del sent["assigned.sms"]  # unticks one box and saves
    response = client.post(PAGE, data=sent)

    assert response.status_code == 303 and response.headers["Location"] == PAGE
    assert own_rows(user_id=officer.id) == {(NotificationKind.ASSIGNED, SMS, False)}  # only what changed
    assert chosen(officer, NotificationKind.ASSIGNED) == {SMS: False, ROBOT: True}
    other = make_request(deputy=tree.deputy)
    assign(tree, other, department)
    assert len(sms_to(officer)) == 1  # none for the second assignment
    page = client.get(PAGE).get_data(as_text=True)
    assert "assigned.sms" not in checked(page) and "你的选择；默认为开（系统默认）" in page


def test_saving_the_page_unchanged_writes_nothing(client, tree):
    login(client, tree.deputy_user)
    sent = checked(client.get(PAGE).get_data(as_text=True))

    client.post(PAGE, data=sent)

    assert own_rows(user_id=tree.deputy_user.id) == set()  # still following the defaults


def test_restore_defaults_for_one_row_and_for_all(client, tree):
    user = tree.deputy_user
    login(client, user)
    sent = checked(client.get(PAGE).get_data(as_text=True))
    sent.pop("new_request.sms"), sent.pop("escalated.robot")
    client.post(PAGE, data=sent)
    assert own_rows(user_id=user.id) == {(NotificationKind.NEW_REQUEST, SMS, False),
                                         (NotificationKind.ESCALATED, ROBOT, False)}

    page = client.get(PAGE).get_data(as_text=True)
    assert 'name="reset" value="new_request"' in page and 'name="reset" value="claimed"' not in page
    response = client.post(PAGE, data=dict(checked(page), reset="new_request"))
    assert response.headers["Location"] == f"{PAGE}#choice-new_request"
    assert own_rows(user_id=user.id) == {(NotificationKind.ESCALATED, ROBOT, False)}

    client.post(PAGE, data={"reset": "all"})
    assert own_rows(user_id=user.id) == set()
    assert chosen(user, NotificationKind.ESCALATED) == {SMS: True, ROBOT: True}


def test_without_a_mobile_nothing_can_reach_them_and_nothing_is_written(client, tree):
    user = tree.colleague_user  # no phone on file
    login(client, user)

    page = client.get(PAGE).get_data(as_text=True)

    assert "请在账号资料中填写手机号" in page and "短信无法送达" in page
    assert page.count(" disabled>") == 2 * len(routing.CHOOSABLE_KINDS)
    client.post(PAGE, data={})  # disabled boxes send nothing
    assert own_rows(user_id=user.id) == set()


def test_with_htmx_the_save_redirects_the_page(client, tree, htmx):
    login(client, tree.deputy_user)

    response = client.post(PAGE, data={"reset": "all"}, headers=htmx)

    assert response.status_code == 200 and response.headers["HX-Redirect"] == PAGE


def test_a_change_is_logged(client, tree, caplog):
    login(client, tree.deputy_user)
    sent = checked(client.get(PAGE).get_data(as_text=True))
    del sent["new_request.sms"]

    with caplog.at_level(logging.INFO, logger="liaison.preferences"):
        client.post(PAGE, data=sent)

    assert f"user {tree.deputy_user.id} changed their notification choices: new_request/sms=off" in caplog.text


def test_the_page_in_english(client, tree):
    login(client, tree.staff["county"])

    page = client.get(f"{PAGE}?lang=en").get_data(as_text=True)

    assert "Notification settings" in page and "Text message (SMS)" in page and "@me in group robots" in page
    assert "Off (built in)" in page  # staff opt in to SMS
    assert "Set the defaults for your jurisdiction" in page


# --- the defaults staff set ------------------------------------------------------------------------------


def test_county_defaults_reach_a_township_deputy_unless_the_deputy_chose(client, tree):
    staff, deputy = tree.staff["county"], tree.deputy_user
    announce_filing(tree)
    assert len(sms_to(deputy)) == 1  # the built-in choice: a deputy hears of a new request by SMS

    login(client, staff)
    page = client.get(DEFAULTS).get_data(as_text=True)
    assert "太仓市" in page and f'name="jurisdiction" value="{tree.county.id}"' in page
    sent = dict(selected(page), **{"new_request.sms": "off"}, jurisdiction=tree.county.id)
    assert client.post(DEFAULTS, data=sent).status_code == 303
    assert own_rows(jurisdiction_id=tree.county.id) == {(NotificationKind.NEW_REQUEST, SMS, False)}

    assert chosen(deputy, NotificationKind.NEW_REQUEST)[SMS] is False
    announce_filing(tree)
    assert len(sms_to(deputy)) == 1  # the county's default holds for 沙溪镇's deputy

    login(client, deputy)
    page = client.get(PAGE).get_data(as_text=True)
    assert "默认：关（太仓市设定）" in page
    client.post(PAGE, data=dict(checked(page), **{"new_request.sms": "on"}))  # the deputy wants them after all
    assert chosen(deputy, NotificationKind.NEW_REQUEST)[SMS] is True
    announce_filing(tree)
    assert len(sms_to(deputy)) == 2


def test_the_nearest_level_wins(client, tree):
    preferences.save_defaults(tree.county, {(NotificationKind.ESCALATED, ROBOT): False}, actor=tree.admin)
    preferences.save_defaults(tree.township, {(NotificationKind.ESCALATED, ROBOT): True}, actor=tree.admin)
    assert chosen(tree.deputy_user, NotificationKind.ESCALATED)[ROBOT] is True
    assert chosen(tree.staff["county"], NotificationKind.ESCALATED)[ROBOT] is False

    login(client, tree.staff["township"])
    page = client.get(DEFAULTS).get_data(as_text=True)
    assert "本级不设置：关（太仓市设定）" in page  # what the township would follow without its own
    assert selected(page)["escalated.robot"] == "on"


def test_the_page_for_each_person_agrees_with_routing(tree):
    """What the settings page says holds is what routing.choices applies, kind by kind."""
    preferences.save_defaults(tree.county, {(NotificationKind.NEW_REQUEST, SMS): False,
                                            (NotificationKind.CLAIMED, SMS): True}, actor=tree.admin)
    preferences.save_defaults(tree.township, {(NotificationKind.CLAIMED, SMS): False}, actor=tree.admin)
    preferences.save_choices(tree.deputy_user, {(NotificationKind.REMINDED, ROBOT): False})
    for user in (tree.deputy_user, tree.officers["township"], tree.staff["county"], tree.admin):
        for row in preferences.person_choices(user):
            assert {c.channel: c.enabled for c in row.choices} == chosen(user, row.kind), (user, row.kind)


def test_staff_set_only_their_own_jurisdictions_defaults(client, tree):
    wanan = make_jurisdiction(name="万安县", level=Level.COUNTY)
    far_staff = make_user(Role.STAFF, jurisdiction=wanan)
    staff = tree.staff["county"]
    login(client, staff)

    assert client.get(f"{DEFAULTS}?jurisdiction={wanan.id}").status_code == 404
    assert client.get(f"{DEFAULTS}?jurisdiction={tree.township.id}").status_code == 404  # below: its own staff's
    response = client.post(DEFAULTS, data={"jurisdiction": wanan.id, "new_request.sms": "off"})
    assert response.status_code == 404
    assert client.post(DEFAULTS, data={"new_request.sms": "off"}).status_code == 404  # no jurisdiction named
    assert own_rows(jurisdiction_id=wanan.id) == set()

    login(client, far_staff)
    assert client.post(DEFAULTS, data={"jurisdiction": tree.county.id, "new_request.sms": "off"}).status_code == 404
    assert own_rows(jurisdiction_id=tree.county.id) == set()


@pytest.mark.parametrize("who", ["deputy", "unit"])
def test_deputies_and_officers_cannot_open_the_defaults(client, tree, who):
    login(client, tree.deputy_user if who == "deputy" else tree.officers["township"])

    assert client.get(DEFAULTS).status_code == 403
    assert client.post(DEFAULTS, data={"jurisdiction": tree.township.id, "new_request.sms": "off"}).status_code == 403
    assert own_rows(jurisdiction_id=tree.township.id) == set()


def test_an_admin_picks_a_jurisdiction(client, tree):
    login(client, tree.admin)

    page = client.get(DEFAULTS).get_data(as_text=True)
    assert '<select id="jurisdiction" name="jurisdiction">' in page and "choice-row" not in page

    page = client.get(f"{DEFAULTS}?jurisdiction={tree.city.id}").get_data(as_text=True)
    assert "适用于苏州市及以下各级" in page
    client.post(DEFAULTS, data=dict(selected(page), **{"overdue.robot": "off"}, jurisdiction=tree.city.id))
    assert own_rows(jurisdiction_id=tree.city.id) == {(NotificationKind.OVERDUE, ROBOT, False)}


def test_a_value_not_offered_is_refused_and_the_form_comes_back_filled(client, tree):
    login(client, tree.staff["county"])
    sent = dict(selected(client.get(DEFAULTS).get_data(as_text=True)), jurisdiction=tree.county.id)
    sent.update({"new_request.sms": "maybe", "escalated.robot": "off"})

    response = client.post(DEFAULTS, data=sent)

    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "请从列表中选择" in page
    assert selected(page)["escalated.robot"] == "off" and selected(page)["overdue.sms"] == ""
    assert own_rows(jurisdiction_id=tree.county.id) == set()


def test_restoring_a_jurisdictions_defaults(client, tree):
    preferences.save_defaults(tree.county, {(NotificationKind.NEW_REQUEST, SMS): False,
                                            (NotificationKind.OVERDUE, ROBOT): False}, actor=tree.admin)
    login(client, tree.staff["county"])
    page = client.get(DEFAULTS).get_data(as_text=True)

    client.post(DEFAULTS, data=dict(selected(page), jurisdiction=tree.county.id, reset="new_request"))
    assert own_rows(jurisdiction_id=tree.county.id) == {(NotificationKind.OVERDUE, ROBOT, False)}

    client.post(DEFAULTS, data=dict(selected(page), jurisdiction=tree.county.id, reset="all"))
    assert own_rows(jurisdiction_id=tree.county.id) == set()


def test_defaults_show_that_the_built_in_sms_choice_depends_on_the_role(client, tree):
    login(client, tree.staff["county"])

    page = client.get(DEFAULTS).get_data(as_text=True)

    assert "本级不设置：代表和承办单位人员开，工作人员关（系统默认）" in page  # new requests, by SMS
    assert "本级不设置：关（系统默认）" in page  # what asks no one to act (claimed), by SMS
