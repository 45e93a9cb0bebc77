"""The admin in plain words (issue 22): one "Accounts" section, a user's settings rows labelled
by key, counts in the right grammatical number."""

import re

import pytest
from django.test import Client

from accounts import apikeys
from accounts.models import ApiKey
from accounts.services.settings import settings_update
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def web():
    admin = UserFactory(email="words.admin@example.com", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


def test_one_accounts_section_with_allauth_email_addresses(web):
    page = web.get("/admin/").content.decode()
    sections = re.findall(r'<caption>\s*<a href="([^"]+)"[^>]*>\s*([^<]*?)\s*</a>', page)
    names = [name for _url, name in sections]
    assert names.count("Accounts") == 1
    assert ("/admin/accounts/", "Accounts") in sections
    accounts = page[page.index('href="/admin/accounts/"') :]
    accounts = accounts[: accounts.index("</table>")]
    assert "/admin/account/emailaddress/" in accounts  # allauth's model, in the same section
    assert "/admin/accounts/user/" in accounts


def test_user_settings_rows_are_labelled_by_key(web, member):
    settings_update(user=member, values={"date_format": "dmy"}, actor=member)
    page = web.get(f"/admin/accounts/user/{member.pk}/change/").content.decode()
    assert re.search(r"<p>\s*date_format\s*</p>", page)
    assert not re.search(r"<p>\s*\d+:\d+\s*</p>", page)


def test_revoking_one_api_key_says_one_key(web, member):
    apikeys.api_key_create(user=member, name="k", scopes=["slots:read"], actor=member)
    key = ApiKey.objects.get(user=member)
    response = web.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_keys", "_selected_action": [key.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Revoked 1 API key." in page
    assert "key(s)" not in page
