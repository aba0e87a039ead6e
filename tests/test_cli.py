"""flask seed-demo and flask create-user."""

import json
import re
from collections import Counter

import pytest
import sqlalchemy as sa
from stdnum.cn import uscc

from liaison_app.extensions import db
from liaison_app.models import (
    Category,
    Channel,
    Department,
    Deputy,
    DeputyKind,
    Enterprise,
    Jurisdiction,
    QRCode,
    Rating,
    ReferenceCounter,
    Request,
    Role,
    Station,
    StationKind,
    User,
    utcnow,
)
from liaison_app.services.requests import _next_reference
from liaison_app.validators import normalise_phone
from liaison_app.workflow import Action, Status
from tests.factories import make_department, make_deputy, make_jurisdiction, make_user


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def seed(runner, *args):
    result = runner.invoke(args=["seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result


def seed_json(runner, *args) -> dict:
    return json.loads(seed(runner, "--json", *args).output)


def all_requests() -> list[Request]:
    return db.session.scalars(sa.select(Request).order_by(Request.id)).all()


# --- seed-demo ---------------------------------------------------------------------------


def test_seed_demo_creates_the_advertised_data_set(runner):
    result = seed(runner)

    assert "Demo data loaded." in result.output
    assert "https://liaison.example.cn/q/" in result.output
    assert count(Deputy) == 30
    assert count(Department) == 10
    assert count(Enterprise) == 50
    assert all(uscc.is_valid(e.uscc) for e in db.session.scalars(sa.select(Enterprise)))
    requests = all_requests()
    assert len(requests) == 100
    assert {r.status for r in requests} == set(Status)
    assert {r.category for r in requests} == set(Category)
    assert {r.channel for r in requests} >= {Channel.QR_DEPUTY, Channel.QR_STATION, Channel.VISIT, Channel.RECEPTION}
    closed_ratings = {r.rating for r in requests if r.status is Status.CLOSED}
    assert {Rating.SATISFIED, Rating.MOSTLY_SATISFIED, Rating.UNRATED} <= closed_ratings
    assert {u.role for u in db.session.scalars(sa.select(User))} == set(Role)
    assert {s.kind for s in db.session.scalars(sa.select(Station))} == set(StationKind)


def test_seed_demo_follows_the_jurisdictions_of_the_seeds(runner):
    seed(runner)

    def place(code: str) -> Jurisdiction:
        return db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.division_code == code))

    taicang, wanan = place("320585"), place("360828")
    assert [j.name for j in reversed(taicang.ancestors())] == ["江苏省", "苏州市"]
    assert [j.name for j in reversed(wanan.ancestors())] == ["江西省", "吉安市"]
    towns = {j.name: j for j in taicang.children}
    assert {"城厢镇", "沙溪镇", "浏河镇", "浮桥镇", "璜泾镇", "双凤镇", "娄东街道", "陆渡街道"} == set(towns)
    assert towns["娄东街道"].is_street and not towns["城厢镇"].is_street
    park = db.session.scalar(sa.select(Station).where(Station.name == "万安县工业园区代表联络站"))
    assert park.jurisdiction is wanan and park.intro and park.rules and park.process
    assert "5日、20日" in park.reception_days
    street_representatives = db.session.scalars(
        sa.select(Deputy).where(Deputy.kind == DeputyKind.STREET_REPRESENTATIVE)
    ).all()
    assert street_representatives and all(d.congress_jurisdiction.name == "娄东街道" for d in street_representatives)
    assert all(d.stations for d in db.session.scalars(sa.select(Deputy)))


def test_seed_demo_twice_writes_nothing_new(runner):
    seed(runner)
    before = {model: count(model) for model in (Jurisdiction, Station, Deputy, Department, Enterprise, QRCode,
                                                Request, User)}
    counter = db.session.scalars(sa.select(ReferenceCounter.last_value)).all()

    again = seed(runner)

    assert "already in this database; nothing was written" in again.output
    assert "demo-admin-2026" in again.output
    db.session.expire_all()
    assert {model: count(model) for model in before} == before
    assert db.session.scalars(sa.select(ReferenceCounter.last_value)).all() == counter


def test_seed_demo_json_gives_logins_and_working_qr_urls(app, runner):
    data = seed_json(runner)

    assert data["created"] is True
    assert {user["role"] for user in data["users"]} == {role.value for role in Role}
    assert all(set(user) >= {"username", "password", "role"} for user in data["users"])
    assert len(data["qr_urls"]) >= 2
    codes = []
    for url in data["qr_urls"]:
        assert url.startswith(app.config["PUBLIC_BASE_URL"] + "/q/")
        token = url.rsplit("/", 1)[1]
        code = db.session.scalar(sa.select(QRCode).where(QRCode.token == token))
        assert code is not None and code.revoked_at is None
        codes.append(code)
        assert app.test_client().get(f"/q/{token}").status_code == 200
    assert codes[0].deputy is not None
    assert codes[1].station is not None

    again = seed_json(runner)
    assert again["created"] is False
    assert again["qr_urls"] == data["qr_urls"]
    assert again["users"] == data["users"]


