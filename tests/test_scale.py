"""flask seed-scale: a province in miniature, written in bulk, that the app then works on."""

import dataclasses

import pytest
import sqlalchemy as sa

from liaison_app import scale
from liaison_app.extensions import db
from liaison_app.models import (
    Deputy, Enterprise, Jurisdiction, Level, QRCode, Request, RequestEvent, Station, User, Visit,
)
from liaison_app.workdays import today_local
from liaison_app.workflow import Action, Status
from tests.factories import Tree, make_request

SHAPE = dataclasses.replace(scale.Shape().scaled(0.002), requests=3000)


@pytest.fixture
def seeded(app):
    return scale.seed_scale(SHAPE)


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_the_data_set_has_the_shape_asked_for(seeded):
    levels = dict(db.session.execute(sa.select(Jurisdiction.level, sa.func.count()).group_by(Jurisdiction.level)).all())
    assert levels == {Level.PROVINCE: 1, Level.CITY: SHAPE.cities, Level.COUNTY: SHAPE.counties,
                      Level.TOWNSHIP: SHAPE.townships}
    assert count(Station) == SHAPE.stations
    assert count(Deputy) == SHAPE.stations * SHAPE.deputies_per_station
    assert count(QRCode) == count(Deputy) + count(Station)
    assert count(Enterprise) == SHAPE.enterprises
    assert count(Request) == SHAPE.requests
    assert count(Visit) > 0
    assert seeded.counts["requests"] == SHAPE.requests


def test_every_request_agrees_with_its_trail(seeded):
    last_event = (sa.select(RequestEvent.request_id, sa.func.max(RequestEvent.id).label("last_id"))
                  .group_by(RequestEvent.request_id).subquery())
    disagreeing = db.session.scalar(
        sa.select(sa.func.count()).select_from(Request)
        .join(last_event, last_event.c.request_id == Request.id)
        .join(RequestEvent, RequestEvent.id == last_event.c.last_id)
        .where(RequestEvent.to_status != Request.status))
    assert disagreeing == 0
    assert db.session.scalar(sa.select(sa.func.count(sa.distinct(RequestEvent.request_id)))) == SHAPE.requests
    # Closed ones carry a closing time, open ones none; every assigned one has its department.
    assert not db.session.scalar(sa.select(sa.func.count()).where(Request.status == Status.CLOSED,
                                                                  Request.closed_at.is_(None)))
    assert not db.session.scalar(sa.select(sa.func.count()).where(Request.status != Status.CLOSED,
                                                                  Request.closed_at.is_not(None)))
    assert not db.session.scalar(sa.select(sa.func.count()).where(
        Request.status.in_([Status.ASSIGNED, Status.IN_PROGRESS]), Request.department_id.is_(None)))


def test_every_public_summary_is_approved_by_its_claimant_on_the_trail(seeded):
    written = Request.public_summary != ""
    published = db.session.scalar(sa.select(sa.func.count()).where(written))
    assert published > 0  # the public board has something to show
    assert not db.session.scalar(sa.select(sa.func.count()).where(
        written, sa.or_(Request.public_summary_approved_at.is_(None),
                        Request.public_summary_approved_by_id != Request.claimant_id,
                        Request.status != Status.CLOSED, Request.public_consent.is_(False))))
    approvals = sa.select(sa.func.count()).select_from(RequestEvent).where(
        RequestEvent.action == Action.APPROVE_PUBLIC_SUMMARY, RequestEvent.is_public.is_(False))
    assert db.session.scalar(approvals) == published


def test_requests_are_spread_over_the_workflow_and_the_counties(seeded):
    statuses = set(db.session.scalars(sa.select(Request.status).distinct()))
    assert {Status.CLOSED, Status.WITHDRAWN, Status.SUBMITTED, Status.IN_PROGRESS} <= statuses
    counties = db.session.execute(
        sa.select(Jurisdiction.parent_id, sa.func.count()).join(Request, Request.filed_jurisdiction_id == Jurisdiction.id)
        .group_by(Jurisdiction.parent_id).order_by(sa.func.count().desc())).all()
    assert len(counties) == SHAPE.counties
    assert counties[0][0] == seeded.county_id  # the first county is the largest, as the benchmarks assume
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestEvent)) > 4 * SHAPE.requests


def test_the_app_goes_on_working_after_the_bulk_load(seeded, client):
    """Ids, sequences and reference counters continue after the generated rows."""
    tree = Tree()  # new rows through the ORM: no id clashes with the generated ones
    req = make_request(station=tree.station)
    year = today_local().year
    this_year = db.session.scalar(sa.select(sa.func.count()).where(Request.reference.like(f"{year}-%")))
    assert req.reference == f"{year}-{this_year:06d}"

    response = client.post("/login", data={"login": seeded.county_staff, "password": scale.SCALE_PASSWORD})
    assert response.status_code == 303  # logged in with the shared password
    page = client.get(f"/oversight/lists/problems?jurisdiction={seeded.county_id}&from=2000-01-01&to=2100-01-01")
    assert page.status_code == 200
    county_requests = db.session.scalar(
        sa.select(sa.func.count()).select_from(Request).join(Jurisdiction, Jurisdiction.id == Request.filed_jurisdiction_id)
        .where(Jurisdiction.parent_id == seeded.county_id))
    assert f"{county_requests}" in page.get_data(as_text=True)


def test_it_refuses_a_database_that_holds_data(app):
    Tree()
    with pytest.raises(scale.ScaleError):
        scale.seed_scale(SHAPE)
    assert count(Request) == 0
    assert count(User) > 0  # what was there is untouched


def test_the_command_reports_where_to_log_in(runner, app):
    result = runner.invoke(args=["seed-scale", "--fraction", "0.001", "--requests", "300"])
    assert result.exit_code == 0, result.output
    assert "Done:" in result.output and scale.SCALE_PASSWORD in result.output
    assert count(Request) == 300

    again = runner.invoke(args=["seed-scale", "--fraction", "0.001", "--requests", "300"])
    assert again.exit_code != 0 and "empty database" in again.output
    assert count(Request) == 300
