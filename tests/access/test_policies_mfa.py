"""The mfa security policy: who must have a second factor, after a grace period counted from
the later of the account's creation, the membership's start and the policy's change; refused
at POST /auth/token (and refresh) with 403 mfa_setup_required, and on the pages sent to the
second-factor setup; per role (platform admins, an organization's owners and admins)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from access.policies import services
from access.policies.types import MFA
from audit.models import AuditEvent
from tests.access.conftest import assert_error, jwt_client
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.mfa import totp_activate

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
PLATFORM = "/api/v1/admin/security/policies/mfa"


def _set(org, required_for, grace_days=0):
    services.policy_set(
        organization=org,
        policy_type=MFA,
        values={"required_for": required_for, "grace_days": grace_days},
        actor=None,
    )


def _token(user):
    return APIClient().post(
        TOKEN, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )


def _later(days):
    return time_machine.travel(timedelta(days=days, minutes=1))


def test_defaults_and_put_through_the_api():
    root = UserFactory(roles=["admin"])
    body = jwt_client(root).get(PLATFORM).json()
    assert body["required_for"] == "none" and body["inherited"] is True
    response = jwt_client(root).put(
        PLATFORM, {"required_for": "all", "grace_days": 3}, format="json"
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(action="policy.mfa.updated")
    assert event.changes["required_for"] == ["none", "all"]


@pytest.mark.parametrize(
    "body, code, attr",
    [
        ({"required_for": "everyone", "grace_days": 1}, "invalid_choice", "required_for"),
        ({"required_for": 1, "grace_days": 1}, "invalid_choice", "required_for"),
        ({"required_for": "all", "grace_days": -1}, "min_value", "grace_days"),
        ({"required_for": "all", "grace_days": 366}, "max_value", "grace_days"),
        ({"required_for": "all"}, "required", "grace_days"),
    ],
)
def test_bad_bodies_are_precise_400s(body, code, attr):
    root = UserFactory(roles=["admin"])
    assert_error(jwt_client(root).put(PLATFORM, body, format="json"), 400, code, attr)
    assert not AuditEvent.objects.filter(action="policy.mfa.updated").exists()


def test_an_organization_may_only_tighten(world):
    _set(None, "admins", grace_days=5)
    url = f"/api/v1/orgs/{world.org.pk}/policies/mfa"
    client = jwt_client(world.owner)
    for body, attr in (
        ({"required_for": "none", "grace_days": 5}, "required_for"),
        ({"required_for": "all", "grace_days": 6}, "grace_days"),
    ):
        assert_error(client.put(url, body, format="json"), 400, "weaker_than_platform", attr)
    assert (
        client.put(url, {"required_for": "all", "grace_days": 2}, format="json").status_code == 200
    )
    # Members without policies:manage: 403; API keys never change policies.
    assert (
        jwt_client(world.member)
        .put(url, {"required_for": "all", "grace_days": 1}, format="json")
        .status_code
        == 403
    )


def test_all_refuses_after_the_grace_period_only(world):
    _set(None, "all", grace_days=3)
    assert _token(world.member).status_code == 200
    with _later(3):
        assert_error(_token(world.member), 403, "mfa_setup_required")
        totp_activate(world.member)
        body = _token(world.member).json()
        assert body["mfa_required"] is True  # with a second factor: the usual next step


def test_platform_admins_only_for_the_platforms_admins(world):
    _set(None, "admins", grace_days=0)
    root = UserFactory(roles=["admin"])
    with _later(0):
        assert_error(_token(root), 403, "mfa_setup_required")
        # An organization's owner is not a platform admin.
        assert _token(world.owner).status_code == 200
        assert _token(world.member).status_code == 200


def test_an_organizations_admins_are_its_owners_and_admins(world):
    _set(world.org, "admins", grace_days=1)
    with _later(1):
        assert_error(_token(world.owner), 403, "mfa_setup_required")
        assert_error(_token(world.admin), 403, "mfa_setup_required")
        assert _token(world.manager).status_code == 200
        assert _token(world.member).status_code == 200
        assert _token(world.outsider).status_code == 200


def test_grace_counts_from_the_later_of_account_and_policy(world):
    _set(None, "all", grace_days=2)
    with _later(1):
        newcomer = UserFactory(email="new@example.com")
    with _later(2):
        assert_error(_token(world.member), 403, "mfa_setup_required")
        assert _token(newcomer).status_code == 200  # created a day later
    with _later(3):
        assert_error(_token(newcomer), 403, "mfa_setup_required")


def test_refresh_is_refused_past_the_grace_and_works_again_once_set_up(world):
    _set(None, "all", grace_days=1)
    pair = _token(world.member).json()
    with _later(1):
        response = APIClient().post(REFRESH, {"refresh": pair["refresh"]}, format="json")
        assert_error(response, 403, "mfa_setup_required")
        totp_activate(world.member)
        response = APIClient().post(REFRESH, {"refresh": pair["refresh"]}, format="json")
        assert response.status_code == 200, response.content


def test_pages_send_the_user_to_the_second_factor_setup(world):
    _set(None, "all", grace_days=1)
    with _later(1):
        browser = Client()
        response = browser.post(
            "/accounts/login/", {"login": world.member.email, "password": DEFAULT_PASSWORD}
        )
        assert response.status_code == 302
        response = browser.get("/account/")
        assert response.status_code == 302 and response["Location"] == "/accounts/2fa/"
        assert browser.get("/accounts/2fa/").status_code == 200
        # The API through the session cookie: refused, with the code.
        assert_error(browser.get("/api/v1/users/me"), 403, "mfa_setup_required")
        assert browser.get("/api/v1/auth/status").status_code == 200
        totp_activate(world.member)
        assert browser.get("/account/").status_code == 200


def test_pages_within_the_grace_are_served(world):
    _set(None, "all", grace_days=5)
    browser = Client()
    browser.post("/accounts/login/", {"login": world.member.email, "password": DEFAULT_PASSWORD})
    assert browser.get("/account/").status_code == 200


def test_admin_console_edits_mfa_and_session_policies(world):
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(staff)
    form = {"organization": "", "policy_type": "mfa", "required_for": "admins", "grace_days": "2"}
    response = browser.post("/admin/access/securitypolicy/add/?policy_type=mfa", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert AuditEvent.objects.filter(action="policy.mfa.updated").exists()
    # An organization's looser one is refused there too.
    form = {**form, "organization": str(world.org.pk), "required_for": "none"}
    response = browser.post("/admin/access/securitypolicy/add/?policy_type=mfa", form)
    assert response.status_code == 200 and "weaker than the platform" in response.content.decode()
    session = {
        "organization": "",
        "policy_type": "session",
        "access_token_minutes": "10",
        "refresh_idle_days": "9",
        "refresh_absolute_days": "3",
        "web_session_hours": "12",
    }
    response = browser.post("/admin/access/securitypolicy/add/?policy_type=session", session)
    assert response.status_code == 200
    assert "refresh_idle_days may not exceed" in response.content.decode()
    response = browser.post(
        "/admin/access/securitypolicy/add/?policy_type=session",
        {**session, "refresh_idle_days": "3"},
    )
    assert response.status_code == 302


@pytest.mark.parametrize("role, status", [("manager", 403), ("member", 403), ("outsider", 404)])
def test_org_policy_per_role(world, role, status):
    url = f"/api/v1/orgs/{world.org.pk}/policies/mfa"
    client = jwt_client(world.person(role))
    assert client.get(url).status_code == status
    response = client.put(url, {"required_for": "all", "grace_days": 1}, format="json")
    assert response.status_code == status


def test_api_keys_never_change_policies(world):
    from tests.access.conftest import key_client

    client = key_client(world.owner, ["profile:read"])
    url = f"/api/v1/orgs/{world.org.pk}/policies/mfa"
    assert (
        client.put(url, {"required_for": "all", "grace_days": 1}, format="json").status_code == 403
    )
