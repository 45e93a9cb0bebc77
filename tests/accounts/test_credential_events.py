"""Credential events end what they must, through every door (accounts.credentials).

- Proving control of the email on an account that had none verified (reset by the emailed
  link, confirmation of the address) ends every session, API key and social link made before.
- A verified owner's new password (page change, page reset, API change) ends every other
  session and the API keys the owner chose: by default those created in the last 24 hours.
- An MFA change on the pages ends the other sessions; an admin's MFA reset ends them all.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.apikeys import api_key_create
from accounts.models import ApiKey, User
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import bearer, error_code, login
from tests.factories import DEFAULT_PASSWORD
from tests.mfa import TOTP, recovery_codes, recovery_codes_activate, totp_activate

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"
SLOTS = "/api/v1/slots"
PASSWORD_API = "/api/v1/users/me/password"
NEW_PASSWORD = "quiet-lantern-73-rivers"
VICTIM = "victim@example.com"


# --- helpers -------------------------------------------------------------------------------


def _signed_in_browser(email: str, password: str = DEFAULT_PASSWORD) -> Client:
    browser = Client()
    response = browser.post("/accounts/login/", {"login": email, "password": password})
    assert response.status_code == 302, response.content[:500]
    return browser


def _key_client(user, *, scopes=("profile:read", "slots:read")) -> tuple[ApiKey, APIClient]:
    key, raw = api_key_create(user=user, name="script", scopes=list(scopes), actor=user)
    return key, bearer(raw)


def _aged_key_client(user, age: timedelta) -> tuple[ApiKey, APIClient]:
    with time_machine.travel(timezone.now() - age, tick=False):
        return _key_client(user)


def _verified_user(user_factory, email: str = "owner@example.com") -> User:
    user = user_factory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def _reset_link(email: str) -> str:
    Client().post("/accounts/password/reset/", {"email": email})
    found = re.search(r"https?://[^/]+(/accounts/password/reset/key/\S+/)", mail.outbox[-1].body)
    return found.group(1)


def _reset_by_link(email: str, new_password: str = NEW_PASSWORD, **extra):
    """The owner asks for a reset, follows the emailed link, sets a new password."""
    browser = Client()
    response = browser.get(_reset_link(email), follow=True)
    set_url = response.redirect_chain[-1][0]
    return browser.post(set_url, {"password1": new_password, "password2": new_password, **extra})


def _reasons(action: str, user) -> list[str]:
    events = AuditEvent.objects.filter(action=action)
    return [
        e.metadata.get("reason")
        for e in events
        if str(user.pk) in (e.target_id, e.metadata.get("user_id"), e.metadata.get("owner_id"))
    ]


def _attacker_holds_the_account():
    """Someone registers an address they do not own (verification is optional), signs in on
    the page and the API, mints an API key and links a social identity."""
    attacker_browser = Client()
    response = attacker_browser.post(
        "/accounts/signup/",
        {"email": VICTIM, "password1": DEFAULT_PASSWORD, "password2": DEFAULT_PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(email=VICTIM)
    assert not EmailAddress.objects.filter(user=user, verified=True).exists()
    jwt = bearer(login(user)["access"])
    created = jwt.post(
        "/api/v1/users/me/api-keys",
        {"name": "mine now", "scopes": ["profile:read", "slots:read"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    key = bearer(created.json()["key"])
    SocialAccount.objects.create(user=user, provider="github", uid="31337")
    for client in (attacker_browser, jwt, key):
        assert client.get(ME).status_code == 200
    assert key.get(SLOTS).status_code == 200
    return user, attacker_browser, jwt, key


def _assert_everything_of_the_attacker_ended(user, attacker_browser, jwt, key, reason: str):
    refused = key.get(ME)
    assert refused.status_code == 401 and error_code(refused) == "api_key_revoked"
    assert key.get(SLOTS).status_code == 401
    refused = jwt.get(ME)
    assert refused.status_code == 401 and error_code(refused) == "token_revoked"
    assert attacker_browser.get(ME).status_code == 401
    assert not SocialAccount.objects.filter(user=user).exists()
    assert not ApiKey.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert _reasons("apikey.revoked", user) == [reason]
    assert _reasons("auth.social.disconnected", user) == [reason]
    (social_event,) = AuditEvent.objects.filter(action="auth.social.disconnected")
    assert social_event.metadata["provider"] == "github"
    assert social_event.metadata["door"] == "page"
    assert sorted(_reasons("session.revoked", user)) == [reason, reason]  # web + API


# --- item 1: proof of the email ------------------------------------------------------------


def test_password_reset_by_link_on_unverified_account_ends_what_came_before(client):
    user, attacker_browser, jwt, key = _attacker_holds_the_account()

    response = _reset_by_link(VICTIM)

    assert response.status_code == 302
    _assert_everything_of_the_attacker_ended(
        user, attacker_browser, jwt, key, reason="password_reset"
    )
    # The link proved the address: it is verified now, and the owner signs in.
    assert EmailAddress.objects.get(user=user).verified is True
    assert AuditEvent.objects.filter(action="auth.email.confirmed").exists()
    owner = _signed_in_browser(VICTIM, NEW_PASSWORD)
    assert owner.get(ME).json()["email_verified"] is True


def test_reset_on_unverified_account_ends_everything_whatever_the_key_choice(client):
    user, attacker_browser, jwt, key = _attacker_holds_the_account()

    _reset_by_link(VICTIM, revoke_api_keys="none")

    _assert_everything_of_the_attacker_ended(
        user, attacker_browser, jwt, key, reason="password_reset"
    )


def test_reset_by_link_of_a_user_without_address_rows_verifies_the_address(user_factory):
    """Users created by an admin or an import have no address row until the reset proves it."""
    user = user_factory(email="imported@example.com")
    _, key = _key_client(user)
    assert not EmailAddress.objects.filter(user=user).exists()

    assert _reset_by_link(user.email).status_code == 302

    assert EmailAddress.objects.get(user=user, email=user.email, primary=True).verified is True
    assert error_code(key.get(ME)) == "api_key_revoked"
    assert _reasons("apikey.revoked", user) == ["password_reset"]


def test_email_confirmation_of_unverified_account_ends_what_came_before():
    user, attacker_browser, jwt, key = _attacker_holds_the_account()
    link = re.search(r"https?://[^/]+(/accounts/confirm-email/\S+/)", mail.outbox[0].body)

    owner = Client()
    response = owner.post(link.group(1))

    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified is True
    _assert_everything_of_the_attacker_ended(
        user, attacker_browser, jwt, key, reason="email_confirmed"
    )


def test_email_confirmation_on_a_verified_account_keeps_its_credentials(user_factory):
    """Guard on the rule's scope: a verified owner changing address loses nothing."""
    owner = _verified_user(user_factory)
    browser = _signed_in_browser(owner.email)
    jwt = bearer(login(owner)["access"])
    _, key = _key_client(owner)
    SocialAccount.objects.create(user=owner, provider="github", uid="42")
    added = browser.post("/accounts/email/", {"email": "new@example.com", "action_add": ""})
    assert added.status_code == 302
    link = re.search(r"https?://[^/]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)

    assert Client().post(link.group(1)).status_code == 302

    owner.refresh_from_db()
    assert owner.email == "new@example.com"
    for client in (browser, jwt, key):
        assert client.get(ME).status_code == 200
    assert SocialAccount.objects.filter(user=owner).exists()


# --- item 1: a verified owner's new password ----------------------------------------------


@pytest.fixture
def owner(user_factory):
    return _verified_user(user_factory)


@pytest.fixture
def owner_keys(owner):
    """A key made 23 hours before the change (recent) and one made 25 hours before (old)."""
    _, recent = _aged_key_client(owner, timedelta(hours=23))
    _, old = _aged_key_client(owner, timedelta(hours=25))
    return recent, old


def _change_on_page(browser: Client, **extra):
    return browser.post(
        "/accounts/password/change/",
        {
            "oldpassword": DEFAULT_PASSWORD,
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            **extra,
        },
    )


def test_page_password_change_revokes_recent_api_keys_by_default(owner, owner_keys):
    recent, old = owner_keys
    jwt = bearer(login(owner)["access"])
    other_browser = _signed_in_browser(owner.email)
    browser = _signed_in_browser(owner.email)
    SocialAccount.objects.create(user=owner, provider="github", uid="42")

    assert _change_on_page(browser).status_code == 302

    assert error_code(recent.get(ME)) == "api_key_revoked"
    assert old.get(ME).status_code == 200
    assert jwt.get(ME).status_code == 401
    assert other_browser.get(ME).status_code == 401
    assert browser.get(ME).status_code == 200
    assert SocialAccount.objects.filter(user=owner).exists()
    assert _reasons("apikey.revoked", owner) == ["password_changed"]


@pytest.mark.parametrize(("choice", "recent_works", "old_works"), [("all", 0, 0), ("none", 1, 1)])
def test_page_password_change_honours_the_api_key_choice(
    owner, owner_keys, choice, recent_works, old_works
):
    recent, old = owner_keys
    browser = _signed_in_browser(owner.email)

    assert _change_on_page(browser, revoke_api_keys=choice).status_code == 302

    assert (recent.get(ME).status_code == 200) == bool(recent_works)
    assert (old.get(ME).status_code == 200) == bool(old_works)


def test_password_change_page_says_what_happens_to_api_keys(owner):
    page = _signed_in_browser(owner.email).get("/accounts/password/change/").content.decode()

    assert "API keys created in the last 24 hours are revoked and older keys keep" in page
    assert 'value="recent"' in page and 'value="all"' in page and 'value="none"' in page


def test_password_reset_page_says_what_happens_to_api_keys(owner):
    browser = Client()
    page = browser.get(_reset_link(owner.email), follow=True).content.decode()

    assert "API keys created in the last 24 hours are revoked and older keys keep" in page
    assert "If your email address was not verified yet" in page


def test_page_password_reset_by_verified_owner_revokes_recent_keys_keeps_older(owner, owner_keys):
    recent, old = owner_keys
    jwt = bearer(login(owner)["access"])
    browser = _signed_in_browser(owner.email)
    SocialAccount.objects.create(user=owner, provider="github", uid="42")

    assert _reset_by_link(owner.email).status_code == 302

    assert error_code(recent.get(ME)) == "api_key_revoked"
    assert old.get(ME).status_code == 200
    assert jwt.get(ME).status_code == 401
    assert browser.get(ME).status_code == 401
    assert SocialAccount.objects.filter(user=owner).exists()
    assert _reasons("apikey.revoked", owner) == ["password_reset"]


def test_page_password_reset_by_verified_owner_can_revoke_every_key(owner, owner_keys):
    recent, old = owner_keys

    assert _reset_by_link(owner.email, revoke_api_keys="all").status_code == 302

    assert recent.get(ME).status_code == 401
    assert old.get(ME).status_code == 401


def _change_on_api(client, **extra):
    return client.post(
        PASSWORD_API,
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD, **extra},
        format="json",
    )


