"""Visit campaigns: the form and its targets (all, a park, a list), 1+N pairing by hand, by
import and spread evenly, coverage against hand-built visits, the one-tap reminder and its
delivery, the coverage spreadsheet, and who may open what."""

import csv
import io
import logging
from datetime import date
from html import unescape

import openpyxl
import pytest
import sqlalchemy as sa
from flask import g

from liaison_app.extensions import db
from liaison_app.models import (
    Deputy,
    Enterprise,
    Level,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    Pairing,
    Role,
    TargetKind,
    Visit,
    VisitCampaign,
    VisitForm,
)
from liaison_app.models.visits import campaign_targets
from liaison_app.services import campaigns as service
from liaison_app.services import notify
from liaison_app.services.campaigns import CampaignError, Upload
from tests.factories import Tree, make_deputy, make_enterprise, make_jurisdiction, make_station, make_user
from tests.test_desk import login
from tests.stand_in import StandIn
from tests.test_notify import bodies as robot_bodies

AUGUST = (date(2026, 8, 1), date(2026, 8, 31))


class World:
    """太仓市 with three townships: 沙溪镇 (two stations: 顾振华 and 刘春梅 in one, 陈立新 in the
    other), 浏河镇 (one station: 周卫东, 吴海燕) and 城厢镇 (no station); five, three and two
    enterprises; and 万安县 beside it with its own staff and enterprise."""

    def __init__(self):
        tree = self.tree = Tree()
        self.county, self.shaxi = tree.county, tree.township
        self.liuhe = make_jurisdiction(name="浏河镇", level=Level.TOWNSHIP, division_code=f"{tree.county.division_code}-a",
                                       parent=tree.county)
        self.chengxiang = make_jurisdiction(name="城厢镇", level=Level.TOWNSHIP,
                                            division_code=f"{tree.county.division_code}-b", parent=tree.county)
        self.liuhe_station = make_station(name="浏河镇中心联络站", jurisdiction=self.liuhe)
        self.zhou = make_deputy(self.liuhe_station, name="周卫东")
        self.wu = make_deputy(self.liuhe_station, name="吴海燕")
        self.sx = [make_enterprise(name=f"沙溪精工{i}号有限公司", jurisdiction=self.shaxi,
                                   park="沙溪工业园" if i < 2 else "") for i in range(5)]
        self.lh = [make_enterprise(name=f"浏河物流{i}号有限公司", jurisdiction=self.liuhe,
                                   park="浏河工业园" if i == 0 else "") for i in range(3)]
        self.cx = [make_enterprise(name=f"城厢纺织{i}号有限公司", jurisdiction=self.chengxiang) for i in range(2)]
        self.staff = tree.staff["county"]
        self.wanan = make_jurisdiction(name="万安县", level=Level.COUNTY, division_code="360828", parent=tree.city)
        self.wanan_staff = make_user(Role.STAFF, jurisdiction=self.wanan)
        self.wanan_firm = make_enterprise(name="万安县示范电子有限公司", jurisdiction=self.wanan)

    @property
    def targets(self):
        return self.sx + self.lh + self.cx


@pytest.fixture
def world(app):
    return World()


def make_campaign(world, kind=TargetKind.ALL, *, jurisdiction=None, dates=AUGUST, park="", target_list=None,
                  name="2026年代表集中走访月") -> VisitCampaign:
    result = service.save_campaign(VisitCampaign(), actor=world.staff, name=name,
                                   jurisdiction=jurisdiction or world.county, starts_on=dates[0], ends_on=dates[1],
                                   target_kind=kind, park=park, target_list=target_list)
    return result.campaign


def target_ids(campaign) -> set[int]:
    return set(db.session.scalars(sa.select(campaign_targets.c.enterprise_id)
                                  .where(campaign_targets.c.campaign_id == campaign.id)))


def ids(enterprises) -> set[int]:
    return {e.id for e in enterprises}


def add_visit(world, held_on, enterprises, form=VisitForm.VISIT, campaign=None) -> Visit:
    visit = Visit(form=form, held_on=held_on, jurisdiction=world.county, campaign=campaign,
                  enterprises=list(enterprises), deputies=[world.tree.deputy])
    db.session.add(visit)
    db.session.commit()
    return visit


def leads(campaign) -> dict[int, int]:
    """enterprise id → lead deputy id."""
    rows = db.session.execute(sa.select(Pairing.enterprise_id, Pairing.deputy_id)
                              .where(Pairing.campaign_id == campaign.id, Pairing.is_lead)).all()
    return dict(rows)


def pairing_count(campaign) -> int:
    return db.session.scalar(sa.select(sa.func.count(Pairing.id)).where(Pairing.campaign_id == campaign.id))


