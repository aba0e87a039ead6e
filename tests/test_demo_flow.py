"""The issue's "done means", with the demo users through HTTP: from a demo QR code to
the enterprise's rating, and escalated twice then answered from the top."""

import json
import re
import uuid

import pytest
import sqlalchemy as sa

from liaison_app.extensions import db
from liaison_app.models import Department, Request
from liaison_app.workflow import Status
from tests.test_filing import form_data


@pytest.fixture
def demo(runner):
    result = runner.invoke(args=["seed-demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    return {"passwords": {u["username"]: u["password"] for u in data["users"]}, "deputy_qr": data["qr_urls"][0]}


def phone(app, demo, username):
    """A phone of one demo user, logged in through the login form."""
    client = app.test_client()
    response = client.post("/login", data={"login": username, "password": demo["passwords"][username]})
    assert response.status_code == 303, response.get_data(as_text=True)[-500:]
    return client


def file_from_the_demo_qr(app, demo) -> tuple[Request, object]:
    enterprise = app.test_client()
    path = demo["deputy_qr"].split("example.cn", 1)[-1]
    assert enterprise.get(path).status_code == 200
    response = enterprise.post(path + "/file", data=form_data(idempotency_key=uuid.uuid4().hex))
    assert response.status_code == 303
    token = response.headers["Location"].rsplit("/", 1)[-1]
    db.session.commit()
    return db.session.scalar(sa.select(Request).where(Request.tracking_token == token)), enterprise


def act(client, req, name, **fields):
    db.session.expire_all()
    version = db.session.get(Request, req.id).version
    data = {f"{name}-version": version, **{f"{name}-{k}": v for k, v in fields.items()}}
    response = client.post(f"/desk/requests/{req.id}/{name}", data=data)
    assert response.status_code == 303, (name, re.findall(r'role="alert">([^<]*)<', response.get_data(as_text=True)))


def status_of(req) -> Status:
    db.session.expire_all()
    return db.session.get(Request, req.id).status


def test_claim_assign_acknowledge_respond_accept_and_rate(app, demo):
    req, enterprise = file_from_the_demo_qr(app, demo)
    deputy, unit = phone(app, demo, "deputy"), phone(app, demo, "unit")
    assert req.reference in deputy.get("/desk/").get_data(as_text=True)

    act(deputy, req, "claim")
    department = db.session.scalar(sa.select(Department).where(Department.name == "太仓市住建局"))
    act(deputy, req, "assign", department=department.id, due_on="", note="请核实")
    assert req.reference in unit.get("/desk/unit").get_data(as_text=True)
    act(unit, req, "acknowledge")
    act(unit, req, "respond", outcome="solved", text="已联系职业院校，下周举办专场招聘会。")
    act(deputy, req, "accept", note="")
    assert status_of(req) is Status.AWAITING_RATING

    page = enterprise.get(f"/t/{req.tracking_token}").get_data(as_text=True)
    assert "已交办至 太仓市住建局" in page and "请评价办理结果" in page
    response = enterprise.post(f"/t/{req.tracking_token}/rate", data={"rating": "satisfied", "version": db.session.get(Request, req.id).version})
    assert response.status_code == 303
    assert status_of(req) is Status.CLOSED


def test_escalated_twice_and_answered_from_the_top(app, demo):
    req, enterprise = file_from_the_demo_qr(app, demo)
    deputy = phone(app, demo, "deputy")
    suzhou, jiangsu = phone(app, demo, "staff-suzhou"), phone(app, demo, "staff-jiangsu")

    act(deputy, req, "claim")
    act(deputy, req, "escalate", reason="涉及跨县市协调，超出县级权限")
    act(suzhou, req, "claim")
    act(suzhou, req, "escalate", reason="需省级政策支持")
    act(jiangsu, req, "claim")
    act(jiangsu, req, "answer", outcome="explained", text="依据省级政策作出解释。")
    act(jiangsu, req, "accept", note="")

    page = enterprise.get(f"/t/{req.tracking_token}").get_data(as_text=True)
    assert "已上报至 苏州市人大常委会" in page and "已上报至 江苏省人大常委会" in page
    assert "依据省级政策作出解释。" in page
    # the deputy it came from still sees what the top level did
    card = deputy.get(f"/desk/requests/{req.id}").get_data(as_text=True)
    assert "依据省级政策作出解释。" in card
