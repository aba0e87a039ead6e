"""Admin pages for jurisdictions, stations, departments and deputies, with staff scope."""

import io
import re

import pytest
import sqlalchemy as sa
from PIL import Image

from liaison_app.extensions import db
from liaison_app.models import Department, Deputy, Jurisdiction, Level, Role, Station
from tests.factories import Tree, image_bytes, make_jurisdiction, make_qr_code, make_request, make_user
from tests.test_desk import login


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def wanan(app):
    return make_jurisdiction(name="万安县", division_code="360828")


def as_user(app, user):
    client = app.test_client()
    login(client, user)
    return client


def error_of(page, field):
    match = re.search(rf'id="error-{field}" role="alert">([^<]*)<', page)
    return match.group(1) if match else ""


def test_deputies_and_unit_officers_get_403_everywhere_in_admin(app, tree):
    for user in (tree.deputy_user, tree.officers["township"]):
        client = as_user(app, user)
        for path in ("/admin/", "/admin/jurisdictions", "/admin/stations/new", "/admin/deputies"):
            assert client.get(path).status_code == 403, (user.role, path)
    assert app.test_client().get("/admin/").status_code == 302


def test_an_admin_adds_a_township_under_a_county(app, tree):
    client = as_user(app, tree.admin)

    response = client.post("/admin/jurisdictions/new", data={
        "name": "浮桥镇", "division_code": "320585105", "level": "township", "parent": tree.county.id, "active": "y"})

    assert response.status_code == 303
    town = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.division_code == "320585105"))
    assert (town.parent_id, town.level) == (tree.county.id, Level.TOWNSHIP)
    assert "浮桥镇" in client.get("/admin/jurisdictions").get_data(as_text=True)


def test_a_level_that_does_not_fit_the_parent_is_refused_by_its_field(app, tree):
    client = as_user(app, tree.admin)

    response = client.post("/admin/jurisdictions/new", data={
        "name": "错层", "division_code": "999001", "level": "city", "parent": tree.county.id, "active": "y"})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "上一级" in error_of(page, "parent")
    assert 'value="错层"' in page
    assert db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.division_code == "999001")) is None


def test_a_jurisdiction_cannot_move_under_itself(app, tree):
    client = as_user(app, tree.admin)

    response = client.post(f"/admin/jurisdictions/{tree.city.id}/edit", data={
        "name": "苏州市", "division_code": tree.city.division_code, "level": "city", "parent": tree.county.id,
        "active": "y"})

    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Jurisdiction, tree.city.id).parent_id == tree.province.id


def test_a_jurisdiction_that_requests_point_to_is_never_deleted(app, tree):
    make_request(station=tree.station)
    unused = make_jurisdiction(name="空镇", level=Level.TOWNSHIP, division_code="320585199", parent=tree.county)
    client = as_user(app, tree.admin)

    response = client.post(f"/admin/jurisdictions/{tree.township.id}/delete", follow_redirects=True)
    assert "停用" in response.get_data(as_text=True)
    assert db.session.get(Jurisdiction, tree.township.id) is not None

    unused_id = unused.id
    client.post(f"/admin/jurisdictions/{unused_id}/delete")
    db.session.expire_all()
    assert db.session.get(Jurisdiction, unused_id) is None


def test_staff_manage_below_their_jurisdiction_and_nothing_outside(app, tree, wanan):
    client = as_user(app, tree.staff["county"])

    listing = client.get("/admin/jurisdictions").get_data(as_text=True)
    assert "沙溪镇" in listing and "万安县" not in listing and "江苏省" not in listing
    assert client.get(f"/admin/jurisdictions/{tree.township.id}/edit").status_code == 200
    assert client.get(f"/admin/jurisdictions/{tree.county.id}/edit").status_code == 403
    assert client.get(f"/admin/jurisdictions/{wanan.id}/edit").status_code == 404
    assert client.post(f"/admin/jurisdictions/{wanan.id}/delete").status_code == 404
    page = client.get("/admin/jurisdictions/new").get_data(as_text=True)
    assert "万安县" not in page and "江苏省" not in page


