"""The API key and API session admin: metadata only, never a secret; revocation by admins."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import apikeys, sessions
from accounts.models import ApiKey, ApiSession
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

KEYS = "/admin/accounts/apikey/"
SESSIONS = "/admin/accounts/apisession/"


def _admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def key_and_raw(member):
    return apikeys.api_key_create(user=member, name="ci bot", scopes=["slots:read"], actor=member)


@pytest.fixture
def api_session(member):
    session = sessions.api_session_create(
        user=member, ip="10.0.0.5", user_agent="cli", expires_at=timezone.now() + timedelta(days=1)
    )
    session.refresh_jti = "secret-jti-value"
    session.save()
    return session


def test_key_admin_shows_metadata_never_the_digest(admin_user, key_and_raw):
    key, raw = key_and_raw
    client = _admin_client(admin_user)
    listing = client.get(KEYS)
    detail = client.get(f"{KEYS}{key.pk}/change/")
    assert listing.status_code == detail.status_code == 200
    for page in (listing, detail):
        assert raw[: len("rst_") + len(key.prefix)].encode() in page.content
        assert key.digest.encode() not in page.content
        assert raw.encode() not in page.content
    assert client.get(f"{KEYS}add/").status_code == 403


def test_session_admin_never_shows_the_refresh_jti(admin_user, api_session):
    client = _admin_client(admin_user)
    detail = client.get(f"{SESSIONS}{api_session.pk}/change/")
    assert detail.status_code == 200
    assert b"10.0.0.5" in detail.content
    assert b"secret-jti-value" not in detail.content


def test_admin_revokes_keys_through_the_service(admin_user, key_and_raw):
    key, raw = key_and_raw
    response = _admin_client(admin_user).post(
        KEYS, {"action": "revoke_keys", "_selected_action": [str(key.pk)]}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    with pytest.raises(apikeys.ApiKeyRejected):
        apikeys.api_key_verify(raw)
    event = AuditEvent.objects.get(action="apikey.revoked")
    assert event.actor_id == str(admin_user.pk) and event.metadata["reason"] == "admin_revoked"


def test_admin_revokes_sessions_through_the_service(admin_user, api_session):
    response = _admin_client(admin_user).post(
        SESSIONS, {"action": "revoke_sessions", "_selected_action": [str(api_session.pk)]}
    )
    assert response.status_code == 302
    assert not sessions.api_session_is_live(str(api_session.pk))
    assert ApiSession.objects.get(pk=api_session.pk).revoke_reason == "admin_revoked"


def test_manager_may_look_but_not_revoke(manager, key_and_raw):
    key, _ = key_and_raw
    client = _admin_client(manager)
    assert client.get(KEYS).status_code == 200
    client.post(KEYS, {"action": "revoke_keys", "_selected_action": [str(key.pk)]})
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_member_has_no_admin(member, key_and_raw):
    assert _admin_client(member).get(KEYS).status_code == 302
