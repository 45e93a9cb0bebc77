"""Usage on the SQLite development database, before and after a change: ingestion and stats.

`.venv/bin/python bench/usage_sqlite.py --before <tree> [--events N] [--rounds R]`

``<tree>`` is a checkout of Roster before the change (e.g. ``git archive <commit> | tar -x -C
/tmp/before``; it uses this checkout's .venv). Each tree gets a fresh SQLite database of its
own (under a temporary directory), migrated by its own code, and then, in one process with
its own code:

1. ingestion in-process (``usage_events_ingest``): N events in batches of 1000 with unique
   keys and fractional quantities (6 decimals), spread over the last 6 days: events/s;
2. the rollup of all of them (``usage_rollup``): events/s; then 2,000 events more, left
   un-rolled, so the stats read rollups + tail;
3. the stats selector (``usage_stats``) for 1h (raw minutes), 24h, 7d and 30d: p50/p95 of 30
   calls each.

The trees run one after the other, R rounds (default 1), so both see the same machine; the
figures of each tree's fastest-ingesting round are printed. Figures, not assertions; about a
minute with the defaults (N = 10,000) on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER_EMAIL = "usage-sqlite@example.com"
METERS = ("tokens.input", "tokens.output", "compute.seconds")


def _run_tree(tree: Path, events: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="roster-bench-usage-sqlite-") as var_dir:
        env = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")
        }
        env.update(
            {
                "ROSTER_VAR_DIR": var_dir,
                "DEBUG": "false",
                "PYTHONPATH": str(tree),
                "DJANGO_SETTINGS_MODULE": "config.settings",
            }
        )
        out = subprocess.run(
            [str(ROOT / ".venv/bin/python"), str(Path(__file__).resolve()), "--measure"]
            + ["--events", str(events)],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
    if out.returncode:
        raise SystemExit(f"{tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _batches(count: int, *, span_seconds: int, seed: int) -> list[dict]:
    import random
    import uuid
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    rng = random.Random(seed)
    now = datetime.now(UTC)
    return [
        {
            "events": [
                {
                    "meter": METERS[i % len(METERS)],
                    "quantity": Decimal(rng.randint(1, 5_000_000_000)).scaleb(-6),
                    "occurred_at": (
                        now - timedelta(seconds=rng.randint(60, span_seconds))
                    ).isoformat(),
                    "idempotency_key": uuid.uuid4().hex,
                }
                for i in range(1000)
            ]
        }
        for _ in range(count)
    ]


def _percentiles(call) -> tuple[float, float]:
    call()  # warm-up
    times = []
    for _ in range(30):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.95) - 1] * 1000


def measure(events: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import User
    from usage.selectors import usage_stats
    from usage.services import usage_events_ingest, usage_rollup

    call_command("migrate", verbosity=0, skip_checks=True)
    user = User.objects.create_user(email=USER_EMAIL, password="bench-pass-usage-sqlite-1")
    figures: dict = {}

    batches = _batches(events // 1000, span_seconds=6 * 86400, seed=7)
    started = time.perf_counter()
    for body in batches:
        usage_events_ingest(caller=user, body=body)
    figures["ingest_events_per_s"] = events / (time.perf_counter() - started)

    started = time.perf_counter()
    rolled = usage_rollup(batch_size=5000, max_batches=10_000).events
    figures["rollup_events_per_s"] = rolled / (time.perf_counter() - started)
    for body in _batches(2, span_seconds=3000, seed=8):
        usage_events_ingest(caller=user, body=body)

    for period in ("1h", "24h", "7d", "30d"):
        p50, p95 = _percentiles(lambda p=period: usage_stats(user=user, period=p))
        figures[f"stats_{period}_p50_ms"] = p50
        figures[f"stats_{period}_p95_ms"] = p95
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.events)))
        return 0
    if args.before is None:
        parser.error("--before <tree> is required")
    trees = {"before": args.before.resolve(), "after": ROOT}
    rounds: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            rounds[name].append(_run_tree(tree, args.events))
    best = {
        name: max(runs, key=lambda figures: figures["ingest_events_per_s"])
        for name, runs in rounds.items()
    }
    print(f"{'':24}{'before':>12}{'after':>12}")
    for key in best["before"]:
        print(f"{key:24}{best['before'][key]:12.1f}{best['after'][key]:12.1f}")
    print(json.dumps({"events": args.events, "rounds": rounds}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
