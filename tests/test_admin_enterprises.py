"""Admin pages for enterprises: search, edit, merging two records of one company, scope."""

import logging
import re
from datetime import date

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Enterprise, Pairing, Request, Visit, VisitCampaign, VisitForm
from liaison_app.models.visits import campaign_targets, visit_enterprises
from liaison_app.services import enterprises as enterprise_service
from tests.factories import make_deputy, make_enterprise, make_request, valid_uscc
from tests.test_admin_users import field_error, tree, wanan  # noqa: F401  (fixtures: 太仓市 and 万安县)
from tests.test_desk import login


@pytest.fixture
def hengfeng(tree):
    return make_enterprise(name="太仓恒丰精密机械有限公司", uscc=valid_uscc(910001), jurisdiction=tree.county,
                           address="太仓市沙溪镇工业园区5号")


@pytest.fixture
def duplicate(tree):
    """The same company as filed from a phone: a shorter name, no USCC, no jurisdiction."""
    return make_enterprise(name="恒丰精密机械", uscc=None)


def wrong_check_character(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def fresh(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def listed(page: str) -> set[int]:
    return {int(i) for i in re.findall(r'id="enterprise-(\d+)-row"', page)}


def edit(client, enterprise, **fields):
    data = {"name": enterprise.name, "uscc": enterprise.uscc or "", "address": enterprise.address,
            "jurisdiction": enterprise.jurisdiction_id or "", "industry": enterprise.industry,
            "park": enterprise.park}
    data.update(fields)
    return client.post(f"/admin/enterprises/{enterprise.id}/edit", data=data)


def merge(client, kept, duplicate, **kwargs):
    return client.post(f"/admin/enterprises/{kept.id}/merge", data={"duplicate": duplicate.id}, **kwargs)


# --- search ------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["恒丰精密", "tchf", "TCHF", "913205850009", "9132 0585 0009"],
                         ids=["name", "pinyin initials", "initials in capitals", "uscc prefix", "uscc with spaces"])
def test_search_by_name_uscc_or_pinyin_initials(client, tree, hengfeng, htmx, typed):
    other = make_enterprise(name="沙溪纺织有限公司", jurisdiction=tree.county)
    login(client, tree.admin)

    page = client.get("/admin/enterprises", query_string={"q": typed}).get_data(as_text=True)
    assert hengfeng.id in listed(page) and other.id not in listed(page)
    assert "<html" in page

    fragment = client.get("/admin/enterprises", query_string={"q": typed}, headers=htmx).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="enterprise-list"') and "<html" not in fragment
    assert hengfeng.id in listed(fragment) and other.id not in listed(fragment)


def test_the_search_box_searches_as_one_types(client, tree):
    login(client, tree.admin)

    page = client.get("/admin/enterprises").get_data(as_text=True)

    assert 'hx-trigger="search, keyup changed delay:300ms"' in page and 'hx-target="#enterprise-list"' in page


def test_the_list_shows_the_code_the_jurisdiction_and_the_number_of_requests(client, tree, hengfeng):
    make_request(station=tree.station, enterprise=hengfeng)
    make_request(station=tree.station, enterprise=hengfeng)
    login(client, tree.admin)

    page = client.get("/admin/enterprises").get_data(as_text=True)

    row = re.search(rf'<li id="enterprise-{hengfeng.id}-row">(.*?)</li>', page, re.S).group(1)
    assert hengfeng.uscc in row and "太仓市" in row and "2 件诉求" in row


# --- scope -------------------------------------------------------------------------------


def test_staff_see_their_area_and_the_unplaced_enterprises_that_filed_there(client, tree, wanan, hengfeng, duplicate):
    make_request(station=tree.station, enterprise=duplicate)  # no jurisdiction, filed at 沙溪镇
    filed_elsewhere = make_enterprise(name="万安县赣江食品厂", uscc=None)
    make_request(station=wanan.station, enterprise=filed_elsewhere)
    login(client, tree.staff["county"])

    page = client.get("/admin/enterprises").get_data(as_text=True)

    assert listed(page) == {hengfeng.id, duplicate.id}
    assert "万安县" not in page


def test_admins_see_every_enterprise(client, tree, wanan, hengfeng, duplicate):
    login(client, tree.admin)

    assert listed(client.get("/admin/enterprises").get_data(as_text=True)) >= {hengfeng.id, duplicate.id,
                                                                               wanan.enterprise.id}


@pytest.mark.parametrize("method,path", [
    ("GET", "/admin/enterprises/{id}"), ("GET", "/admin/enterprises/{id}/edit"),
    ("POST", "/admin/enterprises/{id}/edit"), ("GET", "/admin/enterprises/{id}/merge"),
    ("POST", "/admin/enterprises/{id}/merge"),
])
def test_staff_get_404_for_an_enterprise_of_another_county(client, tree, wanan, hengfeng, method, path):
    login(client, tree.staff["county"])

    response = client.open(path.format(id=wanan.enterprise.id), method=method,
                           data={"name": "改名", "duplicate": hengfeng.id})

    assert response.status_code == 404
    assert fresh(wanan.enterprise).name == "万安县华瑞电子有限公司" and fresh(hengfeng) is not None


def test_staff_cannot_merge_an_enterprise_of_another_county_into_theirs(client, tree, wanan, hengfeng):
    make_request(station=wanan.station, enterprise=wanan.enterprise)
    login(client, tree.staff["county"])

    assert client.get(f"/admin/enterprises/{hengfeng.id}/merge?duplicate={wanan.enterprise.id}").status_code == 404
    assert merge(client, hengfeng, wanan.enterprise).status_code == 404
    assert fresh(wanan.enterprise) is not None
    with pytest.raises(enterprise_service.OutOfScope):
        enterprise_service.merge_enterprises(hengfeng, wanan.enterprise, actor=tree.staff["county"])


def test_the_merge_search_offers_only_records_in_scope(client, tree, wanan, hengfeng, duplicate):
    make_request(station=tree.station, enterprise=duplicate)
    login(client, tree.staff["county"])

    page = client.get(f"/admin/enterprises/{hengfeng.id}/merge", query_string={"q": "有限公司"}).get_data(as_text=True)

    assert wanan.enterprise.id not in listed(page) and hengfeng.id not in listed(page)  # nor itself
    fragment = client.get(f"/admin/enterprises/{hengfeng.id}/merge", query_string={"q": "hf"},
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="merge-candidates"')
    assert listed(fragment) == {duplicate.id}
    assert f'href="/admin/enterprises/{hengfeng.id}/merge?duplicate={duplicate.id}"' in fragment


@pytest.mark.parametrize("role", ["deputy", "unit"])
@pytest.mark.parametrize("method,path", [
    ("GET", "/admin/enterprises"), ("GET", "/admin/enterprises/{id}"), ("GET", "/admin/enterprises/{id}/edit"),
    ("POST", "/admin/enterprises/{id}/edit"), ("GET", "/admin/enterprises/{id}/merge"),
    ("POST", "/admin/enterprises/{id}/merge"),
])
def test_deputies_and_unit_officers_get_403(client, tree, hengfeng, role, method, path):
    login(client, tree.deputy_user if role == "deputy" else tree.officers["county"])

    response = client.open(path.format(id=hengfeng.id), method=method, data={"name": "改名"})

    assert response.status_code == 403


# --- editing -----------------------------------------------------------------------------


def test_editing_saves_and_keeps_the_initials_in_step(client, tree, hengfeng):
    login(client, tree.staff["county"])

    response = edit(client, hengfeng, name="太仓华丰精密机械有限公司", uscc="", industry="机械制造",
                    jurisdiction=tree.township.id)

    assert response.status_code == 303 and response.headers["Location"] == f"/admin/enterprises/{hengfeng.id}"
    saved = fresh(hengfeng)
    assert saved.name_initials.startswith("tchfjmjx") and saved.uscc is None
    assert saved.industry == "机械制造" and saved.jurisdiction_id == tree.township.id


def test_the_industrial_park_is_edited_and_shown(client, tree, hengfeng):
    """Campaigns can target one park: it is set here as well as by import."""
    login(client, tree.staff["county"])

    response = edit(client, hengfeng, park=" 太仓港经济技术开发区 ")

    assert response.status_code == 303
    assert fresh(hengfeng).park == "太仓港经济技术开发区"
    assert "太仓港经济技术开发区" in client.get(f"/admin/enterprises/{hengfeng.id}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (lambda t, w, other: dict(uscc=wrong_check_character(valid_uscc(910001))), "uscc", "校验位不符"),
        (lambda t, w, other: dict(uscc="123"), "uscc", "应为 18 位"),
        (lambda t, w, other: dict(uscc=other.uscc), "uscc", "另一条企业记录已使用"),
        (lambda t, w, other: dict(name=""), "name", "请填写此项"),
        (lambda t, w, other: dict(jurisdiction=w.county.id), "jurisdiction", "超出了您的管辖范围"),
        (lambda t, w, other: dict(jurisdiction=""), "jurisdiction", "请选择行政区划"),
    ],
    ids=["bad check character", "too short", "another record's code", "no name", "another county",
         "dropping the jurisdiction"],
)
def test_a_refused_edit_says_why_next_to_the_field_and_saves_nothing(client, tree, wanan, hengfeng, fields, field,
                                                                   message, htmx):
    other = make_enterprise(name="沙溪纺织有限公司", jurisdiction=tree.county)
    login(client, tree.staff["county"])

    response = client.post(f"/admin/enterprises/{hengfeng.id}/edit", headers=htmx, data={
        "name": hengfeng.name, "uscc": hengfeng.uscc, "address": "", "jurisdiction": tree.county.id, "industry": "",
        **fields(tree, wanan, other)})

    page = response.get_data(as_text=True)
    assert response.status_code == 422 and page.lstrip().startswith('<form id="enterprise-form"')
    assert message in field_error(page, field)
    assert "未保存" in page
    saved = fresh(hengfeng)
    assert (saved.name, saved.uscc, saved.address) == ("太仓恒丰精密机械有限公司", valid_uscc(910001), "太仓市沙溪镇工业园区5号")


def test_the_edit_form_offers_only_jurisdictions_in_scope(client, tree, wanan, hengfeng):
    login(client, tree.staff["county"])

    page = client.get(f"/admin/enterprises/{hengfeng.id}/edit").get_data(as_text=True)

    assert "万安县" not in page and "苏州市" not in page and "沙溪镇" in page
    assert re.search(rf'<option selected value="{tree.county.id}">', page)


# --- merging -----------------------------------------------------------------------------


def test_the_preview_shows_both_records_and_what_moves(client, tree, hengfeng, duplicate):
    make_request(station=tree.station, enterprise=duplicate)
    make_request(station=tree.station, enterprise=duplicate)
    login(client, tree.staff["county"])

    response = client.get(f"/admin/enterprises/{hengfeng.id}/merge?duplicate={duplicate.id}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert hengfeng.name in page and duplicate.name in page
    assert "把 2 件诉求转到保留的记录" in page
    assert re.search(rf'<form method="post" action="/admin/enterprises/{hengfeng.id}/merge"[^>]*hx-confirm="', page)
    assert f'name="duplicate" value="{duplicate.id}"' in page
    assert fresh(duplicate) is not None  # a preview changes nothing


def test_merging_moves_the_requests_and_leaves_no_duplicate(app, client, tree, duplicate, caplog):
    kept = make_enterprise(name="太仓恒丰精密机械有限公司", uscc=None, jurisdiction=tree.county)
    duplicate.uscc, duplicate.industry = valid_uscc(910002), "机械制造"
    db.session.commit()
    moved = [make_request(station=tree.station, enterprise=duplicate) for _ in range(2)]
    own = make_request(station=tree.station, enterprise=kept)
    duplicate_id, versions = duplicate.id, [r.version for r in (*moved, own)]
    login(client, tree.staff["county"])

    with caplog.at_level(logging.INFO, logger="liaison.admin"):
        response = merge(client, kept, duplicate)

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/enterprises/{kept.id}?done=merged"
    assert "两条记录已合并" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Enterprise, duplicate_id) is None
    assert {r.enterprise_id for r in db.session.scalars(sa.select(Request))} == {kept.id}
    assert [fresh(r).version for r in (*moved, own)] == versions  # no open desk form goes stale
    saved = fresh(kept)
    assert saved.uscc == valid_uscc(910002) and saved.industry == "机械制造"  # gaps filled from the duplicate
    assert saved.jurisdiction_id == tree.county.id and saved.name == "太仓恒丰精密机械有限公司"  # kept's own stay
    for req in moved:  # the enterprise's tracking links still work
        tracking = app.test_client().get(f"/t/{req.tracking_token}")
        assert tracking.status_code == 200 and req.reference in tracking.get_data(as_text=True)
    login(client, tree.admin)
    assert kept.name in client.get(f"/desk/requests/{moved[0].id}").get_data(as_text=True)
    assert f"enterprise {duplicate_id} (恒丰精密机械) merged into {kept.id}" in caplog.text
    assert "2 requests" in caplog.text


def test_merging_moves_pairings_visits_and_campaign_targets_without_doubling(app, tree, hengfeng, duplicate):
    campaign = VisitCampaign(name="2026年代表集中走访月", jurisdiction=tree.county, starts_on=date(2026, 8, 1),
                             ends_on=date(2026, 8, 31))
    other_deputy = make_deputy(tree.station, name="沈国强")
    both_visited = Visit(form=VisitForm.VISIT, held_on=date(2026, 8, 3), jurisdiction=tree.township,
                         enterprises=[hengfeng, duplicate])
    one_visited = Visit(form=VisitForm.SYMPOSIUM, held_on=date(2026, 8, 5), jurisdiction=tree.township,
                        enterprises=[duplicate])
    db.session.add_all([
        campaign, both_visited, one_visited,
        Pairing(campaign=campaign, deputy=tree.deputy, enterprise=hengfeng, is_lead=True),
        Pairing(campaign=campaign, deputy=tree.deputy, enterprise=duplicate, is_lead=False),  # the same pair twice
        Pairing(campaign=campaign, deputy=other_deputy, enterprise=duplicate, is_lead=True),  # a second lead
    ])
    db.session.flush()
    db.session.execute(campaign_targets.insert(), [{"campaign_id": campaign.id, "enterprise_id": e.id}
                                                   for e in (hengfeng, duplicate)])
    db.session.commit()

    plan = enterprise_service.merge_enterprises(hengfeng, duplicate, actor=tree.admin)

    assert (plan.pairings, plan.visits, plan.campaign_targets) == (2, 2, 1)
    db.session.expire_all()
    pairings = db.session.scalars(sa.select(Pairing).order_by(Pairing.id)).all()
    assert [(p.deputy_id, p.enterprise_id, p.is_lead) for p in pairings] == [
        (tree.deputy.id, hengfeng.id, True), (other_deputy.id, hengfeng.id, False)]
    assert sorted(db.session.execute(sa.select(visit_enterprises.c.visit_id, visit_enterprises.c.enterprise_id))
                  .all()) == sorted([(both_visited.id, hengfeng.id), (one_visited.id, hengfeng.id)])
    assert db.session.execute(sa.select(campaign_targets.c.enterprise_id)).scalars().all() == [hengfeng.id]


def test_merging_over_htmx_redirects_the_page(client, tree, hengfeng, duplicate, htmx):
    login(client, tree.admin)

    response = merge(client, hengfeng, duplicate, headers=htmx)

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/admin/enterprises/{hengfeng.id}?done=merged"


def test_merging_refuses_two_different_codes(client, tree, hengfeng, htmx):
    other = make_enterprise(name="太仓恒丰精密机械", uscc=valid_uscc(910003), jurisdiction=tree.county)
    req = make_request(station=tree.station, enterprise=other)
    login(client, tree.admin)

    preview = client.get(f"/admin/enterprises/{hengfeng.id}/merge?duplicate={other.id}").get_data(as_text=True)
    assert "两条记录的统一社会信用代码不同，不是同一家企业" in preview and 'name="duplicate"' not in preview

    response = merge(client, hengfeng, other, headers=htmx)

    page = response.get_data(as_text=True)
    assert response.status_code == 409 and page.lstrip().startswith('<div id="merge-preview"')
    assert "两条记录的统一社会信用代码不同，不是同一家企业" in page
    assert fresh(other) is not None and fresh(req).enterprise_id == other.id


def test_merging_refuses_a_record_into_itself(client, tree, hengfeng):
    make_request(station=tree.station, enterprise=hengfeng)
    login(client, tree.admin)

    response = merge(client, hengfeng, hengfeng)

    assert response.status_code == 409 and "不能把一条记录合并到它自己" in response.get_data(as_text=True)
    assert fresh(hengfeng) is not None


def test_a_merge_is_refused_for_both_sides_out_of_scope(app, tree, wanan, hengfeng):
    with pytest.raises(enterprise_service.OutOfScope):
        enterprise_service.plan_merge(wanan.enterprise, hengfeng, actor=tree.staff["county"])
    with pytest.raises(enterprise_service.OutOfScope):
        enterprise_service.plan_merge(hengfeng, wanan.enterprise, actor=tree.staff["county"])


def test_the_merge_covers_every_table_that_points_at_an_enterprise(app):
    """A new table with an enterprise_id must be handled by merge_enterprises (then listed here)."""
    pointing = {fk.parent.table.name for table in db.metadata.tables.values() for fk in table.foreign_keys
                if fk.column.table.name == "enterprises"}

    assert pointing == {"requests", "pairings", "visit_enterprises", "campaign_targets"}
