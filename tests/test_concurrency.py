"""Double taps and parallel filings with real threads, on SQLite and PostgreSQL."""

import re
import threading
import uuid

import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Request, RequestEvent
from tests.factories import make_qr_code
from tests.test_filing import form_data

THREADS = 8


def post_in_parallel(app, path, payloads):
    barrier = threading.Barrier(len(payloads))
    responses = [None] * len(payloads)

    def worker(index):
        client = app.test_client()
        barrier.wait()
        responses[index] = client.post(path, data=payloads[index])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.session.commit()  # end the test's read transaction to see what the threads wrote
    return responses


def test_simultaneous_taps_with_one_key_make_one_request(app):
    code = make_qr_code()
    key = uuid.uuid4().hex

    responses = post_in_parallel(app, f"/q/{code.token}/file", [form_data(idempotency_key=key) for _ in range(THREADS)])

    assert [r.status_code for r in responses] == [303] * THREADS
    assert len({r.headers["Location"] for r in responses}) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Request)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestEvent)) == 1


def test_parallel_filings_get_distinct_consecutive_references(app):
    code = make_qr_code()

    responses = post_in_parallel(app, f"/q/{code.token}/file", [form_data() for _ in range(THREADS)])

    assert [r.status_code for r in responses] == [303] * THREADS
    references = db.session.scalars(sa.select(Request.reference)).all()
    numbers = sorted(int(r[-6:]) for r in references)
    assert numbers == list(range(numbers[0], numbers[0] + THREADS))


def test_many_deputies_tapping_claim_at_once_make_exactly_one_claimant(app):
    from liaison_app.models import Role
    from liaison_app.workflow import Action, Status
    from tests.factories import Tree, make_deputy, make_request, make_user
    from tests.test_desk import login

    tree = Tree()
    req = make_request(station=tree.station)
    claimers = [make_user(Role.DEPUTY, deputy=make_deputy(tree.station), display_name=f"代表{i}") for i in range(10)]
    clients = []
    for user in claimers:
        client = app.test_client()
        login(client, user)
        clients.append(client)
    path, form = f"/desk/requests/{req.id}/claim", {"claim-version": req.version}
    names = [user.display_name for user in claimers]
    db.session.commit()
    barrier = threading.Barrier(len(clients))
    responses = [None] * len(clients)

    def tap(index):
        barrier.wait()
        responses[index] = clients[index].post(path, data=form)

    threads = [threading.Thread(target=tap, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.session.commit()

    codes = sorted(r.status_code for r in responses)
    assert codes == [303] + [409] * (len(clients) - 1)
    winner = claimers[[r.status_code for r in responses].index(303)]
    for response in responses:
        if response.status_code == 409:
            page = response.get_data(as_text=True)
            assert f"已被 {names[claimers.index(winner)]} 认领" in page, re.findall(r"role=.alert.>([^<]*)<", page)
    claimed = db.session.get(Request, req.id)
    assert (claimed.status, claimed.claimant_id) == (Status.CLAIMED, winner.id)
    assert [e.action for e in claimed.events].count(Action.CLAIM) == 1
