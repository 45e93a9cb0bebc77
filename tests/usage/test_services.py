from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from config.errors import Conflict, Forbidden
from tests.usage.conftest import totals_of
from usage import selectors
from usage.models import (
    DailyRollup,
    HourlyRollup,
    Meter,
    MeterLimitOverride,
    QuotaCrossing,
    UsageEvent,
)
from usage.services import (
    usage_events_purge,
    usage_quota_check,
    usage_rollup,
    usage_rollup_and_check_quotas,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 15, 14, 37, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_codes(exc: ValidationError) -> set[tuple[str, str]]:
    return {(attr, e.code) for attr, errors in exc.error_dict.items() for e in errors}


# --- ingestion ------------------------------------------------------------------------------


def test_usage_events_ingest_stores_a_single_event(member, ingest, make_slot):
    slot = make_slot(member)
    result = ingest(
        member,
        {
            "meter": "tokens.input",
            "quantity": 12,
            "slot": str(slot.id),
            "occurred_at": iso(NOW - timedelta(hours=2)),
            "metadata": {"model": "small"},
        },
    )
    assert (result.accepted, result.duplicates) == (1, 0)
    event = UsageEvent.objects.get()
    assert event.user == member and event.meter.key == "tokens.input"
    assert event.quantity == Decimal(12) and event.slot_id == slot.id
    assert event.occurred_at == NOW - timedelta(hours=2)
    assert event.received_at == NOW and event.rolled_at is None
    assert event.metadata == {"model": "small"}


def test_usage_events_ingest_defaults_occurred_at_to_receipt(member, ingest):
    ingest(member, {"meter": "tokens.input", "quantity": 1})
    assert UsageEvent.objects.get().occurred_at == NOW


def test_usage_events_ingest_counts_events_without_key_every_time(member, ingest):
    event = {"meter": "tokens.input", "quantity": 5}
    assert ingest(member, event, event).accepted == 2
    assert ingest(member, event).accepted == 1
    assert totals_of(member)["tokens.input"] == 15


def test_usage_events_ingest_replay_with_same_key_is_a_duplicate(member, ingest):
    event = {"meter": "tokens.input", "quantity": 5, "idempotency_key": "req-1"}
    assert (ingest(member, event).accepted, ingest(member, event).duplicates) == (1, 1)
    assert UsageEvent.objects.count() == 1
    assert totals_of(member)["tokens.input"] == 5


def test_usage_events_ingest_replay_without_occurred_at_matches_the_stored_event(member, ingest):
    first = {"meter": "tokens.input", "quantity": 5, "idempotency_key": "k"}
    ingest(member, {**first, "occurred_at": iso(NOW - timedelta(hours=1))})
    assert ingest(member, first).duplicates == 1
    with pytest.raises(Conflict) as exc:
        ingest(member, {**first, "occurred_at": iso(NOW - timedelta(hours=3))})
    assert exc.value.code == "idempotency_conflict"


@pytest.mark.parametrize(
    "change",
    [{"quantity": 6}, {"meter": "tokens.output"}, {"slot": "own"}],
    ids=["quantity", "meter", "slot"],
)
def test_usage_events_ingest_same_key_other_content_conflicts_and_stores_nothing(
    member, ingest, make_slot, change
):
    original = {"meter": "tokens.input", "quantity": 5, "idempotency_key": "k"}
    ingest(member, original)
    if change.get("slot") == "own":
        change = {"slot": str(make_slot(member).id)}
    with pytest.raises(Conflict) as exc:
        ingest(member, {"meter": "compute.seconds", "quantity": 1}, {**original, **change})
    assert exc.value.status_code == 409 and exc.value.code == "idempotency_conflict"
    # The whole request was refused: the valid first event was not stored either.
    assert UsageEvent.objects.count() == 1


def test_usage_events_ingest_duplicate_keys_in_one_batch_count_once(member, ingest):
    event = {"meter": "tokens.input", "quantity": 5, "idempotency_key": "k"}
    result = ingest(member, event, event, {"meter": "tokens.input", "quantity": 1})
    assert (result.accepted, result.duplicates) == (2, 1)
    assert totals_of(member)["tokens.input"] == 6


def test_usage_events_ingest_conflicting_keys_in_one_batch_is_409(member, ingest):
    with pytest.raises(Conflict):
        ingest(
            member,
            {"meter": "tokens.input", "quantity": 5, "idempotency_key": "k"},
            {"meter": "tokens.input", "quantity": 7, "idempotency_key": "k"},
        )
    assert not UsageEvent.objects.exists()


def test_usage_events_ingest_keys_belong_to_each_user(member, other_member, ingest):
    event = {"meter": "tokens.input", "quantity": 5, "idempotency_key": "shared"}
    assert ingest(member, event).accepted == 1
    assert ingest(other_member, {**event, "quantity": 9}).accepted == 1
    assert totals_of(other_member)["tokens.input"] == 9


def test_usage_events_ingest_keeps_quantities_as_exact_micro_units(member, ingest):
    ingest(
        member,
        {"meter": "compute.seconds", "quantity": 0.1},
        {"meter": "compute.seconds", "quantity": 0.2},
        {"meter": "compute.seconds", "quantity": 1.000001},
    )
    assert sorted(UsageEvent.objects.values_list("quantity", flat=True)) == [
        Decimal("0.1"),
        Decimal("0.2"),
        Decimal("1.000001"),
    ]
    assert totals_of(member)["compute.seconds"] == Decimal("1.300001")
    # A seventh fractional digit is not rounded away: the event is refused.
    with pytest.raises(ValidationError) as refused:
        ingest(member, {"meter": "compute.seconds", "quantity": 1.00000049})
    assert refused.value.message_dict == {
        "quantity": ["The quantity may have at most 6 fractional digits."]
    }
    assert UsageEvent.objects.count() == 3


def test_usage_events_ingest_count_meter_counts_events_and_defaults_quantity(member, ingest):
    ingest(member, {"meter": "api.requests"}, {"meter": "api.requests", "quantity": 40})
    assert totals_of(member)["api.requests"] == 2
    usage_rollup()
    assert totals_of(member)["api.requests"] == 2


BAD_EVENTS = [
    ({"quantity": 1}, "meter", "required"),
    ({"meter": "nope", "quantity": 1}, "meter", "unknown_meter"),
    ({"meter": 7, "quantity": 1}, "meter", "invalid"),
    ({"meter": "tokens.input"}, "quantity", "required"),
    ({"meter": "tokens.input", "quantity": -1}, "quantity", "min_value"),
    ({"meter": "tokens.input", "quantity": 1e30}, "quantity", "max_value"),
    ({"meter": "tokens.input", "quantity": float("inf")}, "quantity", "max_value"),
    ({"meter": "tokens.input", "quantity": 10**40}, "quantity", "max_value"),
    ({"meter": "tokens.input", "quantity": "12"}, "quantity", "invalid"),
    ({"meter": "tokens.input", "quantity": True}, "quantity", "invalid"),
    ({"meter": "tokens.input", "quantity": [1]}, "quantity", "invalid"),
    (
        {"meter": "tokens.input", "quantity": 1, "occurred_at": "2025-03-15T10:00:00"},
        "occurred_at",
        "timezone_required",
    ),
    (
        {"meter": "tokens.input", "quantity": 1, "occurred_at": "2025-03-15"},
        "occurred_at",
        "timezone_required",
    ),
    (
        {"meter": "tokens.input", "quantity": 1, "occurred_at": "yesterday"},
        "occurred_at",
        "invalid",
    ),
    ({"meter": "tokens.input", "quantity": 1, "occurred_at": 1742049000}, "occurred_at", "invalid"),
    (
        {"meter": "tokens.input", "quantity": 1, "occurred_at": "2025-03-15T14:43:00Z"},
        "occurred_at",
        "too_far_in_future",
    ),
    (
        {"meter": "tokens.input", "quantity": 1, "occurred_at": "9999-12-31T23:59:59Z"},
        "occurred_at",
        "too_far_in_future",
    ),
    (
        {"meter": "tokens.input", "quantity": 1, "occurred_at": "2025-03-08T14:00:00Z"},
        "occurred_at",
        "too_old",
    ),
    (
        {"meter": "tokens.input", "quantity": 1, "occurred_at": "0001-01-01T00:00:00+01:00"},
        "occurred_at",
        "invalid",
    ),
    ({"meter": "tokens.input", "quantity": 1, "slot": "not-a-uuid"}, "slot", "invalid"),
    (
        {"meter": "tokens.input", "quantity": 1, "slot": "7b0f3c1e-5d2a-4f7e-9a31-0c8d2e4f6a10"},
        "slot",
        "unknown_slot",
    ),
    ({"meter": "tokens.input", "quantity": 1, "idempotency_key": ""}, "idempotency_key", "blank"),
    (
        {"meter": "tokens.input", "quantity": 1, "idempotency_key": "k" * 256},
        "idempotency_key",
        "max_length",
    ),
    ({"meter": "tokens.input", "quantity": 1, "idempotency_key": 5}, "idempotency_key", "invalid"),
    ({"meter": "tokens.input", "quantity": 1, "metadata": "x"}, "metadata", "invalid"),
    (
        {"meter": "tokens.input", "quantity": 1, "metadata": {"k": "x" * 5000}},
        "metadata",
        "max_length",
    ),
    ({"meter": "tokens.input", "quantity": 1, "colour": "red"}, "colour", "unknown_field"),
    ({"meter": "tokens.input", "quantity": 1, "user": "someone"}, "user", "invalid"),
]


@pytest.mark.parametrize(("event", "field", "code"), BAD_EVENTS)
def test_usage_events_ingest_refuses_bad_events_by_index(member, ingest, event, field, code):
    good = {"meter": "tokens.input", "quantity": 1}
    with pytest.raises(ValidationError) as exc:
        ingest(member, good, good, event)
    assert (f"events.2.{field}", code) in error_codes(exc.value)
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(("event", "field", "code"), BAD_EVENTS[:6])
def test_usage_events_ingest_single_event_errors_name_the_field(member, ingest, event, field, code):
    with pytest.raises(ValidationError) as exc:
        ingest(member, body=event)
    assert (field, code) in error_codes(exc.value)


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"events": []}, "events", "empty"),
        ({"events": "x"}, "events", "not_a_list"),
        ({"events": [{"meter": "api.requests"}] * 1001}, "events", "max_length"),
        ({"events": [{"meter": "api.requests"}], "extra": 1}, "extra", "unknown_field"),
        ({"events": [5]}, "events.0.non_field_errors", "invalid"),
        ([{"meter": "api.requests"}], "non_field_errors", "invalid"),
    ],
)
def test_usage_events_ingest_refuses_bad_batches(member, ingest, body, attr, code):
    with pytest.raises(ValidationError) as exc:
        ingest(member, body=body)
    assert (attr, code) in error_codes(exc.value)
    assert not UsageEvent.objects.exists()