def test_api_password_change_revokes_recent_api_keys_by_default(owner, owner_keys):
    recent, old = owner_keys
    other_jwt = bearer(login(owner)["access"])
    browser = _signed_in_browser(owner.email)
    jwt = bearer(login(owner)["access"])

    assert _change_on_api(jwt).status_code == 204

    assert error_code(recent.get(ME)) == "api_key_revoked"
    assert old.get(ME).status_code == 200
    assert other_jwt.get(ME).status_code == 401
    assert browser.get(ME).status_code == 401
    assert jwt.get(ME).status_code == 200
    assert _reasons("apikey.revoked", owner) == ["password_changed"]


@pytest.mark.parametrize(("choice", "recent_works", "old_works"), [("all", 0, 0), ("none", 1, 1)])
def test_api_password_change_honours_the_api_key_choice(
    owner, owner_keys, choice, recent_works, old_works
):
    recent, old = owner_keys
    jwt = bearer(login(owner)["access"])

    assert _change_on_api(jwt, revoke_api_keys=choice).status_code == 204

    assert (recent.get(ME).status_code == 200) == bool(recent_works)
    assert (old.get(ME).status_code == 200) == bool(old_works)


def test_api_password_change_refuses_an_unknown_api_key_choice(owner, owner_keys):
    recent, _ = owner_keys
    jwt = bearer(login(owner)["access"])

    response = _change_on_api(jwt, revoke_api_keys="some")

    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "invalid_choice",
        "detail": response.json()["errors"][0]["detail"],
        "attr": "revoke_api_keys",
    }
    owner.refresh_from_db()
    assert owner.check_password(DEFAULT_PASSWORD)
    assert recent.get(ME).status_code == 200


