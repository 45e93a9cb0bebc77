"""The API door: every action docs/api.md lists is recorded with actor, target and request id.

Each call carries its own ``X-Request-ID``; the event the action produced must carry it,
name the right actor and target. (The page door is tested in test_receivers.py, the admin
door in test_admin.py.)
"""

import itertools
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey
from audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD

_ids = itertools.count()


class Door:
    """An API client that stamps a fresh request id on every call and remembers it."""

    def __init__(self, **headers):
        self.client = APIClient(HTTP_USER_AGENT="coverage-agent", **headers)
        self.last = ""

    def __getattr__(self, method):
        def call(path, data=None, **extra):
            self.last = f"cov-{next(_ids)}"
            return getattr(self.client, method)(
                path, data, format="json", HTTP_X_REQUEST_ID=self.last, **extra
            )

        return call


def _event(action, request_id, *, actor=None, target=None, actor_type="user"):
    events = list(AuditEvent.objects.filter(action=action, request_id=request_id))
    assert events, (
        action,
        request_id,
        list(AuditEvent.objects.filter(request_id=request_id).values_list("action", flat=True)),
    )
    event = events[0]
    assert event.actor_type == actor_type, (action, event.actor_type)
    if actor is not None:
        assert event.actor_id == str(actor.pk), (action, event.actor_id)
    if target is not None:
        kind, ident = target
        assert (event.target_type, event.target_id) == (kind, str(ident)), (
            action,
            event.target_type,
            event.target_id,
        )
    assert event.user_agent == "coverage-agent"
    return event


