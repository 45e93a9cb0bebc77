"""The ``medium`` date format ("7 Dec 2026"): the month abbreviated in the reader's language,
offered by the settings registry, the settings page and the API, used by the pages' dates."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from accounts.preferences import DisplayPreferences
from accounts.services.settings import settings_update
from slots import services

pytestmark = pytest.mark.django_db

MEDIUM = DisplayPreferences(date_format="medium")


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "7 Dec 2026"), ("de", "7 Dez 2026"), ("fr", "7 Déc 2026")],
)
def test_medium_names_the_month_in_the_active_language(language, expected):
    with translation.override(language):
        assert MEDIUM.format(date(2026, 12, 7)) == expected


def test_medium_with_the_clock_in_the_users_zone():
    berlin = DisplayPreferences(
        date_format="medium", zone=zoneinfo.ZoneInfo("Europe/Berlin"), time_format="12h"
    )
    late = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    with translation.override("en"):
        assert berlin.format(late) == "1 Jun 2026 1:30 AM CEST"
        assert berlin.format(late, mode="date") == "1 Jun 2026"


def test_medium_is_offered_by_the_api_and_its_schema(client_for, member):
    client = client_for(member)
    response = client.patch("/api/v1/users/me/settings", {"date_format": "medium"}, format="json")
    assert response.status_code == 200, response.content
    stored = {item["key"]: item["value"] for item in response.json()}
    assert stored["date_format"] == "medium"
    refused = client.patch("/api/v1/users/me/settings", {"date_format": "long"}, format="json")
    assert refused.status_code == 400
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    settings_schemas = [
        component["properties"]["date_format"]["allOf"][0]["enum"]
        for component in schema["components"]["schemas"].values()
        if "date_format" in component.get("properties", {})
    ]
    assert settings_schemas
    assert all("medium" in enum for enum in settings_schemas)


def test_medium_is_offered_on_the_settings_page(client, member):
    client.force_login(member)
    page = client.get(reverse("account-settings")).content.decode()
    assert '<option value="medium"' in page


@time_machine.travel(datetime(2026, 12, 7, 9, 0, tzinfo=UTC), tick=False)
def test_credentials_read_set_7_dec_2026(client, member):
    slot = services.slot_create(owner=member, type="workspace", name="box", config={}, actor=member)
    services.slot_credentials_set(
        slot=slot,
        credentials={"kind": "api_key", "api_key": "key-0123456789abcdef"},
        actor=member,
    )
    settings_update(user=member, values={"date_format": "medium"}, actor=member)
    client.force_login(member)
    page = client.get(reverse("slot-detail", args=[slot.pk])).content.decode()
    assert "API key ending in <code>cdef</code>, set 7 Dec 2026</dd>" in page
