"""An API session has an absolute lifetime: refreshing keeps it alive only until then."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import ApiSession
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import STATUS_URL, bearer, error_code, login

pytestmark = pytest.mark.django_db

REFRESH_URL = "/api/v1/auth/token/refresh"


def _refresh(client, refresh: str):
    return client.post(REFRESH_URL, {"refresh": refresh}, format="json")


def test_refresh_is_refused_after_the_absolute_lifetime_however_active(
    member, anon_client, settings
):
    settings.API_SESSION_MAX_LIFETIME = timedelta(days=30)
    start = timezone.now()
    pair = login(member)
    # Refreshed every 5 days: never idle long enough for the refresh token to expire.
    for day in range(5, 30, 5):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            response = _refresh(anon_client, pair["refresh"])
            assert response.status_code == 200, (day, response.json())
            pair = response.json()

    with time_machine.travel(start + timedelta(days=30, seconds=1), tick=False):
        response = _refresh(anon_client, pair["refresh"])
        assert response.status_code == 401
        assert error_code(response) == "session_expired"
        # The session is ended: its access tokens stop too, and a retry says the same.
        assert bearer(pair["access"]).get(STATUS_URL).status_code == 401
        again = _refresh(anon_client, pair["refresh"])
        assert again.status_code == 401 and error_code(again) == "session_expired"

    session = ApiSession.objects.get(pk=pair["session_id"])
    assert session.revoked_at is not None and session.revoke_reason == "session_expired"
    assert AuditEvent.objects.filter(
        action="session.revoked", metadata__reason="session_expired"
    ).exists()


def test_session_expiry_never_passes_the_deadline(member, anon_client, settings):
    settings.API_SESSION_MAX_LIFETIME = timedelta(days=2)
    start = timezone.now()
    pair = login(member)
    session = ApiSession.objects.get(pk=pair["session_id"])
    assert session.expires_at <= session.created_at + timedelta(days=2)
    with time_machine.travel(start + timedelta(days=1), tick=False):
        pair = _refresh(anon_client, pair["refresh"]).json()
    session.refresh_from_db()
    assert session.expires_at == session.created_at + timedelta(days=2)


def test_an_expired_refresh_token_within_the_lifetime_is_still_token_expired(
    member, anon_client, settings
):
    settings.API_SESSION_MAX_LIFETIME = timedelta(days=90)
    start = timezone.now()
    pair = login(member)
    with time_machine.travel(start + timedelta(days=31), tick=False):
        response = _refresh(anon_client, pair["refresh"])
    assert response.status_code == 401 and error_code(response) == "token_expired"


def test_reuse_detection_still_revokes_within_the_lifetime(member, anon_client):
    pair = login(member)
    assert _refresh(anon_client, pair["refresh"]).status_code == 200
    response = _refresh(anon_client, pair["refresh"])
    assert response.status_code == 401 and error_code(response) == "token_reused"
    assert ApiSession.objects.get(pk=pair["session_id"]).revoke_reason == "refresh_reused"
