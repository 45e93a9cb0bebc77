"""The page door: allauth and Django auth signals become audit events."""

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core import mail
from django.test import Client

from audit.models import AuditEvent
from audit.personal import reveal
from tests.accounts.test_auth_helpers import reset_password_by_email
from tests.mfa import TOTP

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "quiet-lantern-73-rivers"


@pytest.fixture
def web():
    return Client(HTTP_USER_AGENT="Mozilla/5.0 (audit test)", REMOTE_ADDR="203.0.113.9")


@pytest.fixture
def verified(user_factory):
    user = user_factory(email="pages@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _one(action, **filters):
    events = list(AuditEvent.objects.filter(action=action, **filters))
    assert len(events) == 1, [e.action for e in AuditEvent.objects.all()]
    return events[0]


def _sign_in(web, email, password, request_id="req-login"):
    return web.post(
        "/accounts/login/",
        {"login": email, "password": password},
        HTTP_X_REQUEST_ID=request_id,
    )


@pytest.mark.django_db
def test_page_login_succeeded_carries_actor_ip_agent_and_request_id(web, verified):
    response = _sign_in(web, verified.email, PASSWORD)
    assert response.status_code == 302
    event = _one("auth.login.succeeded")
    assert (event.actor_type, event.actor_id) == ("user", str(verified.pk))
    assert (event.target_type, event.target_id) == ("user", str(verified.pk))
    assert event.ip == "203.0.113.9" and event.user_agent == "Mozilla/5.0 (audit test)"
    assert event.request_id == "req-login"
    assert event.metadata["door"] == "page"


@pytest.mark.django_db
def test_page_login_failed_is_recorded_against_the_account_without_the_password(web, verified):
    response = _sign_in(web, verified.email, "wrong-password-123", request_id="req-bad")
    assert response.status_code == 200
    event = _one("auth.login.failed")
    assert event.actor_type == "anonymous" and event.target_id == str(verified.pk)
    assert event.request_id == "req-bad" and event.ip == "203.0.113.9"
    assert "wrong-password-123" not in str(event.metadata) + str(event.changes)


@pytest.mark.django_db
def test_page_login_failed_for_unknown_email_has_no_target(web, db):
    _sign_in(web, "nobody@example.com", "wrong-password-123")
    event = _one("auth.login.failed")
    assert event.target_id == ""


@pytest.mark.django_db
def test_page_logout(web, verified):
    _sign_in(web, verified.email, PASSWORD)
    web.post("/accounts/logout/")
    event = _one("auth.logout")
    assert event.actor_id == str(verified.pk) and event.metadata["door"] == "page"


@pytest.mark.django_db
def test_force_login_is_not_a_sign_in(client_for, member):
    client_for(member)
    assert not AuditEvent.objects.filter(action="auth.login.succeeded").exists()


@pytest.mark.django_db
def test_page_password_change(web, verified):
    _sign_in(web, verified.email, PASSWORD)
    response = web.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    event = _one("auth.password.changed")
    assert event.actor_id == str(verified.pk) and event.metadata["kind"] == "changed"
    dumped = str(event.metadata) + str(event.changes)
    assert PASSWORD not in dumped and NEW_PASSWORD not in dumped


@pytest.mark.django_db
def test_page_password_reset(web, verified):
    response = reset_password_by_email(web, verified.email, NEW_PASSWORD)
    assert response.status_code == 302
    event = _one("auth.password.reset")
    assert event.target_id == str(verified.pk)
    assert NEW_PASSWORD not in str(event.metadata)


@pytest.mark.django_db
def test_page_email_added_and_confirmed(web, verified, django_capture_on_commit_callbacks):
    _sign_in(web, verified.email, PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post("/accounts/email/", {"email": "second@example.com", "action_add": ""})
    assert response.status_code == 302
    added = _one("auth.email.added")
    assert "second@example.com" not in str(added.metadata)  # stored encrypted
    assert reveal(added).metadata["email"] == "second@example.com"
    assert added.actor_id == str(verified.pk)
    link = re.search(r"https?://[^/]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)
    web.post(link.group(1))
    confirmed = _one("auth.email.confirmed")
    assert reveal(confirmed).metadata["email"] == "second@example.com"
    assert confirmed.target_id == str(verified.pk)


def _code(secret):
    return TOTP(secret).now()


@pytest.mark.django_db
def test_page_mfa_enable_recovery_code_use_and_disable(
    web, verified, django_capture_on_commit_callbacks
):
    _sign_in(web, verified.email, PASSWORD)
    response = web.get("/accounts/2fa/totp/activate/")
    if response.status_code == 302 and "reauthenticate" in response["Location"]:
        web.post(response["Location"], {"password": PASSWORD})
        response = web.get("/accounts/2fa/totp/activate/")
    secret = response.context["form"].secret
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post("/accounts/2fa/totp/activate/", {"code": _code(secret)})
    assert response.status_code == 302
    enabled = AuditEvent.objects.filter(action="auth.mfa.enabled", actor_id=str(verified.pk))
    assert {e.metadata["authenticator"] for e in enabled} == {"totp", "recovery_codes"}

    codes = (
        Authenticator.objects.get(user=verified, type=Authenticator.Type.RECOVERY_CODES)
        .wrap()
        .get_unused_codes()
    )
    web.post("/accounts/logout/")
    _sign_in(web, verified.email, PASSWORD)
    response = web.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert response.status_code == 302
    used = _one("auth.mfa.recovery_code.used")
    assert used.actor_id == str(verified.pk) and used.ip == "203.0.113.9"
    assert codes[0] not in str(used.metadata)
    assert AuditEvent.objects.filter(action="auth.login.succeeded").count() == 2

    totp = Authenticator.objects.get(user=verified, type=Authenticator.Type.TOTP)
    response = web.get("/accounts/2fa/totp/deactivate/")
    if response.status_code == 302 and "reauthenticate" in response["Location"]:
        web.post(response["Location"], {"password": PASSWORD})
    web.post("/accounts/2fa/totp/deactivate/")
    disabled = AuditEvent.objects.filter(action="auth.mfa.disabled", actor_id=str(verified.pk))
    assert "totp" in {e.metadata["authenticator"] for e in disabled}
    assert not Authenticator.objects.filter(pk=totp.pk).exists()


@pytest.mark.django_db
def test_page_signup_records_user_created_once(web, db):
    response = web.post(
        "/accounts/signup/",
        {"email": "fresh@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    event = _one("user.created")
    assert event.actor_display != "fresh@example.com"  # stored encrypted
    assert reveal(event).actor_display == "fresh@example.com"
    assert NEW_PASSWORD not in str(event.metadata)


@pytest.mark.django_db
def test_api_door_sign_in_is_recorded_once(anon_client, verified):
    response = anon_client.post(
        "/api/v1/auth/token",
        {"email": verified.email, "password": PASSWORD},
        HTTP_X_REQUEST_ID="req-api-login",
    )
    assert response.status_code == 200, response.content
    event = _one("auth.login.succeeded")
    assert event.request_id == "req-api-login" and event.actor_id == str(verified.pk)
    response = anon_client.post(
        "/api/v1/auth/token", {"email": verified.email, "password": "wrong-password-123"}
    )
    assert response.status_code == 401
    assert _one("auth.login.failed").target_id == str(verified.pk)
