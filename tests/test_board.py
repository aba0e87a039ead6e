"""The public board (公示栏): closed requests the enterprise agreed to publish, with nothing
that names anybody; a station's wall, deputies, reception day and monthly figures."""

import re
from datetime import date

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import (
    Attachment, Category, Enterprise, Jurisdiction, Outcome, Rating, Request, Station, utcnow,
)
from liaison_app.public.board import next_reception_day
from liaison_app.validators import display_phone, mask_phone
from liaison_app.workflow import Status
from tests.factories import Tree, make_deputy, make_jurisdiction, make_qr_code, make_station
from tests.test_dashboard import request_at
from tests.test_desk import login


@pytest.fixture
def tree(app):
    return Tree()


def published(tree, **values):
    """A closed, consented request of the township's station, solved and rated, its summary approved."""
    now = utcnow()
    fields = dict(status=Status.CLOSED, public_consent=True, outcome=Outcome.SOLVED, rating=Rating.SATISFIED,
                  closed_at=now, department=tree.departments["township"], public_summary_approved_at=now)
    fields.update(values)
    return request_at(fields.pop("station", tree.station), **fields)


def board(client, path):
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_only_closed_consented_requests_with_a_result_are_shown(client, tree):
    published(tree, public_summary="公示：贷款续贷已办理")
    published(tree, public_summary="公示：未同意公开", public_consent=False)
    published(tree, public_summary="公示：还在办理", status=Status.IN_PROGRESS, closed_at=None)
    published(tree, public_summary="公示：企业撤回", status=Status.WITHDRAWN, outcome=None)
    published(tree, public_summary="公示：不予受理", outcome=None)
    published(tree, public_summary="公示：尚未审核", public_summary_approved_at=None)
    published(tree, public_summary="公示：另一联络站", station=tree.other_station)

    page = board(client, f"/board/station/{tree.station.id}")

    assert "公示：贷款续贷已办理" in page
    for hidden in ("未同意公开", "还在办理", "企业撤回", "不予受理", "尚未审核", "另一联络站"):
        assert hidden not in page
    assert board(client, f"/board/jurisdiction/{tree.county.id}").count("公示：") == 2  # both stations are in it


def test_each_line_has_category_summary_department_result_days_and_rating(client, tree):
    published(tree, category=Category.LABOUR, public_summary="企业一线操作工缺口大\n纳入专场招聘会，已招到30人",
              created_at=utcnow().replace(year=2025, month=3, day=1),
              closed_at=utcnow().replace(year=2025, month=3, day=13), outcome=Outcome.EXPLAINED,
              rating=Rating.MOSTLY_SATISFIED)

    page = board(client, f"/board/station/{tree.station.id}?lang=en")
    item = re.search(r'<article class="card board-item".*?</article>', page, flags=re.S).group(0)

    assert "Hiring and labour" in item and "过桥资金" not in item  # the summary, never the description
    assert re.search(r"<dt>Problem in brief</dt><dd>企业一线操作工缺口大</dd>\s*"
                     r"<dt>What was done</dt><dd>纳入专场招聘会，已招到30人</dd>", item)
    assert "沙溪镇住建局" in item and "Explained: cannot be solved under current policy" in item
    assert "12 days" in item and "Mostly satisfied" in item


def test_the_board_pages_by_twenty(client, tree):
    for n in range(23):
        published(tree, public_summary=f"公示第{n:02d}件")

    first = board(client, f"/board/station/{tree.station.id}")
    second = board(client, f"/board/station/{tree.station.id}?page=2")

    shown = re.findall(r"公示第(\d\d)件", first) + re.findall(r"公示第(\d\d)件", second)
    assert sorted(shown) == [f"{n:02d}" for n in range(23)]
    assert 'href="?page=2"' in first and 'href="?page=1"' in second


def test_a_station_shows_its_wall_deputies_reception_day_and_monthly_figures(client, tree):
    station = tree.station
    station.intro, station.rules, station.process = "园区企业服务站简介", "每次不少于3名代表进站", "问题清单→认领清单→公示清单"
    station.reception_days = "每周三下午"
    make_deputy(station, name="离任代表", active=False)
    db.session.commit()
    published(tree, public_summary="本月办结")
    request_at(station, created_at=utcnow())

    page = board(client, f"/board/station/{station.id}?lang=en")

    for text in ("园区企业服务站简介", "每次不少于3名代表进站", "问题清单→认领清单→公示清单", "每周三下午",
                 "顾振华", "刘春梅", "用工、融资"):
        assert text in page
    assert "离任代表" not in page
    assert re.search(r'id="board-next-reception">Next reception day: Wednesday, ', page)
    this_month = re.search(r'<tr data-key="[^"]+"><th scope="row">This month.*?</tr>', page, flags=re.S).group(0)
    assert re.search(r'data-field="collected">2<', this_month) and re.search(r'data-field="solved">1<', this_month)
    assert "Last month" in page


