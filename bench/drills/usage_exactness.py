"""Usage exactness under retries and SIGKILLed rollups.

``DRILL_USAGE_EVENTS`` (default 60,000) distinct events, each with its own idempotency key
and an exact quantity of up to 1e6 with 6 fractional digits, are sent ``DRILL_USAGE_SENDS``
(default 3) times each, in batches of 1000 shuffled across the sends, by 4 concurrent
clients (so the copies of one event race each other in concurrent transactions); a batch
that gets no 202 is sent again. Meanwhile rollups are queued every second and a Celery
worker caught inside a rollup transaction (seen in ``pg_stat_activity``, traced to its
process through the connection's port) is SIGKILLed with its whole pool and restarted.

Goals: every event counted exactly once — 0 lost, 0 double-counted — in the database's raw
events, in the rollup buckets and in ``GET /api/v1/usage/stats`` (to the last digit, both
while a tail is un-rolled and after everything is rolled); the 202s accepted each event
exactly once; every event of every 202'd batch stored.
"""

from __future__ import annotations

import json
import os
import queue
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from bench.drills.common import Report, error_code
from bench.drills.deployment import PASSWORD, Deployment, wait_until

EVENTS = int(os.environ.get("DRILL_USAGE_EVENTS", "60000"))
SENDS = int(os.environ.get("DRILL_USAGE_SENDS", "3"))
BATCH = 1000
SENDERS = 4
KILLS = int(os.environ.get("DRILL_USAGE_KILLS", "5"))
METER = "tokens.input"
ROLLUP_SQL_MARK = "WITH claimed AS"


