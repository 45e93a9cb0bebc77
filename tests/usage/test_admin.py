from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from usage.models import Meter, MeterLimitOverride, UsageEvent
from usage.services import usage_rollup

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_admin_meter_pages_load(admin_client, meters):
    assert admin_client.get("/admin/usage/meter/").status_code == 200
    meter = meters["tokens.input"]
    page = admin_client.get(f"/admin/usage/meter/{meter.pk}/change/")
    assert page.status_code == 200
    assert b'name="limit"' in page.content and b'name="aggregation"' in page.content


def test_admin_meter_limit_edit_is_audited(admin_client, admin_user, meters, member):
    meter = meters["tokens.input"]
    form = {
        "name": meter.name,
        "unit": meter.unit,
        "description": meter.description,
        "aggregation": meter.aggregation,
        "limit": "5000",
        "limit_window": "month",
        "is_active": "on",
        "overrides-TOTAL_FORMS": "1",
        "overrides-INITIAL_FORMS": "0",
        "overrides-MIN_NUM_FORMS": "0",
        "overrides-MAX_NUM_FORMS": "1000",
        "overrides-0-user": str(member.pk),
        "overrides-0-limit": "9000",
        "overrides-0-note": "pilot customer",
    }
    response = admin_client.post(f"/admin/usage/meter/{meter.pk}/change/", form)
    assert response.status_code == 302, response.content[:3000]
    meter.refresh_from_db()
    assert meter.limit == 5000
    assert MeterLimitOverride.objects.get(meter=meter, user=member).limit == 9000
    event = AuditEvent.objects.get(action="admin.usage.meter.updated")
    assert event.actor_id == str(admin_user.pk)
    assert event.changes["limit"][1] in ("5000.000000", "5000", 5000)
    # The inline override is part of the same admin change, named in its message.
    assert "meter limit override" in str(event.metadata["admin_message"])


def test_admin_meter_aggregation_is_frozen_once_used(admin_client, meters, member, ingest):
    meter = meters["tokens.input"]
    ingest(member, {"meter": "tokens.input", "quantity": 1})
    page = admin_client.get(f"/admin/usage/meter/{meter.pk}/change/")
    assert b'name="aggregation"' not in page.content and b'name="key"' not in page.content


def test_admin_usage_events_are_read_only(admin_client, member, ingest):
    ingest(member, {"meter": "tokens.input", "quantity": 1, "idempotency_key": "k1"})
    listing = admin_client.get("/admin/usage/usageevent/")
    assert listing.status_code == 200 and b"member@example.com" in listing.content
    assert b"Export usage (CSV)" in listing.content
    assert admin_client.get("/admin/usage/usageevent/add/").status_code == 403
    event = UsageEvent.objects.get()
    assert admin_client.post(f"/admin/usage/usageevent/{event.pk}/delete/").status_code == 403
    for page in ("hourlyrollup", "dailyrollup", "quotacrossing"):
        assert admin_client.get(f"/admin/usage/{page}/").status_code == 200


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content[:2000]
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_admin_usage_export_streams_exact_csv(admin_client, member, other_member, ingest):
    ingest(member, {"meter": "tokens.input", "quantity": 5})
    usage_rollup()
    ingest(member, {"meter": "tokens.input", "quantity": 2})
    ingest(other_member, {"meter": "api.requests"})
    today = timezone.now().date()
    form = admin_client.get("/admin/usage/usageevent/export/")
    assert form.status_code == 200 and b"Download CSV" in form.content
    query = {"start": str(today - timedelta(days=1)), "end": str(today), "granularity": "day"}
    rows = _csv(
        admin_client.get("/admin/usage/usageevent/export/", {**query, "user": member.email})
    )
    assert [(r["email"], r["meter"], r["value"], r["events"]) for r in rows] == [
        ("member@example.com", "tokens.input", "7", "2")
    ]
    everyone = _csv(admin_client.get("/admin/usage/usageevent/export/", query))
    assert {r["email"] for r in everyone} == {"member@example.com", "other@example.com"}


def test_admin_usage_export_bad_form_is_shown_again(admin_client):
    response = admin_client.get(
        "/admin/usage/usageevent/export/",
        {"start": "2025-03-10", "end": "2025-03-01", "user": "nobody@example.com"},
    )
    assert response.status_code == 200
    assert b"No user with this email" in response.content
    assert b"before the first day" in response.content


def test_admin_usage_export_needs_usage_view_permission(manager, member):
    manager_client, member_client = Client(), Client()
    manager_client.force_login(manager)
    member_client.force_login(member)
    assert manager_client.get("/admin/usage/usageevent/export/").status_code == 200
    assert member_client.get("/admin/usage/usageevent/export/").status_code == 302  # to login
    # Managers read usage but do not edit meters.
    meter = Meter.objects.get(key="tokens.input")
    page = manager_client.get(f"/admin/usage/meter/{meter.pk}/change/")
    assert page.status_code == 200 and b'name="limit"' not in page.content


def test_admin_usage_pages_show_17_digit_quantities_and_buckets_exactly(
    admin_client, member, ingest
):
    quantity = "12345678901.234567"
    ingest(member, *[{"meter": "compute.seconds", "quantity": Decimal(quantity)}] * 2)
    usage_rollup()
    events = admin_client.get("/admin/usage/usageevent/", {"o": "-4"})  # sorted by quantity
    assert events.status_code == 200 and events.content.count(quantity.encode()) == 2
    for page in ("hourlyrollup", "dailyrollup"):
        listing = admin_client.get(f"/admin/usage/{page}/")
        assert listing.status_code == 200 and b"24691357802.469134" in listing.content