def test_inactive_or_unknown_places_are_404(client, tree):
    closed_station = make_station(jurisdiction=tree.township, active=False)
    gone = make_jurisdiction(level=tree.township.level, parent=tree.county, active=False)
    station_of_gone = make_station(jurisdiction=gone)

    for path in (f"/board/station/{closed_station.id}", f"/board/jurisdiction/{gone.id}",
                 f"/board/station/{station_of_gone.id}", "/board/station/999999", "/board/jurisdiction/999999"):
        assert client.get(path).status_code == 404, path


def test_the_board_needs_no_login_speaks_english_and_may_be_cached_briefly(client, tree):
    response = client.get(f"/board/station/{tree.station.id}?lang=en")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert '<html lang="en">' in page and "Public board" in page and "Log in" in page
    assert response.cache_control.max_age == 60
    for _ in range(2):  # the first visits set the language and session cookies: private copies
        repeat = client.get(f"/board/station/{tree.station.id}")
    assert "Public board" in repeat.get_data(as_text=True)  # the language is remembered
    assert repeat.cache_control.public and not repeat.headers.get("Set-Cookie")


def test_a_logged_in_visitor_gets_a_private_copy(app, tree):
    client = app.test_client()
    login(client, tree.staff["county"])
    response = client.get(f"/board/station/{tree.station.id}")
    assert response.status_code == 200
    assert response.cache_control.private and not response.cache_control.public


def test_the_qr_landing_pages_link_to_the_board(client, tree):
    station_code = make_qr_code(station=tree.station)
    deputy_code = make_qr_code(deputy=tree.deputy)
    link = f'href="/board/station/{tree.station.id}"'

    assert link in client.get(f"/q/{station_code.token}").get_data(as_text=True)
    assert link in client.get(f"/q/{deputy_code.token}").get_data(as_text=True)


@pytest.mark.parametrize("text,today,expected", [
    ("每月5日、20日", date(2026, 11, 3), date(2026, 11, 5)),
    ("每月5日、20日", date(2026, 11, 5), date(2026, 11, 5)),
    ("每月5日、20日", date(2026, 11, 21), date(2026, 12, 5)),
    ("每月10日、25日上午9:00—11:30", date(2026, 11, 11), date(2026, 11, 25)),
    ("每月31日", date(2026, 11, 2), date(2026, 12, 31)),
    ("每月5日、20日（逢节假日顺延）", date(2026, 11, 21), date(2026, 12, 7)),  # 5 Dec is a Saturday
    ("每周三下午", date(2026, 11, 22), date(2026, 11, 25)),
    ("每周日", date(2026, 11, 22), date(2026, 11, 22)),
    ("每月第一、三个星期三下午", date(2026, 11, 22), None),
    ("单月20日（选民接待日）", date(2026, 11, 22), None),
    ("", date(2026, 11, 22), None),
])
def test_the_next_reception_day_when_the_text_says_it_simply(app, text, today, expected):
    assert next_reception_day(text, today) == expected


# --- the demo data set: nothing personal on any board ------------------------------------------------------


def personal_data(req: Request, enterprise: Enterprise) -> list[str]:
    values = [req.contact_name, req.contact_phone, req.contact_phone.removeprefix("+86"),
              display_phone(req.contact_phone), mask_phone(req.contact_phone), enterprise.name,
              req.description, req.tracking_token]
    if enterprise.uscc:
        values.append(enterprise.uscc)
    return values


def every_board_page(client) -> dict[str, str]:
    """Every page of every board: all active stations and jurisdictions."""
    paths = [f"/board/station/{sid}" for sid in db.session.scalars(sa.select(Station.id).where(Station.active))]
    paths += [f"/board/jurisdiction/{jid}"
              for jid in db.session.scalars(sa.select(Jurisdiction.id).where(Jurisdiction.active))]
    pages = {}
    for path in paths:
        page_number = 1
        while True:
            url = f"{path}?page={page_number}"
            pages[url] = board(client, url)
            if 'href="?page=%d"' % (page_number + 1) not in pages[url]:
                break
            page_number += 1
    return pages


def test_no_board_leaks_personal_data_of_any_seeded_request(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    requests = db.session.scalars(sa.select(Request)).all()
    enterprises = {e.id: e for e in db.session.scalars(sa.select(Enterprise))}
    assert len(requests) == 100
    db.session.add(Attachment(request_id=requests[0].id, stored_name="leak-check.jpg", content_type="image/jpeg",
                              size=1, sha256="0" * 64, width=1, height=1))
    db.session.commit()

    client = app.test_client()
    pages = every_board_page(client)
    everything = "\n".join(pages.values())

    assert "/photos/" not in everything and "<img" not in everything
    for req in requests:
        for value in personal_data(req, enterprises[req.enterprise_id]):
            assert value not in everything, (req.reference, value)
    # and what was published is there: every closed, consented request with a result
    shown = [r for r in requests if r.status is Status.CLOSED and r.public_consent and r.outcome is not None]
    assert shown
    # each with a summary its claimant wrote and approved (公示), in two parts
    assert all(r.public_summary_approved_by_id == r.claimant_id and "\n" in r.public_summary for r in shown)
    for req in shown:
        station_pages = "\n".join(page for url, page in pages.items() if url.startswith(f"/board/station/{req.station_id}?"))
        assert f'id="board-item-{req.id}"' in station_pages
