"""The active organization at the token doors: chosen at POST /auth/token, switched or kept
at POST /auth/token/refresh, every bad reference a 400 (never a 500), the JWT hot path as
lean with an organization in the token as without, API keys unaffected."""

from __future__ import annotations

import uuid

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.apikeys import api_key_create
from accounts.models import ApiSession
from orgs.models import Organization
from orgs.permissions import effective_permissions
from orgs.services import members, organizations
from tests.accounts.test_auth_helpers import STATUS_URL, TOKEN_URL, bearer, error_code
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.mfa import totp_activate
from tests.orgs.conftest import verified

pytestmark = pytest.mark.django_db

REFRESH_URL = "/api/v1/auth/token/refresh"
ME = "/api/v1/users/me"


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _login(user, organization=None, **extra):
    body = {"email": user.email, "password": DEFAULT_PASSWORD, **extra}
    if organization is not None:
        body["organization"] = organization
    return APIClient().post(TOKEN_URL, body, format="json")


def _refresh(refresh: str, **extra):
    return APIClient().post(REFRESH_URL, {"refresh": refresh, **extra}, format="json")


@pytest.fixture
def two_orgs(db):
    """``person`` is a plain member of ``acme`` and the owner of ``beta``."""
    person = verified(UserFactory(email="person@example.com"))
    boss = verified(UserFactory(email="boss@example.com"))
    acme = organizations.org_create(name="Acme", slug="acme", actor=boss)
    members.member_add(organization=acme, actor=boss, user=person, roles=["member"])
    beta = organizations.org_create(name="Beta", slug="beta", actor=person)
    return person, acme, beta


def test_login_naming_an_organization_by_slug_or_id_puts_it_in_the_access_token(two_orgs):
    person, acme, _ = two_orgs
    for reference in ("acme", str(acme.pk), str(acme.pk).upper()):
        response = _login(person, reference)
        assert response.status_code == 200, response.content
        claims = _claims(response.json()["access"])
        assert claims["org"] == str(acme.pk)
        assert claims["org_roles"] == ["member"]
        assert claims["permissions"] == sorted(effective_permissions(person, acme))
        assert claims["permissions"]  # a member holds something there
        session = ApiSession.objects.get(pk=response.json()["session_id"])
        assert str(session.active_org_id) == str(acme.pk)


def test_login_without_an_organization_gives_a_token_without_org_claims(two_orgs):
    person, _, _ = two_orgs
    for extra in ({}, {"organization": None}, {"organization": ""}):
        response = APIClient().post(
            TOKEN_URL, {"email": person.email, "password": DEFAULT_PASSWORD, **extra}, "json"
        )
        assert response.status_code == 200
        claims = _claims(response.json()["access"])
        assert not {"org", "org_roles", "permissions"} & set(claims)


@pytest.mark.parametrize(
    "reference",
    [
        "not-a-uuid-and-not-a-slug!",
        "12345678-1234-1234-1234-12345678",  # a malformed uuid
        "acme\x00",
        "\x00",
        "ACME",
        "-acme",
        "a" * 51,
        123,
        ["acme"],
        {"id": "acme"},
        True,
    ],
)
def test_a_malformed_organization_reference_is_400_at_both_doors(two_orgs, reference):
    person, _, _ = two_orgs
    pair = _login(person).json()
    for response in (_login(person, reference), _refresh(pair["refresh"], organization=reference)):
        assert response.status_code == 400, response.content
        error = response.json()["errors"][0]
        if isinstance(reference, str) and "\x00" in reference:
            assert error["code"] == "parse_error"  # the JSON parser refuses NUL everywhere
        else:
            assert error["attr"] == "organization"
    assert _refresh(pair["refresh"]).status_code == 200  # the refresh token was not spent
    assert ApiSession.objects.filter(user=person).count() == 1  # no session was opened


def test_an_unknown_organization_and_one_you_are_not_in_get_the_same_400(two_orgs):
    person, _, _ = two_orgs
    stranger = verified(UserFactory(email="stranger@example.com"))
    organizations.org_create(name="Gamma", slug="gamma", actor=stranger)
    answers = []
    for reference in ("gamma", "no-such-org", str(uuid.uuid4())):
        response = _login(person, reference)
        assert response.status_code == 400
        assert error_code(response) == "organization_unavailable"
        answers.append(response.json())
    assert answers[0] == answers[1] == answers[2]
    assert not ApiSession.objects.filter(user=person).exists()  # nothing was opened