def xlsx_bytes(headers, rows) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.append(headers)
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_bytes(headers, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode("gb18030")


def client_of(app, user):
    client = app.test_client()
    login(client, user)
    return client


def page_text(response) -> str:
    return unescape(response.get_data(as_text=True))


def campaign_form(world, **overrides):
    data = dict(name="2026年代表集中走访月", jurisdiction=str(world.county.id), starts_on="2026-08-01",
                ends_on="2026-08-31", target_kind="all", park="", note="")
    data.update(overrides)
    return data


# --- the campaign form ---------------------------------------------------------------------------


def test_a_campaign_is_created_over_the_jurisdiction_and_opens_on_its_progress_page(app, world):
    client = client_of(app, world.staff)

    response = client.post("/oversight/campaigns/new", data=campaign_form(world))

    campaign = db.session.scalars(sa.select(VisitCampaign)).one()
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/oversight/campaigns/{campaign.id}")
    assert (campaign.name, campaign.jurisdiction_id, campaign.created_by_id) == (
        "2026年代表集中走访月", world.county.id, world.staff.id)
    assert target_ids(campaign) == ids(world.targets)
    page = page_text(client.get(f"/oversight/campaigns/{campaign.id}?lang=en"))
    assert "0 of 10 target enterprises visited." in page


def test_validation_errors_come_back_with_everything_typed(app, world):
    client = client_of(app, world.staff)

    response = client.post("/oversight/campaigns/new?lang=en", data=campaign_form(
        world, name="万安县代表走访周", starts_on="2026-08-31", ends_on="2026-08-24", note="重点走访园区企业"))

    page = page_text(response)
    assert response.status_code == 422
    assert "The last day cannot be before the first day." in page
    assert 'value="万安县代表走访周"' in page and 'value="2026-08-31"' in page and 'value="2026-08-24"' in page
    assert "重点走访园区企业" in page
    assert db.session.scalar(sa.select(sa.func.count(VisitCampaign.id))) == 0


@pytest.mark.parametrize("overrides, message", [
    (dict(name=""), "Please fill this in."),
    (dict(starts_on=""), "Please give a date."),
    (dict(target_kind="park", park=""), "Please choose a park."),
    (dict(target_kind="park", park="浏河工业园", jurisdiction="{shaxi}"), "No enterprise of 沙溪镇 is recorded in this park."),
    (dict(target_kind="list"), "Please choose the file with the list of enterprises."),
    (dict(jurisdiction="{wanan}"), "Please choose a jurisdiction from the list."),
])
def test_each_refusal_says_why_and_saves_nothing(app, world, overrides, message):
    places = dict(shaxi=world.shaxi.id, wanan=world.wanan.id)
    overrides = {key: value.format(**places) for key, value in overrides.items()}
    response = client_of(app, world.staff).post("/oversight/campaigns/new?lang=en",
                                                 data=campaign_form(world, **overrides))

    assert response.status_code == 422
    assert message in page_text(response)
    assert db.session.scalar(sa.select(sa.func.count(VisitCampaign.id))) == 0


def test_the_park_choices_follow_the_jurisdiction(app, world, htmx):
    client = client_of(app, world.staff)

    page = page_text(client.get(f"/oversight/campaigns/parks?jurisdiction={world.shaxi.id}", headers=htmx))

    assert "沙溪工业园" in page and "浏河工业园" not in page
    assert "浏河工业园" in page_text(client.get(f"/oversight/campaigns/parks?jurisdiction={world.county.id}"))
    assert client.get(f"/oversight/campaigns/parks?jurisdiction={world.wanan.id}").status_code == 404


# --- targets -------------------------------------------------------------------------------------


def test_all_targets_every_enterprise_of_the_jurisdiction_and_below(world):
    assert target_ids(make_campaign(world)) == ids(world.targets)
    assert target_ids(make_campaign(world, jurisdiction=world.liuhe)) == ids(world.lh)


def test_park_targets_the_enterprises_of_that_park_only(world):
    campaign = make_campaign(world, TargetKind.PARK, park="沙溪工业园")

    assert target_ids(campaign) == ids(world.sx[:2])
    assert campaign.park == "沙溪工业园"


def test_a_list_targets_the_enterprises_it_names_by_code_or_exact_name(world):
    data = xlsx_bytes(["企业名称", "统一社会信用代码"],
                      [["", world.sx[0].uscc], [world.lh[1].name, ""], [world.cx[0].name, world.cx[0].uscc]])

    campaign = make_campaign(world, TargetKind.LIST, target_list=Upload(data, "名单.xlsx"))

    assert target_ids(campaign) == ids([world.sx[0], world.lh[1], world.cx[0]])


def test_a_list_with_unmatched_lines_reports_each_and_saves_nothing(world):
    data = csv_bytes(["企业名称", "统一社会信用代码"],
                     [[world.sx[0].name, ""], ["查无此企业有限公司", ""], ["", world.wanan_firm.uscc],
                      ["", "91320585ABC"]])

    with pytest.raises(CampaignError) as refused:
        make_campaign(world, TargetKind.LIST, target_list=Upload(data, "名单.csv"))

    assert [row.number for row in refused.value.rows] == [3, 4, 5]
    assert "查无此企业有限公司" in refused.value.rows[0].text
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(VisitCampaign.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(campaign_targets)) == 0


def test_the_form_lists_the_unmatched_lines(app, world):
    data = xlsx_bytes(["企业名称"], [[world.sx[0].name], ["查无此企业有限公司"]])
    response = client_of(app, world.staff).post(
        "/oversight/campaigns/new?lang=en", content_type="multipart/form-data",
        data=campaign_form(world, target_kind="list", target_file=(io.BytesIO(data), "名单.xlsx")))

    page = page_text(response)
    assert response.status_code == 422
    assert "Line 3" in page and "查无此企业有限公司" in page and "No enterprise of exactly this name" in page
    assert 'value="2026年代表集中走访月"' in page


def test_changing_the_target_keeps_the_pairings_of_targets_that_stay_and_drops_the_others(world):
    campaign = make_campaign(world)
    service.pair(campaign, actor=world.staff, deputy=world.tree.deputy, enterprise=world.sx[0], lead=True)
    service.pair(campaign, actor=world.staff, deputy=world.zhou, enterprise=world.lh[0], lead=True)

    result = service.save_campaign(campaign, actor=world.staff, name=campaign.name, jurisdiction=world.county,
                                   starts_on=campaign.starts_on, ends_on=campaign.ends_on,
                                   target_kind=TargetKind.PARK, park="沙溪工业园")

    assert (result.targets, result.removed, result.pairings_removed) == (2, 8, 1)
    assert target_ids(campaign) == ids(world.sx[:2])
    assert leads(campaign) == {world.sx[0].id: world.tree.deputy.id}


def test_saving_an_all_campaign_again_takes_in_new_enterprises(world):
    campaign = make_campaign(world)
    newcomer = make_enterprise(jurisdiction=world.liuhe)

    result = service.save_campaign(campaign, actor=world.staff, name=campaign.name, jurisdiction=world.county,
                                   starts_on=campaign.starts_on, ends_on=campaign.ends_on, target_kind=TargetKind.ALL)

    assert (result.added, result.removed) == (1, 0)
    assert newcomer.id in target_ids(campaign)


def test_parks_set_in_bulk_by_the_enterprise_import_become_a_target(world):
    from liaison_app.services import imports as importing

    headers = [column.header for column in importing.COLUMNS[importing.ImportKind.ENTERPRISES]]
    rows = [[e.name, e.uscc, "", "", "", "太仓港物流园"] for e in world.lh[1:]]
    plan = importing.run_import(importing.ImportKind.ENTERPRISES, xlsx_bytes(headers, rows), "企业.xlsx",
                                actor=world.staff)

    assert plan.applied and "园区" in headers
    assert set(service.park_choices(world.liuhe.id)) == {"太仓港物流园", "浏河工业园"}
    assert target_ids(make_campaign(world, TargetKind.PARK, park="太仓港物流园")) == ids(world.lh[1:])
    exported = openpyxl.load_workbook(io.BytesIO(importing.export_workbook(importing.ImportKind.ENTERPRISES,
                                                                           actor=world.staff))).active
    parks = {row[0]: row[headers.index("园区")] for row in exported.iter_rows(min_row=2, values_only=True)}
    assert parks[world.lh[1].name] == "太仓港物流园" and parks[world.sx[0].name] == "沙溪工业园"


# --- pairing by hand ------------------------------------------------------------------------------


def test_a_new_lead_takes_over_and_the_old_one_stays_paired(world):
    campaign = make_campaign(world)
    firm, first, second = world.sx[0], world.tree.deputy, world.tree.colleague

    service.pair(campaign, actor=world.staff, deputy=first, enterprise=firm, lead=True)
    service.pair(campaign, actor=world.staff, deputy=world.zhou, enterprise=firm, lead=False)
    service.pair(campaign, actor=world.staff, deputy=second, enterprise=firm, lead=True)

    roles = dict(db.session.execute(sa.select(Pairing.deputy_id, Pairing.is_lead)
                                    .where(Pairing.enterprise_id == firm.id)).all())
    assert roles == {first.id: False, world.zhou.id: False, second.id: True}

    service.pair(campaign, actor=world.staff, deputy=world.zhou, enterprise=firm, lead=True)  # promote
    assert leads(campaign) == {firm.id: world.zhou.id}


def test_pairing_refuses_what_cannot_be_paired(world):
    campaign = make_campaign(world, jurisdiction=world.shaxi)
    far_deputy = make_deputy(make_station(jurisdiction=world.wanan))
    service.pair(campaign, actor=world.staff, deputy=world.tree.deputy, enterprise=world.sx[0], lead=True)

    for deputy, enterprise, field in ((world.tree.deputy, world.lh[0], "enterprise"),  # not a target
                                      (far_deputy, world.sx[1], "deputy"),  # not of this area
                                      (world.tree.deputy, world.sx[0], "deputy")):  # already the lead
        with pytest.raises(CampaignError) as refused:
            service.pair(campaign, actor=world.staff, deputy=deputy, enterprise=enterprise, lead=True)
        assert refused.value.field == field
        db.session.rollback()
    assert pairing_count(campaign) == 1


def test_the_database_allows_one_lead_per_enterprise_and_campaign(world):
    campaign = make_campaign(world)
    db.session.add_all([Pairing(campaign=campaign, deputy=world.tree.deputy, enterprise=world.sx[0], is_lead=True),
                        Pairing(campaign=campaign, deputy=world.zhou, enterprise=world.sx[0], is_lead=True)])
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_pairing_screens_by_hand(app, world):
    campaign = make_campaign(world)
    client = client_of(app, world.staff)
    base = f"/oversight/campaigns/{campaign.id}"
    firm = world.sx[2]

    search = page_text(client.get(f"{base}/pairings?q=沙溪精工2", headers={"HX-Request": "true"}))
    assert firm.name in search and world.lh[0].name not in search and "<html" not in search
    page = page_text(client.get(f"{base}/enterprises/{firm.id}"))
    assert world.tree.deputy.name in page and world.zhou.name in page  # the township's first, then the rest

    response = client.post(f"{base}/enterprises/{firm.id}/pairings", data={"deputy": world.tree.deputy.id,
                                                                          "lead": "y"})
    assert response.status_code == 303
    client.post(f"{base}/enterprises/{firm.id}/pairings", data={"deputy": world.zhou.id})
    zhou = db.session.scalar(sa.select(Pairing).where(Pairing.deputy_id == world.zhou.id))
    assert client.post(f"{base}/pairings/{zhou.id}/lead").status_code == 303
    assert leads(campaign) == {firm.id: world.zhou.id}

    old = db.session.scalar(sa.select(Pairing).where(Pairing.deputy_id == world.tree.deputy.id))
    assert client.post(f"{base}/pairings/{old.id}/remove").status_code == 303
    assert pairing_count(campaign) == 1

    missing = client.post(f"{base}/enterprises/{firm.id}/pairings?lang=en", data={"deputy": ""})
    assert missing.status_code == 422 and "Please choose a deputy." in page_text(missing)
    assert client.get(f"{base}/enterprises/{world.wanan_firm.id}").status_code == 404  # not a target


# --- importing pairings ------------------------------------------------------------------------------

PAIRING_HEADERS = list(service.PAIRING_HEADERS)


def test_an_import_pairs_every_line_and_a_second_run_changes_nothing(world):
    campaign = make_campaign(world)
    rows = [[world.sx[0].name, "", world.tree.deputy.name, "", "", "是"],
            ["", world.sx[0].uscc, world.zhou.name, "", "", "否"],
            [world.lh[0].name, world.lh[0].uscc, "", "", str(world.wu.id), ""],
            [world.cx[0].name, "", "", "", "", ""]]  # no deputy yet: skipped
    upload = Upload(xlsx_bytes(PAIRING_HEADERS, rows), "结对.xlsx")

    first = service.import_pairings(campaign, upload, actor=world.staff)
    second = service.import_pairings(campaign, upload, actor=world.staff)

    assert (first.created, first.skipped) == (3, 1)
    assert (second.created, second.changed, second.unchanged) == (0, 0, 3)
    assert leads(campaign) == {world.sx[0].id: world.tree.deputy.id, world.lh[0].id: world.wu.id}
    assert pairing_count(campaign) == 3


def test_an_import_with_a_bad_line_writes_nothing(world):
    campaign = make_campaign(world)
    namesake = make_deputy(world.liuhe_station, name=world.tree.deputy.name)  # two deputies of one name
    rows = [[world.sx[0].name, "", world.zhou.name, "", "", "是"],
            [world.sx[1].name, "", world.tree.deputy.name, "", "", "是"],  # which one?
            [world.wanan_firm.name, "", world.wu.name, "", "", ""],  # not a target
            [world.sx[2].name, "", world.wu.name, "", "", "也许"],
            [world.sx[3].name, "", world.wu.name, "", "", "是"],
            [world.sx[3].name, "", world.zhou.name, "", "", "是"]]  # a second lead

    with pytest.raises(CampaignError) as refused:
        service.import_pairings(campaign, Upload(xlsx_bytes(PAIRING_HEADERS, rows), "结对.xlsx"),
                                actor=world.staff)

    assert sorted({row.number for row in refused.value.rows}) == [3, 4, 5, 7]
    db.session.rollback()
    assert pairing_count(campaign) == 0
    rows[1][3] = world.tree.station.name  # the station tells the two apart
    rows[2:] = []
    result = service.import_pairings(campaign, Upload(xlsx_bytes(PAIRING_HEADERS, rows), "结对.xlsx"),
                                     actor=world.staff)
    assert result.created == 2 and namesake.id not in set(leads(campaign).values())


def test_an_import_naming_a_new_lead_demotes_the_old_one(world):
    campaign = make_campaign(world)
    service.pair(campaign, actor=world.staff, deputy=world.tree.deputy, enterprise=world.sx[0], lead=True)
    rows = [[world.sx[0].name, "", world.zhou.name, "", "", "是"],
            [world.sx[0].name, "", world.wu.name, "", "", ""]]  # empty: not the lead, as there is one

    result = service.import_pairings(campaign, Upload(xlsx_bytes(PAIRING_HEADERS, rows), "结对.xlsx"),
                                     actor=world.staff)

    assert result.created == 2
    assert leads(campaign) == {world.sx[0].id: world.zhou.id}
    assert pairing_count(campaign) == 3


def test_the_import_screen_lists_bad_lines_and_the_template_round_trips(app, world):
    campaign = make_campaign(world)
    service.pair(campaign, actor=world.staff, deputy=world.zhou, enterprise=world.lh[0], lead=True)
    client = client_of(app, world.staff)
    base = f"/oversight/campaigns/{campaign.id}/pairings"

    template = client.get(f"{base}/template.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(template.data)).active
    assert [c.value for c in sheet[1]] == PAIRING_HEADERS
    assert sheet.max_row == 1 + len(world.targets)
    back = client.post(f"{base}/import", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(template.data), "结对.xlsx")})
    assert back.status_code == 303
    assert pairing_count(campaign) == 1  # unchanged: the lead line, the rest without deputies

    bad = xlsx_bytes(PAIRING_HEADERS, [[world.sx[0].name, "", "无名氏", "", "", ""]])
    response = client.post(f"{base}/import?lang=en", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(bad), "结对.xlsx")})
    page = page_text(response)
    assert response.status_code == 422
    assert "Line 2" in page and "无名氏" in page and "Nothing was imported." in page


