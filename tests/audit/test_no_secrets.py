"""A whole journey through every door, then: no secret anywhere in the audit log.

Register, token login, refresh (and a reused refresh token), password change, API key
(created, used, revoked), page login, TOTP + recovery codes, MFA token login with a
recovery code, slot credentials of every kind, an admin edit of the user, a password reset
by email, logout. Secrets are collected as they appear and searched for in every column of
every event (long ones as substrings, short codes as whole values).
"""

import json
import re

import pytest
from allauth.mfa.models import Authenticator
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from audit.models import AuditEvent
from audit.selectors import chain_verify
from audit.services import events_seal
from slots import services as slot_services
from slots.models import SlotCredential
from tests.mfa import TOTP

EMAIL = "journey@example.com"
P1 = "first-Secret-passphrase-1"
P2 = "second-Secret-passphrase-2"
P3 = "third-Secret-passphrase-3"


def _code(secret):
    return TOTP(secret).now()


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif value is not None:
        yield str(value)


@pytest.mark.django_db
def test_no_secret_in_the_audit_log_after_a_full_journey(
    admin_user, django_capture_on_commit_callbacks
):
    secrets: list[str] = [P1, P2, P3]
    short_codes: list[str] = []
    api = APIClient(HTTP_USER_AGENT="journey-api")

    # Register and sign in through the API.
    assert api.post("/api/v1/auth/register", {"email": EMAIL, "password": P1}).status_code == 201
    confirm = re.search(r"https?://[^/]+(/accounts/confirm-email/(\S+)/)", mail.outbox[-1].body)
    secrets.append(confirm.group(2))
    assert Client().post(confirm.group(1)).status_code == 302
    tokens = api.post("/api/v1/auth/token", {"email": EMAIL, "password": P1}).json()
    secrets += [tokens["access"], tokens["refresh"]]
    rotated = api.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}).json()
    secrets += [rotated["access"], rotated["refresh"]]
    reused = api.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]})
    assert reused.status_code == 401
    tokens = api.post("/api/v1/auth/token", {"email": EMAIL, "password": P1}).json()
    secrets += [tokens["access"], tokens["refresh"]]
    bearer = APIClient(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    changed = bearer.post("/api/v1/users/me/password", {"current_password": P1, "new_password": P2})
    assert changed.status_code == 204, changed.content

    tokens = api.post("/api/v1/auth/token", {"email": EMAIL, "password": P2}).json()
    secrets += [tokens["access"], tokens["refresh"]]
    bearer = APIClient(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    created = bearer.post(
        "/api/v1/users/me/api-keys", {"name": "journey key", "scopes": ["profile:read"]}
    )
    assert created.status_code == 201, created.content
    raw_key = created.json()["key"]
    secrets += [raw_key, ApiKey.objects.get(pk=created.json()["id"]).digest]
    assert APIClient(HTTP_X_API_KEY=raw_key).get("/api/v1/users/me").status_code == 200

    user = User.objects.get(email=EMAIL)

    # Pages: sign in, turn on TOTP (recovery codes come with it).
    web = Client(HTTP_USER_AGENT="journey-browser")
    assert web.post("/accounts/login/", {"login": EMAIL, "password": P2}).status_code == 302
    secrets.append(web.cookies["sessionid"].value)
    response = web.get("/accounts/2fa/totp/activate/")
    if response.status_code == 302 and "reauthenticate" in response["Location"]:
        web.post(response["Location"], {"password": P2})
        response = web.get("/accounts/2fa/totp/activate/")
    totp_secret = response.context["form"].secret
    secrets.append(totp_secret)
    code = _code(totp_secret)
    short_codes.append(code)
    with django_capture_on_commit_callbacks(execute=True):
        assert web.post("/accounts/2fa/totp/activate/", {"code": code}).status_code == 302
    codes = (
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
        .wrap()
        .get_unused_codes()
    )
    short_codes += codes
    assert web.post("/accounts/logout/").status_code == 302

    # The API door with MFA: an mfa_token, then a recovery code.
    challenge = api.post("/api/v1/auth/token", {"email": EMAIL, "password": P2}).json()
    assert challenge.get("mfa_required") is True, challenge
    secrets.append(challenge["mfa_token"])
    mfa = api.post(
        "/api/v1/auth/token/mfa", {"mfa_token": challenge["mfa_token"], "code": codes[0]}
    )
    assert mfa.status_code == 200, mfa.content
    secrets += [mfa.json()["access"], mfa.json()["refresh"]]

    # Slot credentials of every kind.
    slot = slot_services.slot_create(owner=user, type="workspace", name="journey", actor=user)
    for credentials in (
        {"kind": "api_key", "api_key": "sk-live-journey-0123456789abcdef"},
        {"kind": "basic", "username": "svc-user", "password": "slot-basic-password-42"},
        {
            "kind": "oauth",
            "client_id": "journey-client",
            "client_secret": "oauth-client-secret-xyz-987",
            "access_token": "oauth-access-token-abc-123",
            "refresh_token": "oauth-refresh-token-def-456",
        },
    ):
        slot_services.slot_credentials_set(slot=slot, credentials=credentials, actor=user)
        secrets += [v for k, v in credentials.items() if k not in ("kind", "username", "client_id")]
        secrets.append(SlotCredential.objects.get(slot=slot).ciphertext)

    # An admin edits the user in the Django admin (the form carries the password hash).
    secrets.append(User.objects.get(pk=user.pk).password)
    admin = Client()
    admin.force_login(admin_user)
    response = admin.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "email": EMAIL,
            "username": "journey",
            "display_name": "Journey Person",
            "timezone": "UTC",
            "locale": "en",
            "status": "active",
            "groups": [str(g.pk) for g in user.groups.all()],
        },
    )
    assert response.status_code == 302, response.content[:300]
    # ... and registers a social login app with its client secret.
    response = admin.post(
        "/admin/socialaccount/socialapp/add/",
        {
            "provider": "github",
            "name": "GitHub",
            "client_id": "gh-journey-client",
            "secret": "gh-journey-client-secret-0042",
            "key": "",
            "settings": "{}",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    secrets.append("gh-journey-client-secret-0042")

    # Password reset by email, finished on the page.
    assert api.post("/api/v1/auth/password/reset", {"email": EMAIL}).status_code == 202
    link = re.search(r"https?://[^/]+(/accounts/password/reset/key/(\S+)/)", mail.outbox[-1].body)
    secrets.append(link.group(2))
    reset = Client()
    response = reset.get(link.group(1), follow=True)
    set_url = response.redirect_chain[-1][0]
    assert reset.post(set_url, {"password1": P3, "password2": P3}).status_code == 302

    # Revoke the key.
    assert bearer.delete(f"/api/v1/users/me/api-keys/{created.json()['id']}").status_code in (
        204,
        401,  # the password reset may have ended the API sessions already
    )

    events = list(AuditEvent.objects.values())
    actions = {e["action"] for e in events}
    for expected in (
        "user.created",
        "auth.email.confirmed",
        "auth.login.succeeded",
        "auth.token.refreshed",
        "auth.token.reused",
        "auth.password.changed",
        "apikey.created",
        "auth.mfa.enabled",
        "auth.mfa.recovery_code.used",
        "slot.created",
        "slot.credentials.changed",
        "admin.accounts.user.updated",
        "admin.socialaccount.socialapp.created",
        "auth.password.reset_requested",
        "auth.password.reset",
        "auth.logout",
    ):
        assert expected in actions, (expected, sorted(actions))

    dumped = json.dumps(events, default=str)
    leaked = [s for s in secrets if s and s in dumped]
    assert leaked == []
    values = {s for e in events for s in _strings(e)}
    assert [c for c in short_codes if c in values] == []

    events_seal()
    assert chain_verify().ok
