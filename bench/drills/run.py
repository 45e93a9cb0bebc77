"""Roster's fault drills: `make drills`, or `.venv/bin/python bench/drills/run.py --only redis`.

Builds a production-shaped deployment of its own (bench/drills/deployment.py: the Procfile's
processes on a fresh PostgreSQL cluster and redis-server, on free ports), runs each drill
against it, prints every figure next to its goal, tears everything down and exits 1 if any
goal was missed.

  usage     usage exactness under retries and SIGKILLed rollups
  postgres  PostgreSQL restart and stop under load
  redis     Redis stop, freeze (SIGSTOP) and rollback to a snapshot
  audit     audit sealing under SIGKILLs
  quota     30 concurrent slot creates against a live-slot limit of 3
  abuse     abusive clients: 50 MB bodies, 100,000-deep JSON, 50 slow sockets
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.drills.deployment import Deployment  # noqa: E402

DRILLS = {
    "usage": "usage_exactness",
    "postgres": "postgres_outage",
    "redis": "redis_outage",
    "audit": "audit_sealing",
    "quota": "quota_race",
    "abuse": "abusive_clients",
}


def _terminate(signum, frame):
    # Ctrl-C or a SIGTERM still runs the teardown (the finally blocks below).
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=sorted(DRILLS), help="drills to run")
    args = parser.parse_args()
    names = [n for n in DRILLS if not args.only or n in args.only]
    signal.signal(signal.SIGTERM, _terminate)

    started = time.monotonic()
    results: dict[str, str] = {}
    with Deployment() as deployment:
        print(
            f"Roster drills: Procfile processes {[p.name for p in deployment.processes]} "
            f"(web {deployment.web_concurrency} workers) on PostgreSQL :{deployment.pg.port} "
            f"and Redis :{deployment.redis.port} of their own, ready in "
            f"{deployment.setup_seconds:.0f}s ("
            + ", ".join(f"{k} {v:.0f}s" for k, v in deployment.setup_steps.items())
            + f"); {os.cpu_count()} cores shared with the clients",
            flush=True,
        )
        os.environ.update(deployment.env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        import django

        django.setup()
        # Roster's JSON logging would print every request the drills' clients make.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        for name in names:
            print(f"\n=== drill: {name} ===", flush=True)
            drill_started = time.monotonic()
            try:
                module = importlib.import_module(f"bench.drills.{DRILLS[name]}")
                report = module.run(deployment)
                verdict = "passed" if report.ok else "MISSED: " + "; ".join(report.failed)
            except Exception:  # noqa: BLE001 - a drill that breaks is reported, the rest run
                traceback.print_exc()
                verdict = "BROKE (see the traceback above)"
            results[name] = verdict
            print(f"[{name}] {verdict} in {time.monotonic() - drill_started:.0f}s", flush=True)

    print(f"\n=== summary ({time.monotonic() - started:.0f}s) ===")
    for name, verdict in results.items():
        print(f"{name:<9} {verdict}")
    return 0 if all(v == "passed" for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
