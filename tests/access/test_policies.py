"""Security policies (docs/api.md Part 2): the password policy through the API (platform
admins, organizations' policies:manage holders; only tighter than the platform's), applied at
once at every door that sets a password (API change, register, admin, allauth pages), with
password history; each change audited before/after."""

from __future__ import annotations

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from access.policies import selectors, services
from access.policies.models import PasswordHistory, SecurityPolicy
from access.policies.types import PASSWORD
from accounts.hooks import run_erasure_steps
from audit.models import AuditEvent
from orgs.services import members
from tests.access.conftest import assert_error, jwt_client
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PLATFORM = "/api/v1/admin/security/policies/password"
CHANGE = "/api/v1/users/me/password"
STRICT = {
    "expiry_days": 0,
    "min_length": 12,
    "require_uppercase": True,
    "require_lowercase": True,
    "require_numbers": True,
    "require_special": True,
    "history": 3,
}
DEFAULT = {
    "expiry_days": 0,
    "min_length": 10,
    "require_uppercase": False,
    "require_lowercase": False,
    "require_numbers": False,
    "require_special": False,
    "history": 0,
}


def org_url(org) -> str:
    return f"/api/v1/orgs/{org.pk}/policies/password"


@pytest.fixture
def root(db):
    return UserFactory(email="root@example.com", roles=["admin"])


def _codes(response) -> set[str]:
    return {e["code"] for e in response.json()["errors"]}


def test_platform_defaults_are_todays_rules(root):
    response = jwt_client(root).get(PLATFORM)
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in DEFAULT} == DEFAULT
    assert body["inherited"] is True and body["policy_type"] == "password"


def test_platform_put_applies_at_once_and_is_audited(root, world):
    response = jwt_client(root).put(PLATFORM, STRICT, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["inherited"] is False
    event = AuditEvent.objects.get(action="policy.password.updated")
    assert event.changes["min_length"] == [10, 12]
    assert event.changes["history"] == [0, 3]
    # The member's next password change meets the new rules.
    response = jwt_client(world.member).post(
        CHANGE,
        {"current_password": DEFAULT_PASSWORD, "new_password": "lowercase only words"},
        format="json",
    )
    assert response.status_code == 400
    assert {
        "password_requires_uppercase",
        "password_requires_number",
    } <= _codes(response)
    response = jwt_client(world.member).post(
        CHANGE,
        {"current_password": DEFAULT_PASSWORD, "new_password": "Brand-new 2026 phrase"},
        format="json",
    )
    assert response.status_code in (200, 204), response.content


@pytest.mark.parametrize("who", ["member", "admin", "outsider"])
def test_platform_policy_is_for_platform_admins_only(world, who):
    client = jwt_client(world.person(who))
    assert client.get(PLATFORM).status_code == 403
    assert client.put(PLATFORM, STRICT, format="json").status_code == 403


def test_unknown_policy_type_is_404(root, world):
    assert jwt_client(root).get("/api/v1/admin/security/policies/colour").status_code == 404
    assert (
        jwt_client(world.owner).get(f"/api/v1/orgs/{world.org.pk}/policies/colour").status_code
        == 404
    )


@pytest.mark.parametrize(
    ("change", "code", "attr"),
    [
        ({"min_length": 0}, "min_value", "min_length"),
        ({"min_length": 129}, "max_value", "min_length"),
        ({"min_length": "12"}, "invalid", "min_length"),
        ({"history": 25}, "max_value", "history"),
        ({"require_special": "true"}, "invalid", "require_special"),
        ({"extra": 1}, "unknown_field", "extra"),
    ],
)
def test_bad_values_are_precise_400s(root, change, code, attr):
    response = jwt_client(root).put(PLATFORM, {**DEFAULT, **change}, format="json")
    assert_error(response, 400, code, attr)
    assert not SecurityPolicy.objects.exists()


def test_missing_field_is_400(root):
    body = dict(DEFAULT)
    del body["history"]
    assert_error(jwt_client(root).put(PLATFORM, body, format="json"), 400, "required", "history")


def test_org_policy_only_tighter_than_platform(root, world):
    jwt_client(root).put(PLATFORM, {**DEFAULT, "min_length": 12, "history": 2}, format="json")
    client = jwt_client(world.owner)
    assert_error(
        client.put(org_url(world.org), {**DEFAULT, "min_length": 11, "history": 2}, format="json"),
        400,
        "weaker_than_platform",
        "min_length",
    )
    assert_error(
        client.put(org_url(world.org), {**DEFAULT, "min_length": 12, "history": 1}, format="json"),
        400,
        "weaker_than_platform",
        "history",
    )
    assert not SecurityPolicy.objects.filter(organization=world.org).exists()
    response = client.put(org_url(world.org), {**STRICT, "min_length": 14}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["min_length"] == 14
    event = AuditEvent.objects.filter(action="policy.password.updated").latest("id")
    assert event.changes["min_length"] == [12, 14]


def test_org_get_inherits_the_platform_policy(world):
    body = jwt_client(world.owner).get(org_url(world.org)).json()
    assert body["inherited"] is True and body["min_length"] == 10


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("member", 403), ("outsider", 404)])
def test_org_policy_permissions(world, who, status):
    client = jwt_client(world.person(who))
    assert client.get(org_url(world.org)).status_code == status
    assert client.put(org_url(world.org), STRICT, format="json").status_code == status