def test_usage_events_ingest_lists_every_error_of_a_batch(member, ingest):
    with pytest.raises(ValidationError) as exc:
        ingest(
            member,
            {"meter": "tokens.input", "quantity": -1},
            {"meter": "tokens.input", "quantity": 1},
            {"meter": "nope", "quantity": "x"},
        )
    assert error_codes(exc.value) == {
        ("events.0.quantity", "min_value"),
        ("events.2.meter", "unknown_meter"),
        ("events.2.quantity", "invalid"),
    }


def test_usage_events_ingest_refuses_a_retired_meter(member, ingest, meters):
    Meter.objects.filter(key="tokens.output").update(is_active=False)
    with pytest.raises(ValidationError) as exc:
        ingest(member, {"meter": "tokens.output", "quantity": 1})
    assert ("meter", "meter_inactive") in error_codes(exc.value)


def test_usage_events_ingest_accepts_own_slot_and_refuses_a_foreign_one(
    member, other_member, ingest, make_slot
):
    own, foreign = make_slot(member), make_slot(other_member)
    assert ingest(member, {"meter": "api.requests", "slot": str(own.id)}).accepted == 1
    with pytest.raises(ValidationError) as exc:
        ingest(member, {"meter": "api.requests", "slot": str(foreign.id)})
    assert ("slot", "unknown_slot") in error_codes(exc.value)


