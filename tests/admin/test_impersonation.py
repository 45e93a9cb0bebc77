"""Impersonation: off by default; admins only; a banner everywhere; secrets and credentials out of
reach; ``user.impersonated`` recorded at start and end."""

from datetime import timedelta

import pytest
import time_machine
from allauth.usersessions.models import UserSession
from django.urls import reverse

from accounts.impersonation import SESSION_KEY
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

BANNER = 'id="roster-impersonation-banner"'


def start_url(user) -> str:
    return f"/admin/accounts/user/{user.pk}/impersonate/"


def impersonation_events(phase: str) -> list[AuditEvent]:
    return [
        e
        for e in AuditEvent.objects.filter(action="user.impersonated").order_by("id")
        if e.metadata.get("phase") == phase
    ]


@pytest.fixture
def enabled(settings):
    settings.ROSTER = {**settings.ROSTER, "IMPERSONATION_ENABLED": True}
    return settings


@pytest.fixture
def impersonating(enabled, admin_web, member):
    response = admin_web.post(start_url(member))
    assert response.status_code == 302 and response["Location"] == reverse("account-overview")
    return admin_web


def test_impersonation_is_off_unless_enabled(admin_web, member):
    page = admin_web.get(f"/admin/accounts/user/{member.pk}/change/").content.decode()
    assert "View as this user" not in page

    response = admin_web.post(start_url(member), follow=True)

    assert "You may not view Roster as this user." in response.content.decode()
    assert SESSION_KEY not in admin_web.session
    assert not AuditEvent.objects.filter(action="user.impersonated").exists()
    assert BANNER not in admin_web.get("/account/").content.decode()


def test_impersonation_start_shows_banner_and_acts_as_member(impersonating, admin_user, member):
    (start,) = impersonation_events("start")
    assert start.actor_id == str(admin_user.pk) and start.target_id == str(member.pk)

    page = impersonating.get("/account/")

    assert page.status_code == 200
    html = page.content.decode()
    assert BANNER in html
    assert f"Impersonating {member.email}" in html
    assert "End impersonation" in html
    assert page.wsgi_request.user == member
    # The API, through the same browser session, answers as the member too.
    assert impersonating.get("/api/v1/users/me").json()["email"] == member.email


def test_impersonation_button_shown_to_admins_for_members(enabled, admin_web, member):
    page = admin_web.get(f"/admin/accounts/user/{member.pk}/change/").content.decode()
    assert "View as this user" in page


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password/change/",
        "/accounts/password/set/",
        "/accounts/email/",
        "/accounts/2fa/",
        "/accounts/2fa/totp/activate/",
        "/accounts/2fa/recovery-codes/",
        "/accounts/reauthenticate/",
        "/accounts/3rdparty/",
    ],
)
def test_impersonation_blocks_credential_pages(impersonating, path):
    response = impersonating.get(path)

    assert response.status_code == 403
    assert "Not available while impersonating" in response.content.decode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/users/me/password"),
        ("post", "/api/v1/users/me/api-keys"),
        ("post", "/api/v1/users/me/api-keys/"),
        ("delete", "/api/v1/users/me"),
        ("post", "/api/v1/auth/token"),
    ],
)
def test_impersonation_blocks_credential_api_calls(impersonating, member, method, path):
    response = getattr(impersonating, method)(path, data={}, content_type="application/json")

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "impersonation_forbidden"
    member.refresh_from_db()
    assert member.status == "active"


@pytest.mark.parametrize(
    "path", ["/account/api-keys/", "/account/data/delete/", "/account/password/"]
)
def test_impersonation_blocks_credential_writes_on_account_pages(impersonating, member, path):
    response = impersonating.post(path, {"name": "sneaky", "scopes": ["slots:read"]})

    assert response.status_code == 403
    assert not member.api_keys.exists()
    member.refresh_from_db()
    assert member.status == "active"


def test_impersonation_still_reads_account_pages(impersonating, member):
    for name in ("account-api-keys", "account-sessions", "account-profile"):
        page = impersonating.get(reverse(name))
        assert page.status_code == 200, name
        assert BANNER in page.content.decode()


def test_impersonation_sign_out_is_blocked_so_the_admin_session_survives(impersonating):
    assert impersonating.post("/accounts/logout/").status_code == 403
    assert SESSION_KEY in impersonating.session


def test_impersonation_end_returns_to_admin_and_is_recorded(impersonating, admin_user, member):
    response = impersonating.post(reverse("admin:impersonation-end"))

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_user_change", args=[member.pk])
    (end,) = impersonation_events("end")
    assert end.actor_id == str(admin_user.pk) and end.target_id == str(member.pk)
    assert end.metadata["reason"] == "ended"
    page = impersonating.get("/admin/accounts/user/")
    assert page.status_code == 200 and page.wsgi_request.user == admin_user
    assert BANNER not in page.content.decode()


def test_impersonation_end_needs_post(impersonating):
    assert impersonating.get(reverse("admin:impersonation-end")).status_code == 405
    assert SESSION_KEY in impersonating.session


def test_impersonation_leaves_sessions_of_both_untouched(impersonating, admin_user, member):
    impersonating.get("/account/")

    assert not UserSession.objects.filter(user=member).exists()
    assert UserSession.objects.filter(user=admin_user).count() == 1
    member.refresh_from_db()
    assert member.last_login is None


def test_impersonation_ends_when_setting_is_turned_off(impersonating, settings, admin_user):
    settings.ROSTER = {**settings.ROSTER, "IMPERSONATION_ENABLED": False}

    page = impersonating.get("/account/")

    assert page.wsgi_request.user == admin_user
    assert BANNER not in page.content.decode()
    (end,) = impersonation_events("end")
    assert end.metadata["reason"] == "no_longer_allowed"


def test_impersonation_expires(impersonating, settings, admin_user):
    with time_machine.travel(timedelta(seconds=settings.ROSTER["IMPERSONATION_MAX_SECONDS"] + 5)):
        page = impersonating.get("/account/")

    assert page.wsgi_request.user == admin_user
    (end,) = impersonation_events("end")
    assert end.metadata["reason"] == "expired"


def test_impersonation_ends_when_member_is_suspended(impersonating, member, admin_user):
    from accounts.services.users import user_set_status

    user_set_status(user=member, status="suspended", actor=admin_user)

    page = impersonating.get("/account/")

    assert page.wsgi_request.user == admin_user
    assert impersonation_events("end")[0].metadata["reason"] == "no_longer_allowed"


@pytest.mark.parametrize("target", ["manager", "admin_user", "self"])
def test_impersonation_refused_for_staff_and_self(enabled, admin_web, admin_user, request, target):
    other_admin = None
    if target == "admin_user":
        from tests.factories import UserFactory

        other_admin = UserFactory(email="admin2@example.com", roles=["admin"])
    user = {
        "manager": lambda: request.getfixturevalue("manager"),
        "admin_user": lambda: other_admin,
        "self": lambda: admin_user,
    }[target]()

    response = admin_web.post(start_url(user), follow=True)

    assert "You may not view Roster as this user." in response.content.decode()
    assert SESSION_KEY not in admin_web.session
    assert not impersonation_events("start")


def test_managers_cannot_impersonate(enabled, manager_web, member):
    page = manager_web.get(f"/admin/accounts/user/{member.pk}/change/").content.decode()
    assert "View as this user" not in page

    manager_web.post(start_url(member))

    assert SESSION_KEY not in manager_web.session
    assert not impersonation_events("start")
