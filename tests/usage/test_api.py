from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.authentication import AuthContext
from usage.models import Meter, UsageEvent
from usage.services import usage_rollup

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 15, 14, 37, 12, tzinfo=UTC)
EVENTS_URL = "/api/v1/usage/events"


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def key_client(user, *scopes) -> APIClient:
    """A client authenticated like an API key holding ``scopes``."""
    client = APIClient()
    client.force_authenticate(user, token=AuthContext(method="api_key", scopes=frozenset(scopes)))
    return client


def assert_error(response, status: int, code: str, attr="__any__") -> dict:
    assert response.status_code == status, (response.status_code, response.content[:2000])
    body = response.json()
    pairs = [(e["code"], e["attr"]) for e in body["errors"]]
    if attr == "__any__":
        assert code in [c for c, _ in pairs], pairs
    else:
        assert (code, attr) in pairs, pairs
    return body


def post(client, body, **kwargs):
    return client.post(EVENTS_URL, body, format="json", **kwargs)


# --- every endpoint: anonymous 401 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/meters"),
        ("get", EVENTS_URL),
        ("post", EVENTS_URL),
        ("get", "/api/v1/usage/stats?period=24h"),
        ("get", "/api/v1/usage/quota"),
        ("get", "/api/v1/admin/usage/stats?period=24h"),
    ],
)
def test_usage_endpoints_need_authentication(anon_client, method, url):
    response = getattr(anon_client, method)(url, {}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/meters/",
        "/api/v1/usage/events/",
        "/api/v1/usage/stats/?period=1h",
        "/api/v1/usage/quota/",
    ],
)
def test_usage_endpoints_answer_with_and_without_trailing_slash(member, client_for, url):
    client = client_for(member)
    assert client.get(url).status_code == 200
    assert client.get(url.replace("/?", "?").rstrip("/")).status_code == 200


# --- meters -------------------------------------------------------------------------------


def test_meters_list_active_meters(member, client_for):
    Meter.objects.create(key="old.meter", name="Old", is_active=False)
    response = client_for(member).get("/api/v1/meters")
    assert response.status_code == 200
    assert response.json() == [
        {"key": "api.requests", "name": "API requests", "unit": "requests", "aggregation": "count"},
        {"key": "compute.seconds", "name": "Compute time", "unit": "seconds", "aggregation": "sum"},
        {"key": "tokens.input", "name": "Input tokens", "unit": "tokens", "aggregation": "sum"},
        {"key": "tokens.output", "name": "Output tokens", "unit": "tokens", "aggregation": "sum"},
    ]


# --- ingestion ----------------------------------------------------------------------------


def test_usage_events_post_single_and_batch_is_202(member, client_for):
    client = client_for(member)
    response = post(client, {"meter": "tokens.input", "quantity": 5, "idempotency_key": "a"})
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    batch = {
        "events": [
            {"meter": "tokens.input", "quantity": 5, "idempotency_key": "a"},
            {"meter": "tokens.input", "quantity": 1, "idempotency_key": "b"},
            {"meter": "tokens.input", "quantity": 1, "idempotency_key": "b"},
            {"meter": "api.requests"},
        ]
    }
    response = post(client, batch)
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "duplicates": 2}
    assert UsageEvent.objects.filter(user=member).count() == 3


def test_usage_events_post_idempotency_conflict_is_409(member, client_for):
    client = client_for(member)
    post(client, {"meter": "tokens.input", "quantity": 5, "idempotency_key": "a"})
    response = post(
        client,
        {
            "events": [
                {"meter": "api.requests"},
                {"meter": "tokens.input", "quantity": 6, "idempotency_key": "a"},
            ]
        },
    )
    assert_error(response, 409, "idempotency_conflict")
    assert response.json()["type"] == "client_error"
    assert UsageEvent.objects.count() == 1