def test_usage_events_ingest_member_cannot_file_for_another_user(member, other_member, ingest):
    with pytest.raises(Forbidden) as exc:
        ingest(member, {"meter": "api.requests", "user": str(other_member.pk)})
    assert exc.value.attr == "user"
    # Naming yourself is harmless.
    assert ingest(member, {"meter": "api.requests", "user": str(member.pk)}).accepted == 1


def test_usage_events_ingest_admin_files_for_a_user_with_their_slot_and_an_audit_row(
    admin_user, member, ingest, make_slot
):
    slot = make_slot(member)
    result = ingest(
        admin_user,
        {"meter": "tokens.input", "quantity": 3, "user": str(member.pk), "slot": str(slot.id)},
    )
    assert result.accepted == 1
    assert UsageEvent.objects.get().user == member
    row = AuditEvent.objects.get(action="usage.events.recorded")
    assert row.actor_id == str(admin_user.pk) and row.target_id == str(member.pk)
    assert row.metadata["events"] == 1
    with pytest.raises(ValidationError) as exc:
        ingest(
            admin_user, {"meter": "api.requests", "user": "7b0f3c1e-5d2a-4f7e-9a31-0c8d2e4f6a10"}
        )
    assert ("user", "unknown_user") in error_codes(exc.value)


