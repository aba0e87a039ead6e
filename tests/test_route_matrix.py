"""Every route × every role, on both sides of the world: what each person gets.

Roles: anonymous; the deputy (沙溪镇 station, addressed by the near request, author of the near
visit); a colleague at the same station; an outsider deputy of another station of the same
township; staff of the township (the level of the near objects) and of the county above;
staff of 万安县 (another jurisdiction: the far objects are theirs); the township department's
officer; the admin.

A cell is a status, `L` (302 to /login), `>/path` (302 elsewhere), or `w`: allowed to make this
change; not sent here, because writes by those allowed are tested in each area's own tests
(and would change the world the other rows read). Refused POSTs must change nothing.
The desk's request actions have their own status-aware matrix in tests/test_access_matrix.py.

A new route fails test_every_route_is_in_the_matrix until it is added here.
"""

import pytest

from tests.test_access_matrix import ACTIONS
from tests.world import changed_tables, client_for, has_ids, module_app, snapshot, urls_for  # noqa: F401

ROLES = ("anonymous", "deputy", "colleague", "outsider", "township_staff", "county_staff", "far_staff", "unit",
         "admin")

EVERYONE = "200 200 200 200 200 200 200 200 200"
SIGNED_IN = "L 200 200 200 200 200 200 200 200"
# Admin and oversight pages without an id: staff see their own jurisdiction's, admins all.
STAFF_AREA = "L 403 403 403 200 200 200 403 200"
ADMINS = "L 403 403 403 403 403 403 403 200"  # the working-day calendar: deadlines everywhere
# (near, far): something inside the township, and something of 万安县
IN_SCOPE = ("L 403 403 403 200 200 404 403 200", "L 403 403 403 404 404 200 403 200")
# a campaign of the county: above the township's staff
COUNTY_UP = ("L 403 403 403 404 200 404 403 200", IN_SCOPE[1])
# a jurisdiction is edited from above it, never by its own staff
FROM_ABOVE = ("L 403 403 403 403 200 404 403 200", "L 403 403 403 404 404 403 403 200")
REQUEST = ("L 200 200 404 200 200 404 404 200", "L 404 404 404 404 404 200 404 200")
VISIT = ("L 200 404 404 200 200 404 403 200", "L 404 404 404 404 404 200 403 200")
DEPUTIES = "L 200 200 200 403 403 403 403 403"
INTAKE = "L 200 200 200 200 200 200 403 200"
RECORDER_ONLY = "L 404 404 404 404 404 404 403 404"
HOME = ">/desk/"


def writes(policy):
    """The same policy for a POST: those shown the page may send it."""
    if isinstance(policy, tuple):
        return tuple(writes(p) for p in policy)
    return policy.replace("200", "w")


PUBLIC_WRITE = "w w w w w w w w w"

