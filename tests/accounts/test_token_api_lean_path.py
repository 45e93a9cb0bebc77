"""Token API requests skip the browser's layers (config.middleware.is_token_api_request), yet
read the API in the caller's language as before: ``Accept-Language`` decides, with the same
``Vary`` and ``Content-Language`` headers, and a language a page request activated on the same
thread never leaks into them."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.utils import translation

from tests.accounts.users_helpers import api_key_client, jwt_client

pytestmark = pytest.mark.django_db

MISSING_SLOT = f"/api/v1/slots/{uuid.uuid4()}"


def _not_found_in(language: str) -> str:
    with translation.override(language):
        return translation.gettext("Not found.")


@pytest.fixture(params=["jwt", "api_key"])
def token_client(request, member):
    if request.param == "jwt":
        return jwt_client(member)
    return api_key_client(member, ["slots:read", "profile:read"])


def test_token_caller_reads_api_errors_in_its_accept_language(token_client):
    response = token_client.get(MISSING_SLOT, HTTP_ACCEPT_LANGUAGE="de-CH,de;q=0.9,en;q=0.5")
    assert response.status_code == 404
    assert response.json()["errors"][0]["detail"] == _not_found_in("de") != "Not found."
    assert response["Content-Language"] == "de"
    assert "Accept-Language" in response["Vary"]


def test_token_caller_without_accept_language_reads_the_default_language(token_client):
    german_page = Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de")
    assert german_page["Content-Language"] == "de"  # German active on this thread now
    response = token_client.get(MISSING_SLOT)
    assert response.status_code == 404
    assert response.json()["errors"][0]["detail"] == "Not found."
    assert response["Content-Language"] == "en"
    assert "Accept-Language" in response["Vary"]


def test_token_caller_language_for_an_unknown_language_is_the_default(token_client):
    response = token_client.get(MISSING_SLOT, HTTP_ACCEPT_LANGUAGE="xx-YY")
    assert response.json()["errors"][0]["detail"] == "Not found."
    assert response["Content-Language"] == "en"