@pytest.fixture
def deadlock_on_first_insert(monkeypatch):
    """The first insert of each ingest stores its rows, then loses a deadlock (as PostgreSQL
    would abort it); later inserts go through. Returns the batch size of each insert run."""
    import psycopg.errors
    from django.db import OperationalError

    from usage.services import ingestion as services
    from usage.sql import dialect

    sql, name = dialect(), "insert_events"
    real = getattr(sql, name)
    calls: list[int] = []

    def insert(events, now):
        inserted = real(events, now)
        calls.append(len(events))
        if len(calls) == 1:
            cause = psycopg.errors.DeadlockDetected("deadlock detected")
            raise OperationalError("deadlock detected") from cause
        return inserted

    monkeypatch.setattr(sql, name, insert)
    monkeypatch.setattr(services, "RETRY_PAUSE_SECONDS", 0)
    return calls


@pytest.mark.django_db(transaction=True)  # the retry needs the service's own transaction
def test_usage_events_ingest_retries_a_deadlock_without_counting_twice(
    admin_user, member, ingest, deadlock_on_first_insert
):
    from django.apps import apps

    importlib.import_module("usage.migrations.0002_seed_meters").seed_meters(apps, None)
    result = ingest(
        admin_user,
        {"meter": "tokens.input", "quantity": 2, "idempotency_key": "a", "user": str(member.pk)},
        {"meter": "tokens.input", "quantity": 3, "user": str(member.pk)},
        {"meter": "tokens.input", "quantity": 2, "idempotency_key": "a", "user": str(member.pk)},
    )
    assert deadlock_on_first_insert == [2, 2]
    assert (result.accepted, result.duplicates) == (2, 1)
    assert UsageEvent.objects.filter(user=member).count() == 2
    assert totals_of(member, "24h")["tokens.input"] == 5
    assert AuditEvent.objects.filter(action="usage.events.recorded").count() == 1


def test_usage_events_ingest_in_a_callers_transaction_leaves_the_deadlock_to_the_caller(
    member, ingest, deadlock_on_first_insert
):
    from django.db import OperationalError, transaction

    # The test runs in a transaction already: a deadlock aborted it, so no retry inside.
    with pytest.raises(OperationalError), transaction.atomic():
        ingest(member, {"meter": "tokens.input", "quantity": 2, "idempotency_key": "a"})
    assert deadlock_on_first_insert == [1]
    assert not UsageEvent.objects.exists()


# --- rollups --------------------------------------------------------------------------------


def test_usage_rollup_builds_hourly_and_daily_buckets_per_aggregation(
    member, ingest, make_slot, peak_meter
):
    slot = make_slot(member)
    at = NOW - timedelta(hours=1)
    ingest(
        member,
        {"meter": "tokens.input", "quantity": 10, "occurred_at": iso(at)},
        {"meter": "tokens.input", "quantity": 5, "occurred_at": iso(at + timedelta(minutes=1))},
        {"meter": "tokens.input", "quantity": 7, "slot": str(slot.id), "occurred_at": iso(at)},
        {"meter": "api.requests", "quantity": 9, "occurred_at": iso(at)},
        {"meter": "api.requests", "occurred_at": iso(at - timedelta(hours=1))},
        {"meter": "memory.peak", "quantity": 300, "occurred_at": iso(at)},
        {"meter": "memory.peak", "quantity": 800, "occurred_at": iso(at - timedelta(hours=1))},
        {"meter": "memory.peak", "quantity": 500, "occurred_at": iso(at)},
    )
    result = usage_rollup()
    assert result.events == 8
    assert not UsageEvent.objects.filter(rolled_at__isnull=True).exists()

    hour = at.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)

    def bucket(model, meter, start, slot_id=None):
        qs = model.objects.filter(user=member, meter__key=meter, bucket_start=start)
        row = (
            qs.get(slot_id=slot_id)
            if slot_id
            else qs.get(slot_id__isnull=False, slot_id=selectors.NO_SLOT)
        )
        return row.value, row.event_count

    assert bucket(HourlyRollup, "tokens.input", hour) == (Decimal(15), 2)
    assert bucket(HourlyRollup, "tokens.input", hour, slot.id) == (Decimal(7), 1)
    assert bucket(HourlyRollup, "api.requests", hour) == (Decimal(1), 1)
    assert bucket(HourlyRollup, "memory.peak", hour) == (Decimal(500), 2)
    assert bucket(DailyRollup, "tokens.input", day) == (Decimal(15), 2)
    assert bucket(DailyRollup, "api.requests", day) == (Decimal(2), 2)
    assert bucket(DailyRollup, "memory.peak", day) == (Decimal(800), 3)


