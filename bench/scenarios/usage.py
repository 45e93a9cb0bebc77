"""Usage: ingestion throughput, rollup throughput, stats over 10 million events, COPY limit.

Seeds BENCH_USAGE_EVENTS events (default 10,000,000) for one user over the last 30 days
with plain SQL (4 meters, 5 slots, half of them keyed), builds their hourly and daily
rollups the way the rollup would, and leaves a tail of un-rolled events (BENCH_USAGE_TAIL,
default 2,000, over the last 15 minutes), so the stats endpoint reads rollups + tail like
in production. Seeding runs once (~25 minutes on the 2-core machine); later runs reuse it.

wrk scenarios:
- GET /usage/stats?period=30d and ?period=24h for the user holding the 10M events;
- POST /usage/events with a fixed batch of 1000 key-less events (key-less events are always
  counted, so wrk's fixed body is valid): events/s = req/s × 1000.

Offline figures:
- ingestion end to end with unique idempotency keys on every event, from a lean asyncio
  client (httpx, keep-alive) sending batches of 1000 concurrently: events/s;
- what validating one such batch costs in-process (``usage.contract.parse_events``);
- a plain COPY of the same rows into the same table (same indexes) from psycopg: the
  physical limit of this machine, and the ratio ingestion / COPY;
- rollup throughput of one worker (the service called in-process, batches of 5000).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.harness import BenchContext, Scenario

TARGET = int(os.environ.get("BENCH_USAGE_EVENTS", "10000000"))
# Un-rolled events of the stats user: ~2 minutes of rollup outage at this user's rate (the
# beat rolls every 15 s, so in steady state the tail is a few dozen events).
TAIL = int(os.environ.get("BENCH_USAGE_TAIL", "2000"))
INGEST_BATCHES = int(os.environ.get("BENCH_USAGE_INGEST_BATCHES", "120"))
INGEST_CONCURRENCY = int(os.environ.get("BENCH_USAGE_INGEST_CONCURRENCY", "4"))
ROLLUP_EVENTS = int(os.environ.get("BENCH_USAGE_ROLLUP_EVENTS", "300000"))
STATS_USER = "usage-bench-stats@example.com"
INGEST_USER = "usage-bench-ingest@example.com"
SCRATCH_USER = "usage-bench-scratch@example.com"
PASSWORD = "bench-password-for-usage-1"
METERS = ("api.requests", "tokens.input", "tokens.output", "compute.seconds")
SLOTS = [uuid.UUID(int=0xB0000 + n) for n in range(1, 6)]

_state: dict = {}


def _cursor():
    from django.db import connection

    return connection.cursor()


def _meter_ids() -> list[int]:
    from usage.models import Meter

    ids = dict(Meter.objects.filter(key__in=METERS).values_list("key", "id"))
    return [ids[key] for key in METERS]


def _purge_user(user) -> None:
    with _cursor() as cursor:
        for table in ("usage_usageevent", "usage_hourlyrollup", "usage_dailyrollup"):
            cursor.execute(f"DELETE FROM {table} WHERE user_id = %s", [user.pk])  # noqa: S608


def _insert_events(
    user, count: int, *, span: timedelta, rolled: bool, keyed: bool, offset=timedelta(0)
) -> None:
    """``count`` events spread evenly over ``span`` ending ``offset`` ago; 4 meters, 5 slots."""
    meters = _meter_ids()
    with _cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO usage_usageevent (user_id, meter_id, slot_id, quantity, occurred_at,
                received_at, idempotency_key, metadata, rolled_at)
            SELECT %(user)s,
                   (%(meters)s::bigint[])[1 + i %% 4],
                   CASE WHEN i %% 6 = 5 THEN NULL ELSE (%(slots)s::uuid[])[1 + i %% 5] END,
                   CASE WHEN i %% 4 = 0 THEN 1 ELSE (i %% 997) END,
                   %(end)s - (i * (%(span)s / %(count)s)) * interval '1 second',
                   %(end)s - (i * (%(span)s / %(count)s)) * interval '1 second',
                   CASE WHEN %(keyed)s AND i %% 2 = 0 THEN %(prefix)s || i::text END,
                   '{}'::jsonb,
                   CASE WHEN %(rolled)s THEN %(now)s END
            FROM generate_series(1, %(count)s) AS i
            """,
            {
                "user": user.pk,
                "meters": meters,
                "slots": SLOTS,
                "now": datetime.now(UTC),
                "end": datetime.now(UTC) - offset,
                "span": span.total_seconds(),
                "count": count,
                "rolled": rolled,
                "keyed": keyed,
                "prefix": f"seed-{uuid.uuid4().hex[:8]}-",
            },
        )