# --- spreading evenly ---------------------------------------------------------------------------------


def test_spreading_deals_each_townships_enterprises_round_robin_to_its_stations_deputies(world):
    campaign = make_campaign(world)

    result = service.spread_evenly(campaign, actor=world.staff)

    tree = world.tree
    sx, lh = [e.id for e in world.sx], [e.id for e in world.lh]
    # 沙溪镇: both of its stations' deputies in station order; 浏河镇: its own station's.
    assert leads(campaign) == {sx[0]: tree.deputy.id, sx[1]: tree.colleague.id, sx[2]: tree.outsider.id,
                               sx[3]: tree.deputy.id, sx[4]: tree.colleague.id,
                               lh[0]: world.zhou.id, lh[1]: world.wu.id, lh[2]: world.zhou.id}
    assert result.paired == 8
    assert result.unpaired == [("城厢镇", 2)]


def test_spread_counts_differ_by_at_most_one_no_enterprise_gets_two_leads_and_a_rerun_adds_none(world):
    for i in range(9):
        make_enterprise(name=f"沙溪新材料{i}号", jurisdiction=world.shaxi)
    campaign = make_campaign(world)
    service.pair(campaign, actor=world.staff, deputy=world.tree.deputy, enterprise=world.sx[0], lead=True)
    service.pair(campaign, actor=world.staff, deputy=world.zhou, enterprise=world.sx[1], lead=False)

    service.spread_evenly(campaign, actor=world.staff)

    per_enterprise = db.session.execute(sa.select(Pairing.enterprise_id, sa.func.count())
                                        .where(Pairing.campaign_id == campaign.id, Pairing.is_lead)
                                        .group_by(Pairing.enterprise_id)).all()
    assert all(count == 1 for _, count in per_enterprise)
    shaxi_ids = set(db.session.scalars(sa.select(Enterprise.id).where(Enterprise.jurisdiction_id == world.shaxi.id)))
    led = leads(campaign)
    assert shaxi_ids <= set(led)
    counts = [list(led.values()).count(d.id) for d in (world.tree.deputy, world.tree.colleague, world.tree.outsider)]
    assert max(counts) - min(counts) <= 1 and sum(counts) == 14
    before = pairing_count(campaign)

    again = service.spread_evenly(campaign, actor=world.staff)

    assert again.paired == 0 and pairing_count(campaign) == before
    assert leads(campaign) == led