def test_usage_rollup_runs_again_without_counting_twice(member, ingest):
    ingest(member, {"meter": "tokens.input", "quantity": 4})
    assert usage_rollup().events == 1
    assert usage_rollup().events == 0
    assert DailyRollup.objects.get().value == 4
    ingest(member, {"meter": "tokens.input", "quantity": 6})
    assert usage_rollup().events == 1
    assert DailyRollup.objects.get().value == 10
    assert HourlyRollup.objects.get().event_count == 2


def test_usage_rollup_late_event_updates_its_old_bucket(member, ingest, peak_meter):
    three_days_ago = NOW - timedelta(days=3)
    ingest(member, {"meter": "tokens.input", "quantity": 4, "occurred_at": iso(three_days_ago)})
    ingest(member, {"meter": "memory.peak", "quantity": 4, "occurred_at": iso(three_days_ago)})
    usage_rollup()
    ingest(member, {"meter": "tokens.input", "quantity": 6, "occurred_at": iso(three_days_ago)})
    ingest(member, {"meter": "memory.peak", "quantity": 9, "occurred_at": iso(three_days_ago)})
    ingest(member, {"meter": "memory.peak", "quantity": 2, "occurred_at": iso(three_days_ago)})
    usage_rollup()
    day = three_days_ago.replace(hour=0, minute=0, second=0, microsecond=0)
    assert DailyRollup.objects.get(meter__key="tokens.input", bucket_start=day).value == 10
    assert DailyRollup.objects.get(meter__key="memory.peak", bucket_start=day).value == 9
    assert totals_of(member, "7d")["tokens.input"] == 10


def test_usage_stats_stay_exact_at_every_stage_of_a_rollup(member, ingest):
    for hours in range(30):
        at = NOW - timedelta(hours=hours, minutes=7)
        ingest(member, {"meter": "tokens.input", "quantity": hours + 1, "occurred_at": iso(at)})
    expected = {
        "1h": 1,
        "24h": sum(range(1, 26)),  # the window starts at 13:00 yesterday: 25 whole hours
        "7d": sum(range(1, 31)),
        "30d": sum(range(1, 31)),
    }
    for _ in range(8):
        for period, total in expected.items():
            assert totals_of(member, period)["tokens.input"] == total, period
        usage_rollup(batch_size=4, max_batches=1)
    assert not UsageEvent.objects.filter(rolled_at__isnull=True).exists()
    for period, total in expected.items():
        assert totals_of(member, period)["tokens.input"] == total


def test_period_window_is_whole_buckets_up_to_the_current_bucket():
    w = selectors.period_window("24h")
    assert (w.granularity, w.start, w.end) == (
        "hour",
        datetime(2025, 3, 14, 14, tzinfo=UTC),
        datetime(2025, 3, 15, 15, tzinfo=UTC),
    )
    w = selectors.period_window("1h")
    assert (w.start, w.end) == (
        datetime(2025, 3, 15, 13, 37, tzinfo=UTC),
        datetime(2025, 3, 15, 14, 38, tzinfo=UTC),
    )
    assert len(w.bucket_starts()) == 61
    w = selectors.period_window("30d")
    assert (w.granularity, w.start, w.end) == (
        "day",
        datetime(2025, 2, 13, tzinfo=UTC),
        datetime(2025, 3, 16, tzinfo=UTC),
    )
    assert len(selectors.period_window("7d").bucket_starts()) == 7 * 24 + 1


@pytest.mark.parametrize("period", ["1h", "24h", "7d", "30d"])
def test_usage_stats_series_adds_up_to_the_totals(member, ingest, period):
    offsets = [0, 1, 59, 61, 60 * 23, 60 * 24 + 5, 60 * 24 * 6, 60 * 24 * 7 - 1]
    for n, minutes in enumerate(offsets):
        at = iso(NOW - timedelta(minutes=minutes))
        ingest(member, {"meter": "tokens.output", "quantity": n + 1, "occurred_at": at})
        ingest(member, {"meter": "api.requests", "occurred_at": at})
    usage_rollup(batch_size=5, max_batches=1)  # half rolled, half tail
    stats = selectors.usage_stats(user=member, period=period)
    for meter in ("tokens.output", "api.requests"):
        points = [p for p in stats["series"] if p["meter"] == meter]
        assert len(points) == len(selectors.period_window(period).bucket_starts())
        assert sum(p["value"] for p in points) == stats["totals"][meter]
    assert stats["totals"]["tokens.output"] > 0