def test_a_station_and_its_wall_texts_reach_the_qr_landing_page(app, tree, client):
    admin = as_user(app, tree.admin)

    response = admin.post(f"/admin/stations/{tree.station.id}/edit", data={
        "name": "沙溪镇代表联络站", "kind": "station", "jurisdiction": tree.township.id,
        "address": "沙溪镇白云南路1号", "reception_days": "每月10日、25日上午", "intro": "站内有接待室",
        "rules": "代表轮值接待", "procedure": "受理—交办—答复", "active": "y"})

    assert response.status_code == 303
    code = make_qr_code(station=tree.station)
    page = client.get(f"/q/{code.token}").get_data(as_text=True)
    assert "沙溪镇白云南路1号" in page and "每月10日、25日上午" in page


def test_staff_cannot_put_a_station_in_another_county(app, tree, wanan):
    client = as_user(app, tree.staff["county"])

    response = client.post("/admin/stations/new", data={"name": "越界站", "kind": "station", "jurisdiction": wanan.id})

    assert response.status_code == 422
    assert db.session.scalar(sa.select(Station).where(Station.name == "越界站")) is None


def test_two_departments_of_one_name_in_one_jurisdiction_are_refused(app, tree):
    client = as_user(app, tree.admin)

    response = client.post("/admin/departments/new", data={
        "name": tree.departments["county"].name, "jurisdiction": tree.county.id, "active": "y"})

    assert response.status_code == 422
    assert "已有同名" in error_of(response.get_data(as_text=True), "name")
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Department).where(
        Department.name == tree.departments["county"].name))
    assert count == 1


def deputy_form(tree, **overrides):
    data = {"name": "吴志强", "kind": "deputy", "congress_jurisdiction": tree.county.id,
            "stations": [tree.station.id], "specialties": "法律服务", "bio": "律师", "active": "y"}
    data.update(overrides)
    return data


def test_a_deputy_photo_is_re_encoded_and_cropped_to_a_square(app, tree, tmp_path, client):
    admin = as_user(app, tree.admin)

    response = admin.post("/admin/deputies/new", data=deputy_form(
        tree, photo=(io.BytesIO(image_bytes(size=(800, 1200))), "me.png")), content_type="multipart/form-data")

    assert response.status_code == 303
    deputy = db.session.scalar(sa.select(Deputy).where(Deputy.name == "吴志强"))
    with Image.open(tmp_path / "uploads" / deputy.photo) as image:
        assert (image.format, image.width, image.height) == ("JPEG", 600, 600)
    assert [s.id for s in deputy.stations] == [tree.station.id]
    code = make_qr_code(deputy=deputy)
    assert f'src="/deputies/{deputy.id}/photo"' in client.get(f"/q/{code.token}").get_data(as_text=True)
    assert client.get(f"/deputies/{deputy.id}/photo").mimetype == "image/jpeg"


def test_a_photo_that_is_not_an_image_is_refused_and_the_text_kept(app, tree):
    admin = as_user(app, tree.admin)

    response = admin.post("/admin/deputies/new", data=deputy_form(
        tree, photo=(io.BytesIO(b"<svg onload=alert(1)>"), "me.jpg")), content_type="multipart/form-data")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "不是可识别的照片" in error_of(page, "photo")
    assert 'value="吴志强"' in page and "律师" in page
    assert db.session.scalar(sa.select(Deputy).where(Deputy.name == "吴志强")) is None


def test_staff_see_and_edit_only_their_deputies(app, tree, wanan):
    from tests.factories import make_deputy, make_station

    far = make_deputy(make_station(jurisdiction=wanan), name="远方代表")
    client = as_user(app, tree.staff["county"])

    listing = client.get("/admin/deputies").get_data(as_text=True)
    assert "顾振华" in listing  # township deputies are below the county
    assert "远方代表" not in listing
    assert client.get(f"/admin/deputies/{far.id}/edit").status_code == 404
    assert client.get(f"/admin/deputies/{tree.deputy.id}/edit").status_code == 200