def test_usage_events_post_errors_are_listed_by_index(member, client_for):
    response = post(
        client_for(member),
        {
            "events": [
                {"meter": "tokens.input", "quantity": 1},
                {"meter": "tokens.input", "quantity": "12"},
                {"meter": "nope", "quantity": 1},
                {"meter": "tokens.input", "quantity": 1, "occurred_at": "2025-03-15T14:00:00"},
            ]
        },
    )
    body = assert_error(response, 400, "invalid", "events.1.quantity")
    assert body["type"] == "validation_error"
    assert {(e["attr"], e["code"]) for e in body["errors"]} == {
        ("events.1.quantity", "invalid"),
        ("events.2.meter", "unknown_meter"),
        ("events.3.occurred_at", "timezone_required"),
    }
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(
    ("event", "attr", "code"),
    [
        ({"meter": "tokens.input", "quantity": 1e30}, "quantity", "max_value"),
        ({"meter": "tokens.input", "quantity": -3}, "quantity", "min_value"),
        ({"meter": "tokens.input", "quantity": "5"}, "quantity", "invalid"),
        ({"meter": "tokens.input", "quantity": None}, "quantity", "required"),
        (
            {"meter": "tokens.input", "quantity": 1, "occurred_at": "2025-03-15T15:00:00Z"},
            "occurred_at",
            "too_far_in_future",
        ),
        (
            {"meter": "tokens.input", "quantity": 1, "occurred_at": "2024-03-15T15:00:00Z"},
            "occurred_at",
            "too_old",
        ),
        ({"meter": "tokens.input", "quantity": 1, "x": 1}, "x", "unknown_field"),
        ({"meter": "tokens.input", "quantity": 1, "slot": "💥"}, "slot", "invalid"),
    ],
)
def test_usage_events_post_single_bad_event_is_400_naming_the_field(
    member, client_for, event, attr, code
):
    assert_error(post(client_for(member), event), 400, code, attr)
    assert not UsageEvent.objects.exists()


def test_usage_events_post_nan_is_a_parse_error(member, client_for):
    response = client_for(member).post(
        EVENTS_URL,
        data='{"meter": "tokens.input", "quantity": NaN}',
        content_type="application/json",
    )
    assert_error(response, 400, "parse_error")


def test_usage_events_post_huge_exponent_is_out_of_range(member, client_for):
    response = client_for(member).post(
        EVENTS_URL,
        data='{"meter": "tokens.input", "quantity": 1e400}',
        content_type="application/json",
    )
    assert_error(response, 400, "max_value", "quantity")


def test_usage_events_post_1001_events_is_400(member, client_for):
    response = post(client_for(member), {"events": [{"meter": "api.requests"}] * 1001})
    assert_error(response, 400, "max_length", "events")
    assert not UsageEvent.objects.exists()


def test_usage_events_post_1000_events_in_one_insert(
    member, django_assert_max_num_queries, settings
):
    client = key_client(member, "usage:write")  # no session bookkeeping in the count
    events = [
        {"meter": "tokens.input", "quantity": i, "idempotency_key": f"k{i}"} for i in range(1000)
    ]
    # Meters, savepoint, the insert (keys and events), release: never one per event.
    # (SQLite caps the parameters of one statement, so bulk_create needs a few there.)
    limit = 5 if settings.IS_POSTGRES else 25
    with django_assert_max_num_queries(limit):
        response = post(client, {"events": events})
    assert response.json() == {"accepted": 1000, "duplicates": 0}
    with django_assert_max_num_queries(limit):
        response = post(client, {"events": events})
    assert response.json() == {"accepted": 0, "duplicates": 1000}