@pytest.mark.parametrize("period", ["1h", "24h", "7d", "30d"])
def test_usage_stats_fractional_series_adds_up_to_the_totals_exactly(
    member, fractional_usage, period
):
    events = fractional_usage
    window = selectors.period_window(period)
    step = selectors.GRANULARITY_STEP[window.granularity]
    # Each bucket: the exact decimal sum of its events (the 0.1 + 0.2 + 0.7 bucket is 1).
    expected = [
        sum((q for at, q in events if start <= at < start + step), Decimal(0))
        for start in window.bucket_starts()
    ]
    stats = selectors.usage_stats(user=member, period=period)
    points = [p["value"] for p in stats["series"] if p["meter"] == "compute.seconds"]
    assert points == expected
    assert sum(points) == stats["totals"]["compute.seconds"] == sum(expected)
    assert stats["totals"]["compute.seconds"] == sum(
        q for at, q in events if window.start <= at < window.end
    )


def test_usage_stats_max_meter_total_is_the_largest_point(member, ingest, peak_meter):
    for minutes, value in [(5, 300), (70, 900), (200, 100)]:
        at = iso(NOW - timedelta(minutes=minutes))
        ingest(member, {"meter": "memory.peak", "quantity": value, "occurred_at": at})
    usage_rollup(batch_size=1, max_batches=1)
    stats = selectors.usage_stats(user=member, period="24h", meter=peak_meter)
    assert stats["totals"] == {"memory.peak": 900}
    assert max(p["value"] for p in stats["series"]) == 900


def test_usage_stats_filter_by_meter_and_slot_and_scope_by_user(
    member, other_member, ingest, make_slot, meters
):
    slot = make_slot(member)
    ingest(member, {"meter": "tokens.input", "quantity": 2, "slot": str(slot.id)})
    ingest(member, {"meter": "tokens.input", "quantity": 3})
    ingest(other_member, {"meter": "tokens.input", "quantity": 100})
    usage_rollup(batch_size=1, max_batches=1)
    assert totals_of(member, "24h", slot_id=slot.id)["tokens.input"] == 2
    stats = selectors.usage_stats(user=member, period="24h", meter=meters["tokens.input"])
    assert stats["totals"] == {"tokens.input": 5}
    assert {p["meter"] for p in stats["series"]} == {"tokens.input"}
    assert selectors.usage_totals(user=None, period="24h")["tokens.input"] == 105


# --- quota ----------------------------------------------------------------------------------


def test_usage_quota_check_records_the_crossing_once_with_an_audit_event(member, ingest, meters):
    Meter.objects.filter(key="tokens.input").update(limit=100)
    ingest(member, {"meter": "tokens.input", "quantity": 60})
    assert usage_quota_check(user=member) == []
    ingest(member, {"meter": "tokens.input", "quantity": 60})
    crossings = usage_quota_check(user=member)
    assert len(crossings) == 1 and crossings[0].used == 120
    usage_rollup()
    ingest(member, {"meter": "tokens.input", "quantity": 60})
    assert usage_quota_check(user=member) == []
    assert usage_rollup_and_check_quotas() == 1
    assert QuotaCrossing.objects.count() == 1
    row = AuditEvent.objects.get(action="usage.quota.exceeded")
    assert row.target_id == str(member.pk) and row.actor_type == "system"
    assert row.metadata["meter"] == "tokens.input" and row.metadata["limit"] == "100.000000"
    # Measurement never drops data: usage over the limit is all there.
    assert totals_of(member)["tokens.input"] == 180


def test_usage_quota_reaching_the_limit_exactly_is_not_crossing_it(member, ingest):
    Meter.objects.filter(key="tokens.input").update(limit=100)
    ingest(member, {"meter": "tokens.input", "quantity": 100})
    assert usage_quota_check(user=member) == []
    (quota,) = selectors.usage_quota(user=member)
    assert (quota["used"], quota["remaining"], quota["exceeded"]) == (100, 0, False)


