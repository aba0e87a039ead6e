"""QR codes in the admin area: issuing, revoking and reissuing, downloads, scan counting
per day, conversion to requests, and who may see what (staff only their jurisdiction)."""

import re
import threading
from datetime import date, timedelta
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Level, Placement, QRCode, QRScanDay, Role, utcnow
from liaison_app.services import qr as qr_service
from liaison_app.services.qr import QRCodeError, create_code, record_scan, revoke_code
from liaison_app.workdays import today_local, utc_start_of
from tests.factories import (
    Tree,
    make_deputy,
    make_jurisdiction,
    make_qr_code,
    make_request,
    make_station,
    make_user,
)
from tests.test_desk import login


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def wanan(app):
    """万安县 with its park station, a deputy and their codes: outside 太仓市."""
    county = make_jurisdiction(name="万安县", level=Level.COUNTY, division_code="360828x")
    station = make_station(name="万安县工业园区代表联络站", jurisdiction=county)
    deputy = make_deputy(station, name="罗文华")
    return {"county": county, "station": station, "deputy": deputy,
            "deputy_code": make_qr_code(deputy=deputy), "station_code": make_qr_code(station=station)}


def reload(code) -> QRCode:
    db.session.expire_all()
    return db.session.get(QRCode, code.id)


def scan_days(code) -> dict:
    rows = db.session.execute(sa.select(QRScanDay.day, QRScanDay.count).where(QRScanDay.qr_code_id == code.id))
    return dict(rows.all())


# --- services: issue, revoke, reissue --------------------------------------------------------


def test_a_new_code_has_an_unguessable_token_for_its_placement(app, tree):
    code = create_code(tree.deputy, Placement.ENTERPRISE_GATE, " 恒拓精密机械门口 ", actor=tree.admin)

    assert code.deputy_id == tree.deputy.id and code.station_id is None
    assert code.placement is Placement.ENTERPRISE_GATE and code.label == "恒拓精密机械门口"
    assert re.fullmatch(r"[A-Za-z0-9_-]{11,}", code.token)
    assert code.token != create_code(tree.deputy, Placement.ENTERPRISE_GATE, "", actor=tree.admin).token


def test_no_code_for_a_deputy_who_left(app, tree):
    tree.deputy.active = False
    db.session.commit()

    with pytest.raises(QRCodeError):
        create_code(tree.deputy, Placement.STATION, actor=tree.admin)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QRCode)) == 0


def test_revoke_and_reissue_makes_a_working_code_and_the_old_poster_points_to_it(app, client, tree):
    old = create_code(tree.station, Placement.PARK_ROAD, "园区主干道宣传栏", actor=tree.admin)

    new = revoke_code(old, actor=tree.admin, reissue=True)

    old = reload(old)
    assert old.is_revoked and old.replaced_by_id == new.id
    assert (new.station_id, new.placement, new.label) == (tree.station.id, Placement.PARK_ROAD, "园区主干道宣传栏")
    assert new.token != old.token and not new.is_revoked
    landing = client.get(f"/q/{new.token}")
    assert landing.status_code == 200 and "反映诉求 / 提建议" in landing.get_data(as_text=True)
    retired = client.get(f"/q/{old.token}").get_data(as_text=True)
    assert "此二维码已停用" in retired and f'href="/q/{new.token}"' in retired
    old_form = client.get(f"/q/{old.token}/file").get_data(as_text=True)
    assert "此二维码已停用" in old_form and 'name="description"' not in old_form


def test_revoke_only_leaves_no_successor_and_cannot_be_done_twice(app, tree):
    code = make_qr_code(deputy=tree.deputy)

    assert revoke_code(code, actor=tree.admin, reissue=False) is None
    assert reload(code).is_revoked and reload(code).replaced_by_id is None
    with pytest.raises(QRCodeError):
        revoke_code(reload(code), actor=tree.admin, reissue=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QRCode)) == 1


# --- over HTTP: the codes page, add, revoke -----------------------------------------------