GET = {
    # the enterprise's path, the public board, health: no login, the token or id is the key
    "/": EVERYONE, "/healthz": EVERYONE, "/static/<path:filename>": EVERYONE, "/mine": EVERYONE,
    "/q/<token>": (EVERYONE, EVERYONE), "/q/<token>/file": (EVERYONE, EVERYONE),
    "/t/<token>": (EVERYONE, EVERYONE), "/t/<token>/photos/<int:attachment_id>": (EVERYONE, EVERYONE),
    "/deputies/<int:deputy_id>/photo": (EVERYONE, EVERYONE),
    "/board/station/<int:station_id>": (EVERYONE, EVERYONE),
    "/board/jurisdiction/<int:jurisdiction_id>": (EVERYONE, EVERYONE),
    # 找回我的诉求: the code step sends back to the number when no code was asked for (tests/test_find.py)
    "/find": EVERYONE, "/find/code": " ".join([">/find"] * 9),
    # login, account, one-time reset
    "/login": f"200 {HOME} {HOME} {HOME} {HOME} {HOME} {HOME} >/desk/unit {HOME}",
    "/account/password": SIGNED_IN,
    "/reset": EVERYONE, "/reset/<token>": (EVERYONE, EVERYONE),
    # the desk
    "/desk/": "L 200 200 200 200 200 200 >/desk/unit 200",
    "/desk/unit": f"L {HOME} {HOME} {HOME} {HOME} {HOME} {HOME} 200 {HOME}",
    "/desk/duties": f"L 200 200 200 {HOME} {HOME} {HOME} {HOME} {HOME}",
    "/desk/requests/<int:request_id>": REQUEST,
    "/desk/requests/<int:request_id>/photos/<int:attachment_id>": REQUEST,
    "/desk/visits": "L 200 200 200 200 200 200 403 200",
    "/desk/visits/<int:visit_id>": VISIT, "/desk/visits/<int:visit_id>/photos/<int:photo_id>": VISIT,
    "/desk/visits/new": DEPUTIES, "/desk/visits/enterprises": DEPUTIES, "/desk/visits/pairings": DEPUTIES,
    # 代为登记: staff and deputies (at their stations, tests/test_intake.py); the page after filing
    # is the recorder's alone, and nobody recorded the world's requests
    "/desk/intake": INTAKE, "/desk/intake/<int:request_id>": (RECORDER_ONLY, RECORDER_ONLY),
    # 消息 and the notification settings: everyone their own; defaults for staff (their own jurisdiction)
    "/desk/messages": SIGNED_IN, "/desk/settings/notifications": SIGNED_IN,
    "/desk/settings/notifications/defaults": STAFF_AREA,
    # administration
    "/admin/": STAFF_AREA, "/admin/calendar": ADMINS,
    "/admin/departments": STAFF_AREA, "/admin/departments/new": STAFF_AREA,
    "/admin/departments/<int:department_id>/edit": IN_SCOPE,
    "/admin/deputies": STAFF_AREA, "/admin/deputies/new": STAFF_AREA, "/admin/deputies/<int:deputy_id>/edit": IN_SCOPE,
    "/admin/enterprises": STAFF_AREA, "/admin/enterprises/<int:enterprise_id>": IN_SCOPE,
    "/admin/enterprises/<int:enterprise_id>/edit": IN_SCOPE, "/admin/enterprises/<int:enterprise_id>/merge": IN_SCOPE,
    "/admin/exports/<kind>.xlsx": STAFF_AREA, "/admin/imports": STAFF_AREA,
    "/admin/imports/template/<kind>.xlsx": STAFF_AREA,
    "/admin/jurisdictions": STAFF_AREA, "/admin/jurisdictions/new": STAFF_AREA,
    "/admin/jurisdictions/<int:jurisdiction_id>/edit": FROM_ABOVE,
    "/admin/qr": STAFF_AREA, "/admin/qr/stats": STAFF_AREA,
    "/admin/qr/<any(deputies, stations):kind>/<int:owner_id>": IN_SCOPE,
    "/admin/qr/<any(deputies, stations, jurisdictions):kind>/<int:owner_id>/cards": IN_SCOPE,
    "/admin/qr/<any(deputies, stations, jurisdictions):kind>/<int:owner_id>/posters": IN_SCOPE,
    "/admin/qr/codes/<int:code_id>.png": IN_SCOPE, "/admin/qr/codes/<int:code_id>.svg": IN_SCOPE,
    "/admin/robots": STAFF_AREA, "/admin/robots/new": STAFF_AREA, "/admin/robots/<int:robot_id>/edit": IN_SCOPE,
    "/admin/stations": STAFF_AREA, "/admin/stations/new": STAFF_AREA, "/admin/stations/<int:station_id>/edit": IN_SCOPE,
    "/admin/users": STAFF_AREA, "/admin/users/new": STAFF_AREA, "/admin/users/<int:user_id>": IN_SCOPE,
    # oversight: lists, supervision, report, dashboards, campaigns, receptions
    "/oversight/": STAFF_AREA, "/oversight/dashboard": STAFF_AREA,
    "/oversight/lists/claims": STAFF_AREA, "/oversight/lists/claims.xlsx": STAFF_AREA,
    "/oversight/lists/problems": STAFF_AREA, "/oversight/lists/problems.xlsx": STAFF_AREA,
    "/oversight/lists/public": STAFF_AREA, "/oversight/lists/public.xlsx": STAFF_AREA,
    "/oversight/overdue": STAFF_AREA, "/oversight/overdue/levels/<int:jurisdiction_id>": IN_SCOPE,
    "/oversight/key": STAFF_AREA, "/oversight/typical": STAFF_AREA,
    "/oversight/requests/<int:request_id>/typical": IN_SCOPE,
    "/oversight/cases": STAFF_AREA, "/oversight/cases/<int:case_id>": IN_SCOPE,
    "/oversight/report": STAFF_AREA, "/oversight/report.xlsx": STAFF_AREA,
    "/oversight/activities": STAFF_AREA, "/oversight/activities/new": STAFF_AREA,
    "/oversight/activities/deputies": STAFF_AREA, "/oversight/activities/<int:activity_id>/edit": IN_SCOPE,
    "/oversight/campaigns": STAFF_AREA, "/oversight/campaigns/new": STAFF_AREA, "/oversight/campaigns/parks": STAFF_AREA,
    "/oversight/campaigns/<int:campaign_id>": COUNTY_UP, "/oversight/campaigns/<int:campaign_id>/edit": COUNTY_UP,
    "/oversight/campaigns/<int:campaign_id>/coverage.xlsx": COUNTY_UP,
    "/oversight/campaigns/<int:campaign_id>/not-visited": COUNTY_UP,
    "/oversight/campaigns/<int:campaign_id>/pairings": COUNTY_UP,
    "/oversight/campaigns/<int:campaign_id>/pairings/template.xlsx": COUNTY_UP,
    "/oversight/campaigns/<int:campaign_id>/enterprises/<int:enterprise_id>": COUNTY_UP,
    "/oversight/receptions": STAFF_AREA, "/oversight/receptions/<int:reception_id>/edit": IN_SCOPE,
    "/oversight/receptions/stations/<int:station_id>": IN_SCOPE,
    "/oversight/receptions/stations/<int:station_id>/new": IN_SCOPE,
    "/oversight/receptions/stations/<int:station_id>/series": IN_SCOPE,
}

