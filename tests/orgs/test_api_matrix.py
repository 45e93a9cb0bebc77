"""The permission matrix of every organization route, per role: owner, admin, manager,
member, and a non-member (404: the organization's objects do not exist for them), through a
JWT (API keys: test_api_matrix_keys.py); anonymous callers get 401."""

from __future__ import annotations

import pytest

from tests.orgs.conftest import jwt_client

ROLES = ("owner", "admin", "manager", "member", "outsider")


def routes(w) -> list[tuple[str, str, dict | None, tuple[int, ...]]]:
    org, core, other = f"/api/v1/orgs/{w.org.pk}", f"/api/v1/teams/{w.core.pk}", w.other.pk
    inv = w.pending.pk
    # (method, path, body, statuses for owner, admin, manager, member, outsider)
    return [
        ("get", org, None, (200, 200, 200, 200, 404)),
        ("patch", org, {"description": "d"}, (200, 200, 403, 403, 404)),
        ("delete", org, None, (204, 403, 403, 403, 404)),
        ("get", f"{org}/members", None, (200, 200, 200, 200, 404)),
        ("post", f"{org}/members", {"email": "outsider@example.com"}, (201, 201, 403, 403, 404)),
        (
            "patch",
            f"{org}/members/{w.spare.pk}",
            {"status": "suspended"},
            (200, 200, 403, 403, 404),
        ),
        ("delete", f"{org}/members/{w.spare2.pk}", None, (204, 204, 403, 403, 404)),
        ("get", f"{org}/members/{w.spare.pk}/permissions", None, (200, 200, 200, 200, 404)),
        (
            "post",
            f"{org}/members/{w.spare.pk}/permissions",
            {"permissions_to_add": ["reports:read"]},
            (200, 200, 403, 403, 404),
        ),
        ("get", f"/api/v1/users/me/permissions?org={w.org.pk}", None, (200, 200, 200, 200, 404)),
        ("get", f"{org}/roles", None, (200, 200, 200, 200, 404)),
        (
            "post",
            f"{org}/roles",
            {"key": "viewer", "name": "Viewer", "permissions": ["members:read"]},
            (201, 201, 403, 403, 404),
        ),
        ("get", f"{org}/roles/auditor", None, (200, 200, 200, 200, 404)),
        ("patch", f"{org}/roles/auditor", {"name": "Audit"}, (200, 200, 403, 403, 404)),
        ("delete", f"{org}/roles/auditor", None, (204, 204, 403, 403, 404)),
        ("get", f"{org}/teams", None, (200, 200, 200, 200, 404)),
        ("post", f"{org}/teams", {"name": "New team"}, (201, 201, 201, 403, 404)),
        ("get", core, None, (200, 200, 200, 200, 404)),
        ("patch", core, {"description": "d"}, (200, 200, 200, 403, 404)),
        ("patch", f"/api/v1/teams/{other}", {"description": "d"}, (200, 200, 403, 403, 404)),
        ("delete", f"/api/v1/teams/{other}", None, (204, 204, 403, 403, 404)),
        ("get", f"{core}/members", None, (200, 200, 200, 200, 404)),
        (
            "post",
            f"{core}/members",
            {"user_email": "spare2@example.com"},
            (201, 201, 201, 403, 404),
        ),
        ("patch", f"{core}/members/{w.spare.pk}", {"title": "SRE"}, (200, 200, 200, 403, 404)),
        ("delete", f"{core}/members/{w.spare.pk}", None, (204, 204, 204, 403, 404)),
        ("get", f"{org}/invitations", None, (200, 200, 403, 403, 404)),
        ("post", f"{org}/invitations", {"email": "new@example.com"}, (201, 201, 403, 403, 404)),
        (
            "post",
            f"{org}/invitations/bulk",
            {"invitations": [{"email": "a@example.com"}, {"email": "b@example.com"}]},
            (201, 201, 403, 403, 404),
        ),
        ("delete", f"{org}/invitations/{inv}", None, (204, 204, 403, 403, 404)),
        ("post", f"{org}/invitations/{inv}/resend", None, (200, 200, 403, 403, 404)),
        ("get", f"{org}/domains", None, (200, 200, 200, 200, 404)),
        ("post", f"{org}/domains", {"domain": "acme.test"}, (201, 201, 403, 403, 404)),
        (
            "patch",
            f"{org}/domains/acme.example",
            {"join_mode": "suggest"},
            (200, 200, 403, 403, 404),
        ),
        ("delete", f"{org}/domains/acme.example", None, (204, 204, 403, 403, 404)),
        # Proving a domain takes a platform admin or a verified email there.
        ("post", f"{org}/domains/acme.example/verify", None, (403, 403, 403, 403, 404)),
    ]


ROUTE_COUNT = 35


def call(client, method: str, path: str, body):
    return (
        getattr(client, method)(path, body, format="json")
        if body is not None
        else getattr(client, method)(path)
    )


@pytest.mark.parametrize("index", range(ROUTE_COUNT))
@pytest.mark.parametrize("role", ROLES)
def test_route_per_role_with_jwt(world, index, role):
    method, path, body, statuses = routes(world)[index]
    response = call(jwt_client(world.person(role)), method, path, body)
    expected = statuses[ROLES.index(role)]
    assert response.status_code == expected, (method, path, role, response.content[:500])
    if expected == 403:
        assert response.json()["errors"][0]["code"] in {"permission_denied", "domain_unproven"}


@pytest.mark.parametrize("index", range(ROUTE_COUNT))
def test_route_anonymous_is_401(world, anon_client, index):
    method, path, body, _statuses = routes(world)[index]
    assert call(anon_client, method, path, body).status_code == 401


def test_route_table_is_complete(world):
    assert len(routes(world)) == ROUTE_COUNT


@pytest.mark.parametrize("index", range(ROUTE_COUNT))
def test_platform_admin_may_do_everything_in_any_organization(world, user_factory, index):
    """Platform admins hold every organization permission, and confirm domains."""
    admin = user_factory(email="root@example.com", roles=["admin"])
    method, path, body, statuses = routes(world)[index]
    response = call(jwt_client(admin), method, path, body)
    expected = 200 if path.endswith("/verify") else statuses[0]
    assert response.status_code == expected, (method, path, response.content[:300])
