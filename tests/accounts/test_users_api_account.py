"""Password change, account deletion, the data export, and "every door closes"."""

import json
from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, ApiSession, UserSetting
from audit.models import AuditEvent
from tests.accounts.users_helpers import api_key_client, assert_error, jwt_client
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"
PASSWORD = f"{ME}/password"
EXPORT = f"{ME}/export"
NEW_PASSWORD = "a brand new passphrase 42"


def _web_session(user) -> str:
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store.create()
    UserSession.objects.create(user=user, ip="127.0.0.1", session_key=store.session_key)
    return store.session_key


def _session_client(user) -> APIClient:
    """A browser-session client with its allauth session row, as a real sign-in leaves."""
    client = APIClient()
    client.force_login(user)
    key = client.session.session_key
    UserSession.objects.create(user=user, ip="127.0.0.1", session_key=key)
    return client


# --- POST /users/me/password -----------------------------------------------------------------


def test_password_anonymous_401(anon_client):
    assert_error(anon_client.post(PASSWORD, {}), 401, "not_authenticated")


def test_password_change_with_jwt_keeps_this_session_and_revokes_the_others(member):
    client = jwt_client(member)
    other_api = jwt_client(member)
    web_key = _web_session(member)
    response = client.post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.content
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert client.get(ME).status_code == 200
    assert_error(other_api.get(ME), 401, "token_revoked")
    assert not SessionStore().exists(web_key)
    event = AuditEvent.objects.get(action="auth.password.changed")
    assert event.target_id == str(member.pk) and event.actor_id == str(member.pk)
    assert NEW_PASSWORD not in json.dumps([event.changes, event.metadata])


def test_password_change_with_session_keeps_this_browser_signed_in(member):
    client = _session_client(member)
    other_web = _web_session(member)
    api = jwt_client(member)
    response = client.post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.content
    assert client.get(ME).status_code == 200
    assert not SessionStore().exists(other_web)
    assert_error(api.get(ME), 401, "token_revoked")


def test_password_wrong_current_is_400_and_rate_limited(member):
    client = jwt_client(member)
    for _ in range(5):
        response = client.post(
            PASSWORD, {"current_password": "wrong", "new_password": NEW_PASSWORD}
        )
        assert_error(response, 400, "invalid_password", "current_password")
    response = client.post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert_error(response, 429, "too_many_attempts")
    assert int(response["Retry-After"]) >= 1
    member.refresh_from_db()
    assert member.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    ("new", "code"),
    [
        ("short", "password_too_short"),
        ("1234567890123", "password_entirely_numeric"),
        ("password1234", "password_too_common"),
        ("member@example.com", "password_too_similar"),
        ("x" * 2000, "password_too_long"),
    ],
)
def test_password_validators_apply(member, new, code):
    response = jwt_client(member).post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": new}
    )
    assert_error(response, 400, code, "new_password")
    member.refresh_from_db()
    assert member.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize("door", ["jwt", "session"])
def test_password_weak_new_password_answers_every_validator_code(member, door):
    client = jwt_client(member) if door == "jwt" else _session_client(member)
    response = client.post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": "12345678"}
    )
    assert response.status_code == 400
    assert {(e["code"], e["attr"]) for e in response.json()["errors"]} == {
        ("password_too_short", "new_password"),
        ("password_too_common", "new_password"),
        ("password_entirely_numeric", "new_password"),
    }
    member.refresh_from_db()
    assert member.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    ("payload", "code", "attr"),
    [
        ({}, "required", "current_password"),
        ({"current_password": DEFAULT_PASSWORD}, "required", "new_password"),
        ({"current_password": 123, "new_password": NEW_PASSWORD}, "invalid", "current_password"),
        ({"current_password": None, "new_password": NEW_PASSWORD}, "null", "current_password"),
        (
            {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD, "otp": "1"},
            "unknown_field",
            "otp",
        ),
        ({"current_password": "x" * 10_000, "new_password": "y"}, "max_length", "current_password"),
    ],
)
def test_password_bad_input(member, payload, code, attr):
    assert_error(jwt_client(member).post(PASSWORD, payload), 400, code, attr)


def test_password_api_keys_cannot_change_passwords(member):
    client = api_key_client(member, ["profile:write"])
    response = client.post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert_error(response, 403, "api_key_not_allowed")


# --- DELETE /users/me ------------------------------------------------------------------------


def test_delete_me_anonymous_401(anon_client):
    assert_error(anon_client.delete(ME, {"password": "x"}), 401, "not_authenticated")


def test_delete_me_deactivates_at_once_and_schedules_erasure(member, settings):
    settings.ROSTER = {**settings.ROSTER, "ACCOUNT_ERASURE_GRACE_DAYS": 14}
    client = jwt_client(member)
    other = jwt_client(member)
    key_client = api_key_client(member, ["profile:read"])
    web_key = _web_session(member)
    before = timezone.now()

    assert client.delete(ME, {"password": DEFAULT_PASSWORD}).status_code == 204

    member.refresh_from_db()
    assert member.status == "deactivated" and not member.is_active
    assert (
        before + timedelta(days=14) <= member.erasure_due_at <= timezone.now() + timedelta(days=14)
    )
    assert member.erased_at is None and member.email == "member@example.com"
    for c in (client, other, key_client):
        assert c.get(ME).status_code == 401
    assert not SessionStore().exists(web_key)
    assert not ApiKey.objects.filter(user=member, revoked_at__isnull=True).exists()
    event = AuditEvent.objects.get(action="user.deactivated")
    assert event.metadata["reason"] == "deletion_requested"
    assert event.changes["status"] == ["active", "deactivated"]


