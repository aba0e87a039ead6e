"""CSRF on every state change, htmx included, with protection ON (as in production).

Every rule of app.url_map that takes POST (or PUT/PATCH/DELETE) is sent a request without a
token, by a user who may do it where there is one, with the body that would otherwise do
it where that is easy to give: it is refused (400, or 422 with the text kept on the two
forms where people type a lot) with the friendly page, and the database is unchanged.
With the token htmx sends (X-CSRFToken from hx-headers on <body>) a POST works; every
<form method="post"> carries the token.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from liaison_app.extensions import db
from liaison_app.models import Request, RequestEvent
from liaison_app.workflow import Status
from tests.factories import make_request
from tests.test_access_matrix import valid_form
from tests.test_filing import form_data
from tests.world import changed_tables, client_for, module_app, snapshot, urls_for  # noqa: F401

APP_SETTINGS = {"WTF_CSRF_ENABLED": True}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
EXPIRED = "已过期"  # 页面已过期… ("Your session has expired…": the friendly page and the kept forms)
TEMPLATES = Path(__file__).resolve().parent.parent / "liaison_app" / "templates"


@pytest.fixture(scope="module")
def world(module_app):
    return module_app


def write_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.methods & WRITE_METHODS), key=lambda r: r.rule)


def sender(world, rule):
    """Someone who may make this change (the admin may everywhere in admin, oversight and
    on any request), or nobody for the enterprise's and the login pages."""
    tree = world.tree
    if rule.rule.startswith("/desk/visits"):
        return tree.deputy_user
    if rule.rule.startswith(("/admin", "/oversight", "/desk")):
        return tree.admin
    if rule.endpoint in ("auth.logout", "auth.password"):
        return tree.deputy_user
    return None


def body_for(world, rule) -> dict:
    """The form that would make the change, but for the token."""
    near = world.near
    if rule.endpoint.startswith("desk.request_"):
        name = rule.endpoint.removeprefix("desk.request_")
        req = db.session.get(Request, near["request_id"])
        return valid_form(name, req, world.tree)
    if rule.endpoint == "public.request_file":
        return form_data()
    version = db.session.get(Request, near["request_id"]).version
    return {
        "public.tracking_add_info": {"text": "补充：夜班岗位急需焊工。", "version": version},
        "public.tracking_withdraw": {"version": version, "reason": "已自行解决"},
        "auth.login": {"username": world.tree.admin.username, "password": "correct horse battery"},
        "auth.password": {"current": "correct horse battery", "new": "a new long passphrase 2026",
                          "confirm": "a new long passphrase 2026"},
    }.get(rule.endpoint, {})


def test_every_state_change_without_a_token_is_refused_and_changes_nothing(world):
    app, world = world
    refused = 0
    for rule in write_rules(app):
        for method in sorted(rule.methods & WRITE_METHODS):
            for url in urls_for(rule, world.near):
                for headers in ({}, {"HX-Request": "true"}):
                    client = client_for(app, sender(world, rule))
                    before = snapshot()
                    response = client.open(url, method=method, data=body_for(world, rule), headers=headers)
                    page = response.get_data(as_text=True)
                    kept_text = rule.endpoint in ("public.request_file", "public.tracking_add_info")
                    assert response.status_code == (422 if kept_text else 400), (method, url, response.status_code)
                    assert EXPIRED in page, (method, url)
                    assert changed_tables(before, snapshot()) == set(), (method, url)
                    refused += 1
    assert refused > 100


def test_a_wrong_or_foreign_token_is_refused_too(world):
    app, world = world
    tree = world.tree
    stranger = client_for(app, tree.staff["township"])
    foreign = token_of(stranger.get("/desk/"))
    client = client_for(app, tree.deputy_user)
    token_of(client.get("/desk/"))
    req = make_request(deputy=tree.deputy)
    for token in (foreign, "forged-token", ""):
        response = client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version},
                               headers={"X-CSRFToken": token, "HX-Request": "true"})
        assert response.status_code == 400, token
    db.session.expire_all()
    assert db.session.get(Request, req.id).status is Status.SUBMITTED


def token_of(response) -> str:
    """The token htmx sends with every request: hx-headers on <body>."""
    match = re.search(r"""<body hx-headers='\{"X-CSRFToken": "([^"]+)"\}'""", response.get_data(as_text=True))
    assert match, "the page's <body> carries the CSRF token in hx-headers"
    return match.group(1)