def test_wrong_password_with_an_organization_is_still_401(two_orgs):
    person, _, _ = two_orgs
    response = APIClient().post(
        TOKEN_URL, {"email": person.email, "password": "wrong", "organization": "acme"}, "json"
    )
    assert response.status_code == 401
    assert error_code(response) == "invalid_credentials"


def test_refresh_keeps_switches_and_clears_the_active_organization(two_orgs):
    person, acme, beta = two_orgs
    pair = _login(person, "acme").json()

    kept = _refresh(pair["refresh"])
    assert kept.status_code == 200
    assert _claims(kept.json()["access"])["org"] == str(acme.pk)

    switched = _refresh(kept.json()["refresh"], organization="beta")
    assert switched.status_code == 200
    claims = _claims(switched.json()["access"])
    assert claims["org"] == str(beta.pk)
    assert claims["org_roles"] == ["owner"]
    assert claims["permissions"] == sorted(effective_permissions(person, beta))
    assert set(claims["permissions"]) > set(effective_permissions(person, acme))

    kept_again = _refresh(switched.json()["refresh"])
    assert _claims(kept_again.json()["access"])["org"] == str(beta.pk)

    for clear in (None, ""):
        cleared = _refresh(kept_again.json()["refresh"], organization=clear)
        assert cleared.status_code == 200
        assert "org" not in _claims(cleared.json()["access"])
        assert ApiSession.objects.get(pk=pair["session_id"]).active_org_id is None
        kept_again = _refresh(cleared.json()["refresh"])
        assert "org" not in _claims(kept_again.json()["access"])  # stays cleared
    assert kept_again.json()["session_id"] == pair["session_id"]


def test_a_refresh_naming_an_organization_you_left_is_400_and_keeps_the_token(two_orgs):
    person, acme, _ = two_orgs
    pair = _login(person).json()
    members.member_remove(organization=acme, user_id=person.pk, actor=person)
    response = _refresh(pair["refresh"], organization="acme")
    assert response.status_code == 400
    assert error_code(response) == "organization_unavailable"
    assert _refresh(pair["refresh"]).status_code == 200


def test_refresh_reads_the_roles_again(two_orgs):
    person, acme, _ = two_orgs
    pair = _login(person, "acme").json()
    boss = acme.memberships.exclude(user=person).get().user
    members.member_update(organization=acme, user_id=person.pk, actor=boss, roles=["admin"])
    claims = _claims(_refresh(pair["refresh"]).json()["access"])
    assert claims["org_roles"] == ["admin"]
    assert claims["permissions"] == sorted(effective_permissions(person, acme))


def test_a_token_naming_an_organization_authenticates_like_any_other(two_orgs):
    person, acme, _ = two_orgs
    access = _login(person, "acme").json()["access"]
    response = bearer(access).get(ME)
    assert response.status_code == 200
    assert response.json()["email"] == person.email
    assert bearer(access).get(STATUS_URL).json()["method"] == "jwt"


def test_the_jwt_hot_path_costs_the_same_with_an_organization_in_the_token(two_orgs):
    person, _, _ = two_orgs
    costs = []
    for organization in (None, "acme"):
        client = bearer(_login(person, organization).json()["access"])
        assert client.get(ME).status_code == 200  # warm: the session's markers are written
        with CaptureQueriesContext(connection) as queries:
            assert client.get(ME).status_code == 200
        costs.append(len(queries))
    assert costs[0] == costs[1]


def test_api_keys_are_unaffected_by_organizations(two_orgs):
    person, acme, _ = two_orgs
    _, raw = api_key_create(user=person, name="job", scopes=["profile:read"], actor=person)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    members.member_remove(organization=acme, user_id=person.pk, actor=person)
    assert client.get(ME).status_code == 200
    assert client.get(STATUS_URL).json()["method"] == "api_key"
    organizations.org_archive(organization=Organization.objects.get(slug="beta"), actor=person)
    assert client.get(ME).status_code == 200


def test_with_mfa_the_organization_is_checked_first_and_named_at_the_second_step(two_orgs):
    person, acme, _ = two_orgs
    totp = totp_activate(person)
    refused = _login(person, "no-such-org")
    assert refused.status_code == 400
    assert error_code(refused) == "organization_unavailable"
    first = _login(person, "acme")
    assert first.status_code == 200 and first.json()["mfa_required"] is True
    body = {"mfa_token": first.json()["mfa_token"], "code": totp.now(), "organization": "acme"}
    response = APIClient().post("/api/v1/auth/token/mfa", body, format="json")
    assert response.status_code == 200, response.content
    assert _claims(response.json()["access"])["org"] == str(acme.pk)