def _build_rollups(user) -> None:
    """Buckets of the user's rolled events, computed the way the rollup computes them."""
    with _cursor() as cursor:
        for table, unit in (("usage_hourlyrollup", "hour"), ("usage_dailyrollup", "day")):
            cursor.execute(
                f"""
                INSERT INTO {table} (user_id, meter_id, slot_id, bucket_start, value,
                    event_count, updated_at)
                SELECT e.user_id, e.meter_id,
                       COALESCE(e.slot_id, '00000000-0000-0000-0000-000000000000'::uuid),
                       date_trunc('{unit}', e.occurred_at),
                       CASE m.aggregation WHEN 'count' THEN count(*)::numeric
                                          WHEN 'max' THEN max(e.quantity)
                                          ELSE sum(e.quantity) END,
                       count(*), now()
                FROM usage_usageevent e JOIN usage_meter m ON m.id = e.meter_id
                WHERE e.user_id = %s AND e.rolled_at IS NOT NULL
                GROUP BY 1, 2, 3, 4, m.aggregation
                """,  # noqa: S608
                [user.pk],
            )


def _seed_stats_user(user) -> str:
    with _cursor() as cursor:
        cursor.execute("SELECT count(*) FROM usage_usageevent WHERE user_id = %s", [user.pk])
        have = cursor.fetchone()[0]
    if have >= TARGET:
        return f"reused {have:,} events"
    _purge_user(user)
    started = time.perf_counter()
    # The 30 days reach into last month, which a freshly migrated database has no events
    # partition for (migration 0004 and the beat task create them from this month on).
    from usage.sql import dialect

    dialect().ensure_partitions(datetime.now(UTC), 3, months_back=2)
    chunk = 1_000_000
    rolled = TARGET - TAIL
    done = 0
    while done < rolled:
        n = min(chunk, rolled - done)
        # Chunks cover consecutive slices of the 30 days, the newest first.
        _insert_events(
            user,
            n,
            span=timedelta(days=30) * n / rolled,
            offset=timedelta(days=30) * done / rolled,
            rolled=True,
            keyed=True,
        )
        done += n
        print(f"[usage] seeded {done:,}/{TARGET:,} events", flush=True)
    _build_rollups(user)
    _insert_events(user, TAIL, span=timedelta(minutes=15), rolled=False, keyed=True)
    with _cursor() as cursor:
        cursor.execute(
            "ANALYZE usage_usageevent; ANALYZE usage_hourlyrollup; ANALYZE usage_dailyrollup"
        )
    return f"seeded {TARGET:,} events in {time.perf_counter() - started:.0f} s"


def _batch(rng: random.Random, *, keys: bool, n: int = 1000) -> list[dict]:
    now = datetime.now(UTC)
    events = []
    for i in range(n):
        event = {
            "meter": METERS[i % 4],
            "quantity": rng.randint(1, 5000),
            "occurred_at": (now - timedelta(seconds=rng.randint(0, 3600))).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
        }
        if keys:
            event["idempotency_key"] = uuid.uuid4().hex
        events.append(event)
    return events


def _access_token(user) -> str:
    # Minted in-process (same signing key as the server): sign-in has its own scenario, and
    # the token endpoint's shared per-IP limits must not decide whether this one runs.
    from accounts.tokens import token_issue

    return token_issue(user=user).access


def setup(ctx: BenchContext) -> list[Scenario]:
    stats_user = ctx.create_user(STATS_USER, PASSWORD)
    ingest_user = ctx.create_user(INGEST_USER, PASSWORD)
    scratch_user = ctx.create_user(SCRATCH_USER, PASSWORD)
    _purge_user(ingest_user)  # what earlier runs ingested
    _purge_user(scratch_user)
    _state["seed"] = _seed_stats_user(stats_user)
    _state["ingest_user"], _state["scratch_user"] = ingest_user, scratch_user
    stats_auth = {"Authorization": f"Bearer {_access_token(stats_user)}"}
    ingest_auth = {"Authorization": f"Bearer {_access_token(ingest_user)}"}
    _state["ingest_auth"] = ingest_auth

    status, body = ctx.request("GET", "/api/v1/usage/stats?period=30d", headers=stats_auth)
    assert status == 200, body
    _state["stats_check"] = (
        f"{sum(body['totals'].values()):,.0f} total units, {len(body['series'])} points"
    )
    fixed = json.dumps({"events": _batch(random.Random(1), keys=False)})
    return [
        Scenario(
            name="usage stats 30d (10M events)",
            path="/api/v1/usage/stats?period=30d",
            headers=stats_auth,
        ),
        Scenario(
            name="usage stats 24h (10M events)",
            path="/api/v1/usage/stats?period=24h",
            headers=stats_auth,
        ),
        Scenario(
            name="usage ingest 1000/req (events/s = req/s x1000)",
            method="POST",
            path="/api/v1/usage/events",
            headers=ingest_auth,
            body=fixed,
        ),
    ]


