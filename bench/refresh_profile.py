"""POST /api/v1/auth/token/refresh measured inside one process: what one refresh costs in
CPU (this process and PostgreSQL's), SQL statements and Redis round trips, and where the
CPU goes (cProfile).

Production settings on PostgreSQL + Redis as the bench's server runs them
(bench.harness.bench_environment), through Roster's WSGI application with no gunicorn and
no wrk, so the figures hold still on a machine where other work runs:

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/roster_bench_refresh \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379 BENCH_REDIS_CACHE_DB=13 \\
    .venv/bin/python bench/refresh_profile.py [--requests 2000] [--rounds 3] [--profile 30]

Each round rotates a pool of live API sessions (one refresh token each, the rotated one
put back), as the wrk scenario in bench/scenarios/auth.py does.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMAIL = "refresh-profile@example.com"
PASSWORD = "refresh-profile-password-1"
POOL = 64


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.harness import bench_environment, ensure_database

    env = bench_environment(ROOT / "var" / "bench")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # One PostgreSQL backend for the whole run, so its CPU can be read from /proc.
    env["DATABASE_CONN_MAX_AGE"] = "3600"
    if os.environ.get("BENCH_REDIS_CACHE_DB"):
        env["REDIS_CACHE_DB"] = os.environ["BENCH_REDIS_CACHE_DB"]
    os.environ.update(env)
    ensure_database(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _environ(token: str) -> dict:
    body = json.dumps({"refresh": token}).encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/auth/token/refresh",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
    }


class _Pool:
    """Live refresh tokens, one per API session; a refresh takes one and puts back its
    successor."""

    def __init__(self, application, tokens: list[str]):
        self.application, self.tokens, self.i = application, tokens, 0

    def refresh(self) -> None:
        i = self.i % len(self.tokens)
        self.i += 1
        status_line = []

        def start_response(status, headers, exc_info=None):
            status_line.append(status)

        response = self.application(_environ(self.tokens[i]), start_response)
        body = b"".join(response)
        response.close()
        if not status_line[0].startswith("200"):
            raise RuntimeError(f"refresh answered {status_line[0]}: {body[:300]!r}")
        self.tokens[i] = json.loads(body)["refresh"]


def _round_trips(run) -> tuple[int, list[str]]:
    """Redis round trips while ``run()`` runs: one per packed send (a pipeline or a
    script is one)."""
    from redis.connection import AbstractConnection

    sent: list[str] = []
    original = AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        first = command[0] if isinstance(command, list | tuple) else command
        head = bytes(first)[:60] if isinstance(first, bytes | bytearray | memoryview) else b""
        sent.append(
            head.split(b"\r\n")[2].decode(errors="replace") if head.count(b"\r\n") > 2 else "?"
        )
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = counted
    try:
        run()
    finally:
        AbstractConnection.send_packed_command = original
    return len(sent), sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    args = parser.parse_args()
    _setup()

    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts import tokens
    from accounts.models import ApiSession, User
    from accounts.roles import assign_roles
    from bench.harness import _cpu_seconds

    user = User.objects.filter(email=EMAIL).first() or User.objects.create_user(
        email=EMAIL, password=PASSWORD
    )
    assign_roles(user, ("member",))
    ApiSession.objects.filter(user=user).delete()
    application = get_wsgi_application()
    pool = _Pool(application, [tokens.token_issue(user=user).refresh for _ in range(POOL)])
    for _ in range(2 * POOL):  # warm: connections, caches, plans
        pool.refresh()

    with CaptureQueriesContext(connection) as queries:
        trips, commands = _round_trips(pool.refresh)
    statements = [q["sql"] for q in queries.captured_queries]
    print(f"SQL statements per refresh: {len(statements)}")
    for sql in statements:
        print(f"    {sql[:110]}")
    print(f"Redis round trips per refresh: {trips} {commands}")

    # This connection's own PostgreSQL backend, so other work on the server counts nothing.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = [cursor.fetchone()[0]]

    best_app = best_db = float("inf")
    for _ in range(args.rounds):
        db_before = _cpu_seconds(backend)
        started = time.process_time()
        for _ in range(args.requests):
            pool.refresh()
        app = (time.process_time() - started) / args.requests
        db = (_cpu_seconds(backend) - db_before) / args.requests
        best_app, best_db = min(best_app, app), min(best_db, db)
    print(
        f"CPU per refresh (best of {args.rounds} x {args.requests}): "
        f"application {best_app * 1000:.3f} ms, PostgreSQL {best_db * 1000:.3f} ms, "
        f"together {(best_app + best_db) * 1000:.3f} ms"
    )

    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
        profiler.enable()
        for _ in range(args.requests):
            pool.refresh()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
        stats.print_stats(args.profile)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(
            args.profile
        )
        print(out.getvalue())
        if os.environ.get("BENCH_PROFILE_FILE"):
            profiler.dump_stats(os.environ["BENCH_PROFILE_FILE"])
    ApiSession.objects.filter(user=user).delete()


if __name__ == "__main__":
    main()