def test_an_htmx_post_with_the_header_token_works(world):
    app, world = world
    tree = world.tree
    req = make_request(deputy=tree.deputy)
    client = client_for(app, tree.deputy_user)
    token = token_of(client.get(f"/desk/requests/{req.id}"))

    response = client.post(f"/desk/requests/{req.id}/claim", data={"claim-version": req.version},
                           headers={"X-CSRFToken": token, "HX-Request": "true"})

    assert response.status_code == 200
    db.session.expire_all()
    claimed = db.session.get(Request, req.id)
    assert claimed.status is Status.CLAIMED and claimed.claimant_id == tree.deputy_user.id


def test_the_enterprise_adds_information_by_htmx_with_its_token(world):
    app, world = world
    req = make_request(deputy=world.tree.deputy)
    client = app.test_client()
    token = token_of(client.get(f"/t/{req.tracking_token}"))
    events = len(req.events)

    response = client.post(f"/t/{req.tracking_token}/info", data={"text": "补充：夜班岗位急需焊工。", "version": req.version},
                           headers={"X-CSRFToken": token, "HX-Request": "true"})

    assert response.status_code == 200 and "夜班岗位急需焊工" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.query(RequestEvent).filter_by(request_id=req.id).count() == events + 1


# --- every form carries the token ------------------------------------------------------------------


class Forms(HTMLParser):
    """Post forms without a csrf_token input, and whether <body> carries hx-headers."""

    def __init__(self):
        super().__init__()
        self.open_form, self.missing, self.posts, self.body_token = None, [], 0, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body_token = "X-CSRFToken" in (attrs.get("hx-headers") or "")
        elif tag == "form" and (attrs.get("method") or "get").lower() == "post":
            self.open_form = {"action": attrs.get("action"), "token": False}
            self.posts += 1
        elif tag == "input" and self.open_form is not None and attrs.get("name") == "csrf_token" and attrs.get("value"):
            self.open_form["token"] = True

    def handle_endtag(self, tag):
        if tag == "form" and self.open_form is not None:
            if not self.open_form["token"]:
                self.missing.append(self.open_form["action"])
            self.open_form = None


def test_every_post_form_on_every_page_carries_the_token(world):
    app, world = world
    tree = world.tree
    forms = 0
    for rule in sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        for url in urls_for(rule, world.near):
            for user in (None, tree.deputy_user, tree.staff["township"], tree.officers["township"], tree.admin):
                response = client_for(app, user).get(url)
                if response.mimetype != "text/html" or response.status_code != 200:
                    continue
                page = Forms()
                page.feed(response.get_data(as_text=True))
                assert page.missing == [], (url, page.missing)
                if "hx-post" in response.get_data(as_text=True):
                    assert page.body_token, url
                forms += page.posts
    assert forms > 50


def test_every_post_form_in_the_templates_carries_the_token():
    """Also the forms no page above happened to show (other statuses, other roles)."""
    # errors/_error.html: "send again" after a 503 posts back the fields exactly as they were
    # sent, csrf_token included (errors._filing_to_resend).
    resends_as_sent = {"errors/_error.html"}
    missing = []
    for template in TEMPLATES.rglob("*.html"):
        if template.relative_to(TEMPLATES).as_posix() in resends_as_sent:
            continue
        text = template.read_text(encoding="utf-8")
        for form in re.finditer(r"<form\b[^>]*\bmethod=\"post\"[^>]*>(.*?)</form>", text, flags=re.S | re.I):
            if not re.search(r"csrf_input\(\)|csrf_token\(\)", form.group(1)):
                missing.append(f"{template.relative_to(TEMPLATES)}: {form.group(0)[:120]}")
    assert missing == []
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    # Every page but the landing page kept for anonymous visitors (shared_page: it has no form
    # and no htmx request; public/landing_cache.py) gives htmx the token.
    assert """<body{% if not shared_page %} hx-headers='{"X-CSRFToken": "{{ csrf_token() }}"}'{% endif %}>""" in base
    assert [t.name for t in TEMPLATES.rglob("*.html") if "shared_page" in t.read_text(encoding="utf-8")] == ["base.html"]
