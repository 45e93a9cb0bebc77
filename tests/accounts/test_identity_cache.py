"""What an access token's request sees of its user is current on the very next request,
whichever door changed it (API, admin, pages, allauth's models), on Redis (the identity
snapshot of accounts.identity_cache) and on the other caches (the SQL path) alike."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.test import Client, override_settings

from accounts import selectors
from accounts.services.users import user_set_roles
from tests.accounts.users_helpers import jwt_client

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"


def _on_redis() -> bool:
    return hasattr(getattr(caches["default"], "client", None), "get_client")


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _me(client) -> dict:
    response = client.get(ME)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_role_change_through_the_admin_form_shows_on_the_next_request(member, admin_user):
    from tests.admin.test_user_admin import change_form_data, change_url

    client = jwt_client(member)
    assert _me(client)["roles"] == ["member"]  # warm: the snapshot is stored on Redis
    assert _me(client)["roles"] == ["member"]
    admin = _browser(admin_user)
    data = change_form_data(admin.get(change_url(member)))
    data["groups"] = [str(Group.objects.get(name="manager").pk)]
    assert admin.post(change_url(member), data).status_code == 302

    assert _me(client)["roles"] == ["manager"]


def test_a_suspension_through_the_api_refuses_the_next_request(member, admin_user):
    client = jwt_client(member)
    assert _me(client)["status"] == "active"
    _me(client)
    response = jwt_client(admin_user).patch(
        f"/api/v1/users/{member.pk}", {"status": "suspended"}, format="json"
    )
    assert response.status_code == 200, response.content

    refused = client.get(ME)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] in ("token_revoked", "account_inactive")


def test_a_suspension_through_the_admin_action_refuses_the_next_request(member, admin_user):
    from tests.admin.test_user_admin import run_action

    client = jwt_client(member)
    _me(client)
    _me(client)
    assert run_action(_browser(admin_user), "suspend_users", [member]).status_code == 200

    assert client.get(ME).status_code == 401


def test_a_status_saved_on_the_model_alone_refuses_the_next_request(member):
    """No session revoked here: the user's own row going inactive is enough (the snapshot
    of an active user is never served after it)."""
    client = jwt_client(member)
    _me(client)
    _me(client)
    member.status, member.is_active = "suspended", False
    member.save(update_fields=["status", "is_active"])

    refused = client.get(ME)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "account_inactive"


def test_a_profile_edit_through_the_pages_shows_on_the_next_request(member):
    client = jwt_client(member)
    _me(client)
    assert _me(client)["display_name"] != "Renamed On The Page"
    page = _browser(member)
    response = page.post(
        "/account/profile/",
        {"display_name": "Renamed On The Page", "timezone": "UTC", "locale": "en"},
    )
    assert response.status_code == 302, response.content[:2000]

    assert _me(client)["display_name"] == "Renamed On The Page"


def test_an_mfa_authenticator_added_and_removed_shows_on_the_next_request(member):
    client = jwt_client(member)
    _me(client)
    assert _me(client)["mfa_enabled"] is False
    totp = Authenticator.objects.create(user=member, type="totp", data={"secret": "s"})
    assert _me(client)["mfa_enabled"] is True
    totp.delete()
    assert _me(client)["mfa_enabled"] is False


def test_an_address_verified_and_an_email_changed_show_on_the_next_request(member):
    address, _ = EmailAddress.objects.update_or_create(
        user=member, email=member.email, defaults={"verified": False, "primary": True}
    )
    client = jwt_client(member)
    _me(client)
    assert _me(client)["email_verified"] is False
    address.verified = True
    address.save()
    assert _me(client)["email_verified"] is True

    member.email = "renamed-member@example.com"
    member.save(update_fields=["email"])
    shown = _me(client)
    assert shown["email"] == "renamed-member@example.com"
    assert shown["email_verified"] is False  # the verified address is the old one


def test_a_user_read_before_a_change_is_not_kept_after_it(member, monkeypatch):
    """A request that read the user just before a change committed must not leave what it
    read in the cache for the next requests."""
    client = jwt_client(member)
    read = selectors.user_with_flags
    changed = []

    def read_then_change(user_id):
        user = read(user_id)
        if not changed:
            changed.append(True)
            user_set_roles(user=member, roles=["manager"], actor=None)
        return user

    monkeypatch.setattr(selectors, "user_with_flags", read_then_change)
    assert _me(client)["roles"] == ["member"]  # what it read, before the change
    assert _me(client)["roles"] == ["manager"]
    assert _me(client)["roles"] == ["manager"]


def test_the_rate_limit_counts_each_request_once(member):
    client = jwt_client(member)
    with override_settings(API_RATE_LIMITS_ENABLED=True):
        remaining = [int(client.get(ME)["X-RateLimit-Remaining"]) for _ in range(4)]
    assert remaining == [99, 98, 97, 96]


def test_a_revoked_token_is_refused_and_spends_nothing(member):
    client = jwt_client(member)
    other = jwt_client(member)
    with override_settings(API_RATE_LIMITS_ENABLED=True):
        assert client.get(ME)["X-RateLimit-Remaining"] == "99"
        assert client.post("/api/v1/auth/logout").status_code == 204
        for _ in range(3):
            assert client.get(ME).status_code == 401
        # logout counted once; the refused requests not at all
        assert other.get(ME)["X-RateLimit-Remaining"] == "97"


def test_a_snapshot_of_another_redis_server_is_not_trusted(
    member, monkeypatch, django_assert_num_queries
):
    """A Redis restored from an older copy comes back with another run_id: the snapshots it
    holds are read as absent (one statement), never as the user's current state."""
    if not _on_redis():
        pytest.skip("the identity snapshot is the Redis deployment's")
    from config import redis_connection

    client = jwt_client(member)
    _me(client)
    with django_assert_num_queries(0):
        _me(client)
    real = redis_connection.server_identity()
    monkeypatch.setattr(redis_connection, "server_identity", lambda: real + "-restored")
    # The session's live marker and the snapshot both name the old server: the database
    # answers for each (one statement each), then their new entries are trusted again.
    with django_assert_num_queries(2):
        _me(client)
    with django_assert_num_queries(0):
        _me(client)


def test_a_token_verified_before_is_refused_once_it_has_expired(member):
    import time_machine
    from django.conf import settings
    from django.utils import timezone

    client = jwt_client(member)
    _me(client)  # its signature is verified and remembered by this process
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    with time_machine.travel(timezone.now() + lifetime + timezone.timedelta(seconds=30)):
        response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "token_expired"
    assert client.get(ME).status_code == 200  # still valid now: nothing was spoiled


def test_a_tampered_copy_of_a_verified_token_is_refused(member):
    client = jwt_client(member)
    _me(client)
    token = client._credentials["HTTP_AUTHORIZATION"].split(" ", 1)[1]
    header, payload, signature = token.split(".")
    tampered = (
        f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    )
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered}")
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "token_invalid"