def test_an_inactive_deputy_or_station_takes_no_share(world):
    world.wu.active = False
    db.session.commit()
    campaign = make_campaign(world, jurisdiction=world.liuhe)

    service.spread_evenly(campaign, actor=world.staff)

    assert set(leads(campaign).values()) == {world.zhou.id}


def test_the_spread_button_reports_what_was_left_unpaired(app, world):
    campaign = make_campaign(world)
    client = client_of(app, world.staff)

    response = client.post(f"/oversight/campaigns/{campaign.id}/spread?lang=en")
    page = page_text(client.get(response.headers["Location"]))

    assert response.status_code == 303
    assert "8 enterprises were given a lead deputy." in page
    assert "城厢镇: 2 enterprises left unpaired" in page


# --- coverage -------------------------------------------------------------------------------------


@pytest.fixture
def visited(world):
    """Spread, one more pairing, and visits in and around August (see each line)."""
    campaign = make_campaign(world)
    service.spread_evenly(campaign, actor=world.staff)
    service.pair(campaign, actor=world.staff, deputy=world.zhou, enterprise=world.sx[3], lead=False)
    sx, lh = world.sx, world.lh
    add_visit(world, date(2026, 8, 5), [sx[0]])  # not logged against the campaign: counts
    add_visit(world, date(2026, 8, 20), [sx[1], sx[2], lh[0]], form=VisitForm.SYMPOSIUM, campaign=campaign)
    add_visit(world, date(2026, 8, 31), [sx[0]], form=VisitForm.RECEPTION)  # the last day; sx0 counted once
    add_visit(world, date(2026, 7, 31), [sx[3]])  # the day before: does not count
    add_visit(world, date(2026, 9, 1), [lh[1]])  # the day after: does not count
    add_visit(world, date(2026, 8, 10), [world.wanan_firm])  # not a target
    return campaign


