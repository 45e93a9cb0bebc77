"""An organization with one person per role, built through the services."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from allauth.account.models import EmailAddress
from rest_framework.test import APIClient

from orgs.models import Invitation, Organization, Role, Team
from orgs.services import domains, invitations, members, organizations, roles, teams
from tests.factories import UserFactory


def verified(user, email: str | None = None):
    EmailAddress.objects.create(
        user=user, email=email or user.email, verified=True, primary=email is None
    )
    return user


def jwt_client(user) -> APIClient:
    from accounts.tokens import token_issue

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user).access}")
    return client


def key_client(user, scopes) -> APIClient:
    from accounts.apikeys import api_key_create

    _, raw = api_key_create(user=user, name="test", scopes=list(scopes), actor=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def assert_error(response, status: int, code: str, attr: str | None = "__any__") -> dict:
    assert response.status_code == status, (response.status_code, response.content[:1500])
    body = response.json()
    codes = [(e["code"], e["attr"]) for e in body["errors"]]
    if attr == "__any__":
        assert code in [c for c, _ in codes], codes
    else:
        assert (code, attr) in codes, codes
    return body


@dataclass
class World:
    org: Organization
    owner: object
    admin: object
    manager: object
    member: object
    spare: object
    spare2: object
    outsider: object
    core: Team
    other: Team
    auditor: Role
    pending: Invitation

    def person(self, role: str):
        return getattr(self, role)


@pytest.fixture
def world(db) -> World:
    owner = verified(UserFactory(email="owner@example.com"))
    org = organizations.org_create(name="Acme", slug="acme", actor=owner)
    people = {}
    for name, role in [
        ("admin", "admin"),
        ("manager", "manager"),
        ("member", "member"),
        ("spare", "member"),
        ("spare2", "member"),
    ]:
        people[name] = verified(UserFactory(email=f"{name}@example.com"))
        members.member_add(organization=org, actor=owner, user=people[name], roles=[role])
    outsider = verified(UserFactory(email="outsider@example.com"))
    core = teams.team_create(
        organization=org,
        actor=people["manager"],
        name="Core",
        initial_members=["member@example.com", "spare@example.com"],
    )
    other = teams.team_create(organization=org, actor=people["admin"], name="Other")
    auditor = roles.role_create(
        organization=org, actor=owner, key="auditor", name="Auditor", permissions=["reports:read"]
    )
    pending, _raw = invitations.invitation_create(
        organization=org, actor=owner, email="pending@example.com"
    )
    domains.domain_add(organization=org, actor=owner, domain="acme.example")
    return World(
        org=org,
        owner=owner,
        outsider=outsider,
        core=core,
        other=other,
        auditor=auditor,
        pending=pending,
        **people,
    )
