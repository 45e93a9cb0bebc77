"""Usage events on one table vs partitioned by month (PostgreSQL): ingestion, stats, retention.

`.venv/bin/python bench/usage_partitions.py --before <tree> [--events N]`

``<tree>`` is a checkout of Roster before the partitioning (e.g. ``git archive <commit> |
tar -x -C /tmp/before``; it uses this checkout's .venv). In one run, on this machine:

1. a database migrated by the *before* tree is seeded with N events of one user spread
   evenly over the last 120 days (4 meters, 5 slots, half keyed, all rolled, with their
   hourly and daily rollups) plus 2,000 un-rolled events of the last 15 minutes;
2. it is copied (``CREATE DATABASE ... TEMPLATE``) and the copy migrated by *this* tree:
   migration 0004 converts the table (the copy of the rows is timed);
3. on each database, with its own code: ingestion in-process (``usage_events_ingest``,
   batches of 1000 events with unique keys, one process), the stats selector for 30 days
   (``usage_stats``, p50/p95 of 30 calls) and retention (``usage_events_purge`` at the
   default 90 days: a quarter of the events are past it).

Figures, not assertions; the databases are dropped at the end unless ``--keep``. The
measurements change the databases (ingestion, retention): ``--reuse`` is for kept databases
that were never measured (e.g. a run whose measuring step failed).

``--partitioned-only [--database NAME]`` measures this tree alone at sizes where a second
copy and the conversion do not fit the time or the disk (50 million events): one database
migrated by this tree, its months created 5 back, seeded straight into the partitions (the
keyed events' keys into the keys table, as migration 0004 copies them), then measured as
above, with the size of each partition.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_BEFORE, DB_AFTER = "bench_usage_one_table", "bench_usage_partitioned"
DB_ONLY = "bench_usage_partitioned_only"
KEYS_FROM_EVENTS = (
    "INSERT INTO usage_idempotencykey "
    "(user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at, recorded_at) "
    "SELECT user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at, received_at "
    "FROM usage_usageevent WHERE idempotency_key IS NOT NULL"
)
USER_EMAIL = "usage-partitions@example.com"


def _env(tree: Path, database: str, extra_path: str = "") -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from bench import harness

    env = harness.bench_environment(ROOT / "var" / "bench-usage-partitions")
    env.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
            "REDIS_URL": "",
            "PYTHONPATH": os.pathsep.join(p for p in (str(tree), extra_path) if p),
        }
    )
    return env


def _psql(sql: str, database: str = "postgres") -> str:
    sys.path.insert(0, str(ROOT))
    from bench import harness

    return harness.psql(sql, database)


# Packages the before tree needs that this checkout's .venv no longer has (--before-deps).
_before_deps = {"path": ""}


def _phase(tree: Path, database: str, phase: str, events: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from bench import harness

    env = _env(tree, database, _before_deps["path"] if tree != ROOT else "")
    return harness.run_phase(Path(__file__).resolve(), phase, events, cwd=tree, env=env)


# --- phases, run inside a tree's Django ------------------------------------------------------


def _django():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def _user():
    from accounts.models import User

    user = User.objects.filter(email=USER_EMAIL).first()
    return user or User.objects.create_user(email=USER_EMAIL, password="bench-pass-usage-1")


def phase_migrate(events: int) -> dict:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0, skip_checks=True)
    return {"migrate_seconds": time.perf_counter() - started}


def _partitioned(cursor) -> bool:
    cursor.execute(
        "SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'usage_usageevent'::regclass"
    )
    return cursor.fetchone() is not None


def phase_seed(events: int) -> dict:
    from datetime import UTC, datetime

    from django.db import connection

    from usage.models import Meter

    user = _user()
    figures: dict = {}
    with connection.cursor() as cursor:
        partitioned = _partitioned(cursor)
    if partitioned:
        # Seeded straight into this tree's partitions: the 120 days need their months
        # (the migration created them from the oldest stored event, and there was none).
        from usage.sql.postgresql import ensure_partitions

        ensure_partitions(datetime.now(UTC), months_ahead=3, months_back=5)
    meters = list(
        Meter.objects.filter(
            key__in=("api.requests", "tokens.input", "tokens.output", "compute.seconds")
        ).values_list("id", flat=True)
    )
    started = time.perf_counter()
    chunk = 1_000_000
    with connection.cursor() as cursor:
        for first in range(0, events, chunk):
            cursor.execute(
                """
                INSERT INTO usage_usageevent (user_id, meter_id, slot_id, quantity, occurred_at,
                    received_at, idempotency_key, metadata, rolled_at)
                SELECT %(user)s, (%(meters)s::bigint[])[1 + i %% 4],
                       CASE WHEN i %% 6 = 5 THEN NULL
                            ELSE ('00000000-0000-0000-0000-00000000000' || (1 + i %% 5))::uuid END,
                       1 + i %% 997,
                       now() - interval '120 days' * (i::float8 / %(n)s),
                       now() - interval '120 days' * (i::float8 / %(n)s),
                       CASE WHEN i %% 2 = 0 THEN 'seed-' || i END, '{}'::jsonb, now()
                FROM generate_series(%(first)s, %(last)s) AS i
                """,
                {
                    "user": user.pk,
                    "meters": meters,
                    "n": events,
                    "first": first + 1,
                    "last": min(first + chunk, events),
                },
            )
        figures["events_seconds"] = time.perf_counter() - started
        if partitioned:
            keys_started = time.perf_counter()
            cursor.execute(KEYS_FROM_EVENTS)
            figures["keys_seconds"] = time.perf_counter() - keys_started
        for table, unit in (("usage_hourlyrollup", "hour"), ("usage_dailyrollup", "day")):
            cursor.execute(
                f"""
                INSERT INTO {table} (user_id, meter_id, slot_id, bucket_start, value,
                    event_count, updated_at)
                SELECT e.user_id, e.meter_id,
                       COALESCE(e.slot_id, '00000000-0000-0000-0000-000000000000'::uuid),
                       date_trunc('{unit}', e.occurred_at), sum(e.quantity), count(*), now()
                FROM usage_usageevent e GROUP BY 1, 2, 3, 4
                """  # noqa: S608 - table names from this function
            )
        cursor.execute(
            """
            INSERT INTO usage_usageevent (user_id, meter_id, quantity, occurred_at,
                received_at, metadata)
            SELECT %s, %s, 1, now() - interval '1 second' * i, now(), '{}'::jsonb
            FROM generate_series(1, 2000) AS i
            """,
            [user.pk, meters[0]],
        )
        cursor.execute("VACUUM ANALYZE")
    figures["seed_seconds"] = time.perf_counter() - started
    return figures


def phase_measure(events: int) -> dict:
    import random
    import uuid
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from usage import selectors
    from usage.models import Meter
    from usage.services import usage_events_ingest, usage_events_purge

    user = _user()
    figures: dict = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('usage_usageevent')")
        size = cursor.fetchone()[0]
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'usage_usageevent'::regclass"
        )
        figures["events_table_bytes"] = int(size + cursor.fetchone()[0])
        cursor.execute(
            "SELECT pg_total_relation_size(coalesce(to_regclass('usage_idempotencykey'), "
            "to_regclass('usage_retiredidempotencykey')))"
        )
        figures["keys_table_bytes"] = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT c.relname, c.reltuples::bigint, pg_table_size(c.oid), "
            "pg_indexes_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'usage_usageevent'::regclass ORDER BY c.relname"
        )
        figures["partitions"] = [list(row) for row in cursor.fetchall()]

    meter = Meter.objects.get(key="tokens.input")
    times = []
    for _ in range(30):
        started = time.perf_counter()
        selectors.usage_stats(user=user, period="30d", meter=meter)
        times.append(time.perf_counter() - started)
    times.sort()
    figures["stats_30d_p50_ms"] = statistics.median(times) * 1000
    figures["stats_30d_p95_ms"] = times[int(len(times) * 0.95) - 1] * 1000

    rng = random.Random(7)
    batches = []
    for _ in range(30):
        now = datetime.now(UTC)
        batches.append(
            {
                "events": [
                    {
                        "meter": "tokens.input",
                        "quantity": rng.randint(1, 5000),
                        "occurred_at": (now - timedelta(seconds=rng.randint(0, 3600))).isoformat(),
                        "idempotency_key": uuid.uuid4().hex,
                    }
                    for _ in range(1000)
                ]
            }
        )
    usage_events_ingest(caller=user, body=batches[0])  # warm-up
    started = time.perf_counter()
    for body in batches[1:]:
        usage_events_ingest(caller=user, body=body)
    figures["ingest_events_per_s"] = 29_000 / (time.perf_counter() - started)
    replay = time.perf_counter()
    usage_events_ingest(caller=user, body=batches[1])  # every key taken: all duplicates
    figures["ingest_replay_batch_ms"] = (time.perf_counter() - replay) * 1000

    started = time.perf_counter()
    purged = usage_events_purge()
    figures["purge_seconds"] = time.perf_counter() - started
    figures["purged_events"] = purged
    return figures


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--phase", choices=["migrate", "seed", "measure"])
    parser.add_argument("--keep", action="store_true", help="keep the two databases")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the databases a --keep run left"
    )
    parser.add_argument(
        "--partitioned-only",
        action="store_true",
        help="measure this tree alone on one database (no --before, no conversion)",
    )
    parser.add_argument("--database", default=DB_ONLY, help="with --partitioned-only")
    parser.add_argument(
        "--before-deps",
        default="",
        help="a directory of packages the before tree needs and .venv lacks (pip --target)",
    )
    args = parser.parse_args()
    if args.phase:
        _django()
        print(json.dumps(globals()[f"phase_{args.phase}"](args.events)))
        return 0

    if args.partitioned_only:
        return _partitioned_only(args.database, args.events, keep=args.keep, reuse=args.reuse)
    if args.before is None:
        parser.error("--before is required (or --partitioned-only)")
    before, after = args.before.resolve(), ROOT
    _before_deps["path"] = args.before_deps
    if not args.reuse:
        for database in (DB_BEFORE, DB_AFTER):
            _psql(f"DROP DATABASE IF EXISTS {database}")
        _psql(f"CREATE DATABASE {DB_BEFORE}")
        _phase(before, DB_BEFORE, "migrate", args.events)
        seed = _phase(before, DB_BEFORE, "seed", args.events)
        print(f"seeded {args.events:,} events in {seed['seed_seconds']:.0f} s", flush=True)
        _psql(f"CREATE DATABASE {DB_AFTER} TEMPLATE {DB_BEFORE}")
        migrated = _phase(after, DB_AFTER, "migrate", args.events)
        print(
            f"migration 0004 (copy into monthly partitions): {migrated['migrate_seconds']:.1f} s",
            flush=True,
        )
    results = {
        "one table (before)": _phase(before, DB_BEFORE, "measure", args.events),
        "partitioned (after)": _phase(after, DB_AFTER, "measure", args.events),
    }
    _print_table(args.events, results)
    if not args.keep:
        for database in (DB_BEFORE, DB_AFTER):
            _psql(f"DROP DATABASE IF EXISTS {database}")
    return 0


def _partitioned_only(database: str, events: int, *, keep: bool, reuse: bool) -> int:
    if not reuse:
        _psql(f"DROP DATABASE IF EXISTS {database}")
        _psql(f"CREATE DATABASE {database}")
        migrated = _phase(ROOT, database, "migrate", events)
        print(f"migrated in {migrated['migrate_seconds']:.0f} s", flush=True)
        seed = _phase(ROOT, database, "seed", events)
        print(
            f"seeded {events:,} events in {seed['seed_seconds']:.0f} s (events "
            f"{seed['events_seconds']:.0f} s = {events / seed['events_seconds']:,.0f}/s, "
            f"their keys {seed['keys_seconds']:.0f} s, rollups and VACUUM ANALYZE the rest)",
            flush=True,
        )
    figures = _phase(ROOT, database, "measure", events)
    _print_table(events, {"partitioned by month": figures})
    print("\npartition                       rows (est.)   table MiB   indexes MiB   bytes/row")
    for name, rows, table_bytes, index_bytes in figures["partitions"]:
        per_row = (table_bytes + index_bytes) / rows if rows > 0 else 0
        print(
            f"{name:30} {rows:12,} {table_bytes / 2**20:11,.0f} {index_bytes / 2**20:13,.0f}"
            f" {per_row:11,.0f}"
        )
    if not keep:
        _psql(f"DROP DATABASE IF EXISTS {database}")
    return 0


def _print_table(events: int, results: dict[str, dict]) -> None:
    rows = [
        ("events table + indexes", lambda f: f"{f['events_table_bytes'] / 2**30:.2f} GiB"),
        ("idempotency keys table", lambda f: f"{f['keys_table_bytes'] / 2**30:.2f} GiB"),
        (
            "stats 30d p50 / p95",
            lambda f: f"{f['stats_30d_p50_ms']:.1f} / {f['stats_30d_p95_ms']:.1f} ms",
        ),
        ("ingest, keyed, batches of 1000", lambda f: f"{f['ingest_events_per_s']:,.0f} events/s"),
        ("replay of a batch (1000 duplicates)", lambda f: f"{f['ingest_replay_batch_ms']:.0f} ms"),
        (
            "retention at 90 days",
            lambda f: f"{f['purged_events']:,} events in {f['purge_seconds']:.1f} s",
        ),
    ]
    print(f"\n{events:,} events over 120 days, one user")
    print(f"{'':38}" + "".join(f"{name:>28}" for name in results))
    for label, fmt in rows:
        print(f"{label:38}" + "".join(f"{fmt(f):>28}" for f in results.values()))


if __name__ == "__main__":
    sys.exit(main())
