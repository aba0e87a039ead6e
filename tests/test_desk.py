"""The desk over HTTP: inbox, card, actions with and without htmx."""

import re

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Request
from liaison_app.workflow import Status
from tests.factories import Tree, make_request


def login(client, user):
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def req(tree):
    return make_request(deputy=tree.deputy)


def fresh(req):
    db.session.expire_all()
    return db.session.get(Request, req.id)


def test_the_deputys_inbox_shows_the_request_addressed_to_him_with_counts(client, tree, req):
    login(client, tree.deputy_user)

    page = client.get("/desk/").get_data(as_text=True)

    assert req.reference in page
    assert re.search(r'指向我的 <span class="count">1</span>', page)
    assert "139****5678" in page and "张**" in page  # masked in every list
    assert "13912345678" not in page and "139 1234 5678" not in page and "张明" not in page


def test_the_list_fragment_alone_for_htmx_polling(client, tree, req, htmx):
    login(client, tree.deputy_user)

    response = client.get("/desk/?tab=station", headers=htmx)

    page = response.get_data(as_text=True)
    assert page.lstrip().startswith('<div id="inbox-list"')
    assert req.reference in page
    assert response.headers["Cache-Control"] == "no-store"


def test_search_finds_by_reference_and_text(client, tree, req):
    other = make_request(deputy=tree.deputy, title="道路塌陷", description="厂区门口道路塌陷，货车无法通行。")
    login(client, tree.deputy_user)

    page = client.get("/desk/?tab=addressed&q=塌陷").get_data(as_text=True)
    assert other.reference in page and req.reference not in page

    page = client.get(f"/desk/?tab=addressed&q={req.reference}").get_data(as_text=True)
    assert req.reference in page and other.reference not in page


def test_paging_by_id_keeps_every_request_once(client, tree):
    made = [make_request(deputy=tree.deputy) for _ in range(23)]
    login(client, tree.deputy_user)

    first = client.get("/desk/?tab=addressed").get_data(as_text=True)
    older = re.search(r'href="(/desk/\?[^"]*before=\d+[^"]*)"', first).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)

    refs = re.findall(r'<span class="ref">([^<]+)</span>', first) + re.findall(r'<span class="ref">([^<]+)</span>', second)
    assert sorted(refs) == sorted(r.reference for r in made)


def test_those_who_cannot_act_see_no_contact_at_all(app, tree, req):
    from liaison_app.services import workflow as wf

    wf.claim_request(req, actor=tree.deputy_user)
    wf.escalate_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version, reason="超出镇级权限")
    colleague = app.test_client()
    login(colleague, tree.colleague_user)  # still sees it (the station's), may no longer act

    for path in ("/desk/?tab=station", "/desk/?tab=all", f"/desk/requests/{req.id}"):
        page = colleague.get(path).get_data(as_text=True)
        assert "139****5678" not in page and "张**" not in page and "张明" not in page and "tel:" not in page, path


def test_the_card_shows_contact_with_a_tel_link_and_only_allowed_buttons(client, tree, req):
    login(client, tree.deputy_user)

    page = client.get(f"/desk/requests/{req.id}").get_data(as_text=True)

    assert 'href="tel:+8613912345678"' in page
    assert f'action="/desk/requests/{req.id}/claim"' in page
    assert f'action="/desk/requests/{req.id}/reject"' in page
    assert f'action="/desk/requests/{req.id}/acknowledge"' not in page


def test_claim_with_htmx_swaps_the_card(client, tree, req, htmx):
    login(client, tree.deputy_user)

    response = client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version}, headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith(f'<article id="request-{req.id}-card"')
    assert "已认领" in page
    assert fresh(req).status is Status.CLAIMED


def test_claim_without_javascript_redirects_with_303(client, tree, req):
    login(client, tree.deputy_user)

    response = client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/desk/requests/{req.id}?done=claim"


def test_a_second_claim_gets_409_and_the_winners_name(client, app, tree, req):
    login(client, tree.deputy_user)
    client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version})
    other = app.test_client()
    login(other, tree.colleague_user)

    response = other.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version})

    assert response.status_code == 409
    assert "已被 顾振华 认领" in response.get_data(as_text=True)


def test_a_reason_is_required_and_the_form_comes_back_open_with_422(client, tree, req):
    login(client, tree.deputy_user)

    response = client.post(f"/desk/requests/{req.id}/reject", data={"reject-version": req.version, "reject-reason": ""})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请填写" in page
    assert re.search(r'<details class="action" open>\s*<summary class="button secondary">不予受理', page)
    assert fresh(req).status is Status.SUBMITTED


def test_a_stale_card_gets_409_and_the_fresh_card(client, tree, req):
    login(client, tree.deputy_user)
    client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version})
    stale = fresh(req).version - 1

    response = client.post(f"/desk/requests/{req.id}/escalate",
                           data={"escalate-version": stale, "escalate-reason": "超出镇级权限"})

    assert response.status_code == 409
    assert "刚刚有了更新" in response.get_data(as_text=True)
    assert fresh(req).jurisdiction_id == tree.township.id