def test_the_codes_page_lists_codes_with_scans_requests_and_conversion(app, client, tree):
    code = make_qr_code(deputy=tree.deputy, placement=Placement.ENTERPRISE_GATE, label="恒拓门口", scan_count=8)
    make_request(deputy=tree.deputy, qr_code_id=code.id)
    make_request(deputy=tree.deputy, qr_code_id=code.id)
    login(client, tree.staff["county"])

    page = client.get(f"/admin/qr/deputies/{tree.deputy.id}").get_data(as_text=True)

    card = page[page.index(f'id="qrcode-{code.id}"'):]
    assert "企业门口 · 恒拓门口" in card
    assert re.search(r"<dt>扫码次数</dt><dd>8</dd>", card)
    assert re.search(r"<dt>提交诉求数</dt><dd>2</dd>", card)
    assert "25.0 %" in card
    assert f"https://liaison.example.cn/q/{code.token}" in card
    # revoking is a real POST form, confirmed first when htmx runs
    form = re.search(r'<form class="qr-revoke" method="post" action="([^"]+)"[^>]*hx-confirm="[^"]+"', card)
    assert form and form.group(1) == f"/admin/qr/codes/{code.id}/revoke"


def test_adding_a_code_redirects_to_the_codes_page(app, client, tree):
    login(client, tree.staff["township"])

    response = client.post(f"/admin/qr/stations/{tree.station.id}/codes",
                           data={"placement": "enterprise_gate", "label": "太仓恒丰门口"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/qr/stations/{tree.station.id}"
    code = db.session.scalar(sa.select(QRCode).where(QRCode.station_id == tree.station.id))
    assert code.placement is Placement.ENTERPRISE_GATE and code.label == "太仓恒丰门口"
    assert "已生成新二维码：企业门口 · 太仓恒丰门口" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_adding_with_htmx_gets_hx_redirect(app, client, tree, htmx):
    login(client, tree.admin)

    response = client.post(f"/admin/qr/deputies/{tree.deputy.id}/codes", data={"placement": "station"}, headers=htmx)

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/admin/qr/deputies/{tree.deputy.id}"


@pytest.mark.parametrize("hx", [False, True], ids=["plain", "htmx"])
def test_a_gate_code_without_the_enterprise_is_refused_in_chinese_next_to_the_field(app, client, tree, htmx, hx):
    login(client, tree.admin)

    response = client.post(f"/admin/qr/deputies/{tree.deputy.id}/codes",
                           data={"placement": "enterprise_gate", "label": "  "}, headers=htmx if hx else {})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="error-label"[^>]*>请填写具体位置，例如张贴在哪家企业门口。</p>', page)
    assert page.lstrip().startswith("<form") == hx
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QRCode)) == 0


def test_an_unknown_placement_and_an_overlong_label_are_refused(app, client, tree):
    login(client, tree.admin)

    bad_placement = client.post(f"/admin/qr/deputies/{tree.deputy.id}/codes", data={"placement": "roof"})
    too_long = client.post(f"/admin/qr/deputies/{tree.deputy.id}/codes", data={"placement": "other", "label": "门" * 81})

    assert bad_placement.status_code == too_long.status_code == 422
    assert "最多 80 个字。" in too_long.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QRCode)) == 0


def test_a_code_for_an_inactive_station_is_refused_with_409(app, client, tree):
    tree.other_station.active = False
    db.session.commit()
    login(client, tree.admin)

    response = client.post(f"/admin/qr/stations/{tree.other_station.id}/codes", data={"placement": "station"})

    assert response.status_code == 409
    assert "已停用，不能生成新二维码" in response.get_data(as_text=True)


def test_revoke_and_reissue_over_http(app, client, tree):
    code = make_qr_code(deputy=tree.deputy, placement=Placement.PARK_ROAD, label="主干道")
    login(client, tree.staff["township"])

    response = client.post(f"/admin/qr/codes/{code.id}/revoke", data={"reissue": "1"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/qr/deputies/{tree.deputy.id}"
    old = reload(code)
    assert old.is_revoked and old.replaced_by is not None and old.replaced_by.label == "主干道"
    again = client.post(f"/admin/qr/codes/{code.id}/revoke", data={"reissue": "1"})
    assert again.status_code == 409 and "此二维码已经停用" in again.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QRCode)) == 2