async def _drive_ingestion(base_url: str, headers: dict, bodies: list[bytes]) -> dict:
    import httpx

    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures: list[str] = []
    headers = {**headers, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=INGEST_CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def worker():
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post("/api/v1/usage/events", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 202 or response.json()["accepted"] != 1000:
                    failures.append(f"{response.status_code} {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(INGEST_CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "failures": failures}


def _copy_rows(user, batches: list[list[dict]]) -> float:
    """COPY the same rows ingestion stored (same table, same indexes); seconds taken."""
    from django.db import connection

    meters = dict(zip(METERS, _meter_ids(), strict=True))
    received = datetime.now(UTC)
    rows = [
        (
            user.pk,
            meters[e["meter"]],
            None,
            e["quantity"],
            datetime.fromisoformat(e["occurred_at"]),
            received,
            e["idempotency_key"],
            "{}",
        )
        for batch in batches
        for e in batch
    ]
    connection.ensure_connection()
    started = time.perf_counter()
    # Django's connection is in autocommit mode: the COPY commits when it ends.
    with connection.connection.cursor() as cursor:
        with cursor.copy(
            "COPY usage_usageevent (user_id, meter_id, slot_id, quantity, occurred_at, "
            "received_at, idempotency_key, metadata) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
    return time.perf_counter() - started


def offline(ctx: BenchContext) -> dict[str, str]:
    from django.db import connection

    from usage.models import UsageEvent
    from usage.services import usage_rollup

    figures = {"stats user": _state["seed"], "stats 30d response": _state["stats_check"]}
    ingest_user, scratch_user = _state["ingest_user"], _state["scratch_user"]

    # 1. Ingestion end to end, unique keys on every event.
    rng = random.Random(2)
    batches = [_batch(rng, keys=True) for _ in range(INGEST_BATCHES)]
    bodies = [json.dumps({"events": b}).encode() for b in batches]
    warm = asyncio.run(_drive_ingestion(ctx.base_url, _state["ingest_auth"], bodies[:4]))
    assert not warm["failures"], warm["failures"][:3]
    run = asyncio.run(_drive_ingestion(ctx.base_url, _state["ingest_auth"], bodies[4:]))
    assert not run["failures"], run["failures"][:3]
    events = 1000 * len(bodies[4:])
    ingest_rate = events / run["elapsed"]
    lat = sorted(run["latencies"])
    figures["ingest, unique keys, batches of 1000"] = (
        f"{ingest_rate:,.0f} events/s ({events:,} events, {INGEST_CONCURRENCY} concurrent "
        f"requests; batch p50 {statistics.median(lat) * 1000:.0f} ms, "
        f"p95 {lat[int(len(lat) * 0.95) - 1] * 1000:.0f} ms)"
    )
    stored = UsageEvent.objects.filter(user=ingest_user).count()
    assert stored == 1000 * len(bodies), stored

    # 1b. What validation costs of that: the contract's checks on one batch, in-process.
    figures["validation of a batch of 1000 (in-process)"] = _validation_figure(
        ingest_user, batches[0]
    )

    # 2. The physical limit: COPY of the same rows, same table and indexes.
    copy_seconds = _copy_rows(scratch_user, batches[4:])
    copy_rate = events / copy_seconds
    figures["COPY of the same rows (physical limit)"] = f"{copy_rate:,.0f} rows/s"
    figures["ingestion / COPY"] = f"{ingest_rate / copy_rate:.0%}"
    _purge_user(scratch_user)
    _purge_user(ingest_user)

    # 3. Rollup throughput of one worker, on a fresh backlog (7 days, 4 meters, 5 slots).
    usage_rollup(max_batches=None)  # whatever else is pending, untimed
    _insert_events(scratch_user, ROLLUP_EVENTS, span=timedelta(days=7), rolled=False, keyed=False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_usageevent")
    started = time.perf_counter()
    result = usage_rollup(batch_size=5000, max_batches=None)
    elapsed = time.perf_counter() - started
    assert result.events == ROLLUP_EVENTS, result.events
    figures["rollup, one worker, batches of 5000"] = (
        f"{result.events / elapsed:,.0f} events/s ({result.events:,} events in {elapsed:.1f} s)"
    )
    _purge_user(scratch_user)

    # The stats user's un-rolled tail was rolled above: put a fresh one back, and let the
    # planner see the table as autovacuum would.
    _insert_events(_stats_user(), TAIL, span=timedelta(minutes=15), rolled=False, keyed=False)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE usage_usageevent")
    figures["stats user's un-rolled tail"] = f"{TAIL:,} events"
    return figures


def _validation_figure(user, events: list[dict], runs: int = 30) -> str:
    """usage.contract.parse_events on one batch (the meters query included), best and
    median of ``runs``."""
    from django.utils import timezone

    from usage.contract import parse_events

    body = {"events": events}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        parse_events(body, caller=user, now=timezone.now())
        times.append(time.perf_counter() - started)
    return (
        f"best {min(times) * 1000:.1f} ms, median {statistics.median(times) * 1000:.1f} ms "
        f"({runs} runs)"
    )


def _stats_user():
    from accounts.models import User

    return User.objects.get(email=STATS_USER)