def test_usage_events_post_10_mb_body_is_413(member, client_for):
    body = json.dumps({"events": [{"meter": "api.requests", "metadata": {"x": "y" * 4000}}] * 2600})
    assert len(body) > 10_000_000
    response = client_for(member).post(EVENTS_URL, data=body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    assert not UsageEvent.objects.exists()


def test_usage_events_post_foreign_slot_is_400(member, other_member, client_for, make_slot):
    foreign = make_slot(other_member)
    response = post(client_for(member), {"meter": "api.requests", "slot": str(foreign.id)})
    assert_error(response, 400, "unknown_slot", "slot")


def test_usage_events_post_user_field_is_for_admins(member, other_member, admin_user, client_for):
    event = {"meter": "api.requests", "user": str(other_member.pk)}
    assert_error(post(client_for(member), event), 403, "permission_denied", "user")
    assert post(client_for(admin_user), event).status_code == 202
    assert UsageEvent.objects.get().user == other_member


def test_usage_events_post_unsupported_media_type_is_415(member, client_for):
    response = client_for(member).post(EVENTS_URL, data="meter=x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


# --- scopes -------------------------------------------------------------------------------


def test_usage_api_key_scopes_split_read_and_write(member):
    reader = key_client(member, "usage:read")
    assert_error(post(reader, {"meter": "api.requests"}), 403, "insufficient_scope")
    assert reader.get(EVENTS_URL).status_code == 200
    assert reader.get("/api/v1/usage/stats?period=1h").status_code == 200
    assert reader.get("/api/v1/usage/quota").status_code == 200
    writer = key_client(member, "usage:write")
    assert post(writer, {"meter": "api.requests"}).status_code == 202
    assert_error(writer.get(EVENTS_URL), 403, "insufficient_scope")
    assert_error(
        key_client(member, "slots:read").get("/api/v1/usage/stats?period=1h"),
        403,
        "insufficient_scope",
    )


# --- raw events list ----------------------------------------------------------------------


def test_usage_events_list_shows_own_events_only_newest_first(
    member, other_member, client_for, ingest, make_slot
):
    slot = make_slot(member)
    ingest(member, {"meter": "tokens.input", "quantity": 1, "occurred_at": "2025-03-15T10:00:00Z"})
    ingest(member, {"meter": "tokens.input", "quantity": 2, "slot": str(slot.id)})
    ingest(other_member, {"meter": "tokens.input", "quantity": 99})
    response = client_for(member).get(EVENTS_URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert [e["quantity"] for e in body["results"]] == [2, 1]
    assert body["results"][0] == {
        "meter": "tokens.input",
        "quantity": 2,
        "slot": str(slot.id),
        "occurred_at": "2025-03-15T14:37:12.000000Z",
        "received_at": "2025-03-15T14:37:12.000000Z",
        "idempotency_key": None,
        "metadata": {},
        "rolled": False,
    }
    assert [e["quantity"] for e in client_for(other_member).get(EVENTS_URL).json()["results"]] == [
        99
    ]


def test_usage_events_list_filters_and_paginates(
    member, client_for, ingest, make_slot, django_assert_max_num_queries
):
    slot = make_slot(member)
    for minute in range(30):
        at = (NOW - timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
        meter = "tokens.input" if minute % 2 else "api.requests"
        event = {"meter": meter, "quantity": minute, "occurred_at": at}
        if minute % 3 == 0:
            event["slot"] = str(slot.id)
        ingest(member, event)
    client = key_client(member, "usage:read")  # no session bookkeeping in the count
    with django_assert_max_num_queries(2):
        page = client.get(EVENTS_URL, {"page_size": 10}).json()
    assert len(page["results"]) == 10 and page["next"]
    seen = [e["quantity"] for e in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [e["quantity"] for e in page["results"]]
    assert seen == list(range(30))
    only = client.get(EVENTS_URL, {"meter": "tokens.input"}).json()["results"]
    assert {e["meter"] for e in only} == {"tokens.input"} and len(only) == 15
    in_slot = client.get(EVENTS_URL, {"slot": str(slot.id)}).json()["results"]
    assert len(in_slot) == 10
    window = client.get(
        EVENTS_URL, {"since": "2025-03-15T14:30:00Z", "until": "2025-03-15T14:35:00Z"}
    ).json()["results"]
    assert sorted(e["quantity"] for e in window) == [3, 4, 5, 6, 7]


def test_usage_events_list_bad_filters_are_400(member, client_for):
    client = client_for(member)
    assert_error(client.get(EVENTS_URL, {"since": "yesterday"}), 400, "invalid", "since")
    assert_error(client.get(EVENTS_URL, {"slot": "nope"}), 400, "invalid", "slot")


# --- stats --------------------------------------------------------------------------------


def test_usage_stats_totals_and_series(member, other_member, client_for, ingest):
    ingest(member, {"meter": "tokens.input", "quantity": 5, "occurred_at": "2025-03-15T10:05:00Z"})
    usage_rollup()
    ingest(member, {"meter": "tokens.input", "quantity": 7})
    ingest(other_member, {"meter": "tokens.input", "quantity": 100})
    response = client_for(member).get("/api/v1/usage/stats", {"period": "24h"})
    assert response.status_code == 200
    body = response.json()
    assert body["period"] == "24h" and body["granularity"] == "hour"
    assert (body["start"], body["end"]) == (
        "2025-03-14T14:00:00.000000Z",
        "2025-03-15T15:00:00.000000Z",
    )
    assert body["totals"] == {
        "api.requests": 0,
        "compute.seconds": 0,
        "tokens.input": 12,
        "tokens.output": 0,
    }
    points = {p["start"]: p["value"] for p in body["series"] if p["meter"] == "tokens.input"}
    assert len(points) == 25
    assert points["2025-03-15T10:00:00.000000Z"] == 5 and points["2025-03-15T14:00:00.000000Z"] == 7
    assert sum(points.values()) == 12


def test_usage_stats_filters_by_meter_and_slot(member, client_for, ingest, make_slot):
    slot = make_slot(member)
    ingest(member, {"meter": "tokens.input", "quantity": 5, "slot": str(slot.id)})
    ingest(member, {"meter": "tokens.input", "quantity": 7})
    client = client_for(member)
    body = client.get(
        "/api/v1/usage/stats", {"period": "30d", "meter": "tokens.input", "slot": str(slot.id)}
    ).json()
    assert body["totals"] == {"tokens.input": 5}
    assert len(body["series"]) == 31


@pytest.mark.parametrize("period", ["1h", "24h", "7d", "30d"])
def test_usage_stats_fractional_values_add_up_exactly_in_the_json(
    member, client_for, fractional_usage, period
):
    response = client_for(member).get(
        "/api/v1/usage/stats", {"period": period, "meter": "compute.seconds"}
    )
    assert response.status_code == 200
    # No binary-float artefacts (0.9999999999999999, 0.30000000000000004) on the wire.
    assert b"0.999" not in response.content and b"00000000" not in response.content
    # A client reading the JSON numbers as decimals gets each value to the micro-unit...
    body = json.loads(response.content, parse_float=Decimal)
    start, end = (datetime.fromisoformat(body[k]) for k in ("start", "end"))
    points = [p["value"] for p in body["series"]]
    assert all(isinstance(v, int | Decimal) for v in [*points, body["totals"]["compute.seconds"]])
    # ...and series that add up to the totals exactly.
    assert sum(points) == body["totals"]["compute.seconds"]
    assert body["totals"]["compute.seconds"] == sum(
        q for at, q in fractional_usage if start <= at < end
    )
    if period == "1h":  # the minute of 0.1 + 0.2 + 0.7
        assert sorted(p for p in points if p) == [Decimal("0.1"), 1]


@pytest.mark.parametrize(
    ("query", "attr", "code"),
    [
        ({}, "period", "required"),
        ({"period": "2h"}, "period", "invalid_choice"),
        ({"period": "24h", "meter": "nope"}, "meter", "unknown_meter"),
        ({"period": "24h", "slot": "nope"}, "slot", "invalid"),
    ],
)
def test_usage_stats_bad_query_is_400(member, client_for, query, attr, code):
    assert_error(client_for(member).get("/api/v1/usage/stats", query), 400, code, attr)


# --- quota --------------------------------------------------------------------------------


def test_usage_quota_lists_limited_meters(member, client_for, ingest):
    Meter.objects.filter(key="tokens.output").update(limit=1000)
    ingest(member, {"meter": "tokens.output", "quantity": 250})
    response = client_for(member).get("/api/v1/usage/quota")
    assert response.status_code == 200
    assert response.json() == [
        {
            "meter": "tokens.output",
            "limit": 1000,
            "used": 250,
            "remaining": 750,
            "window": "month",
            "window_start": "2025-03-01T00:00:00.000000Z",
            "window_end": "2025-04-01T00:00:00.000000Z",
            "exceeded": False,
            "exceeded_at": None,
        }
    ]


# --- system stats (admin) -----------------------------------------------------------------


def test_admin_usage_stats_is_admin_only(member, manager, admin_user, client_for, ingest):
    ingest(member, {"meter": "tokens.input", "quantity": 5})
    url = "/api/v1/admin/usage/stats"
    assert_error(client_for(member).get(url, {"period": "7d"}), 403, "permission_denied")
    assert_error(client_for(manager).get(url, {"period": "7d"}), 403, "permission_denied")
    response = client_for(admin_user).get(url, {"period": "7d"})
    assert response.status_code == 200
    body = response.json()
    assert body["totals"]["tokens.input"] == 5
    assert (body["active_users"], body["active_slots"]) == (1, 0)
    assert body["top_users"]["tokens.input"] == [
        {"user": str(member.pk), "email": member.email, "value": 5}
    ]
    assert_error(client_for(admin_user).get(url, {"period": "1y"}), 400, "invalid_choice", "period")


def test_usage_real_api_key_is_held_to_its_scopes(member):
    from accounts.apikeys import api_key_create

    _, raw = api_key_create(user=member, name="meter", scopes=["usage:write"], actor=member)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert post(client, {"meter": "api.requests"}).status_code == 202
    assert_error(client.get("/api/v1/usage/stats", {"period": "24h"}), 403, "insufficient_scope")
    assert UsageEvent.objects.get().user == member


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("since", "status"),
    [
        ("2026-03-02T01:07:00+18:07", 200),
        ("0891-06-24T03:11:14.871200+18:07", 200),
        ("0001-01-01T00:00:00+01:00", 400),
        ("yesterday", 400),
        ("", 400),
    ],
)
def test_events_list_since_with_odd_offsets_answers_cleanly(client_for, member, since, status):
    response = client_for(member).get(EVENTS_URL, {"since": since})
    assert response.status_code == status
    if status == 400:
        assert response.json()["errors"][0]["attr"] == "since"


@pytest.mark.django_db
@pytest.mark.parametrize("slot", ["", "not-a-uuid"])
def test_events_list_slot_filter_must_be_an_id(client_for, member, slot):
    response = client_for(member).get(EVENTS_URL, {"slot": slot})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "slot"


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["slot", "meter"])
def test_usage_stats_empty_parameter_is_400(client_for, member, param):
    response = client_for(member).get("/api/v1/usage/stats", {"period": "24h", param: ""})
    assert response.status_code == 400
    assert (response.json()["errors"][0]["code"], response.json()["errors"][0]["attr"]) == (
        "blank",
        param,
    )


@pytest.mark.django_db
def test_admin_usage_stats_empty_period_is_400(client_for, admin_user):
    response = client_for(admin_user).get("/api/v1/admin/usage/stats", {"period": ""})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "period"


@pytest.mark.parametrize(
    "event",
    [
        {"meter": "tokens.input", "quantity": 1, "idempotency_key": "a\u0000b"},
        {"meter": "tokens.input", "quantity": 1, "metadata": {"model": "x\u0000"}},
        {"meter": "tokens.input", "quantity": 1, "metadata": {"k\u0000": 1}},
        {"meter": "tokens.input", "quantity": 1, "metadata": {"a": ["\u0000"]}},
    ],
)
def test_usage_events_post_null_characters_are_400_not_a_database_error(member, client_for, event):
    """PostgreSQL keeps no NUL in text or JSON: the body is refused before anything runs."""
    assert_error(post(client_for(member), event), 400, "parse_error")
    assert not UsageEvent.objects.exists()
