"""GET /q/<token>: the landing page of a deputy's or a station's code."""

import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import QRCode, utcnow
from tests.factories import make_deputy, make_jurisdiction, make_qr_code, make_station


def scans(code) -> int:
    return db.session.scalar(sa.select(QRCode.scan_count).where(QRCode.id == code.id))


def test_a_deputys_code_shows_who_and_where_and_the_big_button(client):
    taicang = make_jurisdiction(name="太仓市", division_code="320585")
    station = make_station(name="沙溪镇代表联络站", jurisdiction=taicang, reception_days="每月10日、25日")
    code = make_qr_code(deputy=make_deputy(station, name="顾振华", specialties="企业融资、劳动用工"))

    page = client.get(f"/q/{code.token}").get_data(as_text=True)

    for text in ("顾振华", "太仓市人大代表", "沙溪镇代表联络站", "企业融资、劳动用工", "每月10日、25日", "反映诉求 / 提建议"):
        assert text in page
    assert f'href="/q/{code.token}/file"' in page


def test_a_stations_code_lists_its_active_deputies(client):
    station = make_station(name="万安县工业园区代表联络站", address="万安县工业园区管委会一楼")
    make_deputy(station, name="刘春梅")
    make_deputy(station, name="已离任代表", active=False)
    code = make_qr_code(station=station)

    page = client.get(f"/q/{code.token}").get_data(as_text=True)

    assert "万安县工业园区代表联络站" in page and "万安县工业园区管委会一楼" in page
    assert "刘春梅" in page
    assert "已离任代表" not in page


def test_each_scan_is_counted(client):
    code = make_qr_code()

    for _ in range(3):
        client.get(f"/q/{code.token}")

    assert scans(code) == 3


def test_an_unknown_token_is_a_friendly_404(client):
    response = client.get("/q/doesnotexist")

    assert response.status_code == 404
    assert "无法识别此二维码" in response.get_data(as_text=True)


def test_a_revoked_code_says_so_and_links_to_the_current_one(client):
    deputy = make_deputy(name="陈立新")
    new = make_qr_code(deputy=deputy)
    old = make_qr_code(deputy=deputy, revoked_at=utcnow(), replaced_by=new)

    response = client.get(f"/q/{old.token}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "此二维码已停用" in page
    assert f'href="/q/{new.token}"' in page
    assert scans(old) == 0


def test_a_revoked_code_without_a_successor_points_to_another_live_code_of_the_same_owner(client):
    station = make_station()
    live = make_qr_code(station=station)
    old = make_qr_code(station=station, revoked_at=utcnow())

    page = client.get(f"/q/{old.token}").get_data(as_text=True)

    assert f'href="/q/{live.token}"' in page


def test_the_code_of_a_deputy_who_left_sends_people_to_the_station(client):
    station = make_station(name="浏河镇代表之家")
    station_code = make_qr_code(station=station)
    code = make_qr_code(deputy=make_deputy(station, active=False))

    page = client.get(f"/q/{code.token}").get_data(as_text=True)

    assert "此二维码已停用" in page
    assert f'href="/q/{station_code.token}"' in page


def test_the_page_is_in_english_on_request(client):
    code = make_qr_code()

    page = client.get(f"/q/{code.token}?lang=en").get_data(as_text=True)

    assert "Report a problem / Make a suggestion" in page
    assert "Deputy to the " in page and "人大代表" not in page
    assert '<html lang="en">' in page
    # and the choice sticks
    assert "Report a problem" in client.get(f"/q/{code.token}/file").get_data(as_text=True)