def test_revoke_only_over_http_with_htmx(app, client, tree, htmx):
    code = make_qr_code(station=tree.station)
    login(client, tree.admin)

    response = client.post(f"/admin/qr/codes/{code.id}/revoke", data={"reissue": "0"}, headers=htmx)

    assert response.headers["HX-Redirect"] == f"/admin/qr/stations/{tree.station.id}"
    assert reload(code).is_revoked and reload(code).replaced_by_id is None


# --- downloads ---------------------------------------------------------------------------


def test_downloads_are_attachments_named_after_the_deputy_and_placement(app, client, tree):
    deputy = make_deputy(tree.station, name="周建华")
    code = make_qr_code(deputy=deputy)
    login(client, tree.admin)

    for extension, mimetype in (("png", "image/png"), ("svg", "image/svg+xml")):
        response = client.get(f"/admin/qr/codes/{code.id}.{extension}")
        assert response.status_code == 200 and response.mimetype == mimetype
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"周建华-站内.{extension}"
        assert f'filename="qr-{code.token}.{extension}"' in disposition


# --- scans per day and conversion ----------------------------------------------------------


def test_each_scan_is_counted_per_day_in_china(app, client, monkeypatch):
    code = make_qr_code()
    for _ in range(3):
        client.get(f"/q/{code.token}")
    monkeypatch.setattr(qr_service, "today_local", lambda: today_local() + timedelta(days=1))
    client.get(f"/q/{code.token}")

    db.session.expire_all()
    assert scan_days(code) == {today_local(): 3, today_local() + timedelta(days=1): 1}
    assert reload(code).scan_count == 4


def test_scans_of_a_revoked_or_unknown_code_are_not_counted(app, client):
    code = make_qr_code()
    revoke_code(code, actor=make_user(Role.ADMIN), reissue=False)

    client.get(f"/q/{code.token}")
    client.get("/q/notatoken")

    assert db.session.scalar(sa.select(sa.func.count()).select_from(QRScanDay)) == 0


def test_only_counts_are_stored_about_a_scan():
    assert {c.name for c in QRScanDay.__table__.columns} == {"qr_code_id", "day", "count"}