def test_seed_demo_includes_a_retired_code_that_points_to_its_reprint(app, runner):
    data = seed_json(runner)

    token = data["retired_qr_url"].rsplit("/", 1)[1]
    retired = db.session.scalar(sa.select(QRCode).where(QRCode.token == token))
    assert retired.is_revoked
    assert retired.replaced_by is not None and not retired.replaced_by.is_revoked
    assert retired.current_code() is retired.replaced_by
    assert app.test_client().get(f"/q/{token}").status_code == 200


def test_every_demo_user_can_log_in(runner):
    data = seed_json(runner)

    for login in data["users"]:
        user = db.session.scalar(sa.select(User).where(User.username == login["username"]))
        assert user.role.value == login["role"]
        assert user.check_password(login["password"])
        assert not user.check_password(login["password"] + "x")
    staff = db.session.scalar(sa.select(User).where(User.username == "staff"))
    assert staff.jurisdiction.name == "太仓市"
    unit = db.session.scalar(sa.select(User).where(User.role == Role.UNIT))
    assert unit.department.name == "太仓市住建局"
    deputy_user = db.session.scalar(sa.select(User).where(User.role == Role.DEPUTY))
    assert deputy_user.deputy.congress_jurisdiction.name == "太仓市"
    addressed = db.session.scalar(
        sa.select(sa.func.count()).select_from(Request).where(Request.addressed_deputy_id == deputy_user.deputy_id)
    )
    assert addressed >= 5


def test_every_demo_trail_passes_the_workflow(runner):
    seed(runner)
    now = utcnow()

    for request in all_requests():
        events = request.events
        assert events[0].action is Action.FILE and events[0].from_status is None
        for previous, event in zip(events, events[1:]):
            assert event.from_status == previous.to_status, request.reference
            assert previous.created_at <= event.created_at <= now, request.reference
        assert events[-1].to_status == request.status
        assert request.created_at == events[0].created_at
        assert request.jurisdiction_id == events[-1].jurisdiction_id
        assert normalise_phone(request.contact_phone) == request.contact_phone
        if request.status in (Status.CLAIMED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REPLIED,
                              Status.AWAITING_RATING):
            assert request.claimant is not None and request.claimed_at is not None
        if request.status in (Status.ASSIGNED, Status.IN_PROGRESS):
            assert request.department is not None and request.due_on is not None
        if events[-1].action is Action.APPROVE_PUBLIC_SUMMARY:  # 公示: its summary approved after closing
            assert request.public_summary_approved_at == events[-1].created_at
            events = events[:-1]
        if request.status in (Status.CLOSED, Status.WITHDRAWN):
            assert request.closed_at == events[-1].created_at
        if events[-1].action in (Action.RATE, Action.AUTO_CLOSE):
            assert request.rating in (Rating.SATISFIED, Rating.MOSTLY_SATISFIED, Rating.UNRATED)
            assert request.outcome is not None


def test_demo_references_continue_in_the_apps_counter(runner):
    seed(runner)
    requests = all_requests()

    references = [r.reference for r in requests]
    assert len(set(references)) == len(references)
    assert all(re.fullmatch(r"\d{4}-\d{6}", ref) for ref in references)
    highest = Counter()
    for ref in references:
        year, number = ref.split("-")
        highest[int(year)] = max(highest[int(year)], int(number))
    for year, number in highest.items():
        assert db.session.get(ReferenceCounter, year).last_value >= number
    assert len({r.tracking_token for r in requests}) == len(requests)
    assert len({r.idempotency_key for r in requests}) == len(requests)

    assert _next_reference() not in references  # the next real filing does not collide
    db.session.rollback()


def test_if_empty_fills_an_empty_database_once(runner):
    first = seed_json(runner, "--if-empty")
    second = seed_json(runner, "--if-empty")

    assert first["created"] is True and second["created"] is False
    assert count(Request) == 100


def test_if_empty_leaves_a_real_install_alone(runner):
    make_jurisdiction(name="台州市", division_code="331000")

    result = seed(runner, "--if-empty")

    assert "not the demo's" in result.output
    assert "was not loaded" in result.output
    assert count(Deputy) == count(Request) == count(User) == 0
    assert count(Jurisdiction) == 1
    assert seed_json(runner, "--if-empty")["created"] is False


def test_if_empty_counts_user_accounts_as_a_real_install(runner):
    make_user(Role.ADMIN, username="root")

    seed(runner, "--if-empty")

    assert count(Jurisdiction) == 0


def test_seed_demo_refuses_to_collide_with_existing_rows(runner):
    make_user(Role.ADMIN, username="admin")

    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 1
    assert "admin" in result.output and "not loaded" in result.output
    assert count(Jurisdiction) == 0 and count(User) == 1


