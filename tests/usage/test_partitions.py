"""Usage events partitioned by month on PostgreSQL: creation ahead, ingestion and idempotency
across partitions, retention dropping whole partitions."""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.authentication import AuthContext
from config.errors import Conflict
from usage import selectors
from usage.models import IdempotencyKey, UsageEvent
from usage.services import usage_events_purge, usage_partitions_ensure, usage_rollup
from usage.sql import postgresql

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="partitions exist on PostgreSQL only"),
]

# Far from the months the migration creates for the test database, so every partition these
# tests see is one they made.
MARCH_1 = datetime(2031, 3, 1, 0, 5, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def partition_of_each_event() -> dict[str, str]:
    """idempotency key → the partition that stores its event."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT idempotency_key, tableoid::regclass::text FROM usage_usageevent")
        return dict(cursor.fetchall())


def partition_names() -> list[str]:
    return [name for name, _, _ in postgresql.partitions()]


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user, token=AuthContext(method="jwt"))
    return client


@pytest.mark.django_db
def test_usage_partitions_ensure_creates_the_months_ahead_once():
    with time_machine.travel(datetime(2031, 2, 10, tzinfo=UTC), tick=False):
        created = usage_partitions_ensure()
        assert created == [f"usage_usageevent_p2031{m:02}" for m in (2, 3, 4, 5)]
        assert usage_partitions_ensure() == []
    # In its first days a month still takes late events of the month before: that one too.
    with time_machine.travel(datetime(2031, 8, 3, tzinfo=UTC), tick=False):
        assert usage_partitions_ensure()[0] == "usage_usageevent_p203107"
    assert set(created) <= set(partition_names())


@pytest.mark.django_db
def test_usage_events_ingest_across_a_partition_boundary_lands_in_both_months(member, ingest):
    with time_machine.travel(MARCH_1, tick=False):
        usage_partitions_ensure()
        result = ingest(
            member,
            {
                "meter": "tokens.input",
                "quantity": 2,
                "idempotency_key": "feb",
                "occurred_at": iso(MARCH_1 - timedelta(minutes=6)),
            },
            {
                "meter": "tokens.input",
                "quantity": 3,
                "idempotency_key": "mar",
                "occurred_at": iso(MARCH_1 - timedelta(minutes=4)),
            },
        )
        assert (result.accepted, result.duplicates) == (2, 0)
        assert partition_of_each_event() == {
            "feb": "usage_usageevent_p203102",
            "mar": "usage_usageevent_p203103",
        }
        assert selectors.usage_totals(user=member, period="24h")["tokens.input"] == 5
        usage_rollup()
        assert selectors.usage_totals(user=member, period="24h")["tokens.input"] == 5


@pytest.mark.django_db
def test_usage_idempotency_key_holds_across_partitions(member, ingest):
    feb = iso(MARCH_1 - timedelta(days=2))
    with time_machine.travel(MARCH_1, tick=False):
        usage_partitions_ensure()
        first = {"meter": "tokens.input", "quantity": 4, "idempotency_key": "k", "occurred_at": feb}
        assert ingest(member, first).accepted == 1
        # The same key replayed without a time (it would be filed under March): a duplicate.
        replay = ingest(member, {"meter": "tokens.input", "quantity": 4, "idempotency_key": "k"})
        assert (replay.accepted, replay.duplicates) == (0, 1)
        # The same key with a March time: a different event, refused as before.
        with pytest.raises(Conflict):
            ingest(member, {**first, "occurred_at": iso(MARCH_1)})
        response = api_client(member).post(
            "/api/v1/usage/events", {**first, "occurred_at": iso(MARCH_1)}, format="json"
        )
        assert response.status_code == 409
        assert response.json()["errors"][0]["code"] == "idempotency_conflict"
    assert partition_of_each_event() == {"k": "usage_usageevent_p203102"}
    assert selectors.usage_all_time(user=member) == {"tokens.input": 4}


@pytest.fixture
def seeded_meters():
    # Transactional tests run on flushed tables: bring back the meters the data migration
    # seeds (the same function, so the same meters).
    from django.apps import apps

    importlib.import_module("usage.migrations.0002_seed_meters").seed_meters(apps, None)


@pytest.mark.django_db(transaction=True)
def test_usage_concurrent_replays_in_two_partitions_store_one_event(member, seeded_meters):
    """Ten posts race with one key, half dated February, half March: one event is stored,
    the posts that repeat it are duplicates (202), the others conflicts (409)."""
    moments = [MARCH_1 - timedelta(minutes=10), MARCH_1 + timedelta(seconds=1)]
    barrier = threading.Barrier(10)
    codes: list = [None] * 10
    with time_machine.travel(MARCH_1 + timedelta(minutes=1)):
        created = usage_partitions_ensure()
        try:
            assert api_client(member).get("/api/v1/meters").status_code == 200

            def post(index: int) -> None:
                event = {
                    "meter": "tokens.input",
                    "quantity": 1,
                    "idempotency_key": "race",
                    "occurred_at": iso(moments[index % 2]),
                }
                try:
                    barrier.wait()
                    response = api_client(member).post("/api/v1/usage/events", event, format="json")
                    codes[index] = response.status_code
                finally:
                    connection.close()

            threads = [threading.Thread(target=post, args=(i,)) for i in range(10)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            stored = list(UsageEvent.objects.values_list("occurred_at", flat=True))
            assert len(stored) == 1
            winner = moments.index(stored[0])
            assert [codes[i] for i in range(winner, 10, 2)] == [202] * 5
            assert [codes[i] for i in range(1 - winner, 10, 2)] == [409] * 5
            assert IdempotencyKey.objects.get().occurred_at == stored[0]
        finally:
            with connection.cursor() as cursor:
                for name in created:
                    cursor.execute(f'DROP TABLE "{name}"')


@pytest.mark.django_db
def test_usage_events_purge_drops_a_partition_wholly_past_retention(member, ingest):
    january, february = datetime(2031, 1, 15, tzinfo=UTC), datetime(2031, 2, 10, tzinfo=UTC)
    with time_machine.travel(january, tick=False):
        usage_partitions_ensure()
        ingest(member, {"meter": "tokens.input", "quantity": 1, "idempotency_key": "jan"})
        ingest(member, {"meter": "tokens.input", "quantity": 2})
    with time_machine.travel(february, tick=False):
        ingest(member, {"meter": "tokens.input", "quantity": 3})
        usage_rollup()
        ingest(member, {"meter": "tokens.input", "quantity": 4})  # not rolled yet
    totals = selectors.usage_all_time(user=member)
    assert totals == {"tokens.input": 10}
    # The beat task runs in its own transaction; this test's inserts still have foreign-key
    # checks pending (deferred), which PostgreSQL will not let a DROP TABLE leave behind.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # 90 days after 2031-03-05: January and February are wholly past the cutoff.
    with time_machine.travel(datetime(2031, 6, 3, tzinfo=UTC), tick=False):
        assert usage_events_purge() == 3
    names = partition_names()
    assert "usage_usageevent_p203101" not in names  # dropped whole
    # February holds an un-rolled event: the partition stays, its rolled row went by DELETE.
    assert "usage_usageevent_p203102" in names
    assert list(UsageEvent.objects.values_list("quantity", flat=True)) == [4]
    assert selectors.usage_all_time(user=member) == totals
    # The dropped event's key outlives its partition.
    replay = ingest(member, {"meter": "tokens.input", "quantity": 1, "idempotency_key": "jan"})
    assert (replay.accepted, replay.duplicates) == (0, 1)


@pytest.mark.django_db
def test_usage_partitions_ensure_skips_a_month_the_default_partition_holds(member, ingest):
    # A fresh install in a month's first days: a late event of the month before has no
    # partition yet and lands in the default one.
    with time_machine.travel(datetime(2032, 5, 2, tzinfo=UTC), tick=False):
        ingest(
            member,
            {
                "meter": "tokens.input",
                "quantity": 9,
                "idempotency_key": "late",
                "occurred_at": iso(datetime(2032, 4, 29, tzinfo=UTC)),
            },
        )
        assert partition_of_each_event() == {"late": "usage_usageevent_default"}
        created = usage_partitions_ensure()
    # April cannot be created while the default holds an April row; the months ahead are.
    assert created == [f"usage_usageevent_p2032{m:02}" for m in (5, 6, 7, 8)]
    assert selectors.usage_all_time(user=member) == {"tokens.input": 9}