def test_coverage_counts_against_hand_built_visits(world, visited):
    report = service.coverage(visited)

    assert (report.total.target, report.total.visited) == (10, 4)
    assert [(line.label, line.target, line.visited) for line in report.by_township] == [
        ("沙溪镇", 5, 3), ("浏河镇", 3, 1), ("城厢镇", 2, 0)]
    tree = world.tree
    assert [(line.label or line.key, line.target, line.visited) for line in report.by_station] == [
        (tree.station.name, 4, 2), (tree.other_station.name, 1, 1), (world.liuhe_station.name, 3, 1),
        (service.NO_LEAD, 2, 0)]
    by_deputy = {line.name: (line.paired, line.leads, line.visited) for line in report.by_deputy}
    assert by_deputy == {tree.deputy.name: (2, 2, 1), tree.colleague.name: (2, 2, 1), tree.outsider.name: (1, 1, 1),
                         world.zhou.name: (3, 2, 1), world.wu.name: (1, 1, 0)}
    assert report.without_lead == 2 and report.behind == 4


def test_the_not_yet_visited_list_names_each_lead(world, visited):
    rows = service.not_visited(visited)

    assert [row.name for row in rows] == [e.name for e in (world.sx[3], world.sx[4], world.lh[1], world.lh[2],
                                                           world.cx[0], world.cx[1])]
    assert (rows[0].lead, rows[0].lead_station) == (world.tree.deputy.name, world.tree.station.name)
    assert rows[-1].lead == ""


