"""The lockout policy (docs/api.md Part 2): failed sign-ins per account, read by the sign-in
limits of every door (accounts.flows.limits); the platform's, an organization's only
tighter, the strictest applying to a member; the per-IP limit stays the setting's."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from access.policies import selectors, services
from access.policies.types import LOCKOUT
from audit.models import AuditEvent
from tests.access.conftest import assert_error, jwt_client
from tests.accounts.test_auth_helpers import TOKEN_URL
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PLATFORM = "/api/v1/admin/security/policies/lockout"
WRONG = "wrong password!"


def _api_login(email, password=DEFAULT_PASSWORD):
    return APIClient().post(TOKEN_URL, {"email": email, "password": password}, format="json")


def _set(organization, actor=None, **values):
    return services.policy_set(
        organization=organization,
        policy_type=LOCKOUT,
        values={"max_failures": 5, "window_minutes": 5, **values},
        actor=actor,
    )


def test_default_is_the_settings_per_account_rate(db):
    # ACCOUNT_RATE_LIMITS["login_failed"] = "10/m/ip,5/5m/key"
    assert selectors.platform_values(LOCKOUT) == {"max_failures": 5, "window_minutes": 5}
    assert selectors.lockout_values("anyone@example.com") is None


def test_platform_lockout_through_the_api_applies_at_once(world):
    root = UserFactory(email="root@example.com", roles=["admin"])
    response = jwt_client(root).put(
        PLATFORM, {"max_failures": 2, "window_minutes": 10}, format="json"
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(action="policy.lockout.updated")
    assert event.changes == {"max_failures": [5, 2], "window_minutes": [5, 10]}
    for _ in range(2):
        assert _api_login(world.member.email, WRONG).status_code == 401
    response = _api_login(world.member.email)
    assert response.status_code == 429
    # The window is the policy's: still locked after the setting's 5 minutes, not after 10.
    with time_machine.travel(time.time() + 6 * 60, tick=False):
        assert _api_login(world.member.email).status_code == 429
    with time_machine.travel(time.time() + 11 * 60, tick=False):
        assert _api_login(world.member.email).status_code == 200


def test_the_page_door_counts_under_the_same_policy(world):
    _set(None, max_failures=2)
    for _ in range(2):
        Client().post("/accounts/login/", {"login": world.member.email, "password": WRONG})
    assert _api_login(world.member.email).status_code == 429


def test_an_organizations_stricter_lockout_applies_to_its_members_only(world):
    _set(world.org, actor=world.owner, max_failures=2)
    for email in (world.member.email, world.outsider.email):
        for _ in range(2):
            assert _api_login(email, WRONG).status_code == 401
    assert _api_login(world.member.email).status_code == 429
    # The outsider has the platform's five attempts.
    assert _api_login(world.outsider.email).status_code == 200


@pytest.mark.parametrize(
    ("values", "attr"),
    [
        ({"max_failures": 6, "window_minutes": 5}, "max_failures"),
        ({"max_failures": 5, "window_minutes": 4}, "window_minutes"),
    ],
)
def test_an_organizations_lockout_only_tighter(world, values, attr):
    response = jwt_client(world.owner).put(
        f"/api/v1/orgs/{world.org.pk}/policies/lockout", values, format="json"
    )
    assert_error(response, 400, "weaker_than_platform", attr)


@pytest.mark.parametrize(
    ("body", "code", "attr"),
    [
        ({"max_failures": 0, "window_minutes": 5}, "min_value", "max_failures"),
        ({"max_failures": 5, "window_minutes": 10081}, "max_value", "window_minutes"),
        ({"max_failures": 5}, "required", "window_minutes"),
    ],
)
def test_bad_lockout_values(db, body, code, attr):
    root = UserFactory(email="root@example.com", roles=["admin"])
    assert_error(jwt_client(root).put(PLATFORM, body, format="json"), 400, code, attr)


def test_admin_adds_a_lockout_policy(world):
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/admin/access/securitypolicy/add/?policy_type=lockout")
    assert page.status_code == 200 and b"max_failures" in page.content
    form = {
        "organization": "",
        "policy_type": "lockout",
        "max_failures": "3",
        "window_minutes": "15",
    }
    response = browser.post("/admin/access/securitypolicy/add/?policy_type=lockout", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert selectors.platform_values(LOCKOUT) == {"max_failures": 3, "window_minutes": 15}
    assert AuditEvent.objects.filter(action="policy.lockout.updated").exists()