def test_assign_offers_the_departments_of_the_level_and_proposes_the_due_date(client, tree, req):
    login(client, tree.deputy_user)
    client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version})

    page = client.get(f"/desk/requests/{req.id}").get_data(as_text=True)

    assert "沙溪镇住建局" in page and "太仓市住建局" not in page
    assert re.search(r'name="assign-due_on"[^>]*value="\d{4}-\d{2}-\d{2}"', page)
    response = client.post(f"/desk/requests/{req.id}/assign", data={
        "assign-version": fresh(req).version, "assign-department": tree.departments["township"].id,
        "assign-due_on": "", "assign-note": ""})
    assert response.status_code == 303
    assert fresh(req).status is Status.ASSIGNED


def test_the_unit_home_lists_what_awaits_acknowledgement_with_a_countdown(client, tree, req):
    from liaison_app.services import workflow as wf

    wf.claim_request(req, actor=tree.deputy_user)
    wf.assign_request(fresh(req), actor=tree.deputy_user, version=fresh(req).version,
                      department=tree.departments["township"])
    login(client, tree.officers["township"])

    assert client.get("/desk/").headers["Location"].startswith("/desk/unit")
    page = client.get("/desk/unit").get_data(as_text=True)
    assert req.reference in page and "待签收" in page
    card = client.get(f"/desk/requests/{req.id}").get_data(as_text=True)
    assert "还剩" in card


# --- the overdue tab asks each of a deputy's views on its own and unites what they find ------------


def listed(client, path) -> tuple[list[str], dict[str, int], str]:
    """The references a page of the inbox lists, its tabs' counts, and its 'Older' link."""
    page = client.get(path).get_data(as_text=True)
    counts = {key: int(n) for key, n in re.findall(r'tab=(\w+)[^>]*>[^<]*<span class="count">(\d+)</span>', page)}
    older = re.search(r'href="(/desk/\?[^"]*before=\d+[^"]*)"', page)
    return (re.findall(r'<span class="ref">([^<]+)</span>', page), counts,
            older.group(1).replace("&amp;", "&") if older else None)


def overdue_at_the_county(tree, escalator):
    """A request of the station, claimed by `escalator`, escalated to the county and not
    claimed there by its deadline."""
    from datetime import timedelta

    from liaison_app.services import workflow as wf
    from liaison_app.workdays import today_local

    req = make_request(station=tree.station)
    wf.claim_request(req, actor=escalator)
    wf.escalate_request(fresh(req), actor=escalator, version=fresh(req).version, reason="超出镇级权限")
    req = fresh(req)
    req.claim_due_on = today_local() - timedelta(days=3)
    db.session.commit()
    return req


def test_a_deputy_who_left_the_station_still_finds_what_he_escalated_among_the_overdue(client, tree):
    req = overdue_at_the_county(tree, tree.colleague_user)
    tree.colleague.stations.remove(tree.station)
    db.session.commit()
    login(client, tree.colleague_user)

    refs, counts, _ = listed(client, "/desk/?tab=overdue")

    assert refs == [req.reference] and counts == {"addressed": 0, "station": 0, "mine": 0, "overdue": 1}
    card = client.get(f"/desk/requests/{req.id}")
    assert card.status_code == 200 and f"/desk/requests/{req.id}/claim" not in card.get_data(as_text=True)


def test_a_county_deputy_finds_what_was_escalated_to_the_county_among_the_overdue(app, client, tree):
    from tests.factories import make_deputy, make_station, make_user
    from liaison_app.models import Role

    escalated = overdue_at_the_county(tree, tree.deputy_user)
    at_the_township = make_request(station=tree.station, claim_due_on=escalated.claim_due_on)
    county_deputy = make_deputy(make_station(jurisdiction=tree.county), congress_jurisdiction=tree.county)
    login(client, make_user(Role.DEPUTY, deputy=county_deputy))

    refs, counts, _ = listed(client, "/desk/?tab=overdue")

    assert refs == [escalated.reference] and counts["overdue"] == 1
    assert at_the_township.reference not in refs
    card = client.get(f"/desk/requests/{escalated.id}").get_data(as_text=True)
    assert f"/desk/requests/{escalated.id}/claim" in card  # the county's queue is his
    outsider = app.test_client()
    login(outsider, tree.outsider_user)  # the township's congress, another station: not his
    assert listed(outsider, "/desk/?tab=overdue")[:2] == ([], {"addressed": 0, "station": 0, "mine": 0, "overdue": 0})


def test_the_overdue_tab_pages_through_every_view_once_newest_first(client, tree):
    from datetime import timedelta

    from liaison_app.workdays import today_local

    late = today_local() - timedelta(days=2)
    addressed = [make_request(deputy=tree.deputy, claim_due_on=late) for _ in range(12)]
    station = [make_request(station=tree.station, claim_due_on=late) for _ in range(12)]
    escalated = overdue_at_the_county(tree, tree.deputy_user)
    make_request(station=tree.other_station, claim_due_on=late)  # not his
    make_request(deputy=tree.deputy)  # not overdue
    login(client, tree.deputy_user)

    first, counts, older = listed(client, "/desk/?tab=overdue")
    second, _, last = listed(client, older)

    expected = sorted(addressed + station + [escalated], key=lambda r: r.id, reverse=True)
    assert first + second == [r.reference for r in expected] and last is None
    # the station's queue: everything still waiting for a claim, the escalated one included
    assert counts == {"addressed": 13, "station": 26, "mine": 0, "overdue": 25}
