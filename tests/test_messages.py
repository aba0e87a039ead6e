"""消息: each person's list of what asks them to act, the unread badge in the header, marking read."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import (
    Notification, NotificationChannel, NotificationKind, NotificationStatus, Request, Role, TargetKind, VisitCampaign,
    utcnow,
)
from liaison_app.services import campaigns
from liaison_app.workdays import today_local
from tests.factories import Tree, make_enterprise, make_message, make_request, make_user
from tests.test_desk import login


@pytest.fixture
def app_config():
    return {"NOTIFY_DELIVER_IMMEDIATELY": False}  # the outbox's rows are what is looked at


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def officer(tree):
    return tree.officers["township"]


def fresh(row):
    db.session.expire_all()
    return db.session.get(type(row), row.id)


def inbox_of(user) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.recipient_user_id == user.id, Notification.channel == NotificationChannel.INBOX)
        .order_by(Notification.id)))


def badge(page: str):
    """The number on the header's 消息 link, or None when it has none."""
    link = re.search(r'<a id="messages-link"[^>]*>(.*?)</a>', page, re.S)
    assert link, "every signed-in page has the 消息 link"
    number = re.search(r'<span class="badge"[^>]*>([^<]+)</span>', link.group(1))
    return number.group(1) if number else None


def listed_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'id="notification-(\d+)-row"', page)]


def assign(client, tree, req):
    """The deputy claims the request and assigns it to the township's 住建局, over HTTP."""
    login(client, tree.deputy_user)
    client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version})
    version = db.session.get(Request, req.id).version
    response = client.post(f"/desk/requests/{req.id}/assign", data={
        "assign-version": version, "assign-department": tree.departments["township"].id,
        "assign-due_on": "", "assign-note": "请七日内答复"})
    assert response.status_code == 303


# --- the list ----------------------------------------------------------------------------------------


def test_an_assignment_reaches_the_department_officers_messages_and_no_one_elses(app, tree, officer):
    req = make_request(deputy=tree.deputy)
    assign(app.test_client(), tree, req)

    client = app.test_client()
    login(client, officer)
    page = client.get("/desk/messages").get_data(as_text=True)

    (message,) = [m for m in inbox_of(officer) if m.kind is NotificationKind.ASSIGNED]
    assert listed_ids(page) == [message.id]
    assert "已交办" in page and req.reference in page and "银行贷款到期续贷" in page and "请七日内答复" in page
    assert "未读" in page and 'class="message unread"' in page
    assert f'action="/desk/messages/{message.id}/read"' in page
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", page)  # its time, as the desk shows times
    assert "13912345678" not in page and "张明" not in page  # the title and note are masked
    assert badge(client.get("/desk/unit").get_data(as_text=True)) == "1"

    colleague = app.test_client()
    login(colleague, tree.officers["county"])  # another department's officer
    other = colleague.get("/desk/messages").get_data(as_text=True)
    assert req.reference not in other and badge(other) is None


def test_the_time_is_shown_in_china(client, tree):
    message = make_message(tree.deputy_user, make_request(deputy=tree.deputy),
                           created_at=utcnow().replace(year=2026, month=3, day=1, hour=23, minute=30))
    login(client, tree.deputy_user)

    page = client.get("/desk/messages").get_data(as_text=True)

    assert message.id in listed_ids(page)
    assert "2026-03-02 07:30" in page  # 23:30 UTC is 07:30 the next morning in Beijing


def test_opening_the_list_marks_nothing_read(client, tree):
    message = make_message(tree.deputy_user, make_request(deputy=tree.deputy))
    login(client, tree.deputy_user)

    client.get("/desk/messages")
    client.get("/desk/messages", headers={"HX-Request": "true"})

    assert fresh(message).read_at is None


def test_tapping_a_message_marks_it_read_and_opens_the_request(client, tree):
    req = make_request(deputy=tree.deputy)
    message = make_message(tree.deputy_user, req)
    login(client, tree.deputy_user)
    assert badge(client.get("/desk/").get_data(as_text=True)) == "1"

    response = client.post(f"/desk/messages/{message.id}/read")

    assert response.status_code == 303 and response.headers["Location"] == f"/desk/requests/{req.id}"
    assert fresh(message).read_at is not None
    page = client.get("/desk/messages").get_data(as_text=True)
    assert badge(page) is None and 'class="message unread"' not in page


def test_tapping_a_message_with_htmx_redirects_the_whole_page(client, tree, htmx):
    req = make_request(deputy=tree.deputy)
    message = make_message(tree.deputy_user, req)
    login(client, tree.deputy_user)

    response = client.post(f"/desk/messages/{message.id}/read", headers=htmx)

    assert response.status_code == 200 and response.headers["HX-Redirect"] == f"/desk/requests/{req.id}"
    assert fresh(message).read_at is not None