def test_delete_me_with_session_logs_this_browser_out(member):
    client = _session_client(member)
    assert client.delete(ME, {"password": DEFAULT_PASSWORD}).status_code == 204
    assert client.get(ME).status_code == 401


def test_delete_me_wrong_password_changes_nothing(member):
    client = jwt_client(member)
    assert_error(client.delete(ME, {"password": "nope"}), 400, "invalid_password", "password")
    member.refresh_from_db()
    assert member.status == "active" and member.erasure_due_at is None


def test_delete_me_without_password_needs_a_recent_reauthentication(member):
    assert_error(jwt_client(member).delete(ME), 400, "required", "password")
    assert_error(_session_client(member).delete(ME, {}), 400, "required", "password")
    member.refresh_from_db()
    assert member.status == "active"


def test_delete_me_session_that_just_reauthenticated_needs_no_password(member):
    import time

    client = _session_client(member)
    session = client.session
    # What allauth's reauthentication flow leaves in the session.
    session["account_authentication_methods"] = [
        {"method": "password", "at": time.time(), "reauthenticated": True}
    ]
    session["account_authentication_methods_user"] = str(member.pk)
    session.save()
    assert client.delete(ME).status_code == 204
    member.refresh_from_db()
    assert member.status == "deactivated"


def test_delete_me_api_keys_refused(member):
    client = api_key_client(member, ["profile:write"])
    assert_error(client.delete(ME, {"password": DEFAULT_PASSWORD}), 403, "api_key_not_allowed")


def test_delete_me_last_admin_refused(admin_user):
    response = jwt_client(admin_user).delete(ME, {"password": DEFAULT_PASSWORD})
    assert_error(response, 409, "last_admin")


def test_delete_me_bad_input(member):
    client = jwt_client(member)
    assert_error(client.delete(ME, {"password": 1}), 400, "invalid", "password")
    assert_error(client.delete(ME, {"password": "x", "why": "y"}), 400, "unknown_field", "why")


# --- doors: suspended / deactivated users stop at once ------------------------------------


@pytest.mark.parametrize("status", ["suspended", "deactivated"])
def test_status_change_closes_every_door_at_once(member, admin_user, client_for, status):
    jwt = jwt_client(member)
    key = api_key_client(member, ["profile:read"])
    web = _session_client(member)
    for c in (jwt, key, web):
        assert c.get(ME).status_code == 200

    response = client_for(admin_user).patch(f"/api/v1/users/{member.pk}", {"status": status})
    assert response.status_code == 200

    assert_error(jwt.get(ME), 401, "token_revoked")
    assert key.get(ME).status_code == 401
    assert web.get(ME).status_code == 401
    # And no new door opens: the token endpoint refuses the account.
    login = APIClient().post(
        "/api/v1/auth/token", {"email": member.email, "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 401
    assert not ApiSession.objects.filter(user=member, revoked_at__isnull=True).exists()


# --- GET /users/me/export ----------------------------------------------------------------


def test_export_anonymous_401_and_api_key_403(anon_client, member):
    assert_error(anon_client.get(EXPORT), 401, "not_authenticated")
    assert_error(api_key_client(member, ["profile:read"]).get(EXPORT), 403, "api_key_not_allowed")


def test_export_contains_everything_and_no_secrets(member, other_member, client_for):
    from accounts.apikeys import api_key_create

    client = jwt_client(member)
    client.patch(ME, {"display_name": "Exporter"})
    client.patch("/api/v1/users/me/settings", {"theme": "dark"})
    key, raw_key = api_key_create(user=member, name="ci", scopes=["usage:read"], actor=member)
    web_key = _web_session(member)
    client_for(other_member).patch(ME, {"display_name": "Not mine"})

    response = client.get(EXPORT)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    doc = response.json()
    assert set(doc) >= {
        "exported_at",
        "profile",
        "email_addresses",
        "settings",
        "mfa",
        "social_accounts",
        "sessions",
        "api_keys",
        "slots",
        "usage",
        "audit_events",
    }
    assert doc["profile"]["display_name"] == "Exporter"
    assert doc["profile"]["email"] == member.email
    assert {s["key"]: s["value"] for s in doc["settings"]}["theme"] == "dark"
    assert [k["id"] for k in doc["api_keys"]] == [str(key.pk)]
    assert doc["api_keys"][0]["prefix"] == f"rst_{key.prefix}"
    assert len(doc["sessions"]["api"]) == 1 and len(doc["sessions"]["web"]) == 1
    assert isinstance(doc["slots"], list) and isinstance(doc["usage"], dict)
    actions = {e["action"] for e in doc["audit_events"]}
    assert {"user.updated", "user.settings.updated", "apikey.created"} <= actions
    assert all(
        str(member.pk) in (e["actor"]["id"], e["target"]["id"]) or e["action"] == "apikey.created"
        for e in doc["audit_events"]
    )
    assert "Not mine" not in response.content.decode()

    text = response.content.decode()
    for secret in (raw_key, key.digest, web_key, member.password):
        assert secret not in text


def test_export_with_session(member, client_for):
    assert client_for(member).get(EXPORT).status_code == 200


def test_export_of_settings_shows_effective_values(member):
    client = jwt_client(member)
    client.patch("/api/v1/users/me/settings", {"page_size": 20})
    UserSetting.objects.filter(user=member).update(value="not a number")
    doc = client.get(EXPORT).json()
    assert {s["key"]: s["value"] for s in doc["settings"]}["page_size"] == 50


def test_delete_me_stale_reauthentication_is_not_enough(member):
    import time

    client = _session_client(member)
    session = client.session
    session["account_authentication_methods"] = [
        {"method": "password", "at": time.time() - 3600, "reauthenticated": True}
    ]
    session["account_authentication_methods_user"] = str(member.pk)
    session.save()
    assert_error(client.delete(ME), 400, "required", "password")
