"""Audit events on one table vs partitioned by month (PostgreSQL): insert, list, retention.

`.venv/bin/python bench/audit_partitions.py [--events N]`

In one run, on this machine, with this checkout's code on both sides:

1. a database is migrated, then ``audit`` back to 0004 (one events table), and seeded with N
   events spread evenly over the last 400 days (1,000 actors, a few actions, in time order),
   all sealed by the sealer;
2. it is copied (``CREATE DATABASE ... TEMPLATE``) and the copy migrated forward: migration
   0005 converts the table into monthly partitions (timed);
3. on each database: ``record`` one event at a time, each in its own transaction (events/s),
   then the sealer over them (events/s), the reads of the API's list (newest 50; an action
   prefix; a person's events; a target), p50/p95 of 30 calls each, then retention at the
   default 365 days (``events_prune``: a twelfth of the events are past it) and the
   verification of what remains.

Figures, not assertions; the databases are dropped at the end unless ``--keep``.

``--reads DATABASE [--tree PATH]`` measures only the reads of a person's events, on a
database left by ``--keep``, with the code of ``PATH`` (default: this checkout): the API's
first page and the page three ``next`` links on (through its view, serializer included,
as a member), the security log's first and third page, the whole log's newest page, and the
EXPLAIN ANALYZE of the two scans of a person's third page. Run with two trees on the same
database, back to back, for a before/after of a change to these reads.
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
DB_BEFORE, DB_AFTER = "bench_audit_one_table", "bench_audit_partitioned"


def _env(database: str) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from bench import harness

    env = harness.bench_environment(ROOT / "var" / "bench-audit-partitions")
    env.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
            "REDIS_URL": "",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _psql(sql: str, database: str = "postgres") -> str:
    sys.path.insert(0, str(ROOT))
    from bench import harness

    return harness.psql(sql, database)


def _phase(database: str, phase: str, events: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from bench import harness

    return harness.run_phase(Path(__file__).resolve(), phase, events, cwd=ROOT, env=_env(database))


# --- phases, run inside Django ---------------------------------------------------------------


def _django():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def phase_one_table(events: int) -> dict:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, skip_checks=True)
    call_command("migrate", "audit", "0004", verbosity=0, skip_checks=True)
    return {}


def phase_partition(events: int) -> dict:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", "audit", verbosity=0, skip_checks=True)
    return {"migrate_seconds": time.perf_counter() - started}


def phase_seed(events: int) -> dict:
    from django.db import connection

    from audit.services import events_seal

    started = time.perf_counter()
    chunk = 500_000
    with connection.cursor() as cursor:
        for first in range(0, events, chunk):
            cursor.execute(
                """
                INSERT INTO audit_auditevent (uuid, occurred_at, action, actor_type, actor_id,
                    actor_display, target_type, target_id, ip, user_agent, request_id,
                    changes, metadata, seal)
                SELECT gen_random_uuid(),
                       now() - interval '400 days' * (1 - i::float8 / %(n)s),
                       (ARRAY['auth.login', 'auth.login.failed', 'auth.token.refreshed',
                              'slot.created', 'slot.updated', 'user.updated',
                              'apikey.created', 'org.member.added'])[1 + i %% 8],
                       'user', 'u' || (i %% 1000), 'user' || (i %% 1000) || '@example.com',
                       'slot', 's' || (i %% 5000), '10.0.0.1', 'bench/1.0',
                       md5(i::text), '{}'::jsonb, '{"bench": true}'::jsonb, ''
                FROM generate_series(%(first)s, %(last)s) AS i
                """,
                {"n": events, "first": first + 1, "last": min(first + chunk, events)},
            )
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    sealed = events_seal(batch_size=5000, time_budget=3600.0)
    seal_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_auditevent")
    return {"seed_seconds": seeded, "sealed": sealed, "seal_seconds": seal_seconds}


def _timed(call, runs: int = 30) -> tuple[float, float]:
    call()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.95) - 1] * 1000


def phase_measure(events: int) -> dict:
    from django.db import connection

    from audit.models import AuditEvent
    from audit.selectors import chain_verify, filter_action, filter_target
    from audit.services import events_prune, events_seal, record

    figures: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('audit_auditevent') + coalesce((SELECT "
            "sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'audit_auditevent'::regclass), 0)"
        )
        figures["table_bytes"] = int(cursor.fetchone()[0])

    count = 2000
    started = time.perf_counter()
    for i in range(count):
        record(action="bench.recorded", metadata={"i": i})
    figures["insert_per_s"] = count / (time.perf_counter() - started)
    started = time.perf_counter()
    events_seal()
    figures["seal_per_s"] = count / (time.perf_counter() - started)

    events_all = AuditEvent.objects.all()
    reads = {
        "newest 50": lambda: list(events_all[:50]),
        "action auth. prefix": lambda: list(filter_action(events_all, "auth.")[:50]),
        "a person's events": lambda: list(AuditEvent.objects.involving("u417")[:50]),
        "a target": lambda: list(filter_target(events_all, "slot:s4242")[:50]),
    }
    figures["reads"] = {name: _timed(call) for name, call in reads.items()}

    started = time.perf_counter()
    figures["pruned"] = events_prune()
    figures["prune_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    result = chain_verify()
    figures["verify_seconds"] = time.perf_counter() - started
    figures["verify_ok"] = result.ok
    figures["verified"] = result.checked
    return figures


class _Reader:
    """A member as the API and the selectors see one (the seeded actors have no account)."""

    is_authenticated = True
    is_active = True
    roles = ("member",)

    def __init__(self, pk: str) -> None:
        self.pk = self.id = pk


def _api_page(view, factory, reader, url: str):
    from rest_framework.test import force_authenticate

    request = factory.get(url, HTTP_HOST="localhost")
    force_authenticate(request, user=reader)
    response = view(request)
    response.render()
    assert response.status_code == 200, response.content[:300]
    return response.data


def _security_log(reader, before: str, size: int):
    from audit import selectors

    if hasattr(selectors, "security_log_page"):
        return selectors.security_log_page(reader, before=before, size=size)
    events = selectors.events_of(reader)  # the page as it read before the selector existed
    if before.isdigit():
        events = events.filter(id__lt=int(before))
    rows = list(events.order_by("-id")[: size + 1])
    return rows[:size], rows[size - 1].id if len(rows) > size else None


def phase_reads(events: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIRequestFactory

    from audit.api.views import AuditEventList

    view, factory, reader = AuditEventList.as_view(), APIRequestFactory(), _Reader("u417")
    base = "/api/v1/audit/events?page_size=50"
    deep = base
    for _ in range(3):
        deep = _api_page(view, factory, reader, deep)["next"]

    def log_page(n: int):
        before = ""
        for _ in range(n):
            rows, before = _security_log(reader, before, 50)
            before = str(before)
        return rows

    admin = _Reader("bench-admin")
    admin.roles = ("admin",)
    reads = {
        "API, a member's first page": lambda: _api_page(view, factory, reader, base),
        "API, a member's 4th page (cursor)": lambda: _api_page(view, factory, reader, deep),
        "security log, first page": lambda: log_page(1),
        "security log, first 3 pages": lambda: log_page(3),
        "API, an admin's newest page": lambda: _api_page(view, factory, admin, base),
    }
    figures: dict = {"reads": {name: _timed(call) for name, call in reads.items()}}
    with CaptureQueriesContext(connection) as captured:
        _api_page(view, factory, reader, deep)
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            if "audit_auditevent" in query["sql"] and "LIMIT" in query["sql"]:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, SUMMARY) " + query["sql"])
                plans.append([row[0] for row in cursor.fetchall()])
    figures["queries_per_deep_page"] = len(captured.captured_queries)
    figures["plans"] = plans
    return figures


def reads_only(database: str, tree: Path, events: int) -> int:
    sys.path.insert(0, str(ROOT))
    from bench import harness

    env = _env(database)
    env["PYTHONPATH"] = str(tree)
    figures = harness.run_phase(Path(__file__).resolve(), "reads", events, cwd=tree, env=env)
    print(f"reads on {database} with the code of {tree} (p50 / p95 of 30, in-process)")
    for name, (p50, p95) in figures["reads"].items():
        print(f"  {name:40} {p50:6.1f} / {p95:6.1f} ms")
    print(f"  SQL statements of a member's 4th page: {figures['queries_per_deep_page']}")
    for plan in figures["plans"]:
        print("\n".join(["", *plan]))
    return 0


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--phase", choices=["one_table", "partition", "seed", "measure", "reads"])
    parser.add_argument("--reads", metavar="DATABASE", help="measure the reads only, there")
    parser.add_argument("--tree", type=Path, default=ROOT, help="with --reads: whose code")
    parser.add_argument("--keep", action="store_true", help="keep the two databases")
    args = parser.parse_args()
    if args.phase:
        _django()
        print(json.dumps(globals()[f"phase_{args.phase}"](args.events)))
        return 0
    if args.reads:
        return reads_only(args.reads, args.tree.resolve(), args.events)

    for database in (DB_BEFORE, DB_AFTER):
        _psql(f"DROP DATABASE IF EXISTS {database}")
    _psql(f"CREATE DATABASE {DB_BEFORE}")
    _phase(DB_BEFORE, "one_table", args.events)
    seed = _phase(DB_BEFORE, "seed", args.events)
    print(
        f"seeded {args.events:,} events in {seed['seed_seconds']:.0f} s, "
        f"sealed {seed['sealed']:,} in {seed['seal_seconds']:.0f} s",
        flush=True,
    )
    _psql(f"CREATE DATABASE {DB_AFTER} TEMPLATE {DB_BEFORE}")
    migrated = _phase(DB_AFTER, "partition", args.events)
    print(f"migration 0005 (copy into monthly partitions): {migrated['migrate_seconds']:.1f} s")
    results = {
        "one table (before)": _phase(DB_BEFORE, "measure", args.events),
        "partitioned (after)": _phase(DB_AFTER, "measure", args.events),
    }

    def read(name: str):
        return lambda f: "{:.1f} / {:.1f} ms".format(*f["reads"][name])

    rows = [
        ("events table + indexes", lambda f: f"{f['table_bytes'] / 2**20:,.0f} MiB"),
        ("record(), one per transaction", lambda f: f"{f['insert_per_s']:,.0f} events/s"),
        ("sealing them", lambda f: f"{f.get('seal_per_s', 0):,.0f} events/s"),
        *[
            (f"list p50 / p95: {name}", read(name))
            for name in results["one table (before)"]["reads"]
        ],
        (
            "retention at 365 days",
            lambda f: f"{f['pruned']:,} events in {f['prune_seconds']:.1f} s",
        ),
        (
            "verify after retention",
            lambda f: f"{'ok' if f['verify_ok'] else 'BROKEN'}, {f['verified']:,} "
            f"in {f['verify_seconds']:.0f} s",
        ),
    ]
    print(f"\n{args.events:,} audit events over 400 days")
    print(f"{'':40}" + "".join(f"{name:>30}" for name in results))
    for label, fmt in rows:
        print(f"{label:40}" + "".join(f"{fmt(f):>30}" for f in results.values()))
    if not args.keep:
        for database in (DB_BEFORE, DB_AFTER):
            _psql(f"DROP DATABASE IF EXISTS {database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
