"""Sign-up on the embedded default (SQLite): the Procfile's web layout with two workers on a
fresh database file, CLIENTS concurrent clients each signing up new addresses, against the
argon2 floor of the same run (argon2id hashes/s with Roster's parameters, one process per
core, hashing only).

    .venv/bin/python bench/signup_sqlite.py [--clients 64] [--signups 128] [--before DIR]

Prints sign-ups/s, its share of the floor, the cores the server used (its CPU seconds over
the wall time) and the failed sign-ups. ``--before DIR`` runs the same against another
checkout of Roster first (e.g. a ``git worktree`` of an earlier commit), for before/after
figures from one run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import _cpu_seconds, free_port  # noqa: E402

PASSWORD = "signup-sqlite-bench-password-1"


def _hash_for(seconds: float) -> int:
    from argon2 import PasswordHasher
    from django.conf import settings

    settings.configure()
    from django.contrib.auth.hashers import Argon2PasswordHasher

    roster = Argon2PasswordHasher()
    hasher = PasswordHasher(
        time_cost=roster.time_cost, memory_cost=roster.memory_cost, parallelism=roster.parallelism
    )
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.hash(PASSWORD)
        count += 1
    return count


def argon2_floor(seconds: float = 5.0) -> float:
    cores = os.cpu_count() or 1
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        return sum(pool.map(_hash_for, [seconds] * cores)) / seconds


def _workers(pid: int) -> list[int]:
    """The worker processes gunicorn's master ``pid`` has forked so far."""
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def run(checkout: Path, *, clients: int, signups: int) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix="roster-signup-bench-"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "DEBUG": "true",
        "ROSTER_VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'roster.sqlite3'}",
        "API_RATE_LIMITS_ENABLED": "false",
        "RATE_LIMIT_SIGNUP": "100000/m/ip",
        "LOG_LEVEL": "WARNING",
    }
    bin_dir = ROOT / ".venv" / "bin"
    subprocess.run(
        [str(bin_dir / "python"), "manage.py", "migrate", "--noinput", "-v0"],
        cwd=checkout,
        env=env,
        check=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
            "config.asgi:application",
            "--worker-class",
            "config.gunicorn_worker.RosterWorker",
            "--config",
            "config/gunicorn.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--no-control-socket",
            "--access-logfile",
            "/dev/null",
        ],
        cwd=checkout,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        # /health answers once one worker is up: wait for both, or the other's CPU (and
        # its share of the sign-ups' hashing) would be left out of the cores figure.
        while len(pids := _workers(process.pid)) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the second worker did not start")
            time.sleep(0.3)
        pids = [process.pid, *pids]

        def sign_up(n: int) -> int:
            try:
                return httpx.post(
                    f"{base}/api/v1/auth/register",
                    json={"email": f"bench-{n}@example.com", "password": PASSWORD},
                    timeout=300,
                ).status_code
            except httpx.HTTPError:
                return 0

        cpu_before, started = _cpu_seconds(pids), time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(sign_up, range(signups)))
        wall = time.perf_counter() - started
        cpu = _cpu_seconds(pids) - cpu_before
        replaced = set(_workers(process.pid)) - set(pids)
        if replaced:
            print(f"  (workers replaced during the run, CPU not counted: {sorted(replaced)})")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    return {
        "per_second": sum(s == 201 for s in statuses) / wall,
        "cores": cpu / wall,
        "failed": sum(s != 201 for s in statuses),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--signups", type=int, default=128)
    parser.add_argument("--before", type=Path, help="an earlier checkout, measured first")
    args = parser.parse_args()
    floor = argon2_floor()
    print(f"argon2id floor (Roster's parameters, {os.cpu_count()} processes): {floor:.2f} hashes/s")
    runs = ([("before", args.before)] if args.before else []) + [("now", ROOT)]
    for label, checkout in runs:
        r = run(checkout, clients=args.clients, signups=args.signups)
        print(
            f"sign-up on SQLite ({label}), {args.clients} clients, {args.signups} sign-ups: "
            f"{r['per_second']:.2f}/s = {r['per_second'] / floor:.2f}x the floor, "
            f"server used {r['cores']:.2f} cores, {r['failed']} failed",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
