"""Access tokens' organization claims come from orgs.permissions, and a token naming an
organization dies with the membership: removed, left, suspended, or the organization
archived gives 401 ``token_revoked`` on the next request, through the JWT and at refresh.
Sessions naming another organization or none, other members' sessions and API keys live on."""

from __future__ import annotations

import jwt
import pytest
from rest_framework.test import APIClient

from accounts.models import ApiSession
from audit.models import AuditEvent
from orgs.catalogue import LEAD_SCOPED
from orgs.models import Organization
from orgs.permissions import effective_permissions
from orgs.services import members, organizations
from orgs.tokens import REASON_MEMBER_REMOVED, REASON_MEMBER_SUSPENDED, REASON_ORG_ARCHIVED
from tests.factories import DEFAULT_PASSWORD
from tests.orgs.conftest import assert_error, key_client

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
ME = "/api/v1/users/me"


def _login(user, organization=None) -> dict:
    body = {"email": user.email, "password": DEFAULT_PASSWORD}
    if organization is not None:
        body["organization"] = organization
    response = APIClient().post(TOKEN_URL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _me(pair: dict):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    return client.get(ME)


def _refresh(pair: dict, **extra):
    return APIClient().post(REFRESH_URL, {"refresh": pair["refresh"], **extra}, format="json")


def _claims(pair: dict) -> dict:
    return jwt.decode(pair["access"], options={"verify_signature": False})


@pytest.mark.parametrize("role", ["owner", "admin", "manager", "member"])
def test_claims_are_the_roles_and_effective_permissions_of_each_role(world, role):
    person = world.person(role)
    claims = _claims(_login(person, "acme"))
    assert claims["org"] == str(world.org.pk)
    assert claims["org_roles"] == [role]
    assert claims["permissions"] == sorted(effective_permissions(person, world.org))


def test_a_managers_lead_scoped_powers_are_not_organization_wide_claims(world):
    claims = _claims(_login(world.manager, "acme"))
    for perm in LEAD_SCOPED["manager"]:
        assert perm not in claims["permissions"]


def test_an_outsider_cannot_name_the_organization(world):
    body = {"email": world.outsider.email, "password": DEFAULT_PASSWORD, "organization": "acme"}
    assert_error(APIClient().post(TOKEN_URL, body, format="json"), 400, "organization_unavailable")


def test_removing_a_member_revokes_the_sessions_naming_the_organization_at_once(world):
    in_org, elsewhere = _login(world.member, "acme"), _login(world.member)
    colleague = _login(world.spare, "acme")
    members.member_remove(organization=world.org, user_id=world.member.pk, actor=world.admin)

    assert_error(_me(in_org), 401, "token_revoked")
    assert_error(_refresh(in_org), 401, "token_revoked")
    assert _me(elsewhere).status_code == 200  # a session without the organization lives on
    assert _me(colleague).status_code == 200  # another member's session too
    session = ApiSession.objects.get(pk=in_org["session_id"])
    assert session.revoke_reason == REASON_MEMBER_REMOVED
    event = AuditEvent.objects.filter(action="session.revoked").latest("id")
    assert event.metadata["reason"] == REASON_MEMBER_REMOVED
    assert event.metadata["organization"] == str(world.org.pk)


def test_leaving_revokes_ones_own_sessions_naming_the_organization(world):
    pair = _login(world.spare2, "acme")
    members.member_remove(organization=world.org, user_id=world.spare2.pk, actor=world.spare2)
    assert_error(_me(pair), 401, "token_revoked")


def test_suspending_a_member_revokes_and_they_cannot_name_it_again(world):
    pair = _login(world.member, "acme")
    members.member_update(
        organization=world.org, user_id=world.member.pk, actor=world.admin, status="suspended"
    )
    assert_error(_me(pair), 401, "token_revoked")
    assert ApiSession.objects.get(pk=pair["session_id"]).revoke_reason == REASON_MEMBER_SUSPENDED
    body = {"email": world.member.email, "password": DEFAULT_PASSWORD, "organization": "acme"}
    assert_error(APIClient().post(TOKEN_URL, body, format="json"), 400, "organization_unavailable")
    assert _me(_login(world.member)).status_code == 200  # without the organization: fine


def test_a_role_change_does_not_revoke_and_shows_at_the_next_refresh(world):
    pair = _login(world.member, "acme")
    members.member_update(
        organization=world.org, user_id=world.member.pk, actor=world.owner, roles=["admin"]
    )
    assert _me(pair).status_code == 200
    refreshed = _refresh(pair)
    assert refreshed.status_code == 200
    assert _claims(refreshed.json())["org_roles"] == ["admin"]


def test_archiving_revokes_every_session_naming_the_organization(world):
    owner, member, plain = (
        _login(world.owner, "acme"),
        _login(world.member, "acme"),
        _login(world.member),
    )
    api_key = key_client(world.member, ["profile:read"])
    organizations.org_archive(organization=world.org, actor=world.owner)

    for pair in (owner, member):
        assert_error(_me(pair), 401, "token_revoked")
        assert ApiSession.objects.get(pk=pair["session_id"]).revoke_reason == REASON_ORG_ARCHIVED
    assert _me(plain).status_code == 200
    assert api_key.get(ME).status_code == 200
    body = {"email": world.owner.email, "password": DEFAULT_PASSWORD, "organization": "acme"}
    assert_error(APIClient().post(TOKEN_URL, body, format="json"), 400, "organization_unavailable")
    assert_error(_refresh(plain, organization="acme"), 400, "organization_unavailable")


def test_a_kept_organization_that_dropped_the_member_ends_the_session_at_refresh(world):
    """If the revocation was missed (a membership row deleted by hand), refresh still refuses
    to mint claims for it."""
    pair = _login(world.spare, "acme")
    world.org.memberships.filter(user=world.spare).delete()
    assert_error(_refresh(pair), 401, "token_revoked")
    assert_error(_me(pair), 401, "token_revoked")
    assert ApiSession.objects.get(pk=pair["session_id"]).revoke_reason == "org_access_ended"


def test_a_suspended_organization_can_still_be_named_with_read_permissions_only(world):
    Organization.objects.filter(pk=world.org.pk).update(status=Organization.Status.SUSPENDED)
    claims = _claims(_login(world.owner, "acme"))
    assert claims["permissions"]
    assert all(p.endswith(":read") for p in claims["permissions"])
