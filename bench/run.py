"""Run Roster's benchmarks: `make bench` or `.venv/bin/python bench/run.py [--only name ...]`.

Starts gunicorn in the Procfile's layout (production settings, PostgreSQL + Redis) and drives
every scenario module under bench/scenarios/ with wrk at 16 and 64 connections, printing
p50/p95/p99 latency, requests/s and server CPU per request. Scenario modules may also print
offline figures.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="scenario modules to run (default: all)")
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_SECONDS", 10)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 2)))
    parser.add_argument(
        "--worker-class",
        default=os.environ.get("BENCH_WORKER_CLASS", harness.PROCFILE_LAYOUT),
        choices=[harness.PROCFILE_LAYOUT, "sync", "gthread"],
        help="procfile (default): the Procfile's web layout; sync, gthread: gunicorn's",
    )
    parser.add_argument("--connections", default="16,64")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    env = harness.bench_environment(ROOT / "var" / "bench")
    harness.ensure_database(env)
    subprocess.run(
        [str(harness.VENV_BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    subprocess.run(
        [str(harness.VENV_BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()

    names = [m.name for m in pkgutil.iter_modules([str(ROOT / "bench" / "scenarios")])]
    if args.only:
        names = [n for n in names if n in args.only]
    connections = tuple(int(c) for c in args.connections.split(","))

    server = harness.Server(env, workers=args.workers, worker_class=args.worker_class)
    server.start()
    print(
        f"Roster bench: gunicorn {args.workers}x{args.worker_class} on PostgreSQL + Redis, "
        f"wrk {args.duration}s per run, {os.cpu_count()} cores shared with the driver\n"
    )
    try:
        scenarios: list[tuple[str, harness.Scenario]] = []
        ctx = harness.BenchContext(server, connections=connections, duration=args.duration)
        for name in names:
            module = importlib.import_module(f"bench.scenarios.{name}")
            if hasattr(module, "setup"):
                scenarios += [(name, s) for s in module.setup(ctx)]
            if hasattr(module, "offline"):
                for label, figure in module.offline(ctx).items():
                    print(f"[{name}] {label}: {figure}")
        for name, scenario in scenarios:
            for c in connections:
                result = harness.run_wrk(server, scenario, c, scenario.duration or args.duration)
                print(f"[{name}] {result.line()}", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
