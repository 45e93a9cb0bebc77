"""Usage quantities are exact to the last digit the column holds, through every door:
JSON numbers are read as decimals, stored without rounding (or refused), summed exactly
and written back as exact JSON number literals, in the API, the export, the page and the
admin CSV. Every valid quantity (21 significant digits up to 1e15) and every bucket
(NUMERIC(38, 6)) keeps all its digits, on PostgreSQL and on SQLite alike."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts.apikeys import api_key_create
from tests.accounts.test_auth_helpers import bearer, login
from usage.models import DailyRollup, HourlyRollup, UsageEvent
from usage.services import usage_rollup

pytestmark = pytest.mark.django_db

EVENTS_URL = "/api/v1/usage/events"
METER = "compute.seconds"
# The widest fractional quantity ingestion takes, and the largest quantity.
WIDEST = Decimal("999999999999999.999999")
LARGEST = Decimal("1000000000000000")


def jwt_client(user):
    return bearer(login(user)["access"])


def key_client(user):
    _, raw = api_key_create(
        user=user, name="exact", scopes=["usage:read", "usage:write"], actor=user
    )
    return bearer(raw)


def post_quantities(client, *quantities: str):
    events = ",".join(f'{{"meter": "{METER}", "quantity": {q}}}' for q in quantities)
    return client.post(
        EVENTS_URL, data=f'{{"events": [{events}]}}', content_type="application/json"
    )


def exact(response) -> dict:
    """The JSON as a client that reads numbers as decimals sees it."""
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content, parse_float=Decimal)


def stored() -> list[Decimal]:
    return sorted(UsageEvent.objects.values_list("quantity", flat=True))


@pytest.mark.parametrize("make_client", [jwt_client, key_client], ids=["jwt", "api_key"])
def test_usage_quantities_at_the_limits_are_stored_and_echoed_exactly(member, make_client):
    client = make_client(member)
    quantities = ["0", "0.000001", str(WIDEST), str(LARGEST)]
    response = post_quantities(client, *quantities)
    assert response.status_code == 202, response.content
    assert stored() == sorted(Decimal(q) for q in quantities)

    listed = exact(client.get(EVENTS_URL))["results"]
    assert sorted(e["quantity"] for e in listed) == sorted(Decimal(q) for q in quantities)
    assert str(WIDEST).encode() in client.get(EVENTS_URL).content

    total = exact(client.get("/api/v1/usage/stats", {"period": "1h", "meter": METER}))
    assert total["totals"][METER] == sum(Decimal(q) for q in quantities)


@pytest.mark.parametrize("make_client", [jwt_client, key_client], ids=["jwt", "api_key"])
@pytest.mark.parametrize(
    ("quantity", "code"),
    [
        ("1000000000000000.000001", "max_value"),  # one micro-unit over the largest
        ("0.0000001", "max_decimal_places"),  # one digit under the smallest
        (str(WIDEST) + "9", "max_decimal_places"),  # one more fractional digit
        ("9" + str(WIDEST), "max_value"),  # one more integer digit
        ("-0.000001", "min_value"),  # the columns hold no negative quantity
    ],
)
def test_usage_quantity_one_digit_too_many_is_400_naming_the_event(
    member, make_client, quantity, code
):
    response = post_quantities(make_client(member), "1", quantity)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [(e["code"], e["attr"]) for e in errors] == [(code, "events.1.quantity")]
    assert not UsageEvent.objects.exists()


def test_usage_quantity_of_17_digits_is_exact_raw_and_rolled(member, admin_user):
    """The drill's case: two events of 12345678901.234567 were stored as …234568 each, and
    on SQLite their bucket as a float. Every reader answers the exact sum, before and after
    the rollup."""
    client = key_client(member)
    response = post_quantities(client, "12345678901.234567", "12345678901.234567")
    assert response.status_code == 202, response.content
    assert stored() == [Decimal("12345678901.234567")] * 2
    expected = Decimal("24691357802.469134")

    def assert_every_reader_says_expected():
        for period in ("1h", "24h", "7d", "30d"):  # minutes (raw), hours, hours, days
            body = exact(client.get("/api/v1/usage/stats", {"period": period, "meter": METER}))
            assert body["totals"][METER] == expected, period
            assert sum(p["value"] for p in body["series"]) == expected, period
            assert expected in {p["value"] for p in body["series"]}, period
        raw = client.get("/api/v1/usage/stats", {"period": "24h", "meter": METER}).content
        assert b'"compute.seconds":24691357802.469134' in raw
        export = exact(jwt_client(member).get("/api/v1/users/me/export"))["usage"]["totals"]
        assert export["all_time"][METER] == export["24h"][METER] == expected
        for granularity in ("hour", "day"):
            assert admin_csv_values(admin_user, member, granularity) == [expected]

    assert_every_reader_says_expected()
    assert usage_rollup().events == 2
    assert list(HourlyRollup.objects.values_list("value", flat=True)) == [expected]
    assert list(DailyRollup.objects.values_list("value", flat=True)) == [expected]
    assert_every_reader_says_expected()


def admin_csv_values(admin_user, member, granularity: str) -> list[Decimal]:
    admin = Client()
    admin.force_login(admin_user)
    today = timezone.now().date()
    response = admin.get(
        "/admin/usage/usageevent/export/",
        {
            "start": str(today - timedelta(days=1)),
            "end": str(today),
            "granularity": granularity,
            "user": member.email,
        },
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    return [Decimal(r["value"]) for r in rows if r["meter"] == METER]


def many_max_precision_quantities() -> list[Decimal]:
    """1000 quantities with every significant digit used, all different."""
    step = Decimal("1.000001")
    return [WIDEST - i * step for i in range(1000)]


@pytest.mark.parametrize("period", ["1h", "24h", "7d", "30d"])
def test_usage_stats_sum_of_many_max_precision_quantities_is_the_database_sum(member, period):
    client = key_client(member)
    quantities = many_max_precision_quantities()
    assert post_quantities(client, *map(str, quantities)).status_code == 202
    expected = sum(quantities)
    if settings.IS_POSTGRES:  # NUMERIC adds exactly; the ORM's Sum on SQLite adds floats
        assert UsageEvent.objects.aggregate(total=Sum("quantity"))["total"] == expected
    assert sum(stored()) == expected

    body = exact(client.get("/api/v1/usage/stats", {"period": period, "meter": METER}))
    assert body["totals"][METER] == expected
    assert sum(p["value"] for p in body["series"]) == expected
    # Rolled into hourly and daily buckets, the sums stay exact on every database.
    usage_rollup()
    assert {v for (v,) in DailyRollup.objects.values_list("value")} == {expected}
    body = exact(client.get("/api/v1/usage/stats", {"period": period, "meter": METER}))
    assert body["totals"][METER] == expected
    assert sum(p["value"] for p in body["series"]) == expected


def test_usage_exact_totals_in_the_export_page_and_admin_csv(member, admin_user):
    quantities = many_max_precision_quantities()[:10]
    assert post_quantities(key_client(member), *map(str, quantities)).status_code == 202
    expected = sum(quantities)

    # The personal-data export, through the API and the account page.
    api_export = exact(jwt_client(member).get("/api/v1/users/me/export"))
    assert api_export["usage"]["totals"]["24h"][METER] == expected
    assert api_export["usage"]["totals"]["all_time"][METER] == expected
    page = Client()
    page.force_login(member)
    download = page.get("/account/data/export/")
    assert download.status_code == 200
    page_export = json.loads(download.content, parse_float=Decimal)
    assert page_export["usage"]["totals"]["24h"][METER] == expected

    # The usage page shows the exact total.
    overview = page.get("/account/usage/", {"meter": METER})
    assert overview.status_code == 200
    assert str(expected) in overview.content.decode()

    # The admin's CSV export.
    admin = Client()
    admin.force_login(admin_user)
    today = timezone.now().date()
    response = admin.get(
        "/admin/usage/usageevent/export/",
        {
            "start": str(today - timedelta(days=1)),
            "end": str(today),
            "granularity": "day",
            "user": member.email,
        },
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [Decimal(r["value"]) for r in rows if r["meter"] == METER] == [expected]
