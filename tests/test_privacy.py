"""Contact details (个人信息) reach only those who handle the request; staff seeing them is logged."""

import logging

import pytest

from liaison_app.models import Outcome, Rating, Role
from liaison_app.services import publication
from liaison_app.services import workflow as wf
from tests.factories import Tree, make_department, make_request, make_user
from tests.test_access_matrix import assigned, escalated, fresh, submitted, user_for
from tests.test_desk import login
from tests.test_logs import CLIENT_IP, at, log_lines  # noqa: F401  (a fixture)

SHOWN_PHONE = "139 1234 5678"  # make_request's +8613912345678 as the card shows it
MASKED_PHONE = "139****5678"
NAME = "张明"


@pytest.fixture
def tree(app):
    return Tree()


def role_user(tree, role):
    if role == "other_county_staff":
        return make_user(Role.STAFF)  # staff of a county of their own
    if role == "other_unit":
        return make_user(Role.UNIT, department=make_department(name="沙溪镇财政所", jurisdiction=tree.township))
    return user_for(tree, role)


def card(app, user, req):
    client = app.test_client()
    if user is not None:
        login(client, user)
    return client.get(f"/desk/requests/{req.id}")


SEES_CONTACT, CARD_ONLY, NOT_FOUND, LOGIN = "contact", "card without contact", 404, 302

# Who sees what of a request assigned to the township's department by the deputy who claimed it.
ASSIGNED = {
    "deputy": SEES_CONTACT,  # the claimant
    "colleague": SEES_CONTACT,  # a deputy of the station it was filed at
    "outsider": NOT_FOUND,  # a deputy of another station
    "township_staff": SEES_CONTACT,  # staff of the level that holds it
    "county_staff": SEES_CONTACT,  # staff above supervise it
    "other_county_staff": NOT_FOUND,
    "township_unit": SEES_CONTACT,  # the department it is assigned to
    "county_unit": NOT_FOUND,
    "other_unit": NOT_FOUND,  # another department of the same level
    "admin": SEES_CONTACT,
    "anonymous": LOGIN,
}
# Escalated to the county: the township's deputies keep the card but no longer handle it; the
# township's staff keep it read only, with the contact, to tell the enterprise of its result.
ESCALATED = dict(ASSIGNED, deputy=CARD_ONLY, colleague=CARD_ONLY, township_unit=NOT_FOUND)
# Waiting to be claimed: no department has it yet.
SUBMITTED = dict(ASSIGNED, township_unit=NOT_FOUND)


@pytest.mark.parametrize("setup,expected", [(assigned, ASSIGNED), (escalated, ESCALATED), (submitted, SUBMITTED)],
                         ids=["assigned", "escalated", "submitted"])
def test_the_contact_on_the_card_for_each_role(app, tree, setup, expected):
    req = setup(tree)
    seen = {}
    for role in expected:
        response = card(app, role_user(tree, role), req)
        page = response.get_data(as_text=True)
        if response.status_code == 200:
            seen[role] = SEES_CONTACT if SHOWN_PHONE in page and NAME in page else CARD_ONLY
            if seen[role] == CARD_ONLY:
                assert NAME not in page and "1234 5678" not in page and MASKED_PHONE not in page, role
        else:
            seen[role] = response.status_code
    assert seen == expected


def test_the_inbox_shows_the_contact_masked_to_those_who_handle_it(app, tree):
    req = make_request(deputy=tree.deputy)
    for user in (tree.deputy_user, tree.staff["township"]):
        client = app.test_client()
        login(client, user)
        page = client.get("/desk/?tab=all" if user.role is Role.STAFF else "/desk/").get_data(as_text=True)
        assert req.title in page
        assert MASKED_PHONE in page and "张**" in page
        assert SHOWN_PHONE not in page and NAME not in page


def test_the_tracking_page_and_the_public_board_show_no_contact(client, tree):
    req = make_request(deputy=tree.deputy, public_consent=True)
    wf.claim_request(fresh(req), actor=tree.deputy_user)
    wf.answer_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, outcome=Outcome.SOLVED,
                      text="转贷基金已到位")
    wf.accept_answer(fresh(req), actor=tree.deputy_user, version=fresh(req).version)
    wf.rate_request(fresh(req), version=fresh(req).version, rating=Rating.SATISFIED)
    # The summary names the contact and his phone: the board shows it with them removed.
    publication.save_public_summary(fresh(req), actor=tree.deputy_user, version=fresh(req).version,
                                    problem=f"{NAME}（13912345678）反映续贷需要过桥资金", result="公示：转贷基金已到位")
    publication.approve_public_summary(fresh(req), actor=tree.deputy_user, version=fresh(req).version, confirmed=True)
    req = fresh(req)

    for path in (f"/t/{req.tracking_token}", f"/board/station/{tree.station.id}",
                 f"/board/jurisdiction/{tree.county.id}"):
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert NAME not in page and SHOWN_PHONE not in page and MASKED_PHONE not in page and "13912345678" not in page
        assert path.startswith("/t/") or "公示：转贷基金已到位" in page


# --- staff seeing a contact is logged ---------------------------------------------------------


@pytest.mark.parametrize("role", ["township_staff", "county_staff", "admin"])
def test_staff_seeing_a_contact_is_logged_with_user_ip_and_request(app, tree, caplog, log_lines, role):  # noqa: F811
    req = assigned(tree)
    user = user_for(tree, role)
    client = app.test_client()
    login(client, user)
    with caplog.at_level(logging.INFO, logger="liaison.privacy"):
        assert client.get(f"/desk/requests/{req.id}", **at()).status_code == 200
    expected = f"contact of request {req.reference} (id {req.id}) shown to {user.role.value} {user.id}:{user.username}"
    assert [r.getMessage() for r in caplog.records if r.name == "liaison.privacy"] == [expected]
    assert f"user={user.id}:{user.username} ip={CLIENT_IP} {expected}" in log_lines.one("contact of request")


@pytest.mark.parametrize("role", ["deputy", "colleague", "township_unit"])
def test_those_who_handle_it_are_not_logged_for_each_look(app, tree, caplog, role):
    req = assigned(tree)
    with caplog.at_level(logging.INFO, logger="liaison.privacy"):
        assert card(app, user_for(tree, role), req).status_code == 200
    assert [r for r in caplog.records if r.name == "liaison.privacy"] == []


def test_no_line_when_staff_see_a_card_without_a_contact(app, tree, caplog):
    req = make_request(deputy=tree.deputy, contact_name="", contact_phone="")  # a problem logged on a visit
    with caplog.at_level(logging.INFO, logger="liaison.privacy"):
        assert card(app, tree.staff["township"], req).status_code == 200
    assert [r for r in caplog.records if r.name == "liaison.privacy"] == []