def _events() -> list[tuple[str, Decimal, str]]:
    rng = random.Random(15)  # noqa: S311 - test data
    now = datetime.now(UTC)
    events = []
    for i in range(EVENTS):
        quantity = Decimal(rng.randrange(0, 10**12)) / 10**6
        occurred = now - timedelta(seconds=rng.randrange(60, 3 * 3600))
        events.append((f"drill-{i}", quantity, occurred.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
    return events


def _body(events) -> str:
    # Written by hand so each quantity goes out as the exact literal (never via a float).
    return (
        '{"events": ['
        + ",".join(
            f'{{"meter": "{METER}", "quantity": {q}, "idempotency_key": "{k}", '
            f'"occurred_at": "{t}"}}'
            for k, q, t in events
        )
        + "]}"
    )


class Killer(threading.Thread):
    """Queues rollups and SIGKILLs the worker caught inside one, then restarts it."""

    def __init__(self, deployment: Deployment):
        super().__init__(daemon=True)
        self.deployment = deployment
        self.kills: list[str] = []
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - reported by the drill
            self.errors.append(repr(exc))

    def _run(self) -> None:
        last_queued = last_kill = 0.0
        with self.deployment.pg.connect() as conn:
            while not self.stop.is_set() and len(self.kills) < KILLS:
                now = time.monotonic()
                if now - last_queued > 1.0:
                    self.deployment.send_task("usage.rollup")
                    last_queued = now
                if now - last_kill < 1.0:
                    time.sleep(0.05)
                    continue
                rows = conn.execute(
                    "SELECT client_port, state FROM pg_stat_activity WHERE xact_start IS NOT NULL"
                    " AND query LIKE %s AND pid <> pg_backend_pid()",
                    [f"%{ROLLUP_SQL_MARK}%"],
                ).fetchall()
                for port, state in rows:
                    worker = self.deployment.worker_of_backend(port)
                    if worker is None:
                        continue
                    worker.kill()
                    self.kills.append(f"{worker.name} ({state})")
                    last_kill = time.monotonic()
                    # Restarted at once, not waited for: the other worker goes on rolling
                    # up meanwhile and may be the next one caught.
                    worker.start()
                    break
                time.sleep(0.02)


def _stats(deployment: Deployment, token: str) -> dict:
    r = httpx.get(
        deployment.base_url + "/api/v1/usage/stats",
        params={"period": "7d"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    r.raise_for_status()
    return json.loads(r.text, parse_float=Decimal, parse_int=Decimal)


def _stats_figures(stats: dict) -> tuple[Decimal, Decimal]:
    total = stats["totals"].get(METER, Decimal(0))
    series = sum((p["value"] for p in stats["series"] if p["meter"] == METER), Decimal(0))
    return total, series


def run(deployment: Deployment) -> Report:
    from django.db import close_old_connections
    from django.db.models import Count, Sum

    from usage.models import DailyRollup, HourlyRollup, Meter, UsageEvent

    report = Report("usage")
    close_old_connections()
    email = f"drill-usage-{uuid.uuid4().hex[:8]}@example.com"
    user = deployment.user(email)
    key = deployment.helpers().api_key_for(email, PASSWORD, ["usage:read", "usage:write"])
    events = _events()
    expected_sum = sum((q for _, q, _ in events), Decimal(0))
    batches = []
    for send in range(SENDS):
        order = list(events)
        random.Random(send).shuffle(order)  # noqa: S311
        batches += [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
    random.Random(99).shuffle(batches)  # noqa: S311
    report.figure(
        "setup",
        f"{EVENTS:,} distinct events × {SENDS} sends = {len(batches)} batches of {BATCH}, "
        f"{SENDERS} concurrent clients; exact sum {expected_sum}",
    )

    work: queue.Queue = queue.Queue()
    for batch in batches:
        work.put(batch)
    lock = threading.Lock()
    accepted = duplicates = retries = 0
    stored_by_202: set[str] = set()
    unanswered: list[str] = []
    bad_counts = 0

    def sender() -> None:
        nonlocal accepted, duplicates, retries, bad_counts
        with httpx.Client(base_url=deployment.base_url, timeout=60) as client:
            while True:
                try:
                    batch = work.get_nowait()
                except queue.Empty:
                    return
                body = _body(batch)
                for attempt in range(6):
                    try:
                        r = client.post(
                            "/api/v1/usage/events",
                            content=body,
                            headers={
                                "Authorization": f"Bearer {key}",
                                "Content-Type": "application/json",
                            },
                        )
                        outcome = f"{r.status_code} {error_code(r)}"
                    except httpx.HTTPError as exc:
                        r, outcome = None, type(exc).__name__
                    if r is not None and r.status_code == 202:
                        result = r.json()
                        with lock:
                            accepted += result["accepted"]
                            duplicates += result["duplicates"]
                            if result["accepted"] + result["duplicates"] != len(batch):
                                bad_counts += 1
                            stored_by_202.update(k for k, _, _ in batch)
                        break
                    with lock:
                        retries += 1
                    time.sleep(0.5 * (attempt + 1))
                else:
                    with lock:
                        unanswered.append(outcome)

    killer = Killer(deployment)
    started = time.monotonic()
    killer.start()
    senders = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    ingest_seconds = time.monotonic() - started
    report.figure(
        "ingestion",
        f"{len(batches)} batches in {ingest_seconds:.1f}s "
        f"({EVENTS * SENDS / ingest_seconds:,.0f} events/s sent, retries {retries})",
    )

    # While a tail is still un-rolled, the stats must already be exact.
    unrolled = UsageEvent.objects.filter(user=user, rolled_at__isnull=True).count()
    total, series = _stats_figures(_stats(deployment, key))
    report.check(
        f"stats total with {unrolled:,} events not yet rolled up",
        total,
        f"{expected_sum} exactly",
        total == expected_sum,
    )

    # The killer goes on (rollups keep running) until it has killed enough times.
    killer.join(timeout=90)
    killer.stop.set()
    killer.join(timeout=30)
    report.check(
        "Celery workers SIGKILLed inside a rollup transaction",
        f"{len(killer.kills)}: {', '.join(killer.kills)}",
        f"{KILLS}",
        len(killer.kills) >= KILLS and not killer.errors,
    )
    if killer.errors:
        report.figure("killer errors", killer.errors)
    for worker in deployment.workers:
        if not worker.alive():
            worker.start()
        deployment.wait_worker_ready(worker)

    def all_rolled() -> bool:
        if UsageEvent.objects.filter(user=user, rolled_at__isnull=True).exists():
            deployment.send_task("usage.rollup")
            return False
        return True

    wait_until(all_rolled, timeout=180, interval=2, what="every event rolled up")

    raw = UsageEvent.objects.filter(user=user).aggregate(n=Count("id"), total=Sum("quantity"))
    meter = Meter.objects.get(key=METER)
    buckets = {
        model.__name__: model.objects.filter(user=user, meter=meter).aggregate(
            n=Sum("event_count"), total=Sum("value")
        )
        for model in (HourlyRollup, DailyRollup)
    }
    stored_keys = set(
        UsageEvent.objects.filter(user=user).values_list("idempotency_key", flat=True)
    )
    total, series = _stats_figures(_stats(deployment, key))

    lost = EVENTS - raw["n"] if raw["n"] < EVENTS else 0
    report.check("events lost (raw rows)", lost, "0", lost == 0)
    report.check(
        "events double-counted (raw rows)",
        max(0, raw["n"] - EVENTS),
        "0",
        raw["n"] == EVENTS,
    )
    report.check(
        "database sum of raw events", raw["total"], f"{expected_sum}", raw["total"] == expected_sum
    )
    for name, figures in buckets.items():
        report.check(
            f"{name} buckets: events / sum",
            f"{figures['n']:,} / {figures['total']}",
            f"{EVENTS:,} / {expected_sum}",
            figures["n"] == EVENTS and figures["total"] == expected_sum,
        )
    report.check(
        "stats total after every rollup", total, f"{expected_sum} exactly", total == expected_sum
    )
    report.check("stats series adds up to the total", series, f"{total}", series == total)
    report.check(
        "events accepted over all 202s (the rest reported as duplicates)",
        f"{accepted:,} accepted, {duplicates:,} duplicates",
        f"{EVENTS:,} accepted, {EVENTS * (SENDS - 1):,} duplicates",
        accepted == EVENTS and duplicates == EVENTS * (SENDS - 1) and bad_counts == 0,
    )
    missing = len(stored_by_202 - stored_keys)
    report.check("events of 202'd batches missing from the database", missing, "0", missing == 0)
    report.check(
        "batches never answered 202 after 6 attempts",
        f"{len(unanswered)} {unanswered[:3] if unanswered else ''}".strip(),
        "0",
        not unanswered,
    )
    return report