def test_simultaneous_first_scans_of_the_day_are_all_counted(app):
    code = make_qr_code()
    token, threads_count = code.token, 8
    barrier = threading.Barrier(threads_count)
    db.session.commit()  # end the test's read transaction

    def scan():
        with app.app_context():
            barrier.wait()
            record_scan(token)
            db.session.remove()

    threads = [threading.Thread(target=scan) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    db.session.expire_all()
    assert scan_days(code) == {today_local(): threads_count}
    assert reload(code).scan_count == threads_count


def test_a_first_scan_that_loses_the_race_to_insert_the_days_row_adds_to_it(app):
    """PostgreSQL: another transaction inserts today's row between our UPDATE (0 rows)
    and our INSERT; the INSERT fails in its savepoint and the UPDATE runs again.
    (SQLite cannot interleave so: a scan holds the write lock from its first statement.)"""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE")
    code = make_qr_code()
    token, code_id = code.token, code.id
    db.session.commit()
    other = sa.create_engine(db.engine.url)
    raced = []

    def rival_inserts_first(_conn, _cursor, statement, *_args):
        if not raced and statement.lstrip().upper().startswith("INSERT INTO QR_SCAN_DAYS"):
            raced.append(statement)
            with other.begin() as connection:
                connection.execute(sa.insert(QRScanDay).values(qr_code_id=code_id, day=today_local(), count=1))

    sa.event.listen(db.engine, "before_cursor_execute", rival_inserts_first)
    try:
        record_scan(token)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", rival_inserts_first)
        other.dispose()

    assert raced

    db.session.expire_all()
    assert scan_days(code) == {today_local(): 2}


def test_the_statistics_page_shows_scans_by_day_requests_and_conversion(app, client, tree):
    today = today_local()
    station_code = make_qr_code(station=tree.station)
    gate_code = make_qr_code(deputy=tree.deputy, placement=Placement.ENTERPRISE_GATE, label="恒拓门口")
    idle_code = make_qr_code(deputy=tree.colleague, placement=Placement.PARK_ROAD)
    forgotten = make_qr_code(deputy=tree.colleague, revoked_at=utcnow())
    old_scans = QRScanDay(qr_code_id=gate_code.id, day=today - timedelta(days=45), count=99)  # outside the window
    db.session.add_all([
        QRScanDay(qr_code_id=station_code.id, day=today, count=6),
        QRScanDay(qr_code_id=station_code.id, day=today - timedelta(days=3), count=4),
        QRScanDay(qr_code_id=gate_code.id, day=today - timedelta(days=1), count=4), old_scans,
    ])
    db.session.commit()
    make_request(station=tree.station, qr_code_id=station_code.id)
    for _ in range(2):
        make_request(deputy=tree.deputy, qr_code_id=gate_code.id)
    login(client, tree.staff["county"])

    page = client.get(f"/admin/qr/stats?jurisdiction={tree.county.id}").get_data(as_text=True)

    def row(dom_id):
        """The row's cells without the labels a phone shows above each figure."""
        start = page.index(f'id="{dom_id}"')
        return re.sub(r'>\s+<| data-label="[^"]*"', lambda m: "><" if m.group(0).startswith(">") else "",
                      page[start:page.index("</tr>", start)])

    def figures(*cells):
        return "".join(f'<td class="num">{cell}</td>' for cell in cells)

    assert figures(10, 1, "10.0 %") in row(f"qrcode-{station_code.id}-stats")
    assert figures(4, 2, "50.0 %") in row(f"qrcode-{gate_code.id}-stats")
    assert figures(0, 0, "—") in row(f"qrcode-{idle_code.id}-stats")
    assert f"qrcode-{forgotten.id}-stats" not in page  # revoked and idle: left out
    assert '<th scope="row">企业门口</th>' + figures(1, 4, 2, "50.0 %") in row("placement-enterprise_gate")
    # most scanned first; each day of the window has a bar with its number
    assert page.index(f"qrcode-{station_code.id}-stats") < page.index(f"qrcode-{gate_code.id}-stats")
    assert f"<title>{today.isoformat()}: 6</title>" in page
    assert "99" not in row(f"qrcode-{gate_code.id}-stats")
    # on a phone each figure is a card line under its column's name
    assert 'data-label="扫码次数">10<' in page and 'data-label="转化率">10.0 %<' in page


def test_requests_filed_before_the_window_do_not_count_in_statistics(app, client, tree):
    code = make_qr_code(station=tree.station)
    make_request(station=tree.station, qr_code_id=code.id, created_at=utcnow() - timedelta(days=40))
    login(client, tree.admin)

    page = client.get(f"/admin/qr/stats?jurisdiction={tree.township.id}").get_data(as_text=True)

    start = page.index(f"qrcode-{code.id}-stats")
    assert re.search(r'class="num"[^>]*>0</td>\s*<td class="num"[^>]*>0</td>', page[start:page.index("</tr>", start)])


def test_the_window_starts_at_midnight_in_china():
    assert utc_start_of(date(2026, 3, 1)).isoformat() == "2026-02-28T16:00:00"
    window = qr_service.stats_window(30, today=date(2026, 3, 1))
    assert len(window) == 30 and window[0] == date(2026, 1, 31) and window[-1] == date(2026, 3, 1)


# --- who may see what ----------------------------------------------------------------------


def wanan_urls(w):
    deputy, station, code, county = w["deputy"].id, w["station"].id, w["deputy_code"].id, w["county"].id
    return [
        f"/admin/qr/deputies/{deputy}", f"/admin/qr/stations/{station}",
        f"/admin/qr/deputies/{deputy}/posters", f"/admin/qr/stations/{station}/posters",
        f"/admin/qr/jurisdictions/{county}/posters", f"/admin/qr/deputies/{deputy}/cards",
        f"/admin/qr/stations/{station}/cards", f"/admin/qr/jurisdictions/{county}/cards",
        f"/admin/qr/codes/{code}.svg", f"/admin/qr/codes/{code}.png",
        f"/admin/qr?jurisdiction={county}", f"/admin/qr/stats?jurisdiction={county}",
    ]


def test_staff_of_taicang_cannot_see_or_change_wanan_codes(app, client, tree, wanan):
    login(client, tree.staff["county"])

    for url in wanan_urls(wanan):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/admin/qr/deputies/{wanan['deputy'].id}/codes", data={"placement": "station"}).status_code == 404
    assert client.post(f"/admin/qr/codes/{wanan['station_code'].id}/revoke", data={"reissue": "1"}).status_code == 404
    assert not reload(wanan["station_code"]).is_revoked
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QRCode)) == 2