# --- item 3: MFA changes --------------------------------------------------------------------


@pytest.fixture
def signed_in(owner):
    """The owner's other browser, other API session, and the browser making the change
    (reauthenticated just now, as allauth asks before an MFA change)."""
    other_browser = _signed_in_browser(owner.email)
    jwt = bearer(login(owner)["access"])
    browser = _signed_in_browser(owner.email)
    assert (
        browser.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD}).status_code == 302
    )
    return other_browser, jwt, browser


def _assert_only_the_current_session_survives(owner, signed_in, reason: str) -> None:
    other_browser, jwt, browser = signed_in
    refused = jwt.get(ME)
    assert refused.status_code == 401 and error_code(refused) == "token_revoked"
    assert other_browser.get(ME).status_code == 401
    assert browser.get(ME).status_code == 200
    assert sorted(_reasons("session.revoked", owner)) == [reason, reason]


def test_totp_activation_on_the_page_ends_other_sessions(
    owner, signed_in, django_capture_on_commit_callbacks
):
    browser = signed_in[2]
    browser.get(reverse("mfa_activate_totp"))
    secret = browser.session["mfa.totp.secret"]

    # allauth sends its MFA signals once the change commits.
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(reverse("mfa_activate_totp"), {"code": TOTP(secret).now()})

    assert response.status_code == 302
    assert Authenticator.objects.filter(user=owner, type=Authenticator.Type.TOTP).exists()
    _assert_only_the_current_session_survives(owner, signed_in, "mfa_changed")