def test_usage_quota_is_recorded_again_in_the_next_window(member, ingest):
    Meter.objects.filter(key="tokens.input").update(limit=10, limit_window="day")
    ingest(member, {"meter": "tokens.input", "quantity": 11})
    assert len(usage_quota_check(user=member)) == 1
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        assert usage_quota_check(user=member) == []  # yesterday's usage is not today's
        ingest(member, {"meter": "tokens.input", "quantity": 11})
        assert len(usage_quota_check(user=member)) == 1
    assert AuditEvent.objects.filter(action="usage.quota.exceeded").count() == 2


def test_usage_quota_override_replaces_the_default_limit(member, other_member, ingest, meters):
    Meter.objects.filter(key="tokens.input").update(limit=10)
    MeterLimitOverride.objects.create(meter=meters["tokens.input"], user=member, limit=1000)
    MeterLimitOverride.objects.create(meter=meters["tokens.output"], user=member, limit=5)
    MeterLimitOverride.objects.create(meter=meters["compute.seconds"], user=other_member)
    ingest(member, {"meter": "tokens.input", "quantity": 50})
    ingest(member, {"meter": "tokens.output", "quantity": 6})
    assert [c.meter.key for c in usage_quota_check(user=member)] == ["tokens.output"]
    quota = {q["meter"]: q for q in selectors.usage_quota(user=member)}
    assert set(quota) == {"tokens.input", "tokens.output"}
    assert quota["tokens.input"]["limit"] == 1000 and quota["tokens.input"]["remaining"] == 950
    assert quota["tokens.output"]["exceeded"] is True
    assert quota["tokens.input"]["window_start"] == datetime(2025, 3, 1, tzinfo=UTC)
    assert quota["tokens.input"]["window_end"] == datetime(2025, 4, 1, tzinfo=UTC)
    # An empty override means unlimited for that user.
    MeterLimitOverride.objects.filter(user=member, meter=meters["tokens.input"]).update(limit=None)
    assert {q["meter"] for q in selectors.usage_quota(user=member)} == {"tokens.output"}
    assert {q["meter"] for q in selectors.usage_quota(user=other_member)} == {"tokens.input"}


def test_usage_events_ingest_checks_the_quota_after_commit(
    member, ingest, django_capture_on_commit_callbacks
):
    Meter.objects.filter(key="tokens.input").update(limit=10)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest(member, {"meter": "tokens.input", "quantity": 11})
    assert len(callbacks) == 1
    assert QuotaCrossing.objects.filter(user=member, meter__key="tokens.input").exists()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest(member, {"meter": "tokens.output", "quantity": 11})
    assert callbacks == []  # no limit on that meter: no work queued


# --- retention ------------------------------------------------------------------------------


def test_usage_events_purge_deletes_only_old_rolled_events_and_keeps_totals(
    member, ingest, settings
):
    with time_machine.travel(NOW - timedelta(days=100), tick=False):
        ingest(member, {"meter": "tokens.input", "quantity": 3, "idempotency_key": "old"})
        ingest(member, {"meter": "tokens.input", "quantity": 4})
        usage_rollup()
        ingest(member, {"meter": "tokens.input", "quantity": 5})  # old but not rolled yet
    ingest(member, {"meter": "tokens.input", "quantity": 6})
    usage_rollup(batch_size=1, max_batches=1)  # rolls the unrolled old one only
    ingest(member, {"meter": "tokens.input", "quantity": 7})
    before = selectors.usage_all_time(user=member)
    assert usage_events_purge() == 3
    assert sorted(UsageEvent.objects.values_list("quantity", flat=True)) == [6, 7]
    assert selectors.usage_all_time(user=member) == before == {"tokens.input": 25}
    # The purged keyed event's key stays: replaying it is still a duplicate.
    replay = ingest(member, {"meter": "tokens.input", "quantity": 3, "idempotency_key": "old"})
    assert (replay.accepted, replay.duplicates) == (0, 1)


def test_usage_events_purge_never_deletes_unrolled_events(member, ingest):
    with time_machine.travel(NOW - timedelta(days=100), tick=False):
        ingest(member, {"meter": "tokens.input", "quantity": 3})
    assert usage_events_purge() == 0
    assert UsageEvent.objects.count() == 1