def test_effective_policy_is_the_strictest_of_the_users_organizations(world):
    services.policy_set(
        organization=world.org,
        policy_type=PASSWORD,
        values={**DEFAULT, "require_special": True},
        actor=world.owner,
    )
    # A member of the organization: its rule; an outsider: the platform's.
    assert selectors.effective_values(world.member, PASSWORD)["require_special"] is True
    assert selectors.effective_values(world.outsider, PASSWORD)["require_special"] is False
    with pytest.raises(ValidationError) as exc:
        validate_password("no special chars here", world.member)
    assert "password_requires_special" in {e.code for e in exc.value.error_list}
    validate_password("no special chars here", world.outsider)
    # Leaving the organization leaves its policy behind.
    members.member_remove(organization=world.org, actor=world.owner, user_id=world.member.pk)
    validate_password("no special chars here", world.member)


def test_history_refuses_the_last_passwords(world):
    services.policy_set(
        organization=None, policy_type=PASSWORD, values={**DEFAULT, "history": 2}, actor=None
    )
    user = world.member
    for password in ("first pass phrase", "second pass phrase"):
        user.set_password(password)
        user.save()
    assert PasswordHistory.objects.filter(user=user).count() == 2
    for old in ("first pass phrase", "second pass phrase"):
        with pytest.raises(ValidationError) as exc:
            validate_password(old, user)
        assert [e.code for e in exc.value.error_list] == ["password_reused"]
    user.set_password("third pass phrase")
    user.save()
    # Only the last two are kept: the first is allowed again.
    assert PasswordHistory.objects.filter(user=user).count() == 2
    validate_password("first pass phrase", user)


def test_history_covers_the_current_password_set_before_any_history(world):
    services.policy_set(
        organization=None, policy_type=PASSWORD, values={**DEFAULT, "history": 1}, actor=None
    )
    response = jwt_client(world.member).post(
        CHANGE,
        {"current_password": DEFAULT_PASSWORD, "new_password": DEFAULT_PASSWORD},
        format="json",
    )
    assert_error(response, 400, "password_reused", "new_password")


def test_register_door_uses_the_platform_policy(db):
    services.policy_set(
        organization=None, policy_type=PASSWORD, values={**DEFAULT, "min_length": 20}, actor=None
    )
    response = Client().post(
        "/api/v1/auth/register",
        {"email": "new@example.com", "password": "fifteen chars!!"},
        content_type="application/json",
    )
    assert_error(response, 400, "password_too_short")


def test_signup_page_shows_the_policy_message(db):
    services.policy_set(
        organization=None,
        policy_type=PASSWORD,
        values={**DEFAULT, "require_numbers": True},
        actor=None,
    )
    pw = "no digits in this one"
    response = Client().post(
        "/accounts/signup/", {"email": "page@example.com", "password1": pw, "password2": pw}
    )
    assert response.status_code == 200
    assert "This password must contain a digit." in response.content.decode()


def test_admin_edits_the_platform_policy_with_the_same_rules(world):
    admin_user = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(admin_user)
    form = {
        "organization": "",
        "policy_type": "password",
        "min_length": "16",
        "history": "4",
        "expiry_days": "0",
        "require_uppercase": "on",
    }
    response = browser.post("/admin/access/securitypolicy/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert selectors.platform_values(PASSWORD)["min_length"] == 16
    assert AuditEvent.objects.filter(action="policy.password.updated").exists()
    # An organization's policy looser than the platform's is refused in the form too.
    form = {**form, "organization": str(world.org.pk), "min_length": "12"}
    response = browser.post("/admin/access/securitypolicy/add/", form)
    assert response.status_code == 200
    assert "weaker than the platform" in response.content.decode()
    assert not SecurityPolicy.objects.filter(organization=world.org).exists()


def test_an_erasure_removes_the_password_history(world):
    services.policy_set(
        organization=None, policy_type=PASSWORD, values={**DEFAULT, "history": 3}, actor=None
    )
    world.member.set_password("another pass phrase")
    world.member.save()
    assert PasswordHistory.objects.filter(user=world.member).exists()
    run_erasure_steps(user=world.member)
    assert not PasswordHistory.objects.filter(user=world.member).exists()


def test_admin_changes_an_organizations_policy_only_tighter(world):
    row = services.policy_set(
        organization=world.org, policy_type=PASSWORD, values=DEFAULT, actor=world.owner
    )
    services.policy_set(
        organization=None, policy_type=PASSWORD, values={**DEFAULT, "min_length": 12}, actor=None
    )
    browser = Client()
    browser.force_login(UserFactory(email="staff@example.com", is_staff=True, is_superuser=True))
    url = f"/admin/access/securitypolicy/{row.pk}/change/"
    assert browser.get(url).status_code == 200
    response = browser.post(url, {"min_length": "11", "history": "0", "expiry_days": "0"})
    assert response.status_code == 200 and "weaker than the platform" in response.content.decode()
    response = browser.post(
        url, {"min_length": "13", "history": "1", "expiry_days": "0", "require_numbers": "on"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    row.refresh_from_db()
    assert row.values["min_length"] == 13 and row.values["require_numbers"] is True
    assert browser.post(f"/admin/access/securitypolicy/{row.pk}/delete/").status_code == 403