def test_the_progress_pages_show_the_figures(app, world, visited):
    client = client_of(app, world.staff)
    base = f"/oversight/campaigns/{visited.id}"

    page = page_text(client.get(f"{base}?lang=en"))
    assert "4 of 10 target enterprises visited." in page
    assert 'max="5" value="3"' in page  # 沙溪镇's bar
    assert "No lead deputy yet" in page
    listing = page_text(client.get(f"{base}/not-visited?lang=en"))
    assert "6 of 10 target enterprises not yet visited." in listing
    assert world.sx[4].name in listing and world.sx[0].name not in listing
    assert "Lead deputy: " + world.tree.colleague.name in listing
    index = page_text(client.get("/oversight/campaigns?lang=en"))
    assert visited.name in index and "Visited 4 of 10" in index


def test_coverage_takes_the_same_number_of_queries_however_many_enterprises(app, world, visited):
    def queries():
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            service.coverage(visited)
            service.not_visited(visited)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len([statement for statement in statements if not statement.startswith("BEGIN")])

    db.session.expire_all()
    before = queries()
    township = make_jurisdiction(name="璜泾镇", level=Level.TOWNSHIP, division_code="hj", parent=world.county)
    station = make_station(jurisdiction=township)
    for i in range(4):
        make_deputy(station)
        make_enterprise(jurisdiction=township)
    g.pop("_subtrees", None)  # the subtree is cached for a request; this test is one long request
    result = service.save_campaign(visited, actor=world.staff, name=visited.name, jurisdiction=world.county,
                          starts_on=visited.starts_on, ends_on=visited.ends_on, target_kind=TargetKind.ALL)
    assert result.added == 4 and service.spread_evenly(visited, actor=world.staff).paired == 4
    db.session.expire_all()

    assert queries() == before