def test_usage_idempotency_outlives_the_raw_event(member, ingest):
    with time_machine.travel(NOW - timedelta(days=100), tick=False):
        ingest(member, {"meter": "tokens.input", "quantity": 3, "idempotency_key": "old"})
    usage_rollup()
    usage_events_purge()
    assert not UsageEvent.objects.exists()
    replay = {"meter": "tokens.input", "quantity": 3, "idempotency_key": "old"}
    result = ingest(member, replay, {"meter": "tokens.input", "quantity": 1})
    assert (result.accepted, result.duplicates) == (1, 1)
    with pytest.raises(Conflict):
        ingest(member, {**replay, "quantity": 4})
    assert selectors.usage_all_time(user=member) == {"tokens.input": 4}


# --- reads for other apps -------------------------------------------------------------------


def test_unrolled_backlog_counts_waiting_events(member, ingest):
    assert selectors.unrolled_backlog() == {
        "events": 0,
        "oldest_occurred_at": None,
        "oldest_received_at": None,
    }
    ingest(member, {"meter": "api.requests", "occurred_at": iso(NOW - timedelta(hours=5))})
    ingest(member, {"meter": "api.requests"})
    backlog = selectors.unrolled_backlog()
    assert backlog["events"] == 2
    assert backlog["oldest_occurred_at"] == NOW - timedelta(hours=5)
    assert backlog["oldest_received_at"] == NOW
    usage_rollup()
    assert selectors.unrolled_backlog()["events"] == 0


def test_usage_export_for_user_has_totals_per_period_and_quota(member, other_member, ingest):
    Meter.objects.filter(key="tokens.input").update(limit=5)
    with time_machine.travel(NOW - timedelta(days=6), tick=False):
        ingest(member, {"meter": "tokens.input", "quantity": 4})
    usage_rollup()
    ingest(member, {"meter": "tokens.input", "quantity": 2})
    ingest(other_member, {"meter": "tokens.input", "quantity": 50})
    usage_quota_check(user=member)
    export = selectors.usage_export_for_user(user=member)
    assert export["totals"]["all_time"] == {"tokens.input": 6}
    assert export["totals"]["24h"]["tokens.input"] == 2
    assert export["totals"]["7d"]["tokens.input"] == 6
    assert export["totals"]["30d"]["tokens.input"] == 6
    (quota,) = export["quota"]  # the March window holds both events
    assert (quota["used"], quota["remaining"], quota["exceeded"]) == (6, 0, True)
    assert [c["meter"] for c in export["quota_crossings"]] == ["tokens.input"]


def test_usage_system_stats_counts_active_users_slots_and_ranks_users(
    member, other_member, admin_user, ingest, make_slot
):
    slot_a, slot_b = make_slot(member, "a"), make_slot(other_member, "b")
    ingest(member, {"meter": "tokens.input", "quantity": 5, "slot": str(slot_a.id)})
    ingest(other_member, {"meter": "tokens.input", "quantity": 9, "slot": str(slot_b.id)})
    ingest(other_member, {"meter": "api.requests"})
    ingest(admin_user, {"meter": "api.requests"})
    usage_rollup(batch_size=2, max_batches=1)
    stats = selectors.usage_system_stats(period="7d")
    assert stats["totals"]["tokens.input"] == 14 and stats["totals"]["api.requests"] == 2
    assert (stats["active_users"], stats["active_slots"]) == (3, 2)
    assert [u["user"] for u in stats["top_users"]["tokens.input"]] == [
        str(other_member.pk),
        str(member.pk),
    ]
    assert stats["top_users"]["tokens.input"][0] == {
        "user": str(other_member.pk),
        "email": other_member.email,
        "value": 9,
    }
    assert stats["top_users"]["compute.seconds"] == []


def test_usage_export_rows_merge_rollups_and_tail_per_bucket(member, other_member, ingest):
    ingest(member, {"meter": "tokens.input", "quantity": 5})
    ingest(
        member,
        {"meter": "tokens.input", "quantity": 6, "occurred_at": iso(NOW - timedelta(days=2))},
    )
    usage_rollup()
    ingest(member, {"meter": "tokens.input", "quantity": 7})
    ingest(other_member, {"meter": "api.requests"})
    start = datetime(2025, 3, 1, tzinfo=UTC)
    end = datetime(2025, 4, 1, tzinfo=UTC)
    rows = list(selectors.usage_export_rows(user=member, start=start, end=end))
    assert [(r["bucket_start"].day, r["value"], r["events"]) for r in rows] == [
        (13, 6, 1),
        (15, 12, 2),
    ]
    assert rows[0]["email"] == member.email and rows[0]["slot_id"] is None
    everyone = list(selectors.usage_export_rows(start=start, end=end, granularity="hour"))
    assert sum(r["events"] for r in everyone) == 4