def test_nobody_reads_or_marks_another_persons_message(client, tree):
    message = make_message(tree.deputy_user, make_request(deputy=tree.deputy))
    login(client, tree.colleague_user)  # same station, same request in sight: still not theirs

    assert client.post(f"/desk/messages/{message.id}/read").status_code == 404
    assert client.post("/desk/messages/999999/read").status_code == 404
    client.post("/desk/messages/read-all")
    assert message.id not in listed_ids(client.get("/desk/messages").get_data(as_text=True))

    assert fresh(message).read_at is None


def test_mark_all_as_read_leaves_other_peoples_messages_unread(client, tree):
    mine = [make_message(tree.deputy_user, make_request(deputy=tree.deputy)) for _ in range(3)]
    theirs = make_message(tree.colleague_user, make_request(deputy=tree.deputy))
    login(client, tree.deputy_user)
    assert "全部标为已读" in client.get("/desk/messages").get_data(as_text=True)

    response = client.post("/desk/messages/read-all")

    assert response.status_code == 303 and response.headers["Location"] == "/desk/messages"
    assert all(fresh(m).read_at is not None for m in mine)
    assert fresh(theirs).read_at is None
    page = client.get("/desk/messages").get_data(as_text=True)
    assert badge(page) is None and "全部标为已读" not in page


def test_a_request_out_of_sight_is_shown_without_a_link(client, tree):
    """Assigned away from the officer's department since: the message stays, the card is gone."""
    req = make_request(deputy=tree.deputy)
    officer = tree.officers["county"]  # the request is not their department's
    message = make_message(officer, req)
    login(client, officer)

    page = client.get("/desk/messages").get_data(as_text=True)

    assert req.reference in page and "你已无法查看这条诉求" in page
    response = client.post(f"/desk/messages/{message.id}/read")  # still marks it read, back to the list
    assert response.headers["Location"] == "/desk/messages" and fresh(message).read_at is not None
    page = client.get("/desk/messages").get_data(as_text=True)
    assert f'action="/desk/messages/{message.id}/read"' not in page  # read and nowhere to go: plain text


def test_a_visit_reminder_has_no_request_and_leads_to_the_paired_enterprises(client, tree):
    enterprise = make_enterprise(jurisdiction=tree.township)
    campaign = campaigns.save_campaign(
        VisitCampaign(), actor=tree.staff["county"], name="代表集中走访月", jurisdiction=tree.county,
        starts_on=today_local() - timedelta(days=3), ends_on=today_local() + timedelta(days=20),
        target_kind=TargetKind.ALL).campaign
    campaigns.pair(campaign, actor=tree.staff["county"], deputy=tree.deputy, enterprise=enterprise, lead=True)
    campaigns.remind_behind(campaign, actor=tree.staff["county"])
    (message,) = inbox_of(tree.deputy_user)
    assert message.request_id is None and message.campaign_id == campaign.id
    login(client, tree.deputy_user)

    page = client.get("/desk/messages").get_data(as_text=True)

    assert "走访提醒" in page and "代表集中走访月" in page and "还有 1 家未走访" in page
    response = client.post(f"/desk/messages/{message.id}/read")
    assert response.status_code == 303 and response.headers["Location"] == "/desk/visits/pairings"


def test_a_link_elsewhere_than_the_desk_is_never_followed(client, tree):
    message = make_message(tree.deputy_user, kind=NotificationKind.VISIT_REMINDER,
                           payload={"link": "https://evil.example.com/steal", "campaign": "走访月", "not_visited": 1})
    login(client, tree.deputy_user)

    response = client.post(f"/desk/messages/{message.id}/read")

    assert response.headers["Location"] == "/desk/messages"


# --- paging ------------------------------------------------------------------------------------------


def add_messages(user, count: int) -> list[int]:
    rows = [Notification(kind=NotificationKind.REMINDED, channel=NotificationChannel.INBOX, recipient_user_id=user.id,
                         status=NotificationStatus.SENT, payload={"kind": "reminded", "reference": f"TC-{n:04d}",
                                                                  "title": "催办", "link": "", "note": ""})
            for n in range(count)]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def test_paging_by_id_shows_every_message_once_newest_first(client, tree):
    made = add_messages(tree.deputy_user, 45)
    add_messages(tree.colleague_user, 5)
    login(client, tree.deputy_user)

    seen, path = [], "/desk/messages"
    while path:
        page = client.get(path).get_data(as_text=True)
        ids = listed_ids(page)
        assert 0 < len(ids) <= 20
        seen += ids
        more = re.search(r'<li id="messages-more".*?href="([^"]+)"', page, re.S)
        path = more.group(1).replace("&amp;", "&") if more else None

    assert seen == sorted(made, reverse=True)