def _login(door, email, password=DEFAULT_PASSWORD):
    response = door.post("/api/v1/auth/token", {"email": email, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_api_door_sign_in_actions(member):
    anon = Door()
    tokens = _login(anon, member.email)
    _event("auth.login.succeeded", anon.last, actor=member, target=("user", member.pk))

    assert (
        anon.post(
            "/api/v1/auth/token", {"email": member.email, "password": "nope-123456"}
        ).status_code
        == 401
    )
    _event("auth.login.failed", anon.last, target=("user", member.pk), actor_type="anonymous")

    refreshed = anon.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]})
    assert refreshed.status_code == 200
    _event("auth.token.refreshed", anon.last, actor=member)
    assert (
        anon.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}).status_code == 401
    )
    _event("auth.token.reused", anon.last)

    tokens = _login(anon, member.email)
    jwt = Door(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert jwt.post("/api/v1/auth/logout").status_code == 204
    _event("auth.logout", jwt.last, actor=member)

    assert anon.post("/api/v1/auth/password/reset", {"email": member.email}).status_code == 202
    _event(
        "auth.password.reset_requested",
        anon.last,
        target=("user", member.pk),
        actor_type="anonymous",
    )


@pytest.mark.django_db
def test_api_door_lockout_is_recorded(member, settings):
    anon = Door()
    for _ in range(5):
        anon.post("/api/v1/auth/token", {"email": member.email, "password": "wrong-password-1"})
    response = anon.post(
        "/api/v1/auth/token", {"email": member.email, "password": "wrong-password-1"}
    )
    assert response.status_code == 429
    assert AuditEvent.objects.filter(action="auth.lockout").exists()


@pytest.mark.django_db
def test_api_door_account_actions(member):
    anon = Door()
    jwt = Door(HTTP_AUTHORIZATION=f"Bearer {_login(anon, member.email)['access']}")

    assert jwt.patch("/api/v1/users/me", {"display_name": "Covered"}).status_code == 200
    _event("user.updated", jwt.last, actor=member, target=("user", member.pk))

    created = jwt.post("/api/v1/users/me/api-keys", {"name": "cov", "scopes": ["profile:read"]})
    assert created.status_code == 201
    key = ApiKey.objects.get(pk=created.json()["id"])
    _event("apikey.created", jwt.last, actor=member, target=("apikey", key.pk))
    assert jwt.delete(f"/api/v1/users/me/api-keys/{key.pk}").status_code == 204
    _event("apikey.revoked", jwt.last, actor=member, target=("apikey", key.pk))

    other = _login(anon, member.email)
    assert jwt.delete(f"/api/v1/users/me/sessions/{other['session_id']}").status_code == 204
    _event("session.revoked", jwt.last, actor=member)

    changed = jwt.post(
        "/api/v1/users/me/password",
        {"current_password": DEFAULT_PASSWORD, "new_password": "a-new-long-passphrase-9"},
    )
    assert changed.status_code == 204
    _event("auth.password.changed", jwt.last, actor=member, target=("user", member.pk))

    registered = anon.post(
        "/api/v1/auth/register",
        {"email": "cov-new@example.com", "password": "a-new-long-passphrase-9"},
    )
    assert registered.status_code == 201
    _event("user.created", anon.last, target=("user", registered.json()["id"]))


@pytest.mark.django_db
def test_api_door_admin_user_actions(admin_user, member, other_member):
    admin = Door(HTTP_AUTHORIZATION=f"Bearer {_login(Door(), admin_user.email)['access']}")
    url = f"/api/v1/users/{member.pk}"
    assert admin.patch(url, {"roles": ["manager"]}).status_code == 200
    _event("user.roles.changed", admin.last, actor=admin_user, target=("user", member.pk))
    assert admin.patch(url, {"status": "suspended"}).status_code == 200
    assert AuditEvent.objects.filter(request_id=admin.last, target_id=str(member.pk)).exists()
    assert admin.delete(f"/api/v1/users/{other_member.pk}").status_code == 204
    _event("user.deactivated", admin.last, actor=admin_user, target=("user", other_member.pk))


@pytest.mark.django_db
def test_api_door_slot_actions(member):
    jwt = Door(HTTP_AUTHORIZATION=f"Bearer {_login(Door(), member.email)['access']}")
    created = jwt.post("/api/v1/slots", {"type": "workspace", "name": "cov", "config": {}})
    assert created.status_code == 201, created.content
    slot_id = created.json()["id"]
    _event("slot.created", jwt.last, actor=member, target=("slot", slot_id))
    assert jwt.patch(f"/api/v1/slots/{slot_id}", {"name": "cov-2"}).status_code == 200
    _event("slot.updated", jwt.last, actor=member, target=("slot", slot_id))
    if created.json()["status"] == "active":
        assert jwt.post(f"/api/v1/slots/{slot_id}/suspend").status_code == 200
        _event("slot.status.changed", jwt.last, actor=member, target=("slot", slot_id))
    response = jwt.put(
        f"/api/v1/slots/{slot_id}/credentials",
        {"kind": "basic", "username": "u", "password": "slot-password-123"},
    )
    assert response.status_code == 204, response.content
    _event("slot.credentials.changed", jwt.last, actor=member, target=("slot", slot_id))
    assert jwt.delete(f"/api/v1/slots/{slot_id}").status_code == 204
    _event("slot.released", jwt.last, actor=member, target=("slot", slot_id))


@pytest.mark.django_db
def test_api_door_quota_exceeded(member, django_capture_on_commit_callbacks):
    from usage.models import Meter

    Meter.objects.filter(key="api.requests").update(limit=Decimal(2), limit_window="day")
    jwt = Door(HTTP_AUTHORIZATION=f"Bearer {_login(Door(), member.email)['access']}")
    with django_capture_on_commit_callbacks(execute=True):
        response = jwt.post("/api/v1/usage/events", {"events": [{"meter": "api.requests"}] * 3})
    assert response.status_code == 202, response.content
    # Checked by a Celery task after the commit: Roster itself is the actor.
    event = AuditEvent.objects.get(action="usage.quota.exceeded")
    assert (event.actor_type, event.target_type, event.target_id) == (
        "system",
        "user",
        str(member.pk),
    )
