"""A German user reads German: every account page, the emails Roster sends, and the API's
error texts (whose codes stay English)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation

from tests.factories import UserFactory
from tests.i18n.catalogue import catalogue, english_only
from tests.i18n.template_text import PROGRAM_TEXT, READ_ATTRIBUTES

pytestmark = pytest.mark.django_db

ACCOUNT_PAGES = [
    "account-overview",
    "account-profile",
    "account-settings",
    "account_email",
    "account_change_password",
    "mfa_index",
    "socialaccount_connections",
    "account-sessions",
    "usersessions_list",
    "account-api-keys",
    "account-security-log",
    "account-data",
    "slots-list",
    "usage-overview",
    "org-list",
]


class _Texts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._program = 0

    def handle_starttag(self, tag, attrs):
        self._program += tag in PROGRAM_TEXT
        self.texts += [v for k, v in attrs if k in READ_ATTRIBUTES and v]

    def handle_endtag(self, tag):
        self._program -= tag in PROGRAM_TEXT and self._program > 0

    def handle_data(self, data):
        if not self._program:
            self.texts.append(data)


# Data that happens to spell a msgid: the built-in role named "member".
DATA = {"member"}


def english_left(html: str) -> list[str]:
    """Texts of the page that are one of Roster's msgids in English."""
    parser = _Texts()
    parser.feed(html)
    plain, patterns = english_only("de")
    left = []
    for text in parser.texts:
        text = " ".join(text.split())
        if text in DATA:
            continue
        if text in plain or any(p.match(text) for p in patterns):
            left.append(text)
    return left


@pytest.fixture
def german(client):
    user = UserFactory(email="greta@example.com", locale="de")
    client.force_login(user)
    return user


# The Settings page's fields are the settings registry's definitions: their labels (from
# the keys) and choices are admin-editable data, not text of Roster's templates.
REGISTRY_FIELDS = re.compile(r"<fieldset>.*?</fieldset>", re.S)


@pytest.mark.parametrize("name", ACCOUNT_PAGES)
def test_every_account_page_is_german_for_a_german_user(client, german, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    if name == "account-settings":
        html = REGISTRY_FIELDS.sub("", html)
    assert '<html lang="de"' in html
    assert response["Content-Language"] == "de"
    assert english_left(html) == []


def test_the_check_sees_english(client, german):
    """The same page in English is caught (the check is not vacuous)."""
    german.locale = "en"
    german.save(update_fields=["locale"])
    html = client.get(reverse("account-overview")).content.decode()
    assert "Your account" in english_left(html)


def test_the_profile_locale_beats_the_browser_and_anonymous_pages_follow_it(client, german):
    response = client.get(reverse("account-profile"), HTTP_ACCEPT_LANGUAGE="fr")
    assert "Profil speichern" in response.content.decode()
    client.logout()
    page = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="fr-CH,fr;q=0.9")
    assert '<html lang="fr"' in page.content.decode()
    assert page["Vary"] and "Accept-Language" in page["Vary"]


def test_the_catalogues_are_complete():
    german, french = catalogue("de"), catalogue("fr")
    assert german.keys() == french.keys()
    assert all(german.values()) and all(french.values())


def test_a_german_user_gets_the_password_reset_email_in_german(client):
    UserFactory(email="greta@example.com", locale="de")
    response = client.post(
        reverse("account_reset_password"),
        {"email": "greta@example.com"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    (message,) = mail.outbox
    with translation.override("de"):
        subject = translation.gettext("Password Reset Email")
    assert subject != "Password Reset Email"
    assert subject in message.subject
    assert "Passwort" in message.body


def test_an_english_user_gets_it_in_english(client):
    UserFactory(email="ada@example.com", locale="en")
    client.post(
        reverse("account_reset_password"), {"email": "ada@example.com"}, HTTP_ACCEPT_LANGUAGE="de"
    )
    (message,) = mail.outbox
    assert "Password Reset" in message.subject


def test_an_invitation_to_a_german_user_is_german(django_capture_on_commit_callbacks):
    from orgs.services import invitations, organizations
    from tests.orgs.conftest import verified

    owner = verified(UserFactory(email="owner@example.com", locale="en"))
    UserFactory(email="greta@example.com", locale="de")
    org = organizations.org_create(name="Acme", slug="acme", actor=owner)
    with django_capture_on_commit_callbacks(execute=True):
        invitations.invitation_create(organization=org, actor=owner, email="greta@example.com")
    (message,) = mail.outbox
    assert "hat Sie zu Acme eingeladen" in message.subject
    assert message.body.startswith("Hallo,")


def test_api_error_detail_in_german_code_unchanged(anon_client):
    body = anon_client.get("/api/v1/users/me", HTTP_ACCEPT_LANGUAGE="de").json()
    error = body["errors"][0]
    assert error["code"] == "not_authenticated"
    with translation.override("de"):
        expected = translation.gettext("Authentication credentials were not provided.")
    assert error["detail"] == expected != "Authentication credentials were not provided."


def test_api_error_outside_drf_in_german(anon_client):
    body = anon_client.get("/api/v1/no-such-route", HTTP_ACCEPT_LANGUAGE="de").json()
    assert body["errors"][0] == {"code": "not_found", "detail": "Nicht gefunden.", "attr": None}


def test_api_validation_detail_in_french_for_a_french_user(client_for, member):
    member.locale = "fr"
    member.save(update_fields=["locale"])
    response = client_for(member).patch(
        "/api/v1/users/me", {"timezone": 5}, format="json", HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"]  # English code