# --- reminding the deputies behind -------------------------------------------------------------------


def reminders(campaign, channel: NotificationChannel = NotificationChannel.NOTIFIER) -> list[Notification]:
    """The campaign's reminders by one channel: the notifier names every deputy reminded; the
    deputies with an account also find theirs in their 消息 list."""
    return list(db.session.scalars(sa.select(Notification).where(Notification.campaign_id == campaign.id,
                                                                 Notification.channel == channel)
                                   .order_by(Notification.recipient_deputy_id)))


def test_a_reminder_goes_once_a_day_to_each_deputy_behind(world, visited):
    world.wu.active = False  # inactive deputies are not reminded
    db.session.commit()

    result = service.remind_behind(visited, actor=world.staff)

    sent = reminders(visited)
    tree = world.tree
    assert (result.queued, result.already) == (3, 0)
    assert {n.recipient_deputy_id: n.payload["not_visited"] for n in sent} == {
        tree.deputy.id: 1, tree.colleague.id: 1, world.zhou.id: 2}
    for notification in sent:
        assert notification.kind is NotificationKind.VISIT_REMINDER
        assert notification.request_id is None and notification.campaign_id == visited.id
        assert notification.payload["campaign"] == visited.name
        text = repr(notification.payload)
        assert not any(e.name in text or e.uscc in text for e in world.targets)

    inbox = reminders(visited, NotificationChannel.INBOX)  # 周卫东 has no account
    assert {n.recipient_user_id for n in inbox} == {tree.deputy_user.id, tree.colleague_user.id}
    assert {n.status for n in inbox} == {NotificationStatus.SENT}

    again = service.remind_behind(visited, actor=world.staff)

    assert (again.queued, again.already) == (0, 3)
    assert len(reminders(visited)) == 3 and len(reminders(visited, NotificationChannel.INBOX)) == 2


def test_the_remind_button_tells_how_many_were_already_reminded(app, world, visited, htmx):
    client = client_of(app, world.staff)
    url = f"/oversight/campaigns/{visited.id}/remind?lang=en"

    first = page_text(client.post(url, headers=htmx))
    second = page_text(client.post(url, headers=htmx))

    assert "Reminders were sent to 4 deputies." in first and 'id="campaign-remind"' in first
    assert "All 4 deputies behind were already reminded today: nothing was sent." in second
    assert client.post(url).status_code == 303


def test_a_reminder_is_delivered_by_the_outbox(app, world, visited, caplog):
    with caplog.at_level(logging.INFO, logger="liaison.notify"):
        service.remind_behind(visited, actor=world.staff)

    assert {n.status for n in reminders(visited)} == {NotificationStatus.SENT}
    assert visited.name in caplog.text and world.zhou.name in caplog.text