POST = {
    # the enterprise's forms, login and reset: anyone may send them (tests/test_filing.py,
    # test_tracking.py, test_auth.py, test_admin_users.py)
    "/q/<token>/file": (PUBLIC_WRITE, PUBLIC_WRITE), "/validate/<field>": PUBLIC_WRITE,
    "/t/<token>/info": (PUBLIC_WRITE, PUBLIC_WRITE), "/t/<token>/rate": (PUBLIC_WRITE, PUBLIC_WRITE),
    "/t/<token>/withdraw": (PUBLIC_WRITE, PUBLIC_WRITE), "/find": PUBLIC_WRITE, "/find/code": PUBLIC_WRITE,
    "/login": PUBLIC_WRITE, "/logout": PUBLIC_WRITE, "/reset": PUBLIC_WRITE, "/reset/<token>": (PUBLIC_WRITE, PUBLIC_WRITE),
    "/account/password": writes(SIGNED_IN),
    "/desk/visits/new": writes(DEPUTIES), "/desk/intake": writes(INTAKE),
    "/desk/messages/read-all": writes(SIGNED_IN), "/desk/settings/notifications": writes(SIGNED_IN),
    "/desk/settings/notifications/defaults": writes(STAFF_AREA),
    # a message is its recipient's alone: the deputy's (near) and 万安县 staff's (far)
    "/desk/messages/<int:message_id>/read": ("L w 404 404 404 404 404 404 404", "L 404 404 404 404 404 w 404 404"),
    "/admin/calendar": writes(ADMINS), "/admin/calendar/<day>/clear": writes(ADMINS),
    "/admin/imports/check": writes(STAFF_AREA), "/admin/imports/run": writes(STAFF_AREA),
    "/admin/jurisdictions/<int:jurisdiction_id>/delete": writes(FROM_ABOVE),
    "/admin/qr/<any(deputies, stations):kind>/<int:owner_id>/codes": writes(IN_SCOPE),
    "/admin/qr/<any(deputies, stations, jurisdictions):kind>/<int:owner_id>/issue-missing": writes(IN_SCOPE),
    "/admin/qr/codes/<int:code_id>/revoke": writes(IN_SCOPE),
    "/admin/robots/<int:robot_id>/test": writes(IN_SCOPE), "/admin/robots/<int:robot_id>/delete": writes(IN_SCOPE),
    "/admin/users/<int:user_id>/deactivate": writes(IN_SCOPE), "/admin/users/<int:user_id>/reactivate": writes(IN_SCOPE),
    "/admin/users/<int:user_id>/reset": writes(IN_SCOPE),
    "/oversight/cases/<int:case_id>/add": writes(IN_SCOPE), "/oversight/cases/<int:case_id>/assign": writes(IN_SCOPE),
    "/oversight/cases/<int:case_id>/remove": writes(IN_SCOPE),
    "/oversight/overdue/levels/<int:jurisdiction_id>/remind": writes(IN_SCOPE),
    "/oversight/requests/<int:request_id>/remind": writes(IN_SCOPE),
    "/oversight/requests/<int:request_id>/typical/remove": writes(IN_SCOPE),
    "/oversight/activities/<int:activity_id>/delete": writes(IN_SCOPE),
    "/oversight/receptions/<int:reception_id>/cancel": writes(IN_SCOPE),
    "/oversight/campaigns/<int:campaign_id>/remind": writes(COUNTY_UP),
    "/oversight/campaigns/<int:campaign_id>/spread": writes(COUNTY_UP),
    "/oversight/campaigns/<int:campaign_id>/pairings/import": writes(COUNTY_UP),
    "/oversight/campaigns/<int:campaign_id>/pairings/<int:pairing_id>/lead": writes(COUNTY_UP),
    "/oversight/campaigns/<int:campaign_id>/pairings/<int:pairing_id>/remove": writes(COUNTY_UP),
    "/oversight/campaigns/<int:campaign_id>/enterprises/<int:enterprise_id>/pairings": writes(COUNTY_UP),
}
# every form page above takes its POST with the same rights as its GET
for _rule in ("/admin/departments/new", "/admin/departments/<int:department_id>/edit", "/admin/deputies/new",
              "/admin/deputies/<int:deputy_id>/edit", "/admin/enterprises/<int:enterprise_id>/edit",
              "/admin/enterprises/<int:enterprise_id>/merge", "/admin/jurisdictions/new",
              "/admin/jurisdictions/<int:jurisdiction_id>/edit", "/admin/robots/new",
              "/admin/robots/<int:robot_id>/edit", "/admin/stations/new",
              "/admin/stations/<int:station_id>/edit", "/admin/users/new", "/oversight/cases",
              "/oversight/requests/<int:request_id>/typical", "/oversight/activities/new",
              "/oversight/activities/<int:activity_id>/edit", "/oversight/campaigns/new",
              "/oversight/campaigns/<int:campaign_id>/edit", "/oversight/receptions/<int:reception_id>/edit",
              "/oversight/receptions/stations/<int:station_id>/new",
              "/oversight/receptions/stations/<int:station_id>/series"):
    POST[_rule] = writes(GET[_rule])