# --- create-user -------------------------------------------------------------------------


def create_user(runner, *args, password="long enough pw"):
    """Run create-user reading the password from standard input."""
    return runner.invoke(args=["create-user", *args, "--password-stdin"], input=password + "\n")


def test_create_user_with_prompted_password(runner):
    place = make_jurisdiction(name="太仓市", division_code="320585")

    result = runner.invoke(
        args=["create-user", "--username", "chenxy", "--role", "staff", "--jurisdiction", "320585",
              "--phone", "138 1234 5678", "--display-name", "陈晓燕"],
        input="correct horse 1\ncorrect horse 1\n",
    )

    assert result.exit_code == 0, result.output
    assert "correct horse" not in result.output  # hidden input
    user = db.session.scalar(sa.select(User).where(User.username == "chenxy"))
    assert user.role is Role.STAFF and user.jurisdiction_id == place.id
    assert user.phone == "+8613812345678" and user.display_name == "陈晓燕"
    assert user.password_hash.startswith("$argon2id$")
    assert user.check_password("correct horse 1")


@pytest.mark.parametrize("role", [Role.UNIT, Role.DEPUTY, Role.ADMIN])
def test_create_user_for_each_scope(runner, role):
    scope = {
        Role.UNIT: lambda: ["--department", str(make_department().id)],
        Role.DEPUTY: lambda: ["--deputy", str(make_deputy().id)],
        Role.ADMIN: lambda: [],
    }[role]()

    result = create_user(runner, "--username", "someone", "--role", role.value, *scope)

    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "someone"))
    assert user.role is role and user.check_password("long enough pw")


@pytest.mark.parametrize(
    ("args", "password", "exit_code", "message"),
    [
        (["--role", "staff"], "long enough pw", 2, "needs --jurisdiction"),
        (["--role", "unit"], "long enough pw", 2, "needs --department"),
        (["--role", "deputy"], "long enough pw", 2, "needs --deputy"),
        (["--role", "admin", "--jurisdiction", "320585"], "long enough pw", 2, "does not apply"),
        (["--role", "staff", "--jurisdiction", "999999"], "long enough pw", 1, "No jurisdiction"),
        (["--role", "unit", "--department", "99999"], "long enough pw", 1, "No handling unit"),
        (["--role", "admin", "--phone", "12345"], "long enough pw", 2, "--phone"),
        (["--role", "admin"], "short", 1, "at least 8 characters"),
        (["--role", "admin"], "", 1, "at least 8 characters"),
    ],
)
def test_create_user_refuses_bad_input_and_writes_nothing(runner, args, password, exit_code, message):
    make_jurisdiction(name="太仓市", division_code="320585")
    before = count(User)

    result = create_user(runner, "--username", "newuser", *args, password=password)

    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert count(User) == before


def test_create_user_refuses_a_taken_username_whatever_its_case(runner):
    make_user(Role.ADMIN, username="alice")

    result = create_user(runner, "--username", "Alice", "--role", "admin")

    assert result.exit_code == 1
    assert "already taken" in result.output
    assert count(User) == 1


def test_create_user_refuses_a_taken_phone(runner):
    make_user(Role.ADMIN, username="alice", phone="+8613812345678")

    result = create_user(runner, "--username", "bob", "--role", "admin", "--phone", "13812345678")

    assert result.exit_code == 1
    assert "already belongs to another user" in result.output
    assert count(User) == 1


def test_create_user_refuses_a_deputy_who_has_an_account(runner):
    existing = make_user(Role.DEPUTY)

    result = create_user(runner, "--username", "second", "--role", "deputy", "--deputy", str(existing.deputy_id))

    assert result.exit_code == 1
    assert "already has a user account" in result.output
    assert count(User) == 1


def test_create_user_refuses_a_malformed_username(runner):
    result = create_user(runner, "--username", "a b", "--role", "admin")

    assert result.exit_code == 2
    assert "--username" in result.output
    assert count(User) == 0


def test_create_user_asks_again_when_the_confirmation_differs(runner):
    result = runner.invoke(args=["create-user", "--username", "carol", "--role", "admin"],
                           input="first password\nsecond password\n")

    assert result.exit_code == 1  # aborted at the end of input, after asking again
    assert "do not match" in result.output
    assert count(User) == 0


def test_the_demo_has_a_scan_history_within_each_codes_count(runner):
    from liaison_app.models import QRCode, QRScanDay

    runner.invoke(args=["seed-demo"])

    totals = dict(db.session.execute(
        sa.select(QRScanDay.qr_code_id, sa.func.sum(QRScanDay.count)).group_by(QRScanDay.qr_code_id)).all())
    assert totals, "the statistics page would show no scans"
    for code in db.session.scalars(sa.select(QRCode).where(QRCode.id.in_(totals))):
        assert totals[code.id] <= code.scan_count