def test_totp_deactivation_on_the_page_ends_other_sessions(owner, signed_in):
    totp_activate(owner)
    browser = signed_in[2]

    response = browser.post(reverse("mfa_deactivate_totp"))

    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=owner, type=Authenticator.Type.TOTP).exists()
    _assert_only_the_current_session_survives(owner, signed_in, "mfa_changed")


def test_recovery_code_regeneration_on_the_page_ends_other_sessions(
    owner, signed_in, django_capture_on_commit_callbacks
):
    totp_activate(owner)
    old_codes = recovery_codes_activate(owner)
    browser = signed_in[2]

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(reverse("mfa_generate_recovery_codes"))

    assert response.status_code == 302
    assert recovery_codes(owner) != old_codes
    _assert_only_the_current_session_survives(owner, signed_in, "mfa_changed")


def test_admin_mfa_reset_ends_every_session_of_the_user(owner, signed_in, admin_user):
    totp_activate(owner)
    admin = _signed_in_browser(admin_user.email)

    response = admin.post(
        "/admin/accounts/user/",
        {"action": "reset_mfa", ACTION_CHECKBOX_NAME: [str(owner.pk)], "confirm": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    assert not Authenticator.objects.filter(user=owner).exists()
    other_browser, jwt, browser = signed_in
    assert error_code(jwt.get(ME)) == "token_revoked"
    assert other_browser.get(ME).status_code == 401
    assert browser.get(ME).status_code == 401
    assert sorted(_reasons("session.revoked", owner)) == ["mfa_reset_by_admin"] * 3
    # The admin's own session is not the user's: it stays.
    assert admin.get(ME).status_code == 200