MATRIX = {"GET": GET, "POST": POST}


def is_request_action(rule) -> bool:
    return rule.endpoint.removeprefix("desk.request_") in ACTIONS and rule.rule.startswith("/desk/requests/")


@pytest.fixture(scope="module")
def world(module_app):
    return module_app


def users(world):
    tree = world.tree
    return dict(zip(ROLES, (None, tree.deputy_user, tree.colleague_user, tree.outsider_user, tree.staff["township"],
                            tree.staff["county"], world.far_staff, tree.officers["township"], tree.admin)))


def test_every_route_is_in_the_matrix(world):
    app, _ = world
    missing, stale = [], []
    routes = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, rule.rule))
            if is_request_action(rule):
                continue
            if rule.rule not in MATRIX.get(method, {}):
                missing.append((method, rule.rule))
    for method, table in MATRIX.items():
        stale += [(method, path) for path in table if (method, path) not in routes]
    assert missing == [] and stale == []


def test_each_cell_is_a_known_outcome():
    for table in MATRIX.values():
        for path, policy in table.items():
            rows = policy if isinstance(policy, tuple) else (policy,)
            assert len(rows) == (2 if has_ids_path(path) else 1), path
            for row in rows:
                cells = row.split()
                assert len(cells) == len(ROLES), path
                assert all(c in {"200", "403", "404", "L", "w"} or c.startswith(">/") for c in cells), path


def has_ids_path(path: str) -> bool:
    return "<int:" in path or path.startswith(("/q/", "/t/", "/reset/"))


@pytest.mark.parametrize("method,path", [pytest.param(method, path, id=f"{method} {path}")
                                         for method, table in MATRIX.items() for path in sorted(table)])
def test_route_for_every_role(world, method, path):
    app, world = world
    (rule,) = [r for r in app.url_map.iter_rules() if r.rule == path and method in r.methods]
    policy = MATRIX[method][path]
    rows = policy if isinstance(policy, tuple) else (policy,)
    sides = (world.near, world.far) if has_ids(rule) else (world.near,)
    checked = 0
    for ids, row in zip(sides, rows):
        for url in urls_for(rule, ids):
            before = snapshot() if method == "POST" else None
            for (role, user), expected in zip(users(world).items(), row.split()):
                if expected == "w":
                    continue
                response = client_for(app, user).open(url, method=method)
                got = str(response.status_code)
                if response.status_code == 302:
                    location = response.headers["Location"]
                    got = "L" if location.startswith("/login") else ">" + location.split("?")[0]
                assert got == expected, (method, url, role, got)
                checked += 1
            if before is not None:
                assert changed_tables(before, snapshot()) == set(), (method, url)  # refusals change nothing
    assert checked or all(cell == "w" for row in rows for cell in row.split())
