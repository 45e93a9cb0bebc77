"""Run Roster's benchmarks: `make bench` or `.venv/bin/python bench/run.py [--only name ...]`.

Starts gunicorn in the Procfile's layout (production settings, PostgreSQL + Redis) and drives
every scenario module under bench/scenarios/ with wrk at 16 and 64 connections, printing
p50/p95/p99 latency, requests/s and server CPU per request. Scenario modules may also print
offline figures. Then (unless --no-peer) fastapi-users, started from the pinned requirements
under bench/peers/fastapi_users/, runs the operations both have with the same wrk settings,
and the two are printed side by side. bench/signup_sqlite.py measures sign-up on SQLite.
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
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("BENCH_PEER", "on") == "on",
        help="also run fastapi-users (bench/peers/) on the compared operations (default: on)",
    )
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
    results: dict[tuple[str, int], harness.Result] = {}
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
                if scenario.connections and c not in scenario.connections:
                    continue
                result = harness.run_wrk(server, scenario, c, scenario.duration or args.duration)
                results[(scenario.name, c)] = result
                print(f"[{name}] {result.line()}", flush=True)
    finally:
        server.stop()
    if args.peer:
        _peer_side_by_side(env, args, results)
    return 0


def _cpu(result: harness.Result) -> str:
    """Server + database CPU per request."""
    if result.server_cpu_ms_per_request is None:
        return "n/a"
    return f"{result.server_cpu_ms_per_request + (result.db_cpu_ms_per_request or 0):.2f} ms"


def _peer_side_by_side(env, args, results: dict[tuple[str, int], harness.Result]) -> None:
    """fastapi-users on the same machine, same wrk settings, after Roster has stopped; then
    the operations both have, side by side."""
    from bench.peers.fastapi_users import runner

    peer = runner.start(env, workers=args.workers)
    rows = []
    try:
        for roster_name, scenario in runner.scenarios(peer).items():
            for c in sorted({c for (n, c) in results if n == roster_name}):
                result = harness.run_wrk(peer, scenario, c, args.duration)
                print(f"[peer] {result.line()}", flush=True)
                rows.append((roster_name, c, results[(roster_name, c)], result))
    finally:
        peer.stop()
    print(f"\nRoster vs fastapi-users ({args.workers} workers each, PostgreSQL, one run)")
    print(f"{'operation':<34} {'c':>3}  {'Roster':>22}  {'fastapi-users':>22}  ratio")
    for name, c, ours, theirs in rows:
        ratio = ours.rps / theirs.rps if theirs.rps else float("nan")
        print(
            f"{name[:34]:<34} {c:>3}  {ours.rps:>7.0f}/s {_cpu(ours):>11} cpu  "
            f"{theirs.rps:>7.0f}/s {_cpu(theirs):>11} cpu  {ratio:4.2f}x"
            + (
                f"  (non-2xx: {ours.non_2xx} | {theirs.non_2xx})"
                if ours.non_2xx or theirs.non_2xx
                else ""
            )
        )


if __name__ == "__main__":
    sys.exit(main())
