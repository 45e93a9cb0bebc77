"""Real concurrency on PostgreSQL: threads with their own connections, committed data."""

from __future__ import annotations

import importlib
import random
import threading
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.authentication import AuthContext
from audit.models import AuditEvent
from usage import selectors
from usage.models import HourlyRollup, Meter, QuotaCrossing, UsageEvent
from usage.services import usage_events_ingest, usage_rollup

pytestmark = [
    pytest.mark.postgres,
    # Decided at collection, before any database set-up happens for these tests.
    pytest.mark.skipif(
        not settings.IS_POSTGRES, reason="needs PostgreSQL (row locks, SKIP LOCKED)"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _seeded_meters():
    # Transactional tests run on flushed tables: bring back the meters the data migration
    # seeds (the same function, so the same meters).
    from django.apps import apps

    importlib.import_module("usage.migrations.0002_seed_meters").seed_meters(apps, None)


def run_threads(target, count: int) -> list:
    """Run ``target(index)`` in ``count`` threads started together; re-raise any failure."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def wrapper(index: int):
        try:
            barrier.wait()
            results[index] = target(index)
        except Exception as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def warm_up_middleware(user) -> None:
    # Metrics middleware registers its collectors on first use, which is not thread-safe.
    assert api_client(user).get("/api/v1/meters").status_code == 200


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user, token=AuthContext(method="jwt"))
    return client


def test_usage_events_ten_concurrent_identical_posts_count_once(member):
    body = {
        "events": [
            {"meter": "tokens.input", "quantity": 7, "idempotency_key": f"retry-{i}"}
            for i in range(50)
        ]
    }

    def post(_index):
        response = api_client(member).post("/api/v1/usage/events", body, format="json")
        assert response.status_code == 202, response.content
        return response.json()

    warm_up_middleware(member)
    results = run_threads(post, 10)
    assert sum(r["accepted"] for r in results) == 50
    assert sum(r["duplicates"] for r in results) == 450
    assert UsageEvent.objects.count() == 50
    assert selectors.usage_totals(user=member, period="24h")["tokens.input"] == 350


def test_usage_events_concurrent_conflicting_posts_store_one_version(member):
    def post(index):
        event = {"meter": "tokens.input", "quantity": index + 1, "idempotency_key": "same"}
        response = api_client(member).post("/api/v1/usage/events", event, format="json")
        return response.status_code

    warm_up_middleware(member)
    codes = run_threads(post, 10)
    assert sorted(codes) == [202] + [409] * 9
    assert UsageEvent.objects.count() == 1


def _snapshot_check(user, period: str, meter: Meter) -> tuple[int | float, Decimal]:
    """Stats total and the raw sum of the same window, read in ONE snapshot."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        stats = selectors.usage_stats(user=user, period=period, meter=meter)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(quantity), 0) FROM usage_usageevent WHERE user_id = %s "
                "AND meter_id = %s AND occurred_at >= %s AND occurred_at < %s",
                [user.pk, meter.pk, stats["start"], stats["end"]],
            )
            raw = cursor.fetchone()[0]
    return stats["totals"][meter.key], raw


def _bracket_check(user, period: str, meter: Meter) -> tuple[Decimal, Decimal, Decimal] | None:
    """(raw sum before, stats total, raw sum after), each its own statement in READ COMMITTED,
    as a client reads. Quantities are never negative and nothing is deleted here, so an exact
    reader lies between the two sums: a double count exceeds the later one, a lost event
    falls short of the earlier one, whatever the rollup did in between."""

    def raw_sum(start, end) -> Decimal:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(quantity), 0) FROM usage_usageevent WHERE user_id = %s "
                "AND meter_id = %s AND occurred_at >= %s AND occurred_at < %s",
                [user.pk, meter.pk, start, end],
            )
            return Decimal(cursor.fetchone()[0])

    window = selectors.usage_stats(user=user, period=period, meter=meter)
    before = raw_sum(window["start"], window["end"])
    stats = selectors.usage_stats(user=user, period=period, meter=meter)
    after = raw_sum(stats["start"], stats["end"])
    if (stats["start"], stats["end"]) != (window["start"], window["end"]):
        return None  # the clock crossed a bucket edge between the reads: nothing to compare
    return before, Decimal(str(stats["totals"].get(meter.key, 0))), after


