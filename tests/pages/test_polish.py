"""Plain words on the pages (issue 22): slot config fields by the schema's title, credentials
in words with the date in the person's format."""

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.webauthn.internal.flows import auth as webauthn_flows
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import settings_registry
from accounts.models import SettingDefinition
from accounts.services.settings import settings_update
from accounts.settings_registry import SettingValueError
from slots import services
from slots.models import SlotType
from tests.factories import DEFAULT_PASSWORD
from tests.mfa import recovery_codes_activate, totp_activate

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


def test_slot_config_fields_are_labelled_by_the_schema_title(signed_in):
    SlotType.objects.create(
        key="titled",
        name="Titled",
        config_schema={
            "type": "object",
            "properties": {
                "memory_gb": {"type": "integer", "title": "Memory (GB)"},
                "region": {"type": "string", "enum": ["eu-west"], "title": "Data region"},
                "note": {"type": "string"},
            },
        },
        default_limit=1,
    )
    page = signed_in.get(reverse("slot-create", args=["titled"])).content.decode()
    assert re.search(r'<label for="id_config__memory_gb"[^>]*>\s*Memory \(GB\)', page)
    assert re.search(r'<label for="id_config__region"[^>]*>\s*Data region', page)
    # No title: the property's name in words.
    assert re.search(r'<label for="id_config__note"[^>]*>\s*Note', page)


def test_credentials_read_as_words_with_the_date_in_the_users_format(signed_in, member):
    slot = services.slot_create(owner=member, type="workspace", name="box", config={}, actor=member)
    services.slot_credentials_set(
        slot=slot,
        credentials={"kind": "api_key", "api_key": "key-0123456789abcdef"},
        actor=member,
    )
    set_on = slot.__class__.objects.get(pk=slot.pk).credential.updated_at
    page = signed_in.get(reverse("slot-detail", args=[slot.pk])).content.decode()
    assert f"API key ending in <code>cdef</code>, set {set_on:%Y-%m-%d}</dd>" in page
    assert "api_key" not in page.split('data-testid="slot-credentials">')[1].split("</dd>")[0]

    settings_update(user=member, values={"date_format": "dmy"}, actor=member)
    page = signed_in.get(reverse("slot-detail", args=[slot.pk])).content.decode()
    assert f"API key ending in <code>cdef</code>, set {set_on:%d/%m/%Y}</dd>" in page


def test_emails_greet_with_the_site_name_not_the_host(user_factory, settings, mailoutbox):
    settings.SITE_NAME = "Acme Roster"
    user = user_factory(email="greet@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = Client(HTTP_HOST="127.0.0.1:8000").post(
        "/accounts/password/reset/", {"email": user.email}
    )
    assert response.status_code == 302
    (mail,) = mailoutbox
    assert mail.body.startswith("Hello from Acme Roster!")
    assert "Thank you for using Acme Roster!" in mail.body
    assert "Hello from 127.0.0.1" not in mail.body


@pytest.fixture
def verified(member):
    EmailAddress.objects.create(user=member, email=member.email, verified=True, primary=True)
    return member


def _mfa_step(user) -> str:
    web = Client()
    response = web.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    return web.get("/accounts/2fa/authenticate/").content.decode()


def test_mfa_step_offers_no_security_key_to_a_user_without_one(verified):
    totp_activate(verified)
    recovery_codes_activate(verified)
    page = _mfa_step(verified)
    assert "authenticator app or a recovery code" in page
    assert "Use a security key" not in page
    assert 'id="mfa_webauthn_authenticate"' not in page
    assert "Cancel" in page  # the way out stays


def test_mfa_step_offers_the_security_key_to_a_user_with_one(verified, monkeypatch):
    # A stored key's challenge needs a real device's registration, which a test has not:
    # the page is checked with the challenge left empty.
    monkeypatch.setattr(webauthn_flows, "begin_authentication", lambda user: {})
    recovery_codes_activate(verified)
    Authenticator.objects.create(user=verified, type="webauthn", data={"name": "key"})
    page = _mfa_step(verified)
    assert "Use a security key" in page
    assert "Use your security key, or enter a recovery code" in page
    assert "authenticator app" not in page


def _connections(user) -> str:
    web = Client()
    web.force_login(user)
    response = web.get(reverse("socialaccount_connections"))
    assert response.status_code == 200
    return response.content.decode()


def test_connections_empty_state_says_what_to_do(verified):
    page = _connections(verified)
    assert (
        "No connected accounts. Sign-in providers appear here when your administrator "
        "configures them." in page
    )
    assert "Add a Third-Party Account" not in page

    SocialApp.objects.create(provider="github", name="GitHub", client_id="gh", secret="s")
    page = _connections(verified)
    assert "No connected accounts. Connect one below to sign in with it." in page
    assert "Add a Third-Party Account" in page

    SocialAccount.objects.create(user=verified, provider="github", uid="4242")
    page = _connections(verified)
    account = SocialAccount.objects.get(user=verified)
    assert f'id="id_account_{account.pk}"' in page
    assert "No connected accounts" not in page


def test_time_zone_choices_leave_out_factory_and_localtime(signed_in, member):
    response = signed_in.get(reverse("account-profile"))
    choices = [z for z, _label in response.context["form"].fields["timezone"].widget.choices]
    assert "Europe/Zurich" in choices and "UTC" in choices
    assert "Factory" not in choices and "localtime" not in choices
    page = response.content.decode()
    assert 'value="Factory"' not in page and 'value="localtime"' not in page

    # Not a zone a profile may hold, through the page or the API.
    data = {"timezone": "Factory", "locale": "en", "display_name": "M"}
    response = signed_in.post(reverse("account-profile"), data)
    assert response.status_code == 400
    assert "IANA time zone" in str(response.context["form"].errors["timezone"])
    api = APIClient()
    api.force_authenticate(member)
    response = api.patch("/api/v1/users/me", {"timezone": "localtime"}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["code"] == "invalid_timezone"
    member.refresh_from_db()
    assert member.timezone not in ("Factory", "localtime")


def test_slot_config_pattern_errors_are_words_not_regexes(signed_in):
    response = signed_in.post(
        reverse("slot-create", args=["agent"]),
        {"name": "a", "config__runtime": "node20", "config__labels": '{"Bad Label": "x"}'},
    )
    assert response.status_code == 400
    errors = str(response.context["form"].errors)
    assert "“Bad Label” is not in the expected form." in errors
    assert "^[a-z]" not in errors and "does not match" not in errors


def test_setting_pattern_errors_are_words_not_regexes(member):
    definition = SettingDefinition(
        key="team_code",
        type="string",
        category="general",
        default="ab",
        pattern="[a-z]{2}",
        description="Two lower-case letters, e.g. ab.",
    )
    with pytest.raises(SettingValueError) as refused:
        settings_registry.validate_value(definition, "ABC")
    message = str(refused.value)
    assert "[a-z]" not in message
    assert "not in the form this setting takes. Two lower-case letters, e.g. ab." in message
