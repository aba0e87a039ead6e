"""flask notify-deadlines: what is due tomorrow and what is overdue reaches whoever holds it,
once a day per item, however often and on however many servers the job runs."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import DeadlineNotice, Notification, NotificationChannel, NotificationKind, Role, utcnow
from liaison_app.services.deadline_notices import notify_deadlines
from liaison_app.workdays import add_working_days, today_local
from liaison_app.workflow import Status
from tests.factories import Tree, make_request, make_user


@pytest.fixture
def tree(app):
    return Tree()


def moved(req, **values):
    """The request as a workflow would have left it (its trail is not the point here)."""
    for name, value in values.items():
        setattr(req, name, value)
    db.session.commit()
    return req


def inbox(kind: NotificationKind) -> list[tuple[int, int]]:
    """(request id, user id) of every 消息 of this kind."""
    db.session.expire_all()
    return sorted(db.session.execute(
        sa.select(Notification.request_id, Notification.recipient_user_id)
        .where(Notification.channel == NotificationChannel.INBOX, Notification.kind == kind)).tuples().all())


def test_a_claim_due_tomorrow_reaches_the_station_deputies_and_the_staff_once(tree):
    today = today_local()
    due = make_request(station=tree.station, claim_due_on=today + timedelta(days=1))
    make_request(station=tree.station, claim_due_on=today + timedelta(days=5))  # not yet

    counts = notify_deadlines(today)

    assert (counts.due_tomorrow, counts.overdue) == (1, 0)
    assert inbox(NotificationKind.DEADLINE_NEAR) == sorted([
        (due.id, tree.deputy_user.id), (due.id, tree.colleague_user.id), (due.id, tree.staff["township"].id)])
    message = db.session.scalar(sa.select(Notification).where(Notification.recipient_user_id == tree.deputy_user.id))
    assert message.payload["due"] == (today + timedelta(days=1)).isoformat()

    again = notify_deadlines(today)

    assert (again.due_tomorrow, again.overdue, again.messages) == (0, 0, 0)
    assert len(inbox(NotificationKind.DEADLINE_NEAR)) == 3


def test_an_overdue_response_reaches_the_department_and_the_staff_above_every_day(tree):
    today = today_local()
    department, officer = tree.departments["township"], tree.officers["township"]
    late = moved(make_request(station=tree.station), status=Status.IN_PROGRESS, department=department,
                 assigned_at=utcnow() - timedelta(days=20), due_on=today - timedelta(days=2), claimant=tree.deputy_user)

    assert notify_deadlines(today).overdue == 1
    assert inbox(NotificationKind.OVERDUE) == sorted([(late.id, officer.id), (late.id, tree.staff["county"].id)])

    assert notify_deadlines(today).overdue == 0  # the same day: nothing again
    assert notify_deadlines(today + timedelta(days=1)).overdue == 1  # the next day: announced again
    assert len(inbox(NotificationKind.OVERDUE)) == 4


def test_an_unacknowledged_assignment_is_announced_on_the_day_before_and_once_late(tree):
    today = today_local()
    department, officer = tree.departments["township"], tree.officers["township"]
    assigned_day = today
    while add_working_days(assigned_day, 1) != today + timedelta(days=1):
        assigned_day -= timedelta(days=1)
    from liaison_app.workdays import utc_start_of

    moved(make_request(station=tree.station), status=Status.ASSIGNED, department=department, claimant=tree.deputy_user,
          assigned_at=utc_start_of(assigned_day) + timedelta(hours=3), due_on=today + timedelta(days=9))

    assert notify_deadlines(today).due_tomorrow == 1
    assert [user for _, user in inbox(NotificationKind.DEADLINE_NEAR)] == [officer.id]


def test_closed_and_answered_requests_are_left_alone(tree):
    today = today_local()
    moved(make_request(station=tree.station), status=Status.CLOSED, claim_due_on=today - timedelta(days=9))
    moved(make_request(station=tree.station), status=Status.REPLIED, due_on=today - timedelta(days=3),
          department=tree.departments["township"])

    assert notify_deadlines(today) == notify_deadlines(today)
    assert notify_deadlines(today).messages == 0
    assert inbox(NotificationKind.OVERDUE) == []


def test_two_servers_at_the_same_moment_send_each_notice_once(app, tree):
    today = today_local()
    for _ in range(6):
        make_request(station=tree.station, claim_due_on=today - timedelta(days=3))
    db.session.commit()
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite takes one writer at a time: the PostgreSQL run races two")
    results, errors = [], []

    def run():
        with app.app_context():
            try:
                results.append(notify_deadlines(today).overdue)
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sum(results) == 6
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeadlineNotice)) == 6
    # The station's two deputies, the township's staff, and the county's staff above, once each.
    assert len(inbox(NotificationKind.OVERDUE)) == 6 * 4


def test_the_command_prints_what_it_announced(app, tree, runner):
    make_request(station=tree.station, claim_due_on=today_local() - timedelta(days=1))
    make_user(Role.STAFF, jurisdiction=tree.township)
    db.session.commit()

    result = runner.invoke(args=["notify-deadlines"])

    assert result.exit_code == 0, result.output
    assert "Due tomorrow 0, overdue 1" in result.output