def test_usage_stats_stay_exact_while_ingestion_and_two_rollup_workers_run(member, meters):
    meter = meters["tokens.input"]
    rng = random.Random(6)
    now = timezone.now()
    batches = [
        [
            {
                "meter": "tokens.input",
                "quantity": rng.randint(0, 1000),
                # Spread over ~2 days, so hourly and daily buckets and edges all get traffic.
                "occurred_at": iso(now - timedelta(minutes=rng.randint(0, 3000))),
                **({"idempotency_key": f"b{b}-{i}"} if i % 2 else {}),
            }
            for i in range(40)
        ]
        for b in range(40)
    ]
    stop = threading.Event()
    accepted = [Decimal(0), Decimal(0)]
    rolled = [0, 0]
    checks: list[str] = []
    brackets: list[str] = []
    errors: list = []

    def ingest(index):
        for n, batch in enumerate(batches[index::2]):
            result = usage_events_ingest(caller=member, body={"events": batch})
            assert result.accepted == 40
            accepted[index] += sum(Decimal(e["quantity"]) for e in batch)
            if n % 5 == 0:  # a client retrying a batch: every keyed event is a duplicate
                replay = [e for e in batch if "idempotency_key" in e]
                again = usage_events_ingest(caller=member, body={"events": replay})
                assert (again.accepted, again.duplicates) == (0, len(replay))

    def roll(index):
        while not stop.is_set():  # small batches, so the two workers interleave a lot
            rolled[index - 2] += usage_rollup(batch_size=37, max_batches=3).events

    def check(_index):
        # Stats must equal the raw truth of the same snapshot, whatever is rolled so far.
        while not stop.is_set():
            for period in ("24h", "7d", "30d"):
                total, raw = _snapshot_check(member, period, meter)
                assert Decimal(str(total)) == raw, (period, total, raw)
                bracket = _bracket_check(member, period, meter)
                if bracket is not None:
                    before, total, after = bracket
                    assert before <= total <= after, (period, before, total, after)
                    brackets.append(period)
                checks.append(period)

    def runner(index):
        try:
            (ingest if index < 2 else roll if index < 4 else check)(index)
        except Exception as exc:  # reported below
            errors.append(exc)
            stop.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads[:2]:
        thread.join(timeout=120)
    stop.set()
    for thread in threads[2:]:
        thread.join(timeout=60)
    assert not errors, errors

    assert rolled[0] > 0 and rolled[1] > 0 and len(checks) >= 3 and len(brackets) >= 3
    usage_rollup()
    assert UsageEvent.objects.count() == 1600
    assert not UsageEvent.objects.filter(rolled_at__isnull=True).exists()
    total = selectors.usage_totals(user=member, period="7d")["tokens.input"]
    assert Decimal(str(total)) == accepted[0] + accepted[1]
    # Each event went into exactly one hourly bucket, whichever worker rolled it.
    assert sum(HourlyRollup.objects.values_list("event_count", flat=True)) == 1600
    for period in ("24h", "7d", "30d"):
        total, raw = _snapshot_check(member, period, meter)
        assert Decimal(str(total)) == raw