def test_more_with_htmx_answers_the_next_items_alone(client, tree, htmx):
    made = add_messages(tree.deputy_user, 25)
    login(client, tree.deputy_user)
    first = client.get("/desk/messages").get_data(as_text=True)
    more = re.search(r'hx-get="([^"]+)" hx-target="#messages-more" hx-swap="outerHTML"', first).group(1)

    response = client.get(more.replace("&amp;", "&"), headers=htmx)

    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith("<li") and "<html" not in fragment and "messages-link" not in fragment
    assert listed_ids(fragment) == sorted(made, reverse=True)[20:]
    assert 'id="messages-more"' not in fragment  # the last page has no 更多
    assert "HX-Request" in response.headers["Vary"]


def test_an_empty_list_says_so(client, tree):
    login(client, tree.admin)

    page = client.get("/desk/messages").get_data(as_text=True)

    assert "暂无消息" in page and badge(page) is None


# --- the badge ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["deputy", "staff", "unit", "admin"])
def test_every_signed_in_desk_user_sees_the_badge(client, tree, role):
    user = {"deputy": tree.deputy_user, "staff": tree.staff["township"], "unit": tree.officers["township"],
            "admin": tree.admin}[role]
    add_messages(user, 2)
    make_message(user, read_at=utcnow())  # read: not counted
    login(client, user)

    for path in ("/desk/messages", "/account/password", "/desk/settings/notifications"):
        assert badge(client.get(path).get_data(as_text=True)) == "2", path


def test_the_badge_stops_at_99_plus(client, tree):
    add_messages(tree.deputy_user, 99)
    login(client, tree.deputy_user)
    assert badge(client.get("/desk/").get_data(as_text=True)) == "99"

    add_messages(tree.deputy_user, 30)
    page = client.get("/desk/").get_data(as_text=True)
    assert badge(page) == "99+" and "超过99条未读" in page


def test_the_inbox_poll_refreshes_the_badge_out_of_band(client, tree, htmx):
    login(client, tree.deputy_user)
    assert badge(client.get("/desk/").get_data(as_text=True)) is None
    add_messages(tree.deputy_user, 3)

    fragment = client.get("/desk/?tab=addressed", headers=htmx).get_data(as_text=True)

    assert fragment.lstrip().startswith('<div id="inbox-list"')
    assert re.search(r'<a id="messages-link"[^>]*hx-swap-oob="true"', fragment)
    assert badge(fragment) == "3"
    full = client.get("/desk/?tab=addressed").get_data(as_text=True)
    assert "hx-swap-oob" not in full  # the page itself has the header's link once


def test_public_pages_show_no_messages_link_and_count_nothing(client, tree):
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        page = client.get("/").get_data(as_text=True)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)

    assert 'id="messages-link"' not in page
    assert not [s for s in statements if "notifications" in s]


def test_the_badge_costs_one_count_on_a_desk_page(app, tree):
    add_messages(tree.deputy_user, 3)
    client = app.test_client()
    login(client, tree.deputy_user)
    client.get("/desk/messages")
    db.session.commit()
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        client.get("/account/password")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)

    counts = [s for s in statements if "notifications" in s]
    assert len(counts) == 1 and "count(" in counts[0].lower()


def test_the_list_in_english(client, tree):
    make_message(tree.deputy_user, make_request(deputy=tree.deputy))
    login(client, tree.deputy_user)

    page = client.get("/desk/messages?lang=en").get_data(as_text=True)

    assert ">Messages<" in page and "Unread" in page and "Mark all as read" in page
    assert "Assigned to a department" in page and 'aria-label="Messages, 1 unread"' in page


def test_the_list_needs_a_login(client):
    assert client.get("/desk/messages").headers["Location"].startswith("/login")
    assert client.post("/desk/messages/1/read").headers["Location"].startswith("/login")


def test_a_deactivated_recipient_gets_no_new_messages_but_the_rest_do(app, tree):
    """The officer's colleague, deactivated, is not written to; the active officer is."""
    gone = make_user(Role.UNIT, department=tree.departments["township"], active=False)
    req = make_request(deputy=tree.deputy)

    assign(app.test_client(), tree, req)

    assert [m.kind for m in inbox_of(tree.officers["township"])] == [NotificationKind.ASSIGNED]
    assert inbox_of(gone) == []