@pytest.mark.parametrize("app_config", [{"NOTIFY_DELIVER_IMMEDIATELY": False}])
def test_a_reminder_left_pending_goes_with_the_retry_job_to_the_robot(app, world, visited):
    robot = StandIn({"errcode": 0, "errmsg": "ok"})
    try:
        app.config.update(NOTIFIER="webhook", NOTIFY_WEBHOOK_URL=robot.url("/cgi-bin/webhook/send?key=robot-key"))
        service.remind_behind(visited, actor=world.staff)
        assert {n.status for n in reminders(visited)} == {NotificationStatus.PENDING}

        sent, failed = notify.deliver_pending()

        assert (sent, failed) == (4, 0)
        bodies = robot_bodies(robot, "visit_reminder")
        zhou = next(body for body in bodies if body["liaison"]["recipient"] == world.zhou.name)
        content = zhou["text"]["content"]
        assert content.startswith(f"@{world.zhou.name} 【") and visited.name in content
        assert zhou["liaison"]["not_visited"] == 2
        assert content.endswith("https://liaison.example.cn/desk/visits/pairings")
        db.session.expire_all()
        assert {n.status for n in reminders(visited)} == {NotificationStatus.SENT}
    finally:
        robot.close()


# --- the spreadsheet ----------------------------------------------------------------------------


def trimmed(row) -> list:
    values = list(row)
    while values and values[-1] is None:
        values.pop()
    return values


def test_the_export_opens_with_the_right_headers(app, world, visited):
    response = client_of(app, world.staff).get(f"/oversight/campaigns/{visited.id}/coverage.xlsx")

    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == [service.TOTALS_SHEET, service.NOT_VISITED_SHEET]
    totals = [trimmed(row) for row in workbook[service.TOTALS_SHEET].iter_rows(values_only=True)]
    assert totals[3] == service.TOTAL_HEADERS
    assert totals[4] == ["合计", world.county.name, 10, 4, 6, 0.4]
    assert ["乡镇（街道）", "沙溪镇", 5, 3, 2, 0.6] in totals
    assert ["联络站", "未确定牵头代表", 2, 0, 2, 0] in totals
    deputies = totals[totals.index(service.DEPUTY_HEADERS) + 1:]
    assert [world.zhou.name, world.liuhe_station.name, 3, 2, 1, 2] in [row[:6] for row in deputies]
    listing = [trimmed(row) for row in workbook[service.NOT_VISITED_SHEET].iter_rows(values_only=True)]
    assert listing[0] == service.NOT_VISITED_HEADERS
    assert len(listing) == 1 + 6
    assert listing[1][:4] == [1, world.sx[3].name, world.sx[3].uscc, "沙溪镇"]
    assert listing[1][6:] == [world.tree.deputy.name, world.tree.station.name]


# --- who may open what ----------------------------------------------------------------------------


def test_a_staff_member_of_another_county_gets_404_everywhere(app, world, visited):
    pairing = db.session.scalars(sa.select(Pairing).where(Pairing.campaign_id == visited.id)).first()
    client = client_of(app, world.wanan_staff)
    base = f"/oversight/campaigns/{visited.id}"

    for url in (base, f"{base}/edit", f"{base}/not-visited", f"{base}/coverage.xlsx", f"{base}/pairings",
                f"{base}/pairings/template.xlsx", f"{base}/enterprises/{world.sx[0].id}"):
        assert client.get(url).status_code == 404, url
    for url in (f"{base}/edit", f"{base}/remind", f"{base}/spread", f"{base}/pairings/import",
                f"{base}/enterprises/{world.sx[0].id}/pairings", f"{base}/pairings/{pairing.id}/lead",
                f"{base}/pairings/{pairing.id}/remove"):
        assert client.post(url).status_code == 404, url
    assert visited.name not in page_text(client.get("/oversight/campaigns"))
    assert reminders(visited) == [] and db.session.get(Pairing, pairing.id) is not None


def test_township_staff_see_the_campaigns_of_their_township_only(app, world):
    county_wide = make_campaign(world, name="太仓市走访月")
    shaxi_only = make_campaign(world, jurisdiction=world.shaxi, name="沙溪镇走访周")
    client = client_of(app, world.tree.staff["township"])

    index = page_text(client.get("/oversight/campaigns"))

    assert shaxi_only.name in index and county_wide.name not in index
    assert client.get(f"/oversight/campaigns/{county_wide.id}").status_code == 404


def test_deputies_cannot_open_campaigns(app, world):
    campaign = make_campaign(world)
    assert client_of(app, world.tree.deputy_user).get(f"/oversight/campaigns/{campaign.id}").status_code == 403


def test_a_pairing_of_another_campaign_is_404(app, world):
    one, other = make_campaign(world), make_campaign(world, name="另一次走访")
    service.pair(other, actor=world.staff, deputy=world.zhou, enterprise=world.lh[0], lead=True)
    pairing = db.session.scalars(sa.select(Pairing)).one()

    response = client_of(app, world.staff).post(f"/oversight/campaigns/{one.id}/pairings/{pairing.id}/remove")

    assert response.status_code == 404
    assert db.session.get(Deputy, world.zhou.id) is not None and pairing_count(other) == 1
