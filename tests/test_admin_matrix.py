"""Every admin route × role: anonymous → login, deputies and unit officers → 403, staff →
only inside their jurisdiction (404 outside), admins → everything."""

import pytest

from tests.world import build_world, client_for, urls_for


@pytest.fixture
def world(app):
    built = build_world()
    return built.tree, built.near, built.far, built.owners


def admin_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(("/admin", "/oversight"))]


ADMINS_ONLY = {"admin.calendar", "admin.calendar_clear"}  # deadlines everywhere depend on them


def test_every_admin_route_for_every_role(app, world):
    tree, near, far, owners = world
    roles = {"anonymous": None, "deputy": tree.deputy_user, "unit": tree.officers["county"],
             "staff": tree.staff["county"], "admin": tree.admin}
    checked = 0
    for rule in admin_rules(app):
        has_ids = "<int:" in rule.rule
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for side, ids in (("near", near), ("far", far)):
                if side == "far" and not has_ids:
                    continue
                for url in urls_for(rule, ids, owners):
                    for role, user in roles.items():
                        if method == "POST" and role in ("staff", "admin") and side == "near":
                            continue  # writes by those allowed are tested in each area's own tests
                        response = getattr(client_for(app, user), method.lower())(url)
                        if role == "anonymous":
                            expected = {302}
                        elif role in ("deputy", "unit") or (role == "staff" and rule.endpoint in ADMINS_ONLY):
                            expected = {403}
                        elif role == "staff" and side == "far":
                            expected = {404}
                        elif method == "GET":
                            expected = {200}
                        else:
                            expected = {200, 303, 400, 404, 409, 422}  # an admin's empty POST: done or refused, never 5xx
                        assert response.status_code in expected, (method, url, role, response.status_code)
                        checked += 1
    assert checked > 150


def test_staff_cannot_open_their_own_jurisdiction_for_editing(app, world):
    tree, *_ = world
    assert client_for(app, tree.staff["county"]).get(f"/admin/jurisdictions/{tree.county.id}/edit").status_code == 403