def test_an_admin_sees_every_jurisdiction(app, client, tree, wanan):
    login(client, tree.admin)

    for url in wanan_urls(wanan):
        assert client.get(url).status_code == 200, url


def test_staff_see_their_own_subtree_but_not_above_it(app, client, tree):
    code = make_qr_code(deputy=tree.deputy)
    city_deputy = make_deputy(tree.station, name="陆晓峰", congress_jurisdiction=tree.city)
    login(client, tree.staff["township"])

    assert client.get(f"/admin/qr/deputies/{tree.deputy.id}").status_code == 200
    assert client.get(f"/admin/qr/codes/{code.id}.png").status_code == 200
    assert client.get(f"/admin/qr/deputies/{city_deputy.id}").status_code == 404
    assert client.get(f"/admin/qr/jurisdictions/{tree.county.id}/posters").status_code == 404
    assert client.get(f"/admin/qr/stats?jurisdiction={tree.county.id}").status_code == 404
    # their own jurisdiction is the default
    assert "沙溪镇" in client.get("/admin/qr").get_data(as_text=True)


def test_the_statistics_of_a_jurisdiction_leave_out_codes_outside_it(app, client, tree, wanan):
    mine = make_qr_code(station=tree.station)
    login(client, tree.admin)

    page = client.get(f"/admin/qr/stats?jurisdiction={tree.county.id}").get_data(as_text=True)

    assert f"qrcode-{mine.id}-stats" in page
    assert f"qrcode-{wanan['station_code'].id}-stats" not in page and "罗文华" not in page


@pytest.mark.parametrize("role", ["deputy_user", "unit"])
def test_deputies_and_unit_officers_get_403(app, client, tree, role):
    code = make_qr_code(deputy=tree.deputy)
    login(client, tree.deputy_user if role == "deputy_user" else tree.officers["township"])

    for url in ["/admin/", "/admin/qr", "/admin/qr/stats", f"/admin/qr/deputies/{tree.deputy.id}",
                f"/admin/qr/deputies/{tree.deputy.id}/posters", f"/admin/qr/codes/{code.id}.png"]:
        assert client.get(url).status_code == 403, url
    assert client.post(f"/admin/qr/codes/{code.id}/revoke", data={"reissue": "1"}).status_code == 403
    assert not reload(code).is_revoked


def test_anonymous_visitors_are_sent_to_log_in(app, client, tree):
    response = client.get(f"/admin/qr/deputies/{tree.deputy.id}/posters")

    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_menu_offers_codes_and_statistics(app, client, tree):
    login(client, tree.staff["county"])

    page = client.get("/admin/").get_data(as_text=True)

    assert 'href="/admin/qr"' in page and "二维码与海报" in page
    assert 'href="/admin/qr/stats"' in page and "扫码统计" in page
