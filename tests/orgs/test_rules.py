"""The organization rules through the API: owners and leads protected, nobody grants what
they do not hold, catalogue keys only, seats, slugs and names, archive."""

from __future__ import annotations

import pytest
from django.test import override_settings

from audit.models import AuditEvent
from orgs.models import Membership, Organization, Role, Team, TeamMembership
from orgs.permissions import can, permission_sources
from orgs.services import members, organizations, roles
from tests.factories import UserFactory
from tests.orgs.conftest import assert_error, jwt_client

pytestmark = pytest.mark.django_db


def _org(world) -> str:
    return f"/api/v1/orgs/{world.org.pk}"


# --- organizations ------------------------------------------------------------------------


def test_create_makes_the_creator_owner_and_audits(world):
    client = jwt_client(world.member)
    response = client.post("/api/v1/orgs", {"name": "Beta Corp"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "beta-corp" and body["seats_used"] == 1
    org = Organization.objects.get(pk=body["id"])
    assert can(world.member, "org:delete", org)
    assert AuditEvent.objects.filter(action="org.created", target_id=body["id"]).exists()
    assert_error(
        client.post("/api/v1/orgs", {"name": "B", "slug": "beta-corp"}, format="json"),
        409,
        "slug_taken",
        "slug",
    )


@pytest.mark.parametrize(
    ("payload", "code", "attr"),
    [
        ({"name": "X", "slug": "Bad Slug"}, "invalid_slug", "slug"),
        ({"name": "X", "slug": "-x"}, "invalid_slug", "slug"),
        ({"name": "   "}, "blank", "name"),
        ({"name": "a\x07b"}, "invalid_characters", "name"),
        ({}, "required", "name"),
        ({"name": "X", "owner": "me"}, "unknown_field", "owner"),
    ],
)
def test_create_bad_input(world, payload, code, attr):
    before = Organization.objects.count()
    response = jwt_client(world.member).post("/api/v1/orgs", payload, format="json")
    assert_error(response, 400, code, attr)
    assert Organization.objects.count() == before


def test_create_needs_a_verified_email_and_respects_the_limit(world):
    unverified = UserFactory(email="fresh@example.com")
    assert_error(
        jwt_client(unverified).post("/api/v1/orgs", {"name": "F"}, format="json"),
        403,
        "email_unverified",
    )
    with override_settings(ROSTER={"ORGS_PER_USER": 1}):
        response = jwt_client(world.owner).post("/api/v1/orgs", {"name": "Two"}, format="json")
        assert_error(response, 409, "org_limit_reached")
        root = UserFactory(email="root@example.com", roles=["admin"])
        for name in ("One", "Two"):
            assert (
                jwt_client(root).post("/api/v1/orgs", {"name": name}, format="json").status_code
                == 201
            )


def test_archive_takes_everything_away_at_once(world):
    assert can(world.admin, "members:manage", world.org)
    assert jwt_client(world.owner).delete(_org(world)).status_code == 204
    world.org.refresh_from_db()
    assert world.org.status == "archived"
    assert not can(world.admin, "members:read", world.org)
    assert jwt_client(world.admin).get(_org(world)).status_code == 404
    assert jwt_client(world.member).get("/api/v1/orgs").json()["count"] == 0
    root = UserFactory(email="root@example.com", roles=["admin"])
    assert jwt_client(root).get(_org(world)).json()["status"] == "archived"
    world.pending.refresh_from_db()
    assert world.pending.status == "canceled"


def test_list_filters(world):
    client = jwt_client(world.owner)
    assert client.get("/api/v1/orgs", {"q": "acm"}).json()["count"] == 1
    assert client.get("/api/v1/orgs", {"q": "zzz"}).json()["count"] == 0
    assert_error(client.get("/api/v1/orgs", {"status": "gone"}), 400, "invalid_choice", "status")
    assert jwt_client(world.outsider).get("/api/v1/orgs").json()["count"] == 0


# --- members and owners -------------------------------------------------------------------


def test_last_owner_cannot_leave_be_demoted_or_suspended(world):
    client = jwt_client(world.owner)
    me = f"{_org(world)}/members/{world.owner.pk}"
    assert_error(client.patch(me, {"roles": ["admin"]}, format="json"), 409, "last_owner")
    assert_error(client.delete(me), 409, "last_owner")
    assert_error(
        client.post(f"{me}/permissions", {"roles_to_remove": ["owner"]}, format="json"),
        409,
        "last_owner",
    )
    assert (
        Membership.objects.get(organization=world.org, user=world.owner).roles.get().key == "owner"
    )
    # With a second owner the first may step down.
    second = f"{_org(world)}/members/{world.admin.pk}"
    assert client.patch(second, {"roles": ["owner"]}, format="json").status_code == 200
    assert client.patch(me, {"roles": ["admin"]}, format="json").status_code == 200
    assert AuditEvent.objects.filter(action="org.member.roles.changed").count() == 2


def test_admins_cannot_touch_owners(world):
    client = jwt_client(world.admin)
    owner = f"{_org(world)}/members/{world.owner.pk}"
    assert_error(
        client.patch(owner, {"status": "suspended"}, format="json"), 403, "permission_denied"
    )
    assert_error(client.delete(owner), 403, "permission_denied")
    assert_error(
        client.patch(
            f"{_org(world)}/members/{world.member.pk}", {"roles": ["owner"]}, format="json"
        ),
        403,
        "cannot_grant",
    )


def test_add_member_errors(world):
    client = jwt_client(world.owner)
    path = f"{_org(world)}/members"
    assert_error(
        client.post(path, {"email": "member@example.com"}, format="json"), 409, "already_member"
    )
    assert_error(
        client.post(path, {"email": "nobody@example.com"}, format="json"), 404, "user_not_found"
    )
    assert_error(
        client.post(path, {"email": "outsider@example.com", "roles": ["ghost"]}, format="json"),
        400,
        "unknown_role",
        "roles",
    )
    assert_error(client.post(path, {"roles": ["member"]}, format="json"), 400, "required", "user")
    world.org.seat_limit = 7  # 6 members + 1 pending invitation
    world.org.save(update_fields=["seat_limit"])
    assert_error(
        client.post(path, {"email": "outsider@example.com"}, format="json"),
        409,
        "seat_limit_reached",
    )
    assert not Membership.objects.filter(user=world.outsider).exists()


def test_member_may_leave_and_takes_their_team_rows(world):
    response = jwt_client(world.member).delete(f"{_org(world)}/members/{world.member.pk}")
    assert response.status_code == 204
    assert not TeamMembership.objects.filter(user=world.member).exists()
    assert AuditEvent.objects.filter(
        action="org.member.removed", target_id=str(world.member.pk)
    ).exists()


def test_permission_update_grants_only_what_one_holds(world):
    # A custom role that may manage roles but holds little else.
    roles.role_create(
        organization=world.org,
        actor=world.owner,
        key="role-admin",
        name="Role admin",
        permissions=["roles:manage", "members:read", "reports:read"],
    )
    members.member_update(
        organization=world.org, user_id=world.spare.pk, actor=world.owner, roles=["role-admin"]
    )
    client = jwt_client(world.spare)
    path = f"{_org(world)}/members/{world.member.pk}/permissions"
    assert_error(
        client.post(path, {"permissions_to_add": ["sso:manage"]}, format="json"),
        403,
        "cannot_grant",
    )
    assert_error(
        client.post(path, {"roles_to_assign": ["admin"]}, format="json"), 403, "cannot_grant"
    )
    assert_error(
        client.post(path, {"permissions_to_add": ["sso:fly"]}, format="json"),
        400,
        "unknown_permission",
        "permissions_to_add",
    )
    assert_error(
        client.post(path, {"roles_to_assign": ["wizard"]}, format="json"), 400, "unknown_role"
    )
    response = client.post(path, {"permissions_to_add": ["reports:read"]}, format="json")
    assert response.status_code == 200
    assert response.json()["direct_permissions"] == ["reports:read"]
    sources = permission_sources(world.member, world.org)["reports:read"]
    assert sources == [{"type": "direct", "id": "reports:read", "name": "Direct"}]


def test_member_sees_own_permissions_but_not_others_without_members_read(world):
    members.member_update(
        organization=world.org, user_id=world.member.pk, actor=world.owner, status="suspended"
    )
    client = jwt_client(world.member)
    assert client.get(f"{_org(world)}/members/{world.member.pk}/permissions").json() == []
    assert client.get(f"{_org(world)}/members/{world.spare.pk}/permissions").status_code == 403
    assert client.get(f"{_org(world)}/members").status_code == 403


# --- roles --------------------------------------------------------------------------------


def test_custom_roles(world):
    client = jwt_client(world.admin)
    path = f"{_org(world)}/roles"
    assert_error(
        client.post(path, {"key": "x", "name": "X", "permissions": ["nope:nope"]}, format="json"),
        400,
        "unknown_permission",
        "permissions",
    )
    assert_error(
        client.post(path, {"key": "x", "name": "X", "permissions": ["org:delete"]}, format="json"),
        403,
        "cannot_grant",
    )
    assert_error(
        client.post(path, {"key": "admin", "name": "X", "permissions": []}, format="json"),
        409,
        "role_key_taken",
    )
    assert_error(
        client.post(path, {"key": "Bad Key", "name": "X", "permissions": []}, format="json"),
        400,
        "invalid_key",
    )
    assert_error(
        client.patch(f"{path}/admin", {"name": "Boss"}, format="json"), 409, "role_builtin"
    )
    assert_error(client.delete(f"{path}/member"), 409, "role_builtin")
    members.member_update(
        organization=world.org, user_id=world.spare.pk, actor=world.owner, roles=["auditor"]
    )
    assert_error(client.delete(f"{path}/auditor"), 409, "role_in_use")
    assert Role.objects.filter(organization=world.org, key="auditor").exists()
    listed = {r["key"]: r for r in client.get(path).json()}
    assert listed["owner"]["builtin"] and not listed["auditor"]["builtin"]
    assert listed["manager"]["lead_scoped_permissions"] == [
        "notifications:send",
        "reports:read",
        "teams:manage",
    ]


# --- teams --------------------------------------------------------------------------------


def test_team_setup(world):
    client = jwt_client(world.manager)
    path = f"{_org(world)}/teams"
    response = client.post(
        path,
        {
            "name": "Ops",
            "goals": ["Uptime"],
            "initial_members": ["member@example.com", str(world.spare.pk)],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["member_count"] == 3 and [u["id"] for u in body["leads"]] == [str(world.manager.pk)]
    assert_error(client.post(path, {"name": "ops"}, format="json"), 409, "name_taken", "name")
    assert_error(
        client.post(
            path,
            {"name": "X", "initial_members": ["member@example.com", "outsider@example.com"]},
            format="json",
        ),
        400,
        "not_a_member",
        "initial_members.1",
    )
    assert not Team.objects.filter(name="X").exists()
    assert_error(
        client.patch(f"/api/v1/teams/{world.core.pk}", {"name": "Ops"}, format="json"),
        409,
        "name_taken",
    )


def test_manager_powers_hold_only_in_teams_they_lead(world):
    assert can(world.manager, "teams:manage", world.core)
    assert not can(world.manager, "teams:manage", world.other)
    assert not can(world.manager, "teams:manage", world.org)
    client = jwt_client(world.manager)
    assert_error(
        client.post(
            f"/api/v1/teams/{world.other.pk}/members",
            {"user_email": "member@example.com"},
            format="json",
        ),
        403,
        "permission_denied",
    )


def test_team_members_are_organization_members_and_permissions_stay_in_scope(world):
    client = jwt_client(world.admin)
    path = f"/api/v1/teams/{world.core.pk}/members"
    assert_error(
        client.post(path, {"user_email": "outsider@example.com"}, format="json"),
        400,
        "not_a_member",
    )
    assert_error(
        client.post(path, {"user": str(world.outsider.pk)}, format="json"), 400, "not_a_member"
    )
    assert_error(
        client.post(path, {"user_email": "member@example.com"}, format="json"),
        409,
        "already_member",
    )
    assert_error(
        client.post(
            path, {"user_email": "spare2@example.com", "permissions": ["org:update"]}, format="json"
        ),
        400,
        "not_a_team_permission",
    )
    response = client.post(
        path, {"user_email": "spare2@example.com", "permissions": ["reports:read"]}, format="json"
    )
    assert response.status_code == 201
    assert can(world.spare2, "reports:read", world.core)
    assert not can(world.spare2, "reports:read", world.org)
    assert not can(world.spare2, "reports:read", world.other)


def test_manager_cannot_give_team_permissions_they_lack(world):
    client = jwt_client(world.manager)
    response = client.patch(
        f"/api/v1/teams/{world.core.pk}/members/{world.member.pk}",
        {"permissions": ["support:read"]},
        format="json",
    )
    assert_error(response, 403, "cannot_grant")


def test_last_lead_cannot_leave_while_others_remain(world):
    client = jwt_client(world.manager)
    lead = f"/api/v1/teams/{world.core.pk}/members/{world.manager.pk}"
    assert_error(client.delete(lead), 409, "last_lead")
    assert_error(client.patch(lead, {"role": "member"}, format="json"), 409, "last_lead")
    assert_error(
        jwt_client(world.owner).delete(f"{_org(world)}/members/{world.manager.pk}"),
        409,
        "last_lead",
    )
    promote = client.patch(
        f"/api/v1/teams/{world.core.pk}/members/{world.member.pk}", {"role": "lead"}, format="json"
    )
    assert promote.status_code == 200
    assert client.delete(lead).status_code == 204


def test_suspended_organization_is_read_only(world):
    Organization.objects.filter(pk=world.org.pk).update(status="suspended")
    world.org.refresh_from_db()
    assert can(world.owner, "members:read", world.org)
    assert not can(world.owner, "members:manage", world.org)
    assert jwt_client(world.owner).get(f"{_org(world)}/members").status_code == 200
    assert (
        jwt_client(world.owner).patch(_org(world), {"name": "N"}, format="json").status_code == 403
    )


def test_organization_create_service_audits_owner_join(world):
    org = organizations.org_create(name="Gamma", actor=world.owner)
    assert AuditEvent.objects.filter(
        action="org.member.added", metadata__organization=str(org.pk)
    ).exists()


def test_members_list_is_a_constant_number_of_queries(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = jwt_client(world.owner)
    path = f"{_org(world)}/members"

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, {"page_size": 200})
        assert response.status_code == 200
        return len(ctx.captured_queries)

    queries()  # the first request of a session warms per-process caches
    with_six = queries()
    member_role = Role.objects.get(organization=None, key="member")
    for i in range(200):
        user = UserFactory(email=f"bulk{i}@example.com")
        membership = Membership.objects.create(organization=world.org, user=user)
        membership.roles.set([member_role])
        if i % 3 == 0:
            TeamMembership.objects.create(team=world.core, user=user)
    # Warm again: making 200 accounts can outlast the caller's identity snapshot
    # (accounts.identity_cache.SNAPSHOT_SECONDS) on a busy machine, and reading the caller is
    # not what this test counts.
    queries()
    assert queries() == with_six <= 10
    body = client.get(path, {"page_size": 200}).json()
    assert body["count"] == 206 and len(body["results"]) == 200
    assert sum(1 for m in body["results"] if m["teams"]) >= 67


@pytest.mark.parametrize(
    ("path", "params", "code", "attr"),
    [
        ("/api/v1/orgs", {"q": "a\x00b"}, "null_characters_not_allowed", "q"),
        ("/api/v1/orgs", {"status": "gone"}, "invalid_choice", "status"),
        ("members", {"team": "not-a-uuid"}, "invalid", "team"),
        ("members", {"role": "r\x00"}, "null_characters_not_allowed", "role"),
        ("members", {"q": ""}, "blank", "q"),
        ("invitations", {"status": "lost"}, "invalid_choice", "status"),
    ],
)
def test_list_query_parameters_are_validated(world, path, params, code, attr):
    if not path.startswith("/"):
        path = f"{_org(world)}/{path}"
    assert_error(jwt_client(world.owner).get(path, params), 400, code, attr)


def test_members_list_filters(world):
    client = jwt_client(world.owner)
    path = f"{_org(world)}/members"

    def emails(params) -> list[str]:
        return sorted(m["user"]["email"] for m in client.get(path, params).json()["results"])

    assert emails({"role": "manager"}) == ["manager@example.com"]
    assert emails({"team": str(world.core.pk)}) == [
        "manager@example.com",
        "member@example.com",
        "spare@example.com",
    ]
    assert emails({"q": "spare2"}) == ["spare2@example.com"]


def test_registered_sources_add_grants_in_scope(world, monkeypatch):
    """The seam the access app plugs its grants into: a registered provider's permissions
    count, with their source, and only catalogue keys do."""
    from orgs import permissions

    def grants(*, user, organization, team):
        if user.pk == world.member.pk:
            yield "reports:read", {"type": "grant", "id": "g-1", "name": "Quarterly reports"}
            yield "not:a-permission", {"type": "grant", "id": "g-2", "name": "Ignored"}

    monkeypatch.setattr(permissions, "_providers", [])
    assert not can(world.member, "reports:read", world.org)
    permissions.register_source(grants)
    assert can(world.member, "reports:read", world.org)
    assert permission_sources(world.member, world.org)["reports:read"] == [
        {"type": "grant", "id": "g-1", "name": "Quarterly reports"}
    ]
    assert "not:a-permission" not in permission_sources(world.member, world.org)
    assert not can(world.spare, "reports:read", world.org)


def test_removed_member_loses_access_at_once(world):
    client = jwt_client(world.spare)
    assert client.get(_org(world)).status_code == 200
    members.member_remove(organization=world.org, user_id=world.spare.pk, actor=world.owner)
    assert client.get(_org(world)).status_code == 404
    assert client.get(f"/api/v1/teams/{world.core.pk}").status_code == 404
