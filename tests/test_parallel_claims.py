"""A hundred deputies tap 认领 on the same request at the same moment: exactly one of
them becomes the claimant, the others are told who did, and the trail has one CLAIM.

Real threads released together by a barrier, on SQLite and PostgreSQL (`--db`): once
through the service layer, once over HTTP against a real threaded server with a
hundred logged-in deputies. The app's own connection pool is used, as in production:
the requests that do not get a connection at once wait for one.
"""

import http.client
import threading
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from liaison_app.extensions import begin_write, db
from liaison_app.models import Request, RequestEvent, Role, User
from liaison_app.services import workflow as wf
from liaison_app.workflow import Action, Status
from tests.browser.conftest import live_server  # noqa: F401  (the real threaded server, as a fixture)
from tests.factories import Tree, make_deputy, make_request, make_user

CLAIMERS = 100
PASSWORD = "parallel claims password"  # hashed cheaply (see below), so only in this module


@pytest.fixture
def tree(app):
    return Tree()


@pytest.fixture
def req(tree):
    return make_request(station=tree.station)


@pytest.fixture
def cheap_hashing(monkeypatch):
    """argon2 at its lowest cost: a hundred real logins in a second or two instead of a
    minute (the default costs 0.6 s of CPU per login here)."""
    from argon2 import PasswordHasher

    from liaison_app.models import people

    monkeypatch.setattr(people, "password_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def deputies(tree, cheap_hashing):
    """A hundred deputies of the request's station, each with a login of their own."""
    return [make_user(Role.DEPUTY, deputy=make_deputy(tree.station), display_name=f"代表{i:03d}", password=PASSWORD)
            for i in range(CLAIMERS)]


def run_together(count, work):
    """Run work(index) in `count` threads that all start at the same moment."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(index):
        barrier.wait(timeout=60)
        results[index] = work(index)

    threads = [threading.Thread(target=worker, args=(i,), name=f"claimer-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a claimer never finished"
    db.session.commit()  # end the test's read transaction to see what the threads wrote
    return results


def assert_one_claim(request_id, *, version_before, winner):
    db.session.expire_all()
    claimed = db.session.get(Request, request_id)
    assert (claimed.status, claimed.claimant_id) == (Status.CLAIMED, winner.id)
    assert claimed.version == version_before + 1
    claims = db.session.scalars(
        sa.select(RequestEvent).where(RequestEvent.request_id == request_id, RequestEvent.action == Action.CLAIM)
    ).all()
    assert [(e.actor_user_id, e.from_status, e.to_status) for e in claims] == [
        (winner.id, Status.SUBMITTED, Status.CLAIMED)]


def test_a_hundred_simultaneous_claims_in_the_service_make_exactly_one_claimant(app, req, deputies):
    request_id, version, user_ids = req.id, req.version, [user.id for user in deputies]
    db.session.commit()

    def claim(index):
        # One unit of work as a POST runs it: its own app context and session, the
        # write transaction begun first (BEGIN IMMEDIATE on SQLite), then load and act.
        with app.app_context():
            try:
                begin_write()
                user = db.session.get(User, user_ids[index])
                wf.claim_request(db.session.get(Request, request_id), actor=user)
                return "claimed"
            except wf.AlreadyClaimed as error:
                return str(error.message)
            except Exception as error:  # anything else is a failure of the test
                return repr(error)

    results = run_together(CLAIMERS, claim)

    assert results.count("claimed") == 1, sorted(set(results))
    winner = deputies[results.index("claimed")]
    refusals = [r for r in results if r != "claimed"]
    assert refusals == [f"已被 {winner.display_name} 认领。"] * (CLAIMERS - 1)
    assert_one_claim(request_id, version_before=version, winner=winner)


def post(server, path, fields, cookie=None):
    """POST a form over a fresh connection, as each phone does; (status, headers, body)."""
    connection = http.client.HTTPConnection(server.base_url.removeprefix("http://"), timeout=120)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    try:
        connection.request("POST", path, body=urlencode(fields), headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


def log_in(server, app, username) -> str:
    """The session cookie a deputy's phone holds after logging in."""
    status, headers, _ = post(server, "/login", {"login": username, "password": PASSWORD})
    assert status == 303, f"login of {username} answered {status}"
    name = app.config["SESSION_COOKIE_NAME"]
    for header in headers.get_all("Set-Cookie"):
        cookie = SimpleCookie(header)
        if name in cookie:
            return f"{name}={cookie[name].value}"
    raise AssertionError(f"no session cookie for {username}")


def test_a_hundred_deputies_tapping_claim_over_http_make_exactly_one_claimant(app, req, deputies, live_server):
    request_id, version = req.id, req.version
    usernames, names = [u.username for u in deputies], [u.display_name for u in deputies]
    with ThreadPoolExecutor(max_workers=8) as pool:
        cookies = list(pool.map(lambda username: log_in(live_server, app, username), usernames))
    assert len(set(cookies)) == CLAIMERS
    path, form = f"/desk/requests/{request_id}/claim", {"claim-version": version}

    responses = run_together(CLAIMERS, lambda index: post(live_server, path, form, cookies[index]))

    statuses = [status for status, _, _ in responses]
    assert sorted(statuses) == [303] + [409] * (CLAIMERS - 1), sorted(set(statuses))
    winner_index = statuses.index(303)
    assert responses[winner_index][1]["Location"].endswith(f"/desk/requests/{request_id}?done=claim")
    for status, _, page in responses:
        if status == 409:
            assert f"已被 {names[winner_index]} 认领。" in page
    assert_one_claim(request_id, version_before=version, winner=deputies[winner_index])

