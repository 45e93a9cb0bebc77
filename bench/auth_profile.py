"""Where sign-up and login spend their CPU besides the password hash, in-process.

    .venv/bin/python bench/auth_profile.py --db sqlite|postgres [--rounds 20] [--top 25]

Production settings (bench.harness.bench_environment, the production Argon2PasswordHasher)
on a fresh SQLite file or on ``BENCH_DATABASE_URL`` (PostgreSQL, with ``BENCH_REDIS_URL``).
``--rounds`` API sign-ups (a new address each, no cookies) and as many token logins go
through Django's test client, after two warm-up requests of each, twice per operation:

- without a profiler, each request's CPU less the production hasher's CPU inside it
  (medians): the work beyond the hash, and the share of the argon2 floor (the cores / CPU
  seconds of one hash) it leaves: hash / (hash + rest);
- under cProfile: the SQL statements and cache calls per request, and the functions that
  take the most (cumulative time; the profiler inflates the rest, so read it for shares).
  ``--save PREFIX`` writes the profiles for pstats.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "auth-profile-password-1"


def _environment(db: str) -> None:
    from bench import harness

    var_dir = Path(tempfile.mkdtemp(prefix="roster-auth-profile-"))
    env = harness.bench_environment(var_dir)
    if db == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{var_dir / 'roster.sqlite3'}"
        env.pop("REDIS_URL", None)
    else:
        harness.ensure_database(env)
        # The cache in the database BENCH_REDIS_URL names (the harness's servers use their
        # own), under a prefix of its own.
        database = env["REDIS_URL"].rstrip("/").rsplit("/", 1)[-1]
        if database.isdigit():
            env["REDIS_CACHE_DB"] = database
        env["CACHE_KEY_PREFIX"] = "roster-auth-profile"
    os.environ.update(env)
    if db == "sqlite":
        os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


class _Counter:
    """SQL statements (an execute wrapper on every connection) and cache calls."""

    def __init__(self):
        self.sql = 0
        self.cache = 0

    def __call__(self, execute, sql, params, many, context):
        self.sql += 1
        return execute(sql, params, many, context)


def _argon2_seconds(stats: pstats.Stats) -> float:
    """Own time of the argon2 C calls (argon2-cffi's hash and verify)."""
    total = 0.0
    for (filename, _line, name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        if "argon2" in name and filename == "~":
            total += tt
    return total


class _HashClock:
    """Within ``with``: the CPU seconds the production hasher spends (``seconds``), around
    Django's Argon2PasswordHasher.encode and verify."""

    seconds = 0.0

    def __enter__(self):
        from django.contrib.auth.hashers import Argon2PasswordHasher

        self._originals = {m: getattr(Argon2PasswordHasher, m) for m in ("encode", "verify")}
        for name, original in self._originals.items():

            def timed(*args, __original=original, **kwargs):
                started = time.process_time()
                try:
                    return __original(*args, **kwargs)
                finally:
                    self.seconds += time.process_time() - started

            setattr(Argon2PasswordHasher, name, timed)
        return self

    def __exit__(self, *exc):
        from django.contrib.auth.hashers import Argon2PasswordHasher

        for name, original in self._originals.items():
            setattr(Argon2PasswordHasher, name, original)


def _profile(label: str, request, rounds: int, top: int, save: str | None) -> float:
    from django.core.cache import cache
    from django.db import connections

    counter = _Counter()
    original_cache = {}
    for method in ("get", "set", "add", "delete", "get_many", "set_many", "incr", "touch"):
        if hasattr(cache, method):
            original = getattr(cache, method)
            original_cache[method] = original

            def wrapped(*a, __original=original, **k):
                counter.cache += 1
                return __original(*a, **k)

            setattr(cache, method, wrapped)
    profile = cProfile.Profile(time.process_time)
    with connections["default"].execute_wrapper(counter):
        started = time.process_time()
        profile.enable()
        for n in range(rounds):
            request(n)
        profile.disable()
        cpu = time.process_time() - started
    for method, original in original_cache.items():
        setattr(cache, method, original)
    if save:
        profile.dump_stats(f"{save}-{label}.prof")
    stats = pstats.Stats(profile)
    argon2 = _argon2_seconds(stats)
    per, hash_per = cpu / rounds, argon2 / rounds
    print(
        f"\n== {label}: {per * 1000:.1f} ms CPU per request, argon2 {hash_per * 1000:.1f} ms, "
        f"the rest {(per - hash_per) * 1000:.1f} ms ({(per - hash_per) / per * 100:.1f}%); "
        f"{counter.sql / rounds:.1f} SQL statements and {counter.cache / rounds:.1f} cache "
        "calls per request"
    )
    rows = []
    for key, (_cc, nc, _tt, ct, _callers) in stats.stats.items():
        filename, _line, name = key
        if "argon2" in filename or "argon2" in name or "cProfile" in filename:
            continue
        rows.append((ct, nc, key))
    rows.sort(reverse=True)
    rest = per - hash_per
    print(f"   {'ms/req':>7} {'% rest':>6} {'calls':>6}  function (cumulative, argon2 below)")
    for ct, nc, (filename, line, name) in rows[:top]:
        where = filename.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        share = ct / rounds / rest * 100 if rest > 0 else 0
        print(
            f"   {ct / rounds * 1000:7.2f} {share:6.1f} {nc / rounds:6.1f}  {where}:{line} {name}"
        )
    return hash_per


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", help="also write the profiles to SAVE-<operation>.prof")
    args = parser.parse_args()
    _environment(args.db)

    from django.test import Client

    from accounts.models import User

    test_client = Client(HTTP_HOST="127.0.0.1")

    def client():
        # No cookies from an earlier request, as the benches' HTTP clients send none.
        test_client.cookies.clear()
        return test_client

    stamp = time.time_ns()
    email = f"profile-login-{stamp}@example.com"
    User.objects.create_user(email=email, password=PASSWORD)
    login_body = json.dumps({"email": email, "password": PASSWORD})

    def sign_up(n: int):
        body = json.dumps({"email": f"profile-{stamp}-{n}@example.com", "password": PASSWORD})
        response = client().post("/api/v1/auth/register", body, content_type="application/json")
        assert response.status_code == 201, response.content

    def log_in(_n: int):
        response = client().post("/api/v1/auth/token", login_body, content_type="application/json")
        assert response.status_code == 200, response.content

    for n in range(2):
        sign_up(-1 - n)
        log_in(n)
    print(f"{args.db}: {args.rounds} sign-ups and {args.rounds} logins, in-process")
    hashing = _HashClock()
    for label, request in (("sign-up", sign_up), ("login", log_in)):
        # Without the profiler first: each request's CPU and, inside it, the hasher's (so
        # the rest is read within one request, whatever else shares the cores; argon2's own
        # time varies most under contention, its 64 MiB competing for the caches).
        rests, hashes = [], []
        with hashing:
            for n in range(args.rounds):
                hashing.seconds = 0.0
                started = time.process_time()
                request(1000 + n)
                rests.append(time.process_time() - started - hashing.seconds)
                hashes.append(hashing.seconds)
        rest, one = statistics.median(rests), statistics.median(hashes)
        print(
            f"\n{label}, unprofiled (medians): {one * 1000:.1f} ms hashing, {rest * 1000:.1f} ms "
            f"beyond it ({rest / one * 100:.1f}% of the hash): at most {one / (one + rest):.3f}x "
            "the argon2 floor"
        )
        _profile(label, request, args.rounds, args.top, args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