def test_usage_rollup_counts_events_whose_transactions_commit_out_of_id_order(member):
    inserted, release = threading.Event(), threading.Event()
    first_id: list[int] = []

    def slow_writer(_index):
        with transaction.atomic():
            usage_events_ingest(caller=member, body={"meter": "tokens.input", "quantity": 3})
            first_id.append(UsageEvent.objects.order_by("-id").values_list("id", flat=True)[0])
            inserted.set()
            assert release.wait(timeout=30)
        return None

    thread = threading.Thread(target=lambda: (slow_writer(0), connection.close()))
    thread.start()
    assert inserted.wait(timeout=30)
    usage_events_ingest(caller=member, body={"meter": "tokens.input", "quantity": 5})
    second = UsageEvent.objects.get()
    assert second.id > first_id[0]  # the later id commits first
    assert usage_rollup().events == 1  # only what is committed
    assert selectors.usage_totals(user=member, period="24h")["tokens.input"] == 5
    release.set()
    thread.join(timeout=30)
    assert selectors.usage_totals(user=member, period="24h")["tokens.input"] == 8
    assert usage_rollup().events == 1  # the early id, rolled although a later one was first
    assert selectors.usage_totals(user=member, period="24h")["tokens.input"] == 8
    assert HourlyRollup.objects.get().event_count == 2
    assert usage_rollup().events == 0


def test_usage_rollup_skips_events_locked_by_another_worker(member):
    usage_events_ingest(
        caller=member,
        body={"events": [{"meter": "tokens.input", "quantity": q} for q in (1, 2, 4)]},
    )
    locked, release = threading.Event(), threading.Event()
    oldest = UsageEvent.objects.order_by("id").first()

    def holder():
        try:
            with transaction.atomic():
                list(UsageEvent.objects.select_for_update().filter(pk=oldest.pk))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert locked.wait(timeout=30)
    assert usage_rollup().events == 2  # did not wait for the locked row
    assert selectors.usage_totals(user=member, period="24h")["tokens.input"] == 7
    release.set()
    thread.join(timeout=30)
    assert usage_rollup().events == 1
    assert selectors.usage_totals(user=member, period="24h")["tokens.input"] == 7


def test_usage_quota_crossed_by_concurrent_requests_is_recorded_once(member):
    Meter.objects.filter(key="tokens.input").update(limit=100)

    def post(_index):
        return usage_events_ingest(caller=member, body={"meter": "tokens.input", "quantity": 30})

    run_threads(post, 8)
    assert QuotaCrossing.objects.filter(user=member).count() == 1
    assert AuditEvent.objects.filter(action="usage.quota.exceeded").count() == 1
    assert selectors.usage_totals(user=member, period="24h")["tokens.input"] == 240


def test_usage_events_same_keys_in_opposite_orders_at_once_never_deadlock(member, caplog):
    # Two clients sending one set of keys at once, each in its own order: if each batch took
    # the keys' unique-index entries in arrival order, each would wait for the other's.
    # Full batches (1000) keep each INSERT running long enough for the two to overlap.
    keys = [f"key-{i:04d}" for i in range(1000)]
    quantity = {key: i + 1 for i, key in enumerate(keys)}
    rounds = 5
    in_step = threading.Barrier(2)

    def post(index):
        client = api_client(member)
        results = []
        try:
            for round_ in range(rounds):
                events = [
                    {
                        "meter": "tokens.input",
                        "quantity": quantity[key],
                        "idempotency_key": f"r{round_}-{key}",
                    }
                    for key in (keys if index == 0 else reversed(keys))
                ]
                in_step.wait(timeout=30)  # both batches of a round go in together
                response = client.post("/api/v1/usage/events", {"events": events}, format="json")
                assert response.status_code == 202, response.content
                results.append(response.json())
        except BaseException:
            in_step.abort()  # the other thread stops waiting for this one
            raise
        return results

    warm_up_middleware(member)
    with caplog.at_level("WARNING", logger="usage.services"):
        results = run_threads(post, 2)
    replies = [reply for thread in results for reply in thread]
    assert sum(r["accepted"] for r in replies) == rounds * len(keys)
    assert sum(r["duplicates"] for r in replies) == rounds * len(keys)
    assert UsageEvent.objects.count() == rounds * len(keys)
    assert UsageEvent.objects.values("idempotency_key").distinct().count() == rounds * len(keys)
    total = selectors.usage_totals(user=member, period="24h")["tokens.input"]
    assert total == rounds * sum(quantity.values())
    # The insert order alone avoids the deadlock; the retry is a safety net, not the fix.
    assert not [r for r in caplog.records if "retried" in r.getMessage()]
