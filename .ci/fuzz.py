"""Contract fuzzing: schemathesis against a live Roster (gunicorn, PostgreSQL, Redis).

Runs every check schemathesis has, once as a member and once as an admin, each within a
time budget, on a fresh database. Exits non-zero on any failure.

Documented settings of this run (production settings otherwise, bench/harness.py):
- API rate limits and the sign-in lockout are off (API_RATE_LIMITS_ENABLED=false, and the
  bench's RATELIMIT_ENABLE=false / RATE_LIMIT_LOGIN_FAILED): the fuzzer sends thousands of
  requests a minute from one IP and would otherwise only see 429s. Both have their own
  tests (tests/config/test_throttling*.py, tests/accounts/test_auth_*.py).
- A Celery worker runs beside the web server (broker and results in Redis DB 4 with the
  cache, emptied before and after), as in production: the work queued by requests (audit
  sealing, quota checks, reports, backups and their proofs) runs against the fuzzed data
  too, and a request answers when its own work is done (a backup's proof migrates a scratch
  database, far longer than the server's request time limit if it ran inside the request).
- positive_data_acceptance also accepts 400, and use_after_free is off, on the operations
  listed, with reasons, in .ci/schemathesis.toml. Every other check runs everywhere.
- One schemathesis worker (see below). FUZZ_MAX_TIME bounds each role's run (seconds).
- The run signs in through POST /api/v1/auth/token (.ci/fuzz_hooks.py) and again on 401,
  because it signs itself out and revokes its own sessions on purpose. The fuzz accounts
  have TOTP and recovery codes, so a second factor a stored policy requires is there (the
  hook completes POST /auth/token/mfa, and /auth/token/password if a password expires).

Reports (NDJSON, every request and check) are written to var/fuzz/report/<role>/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

MAX_TIME = os.environ.get("FUZZ_MAX_TIME", "150")
PASSWORD = "fuzz-password-123456"  # noqa: S105 - a throwaway user on a throwaway database
REPORT_DIR = ROOT / "var" / "fuzz" / "report"


def main() -> int:
    env = _environment()
    shutil.rmtree(REPORT_DIR, ignore_errors=True)
    _fresh_database(env)
    factors = _seed_accounts(env)
    _empty_redis_db(env)
    worker = _start_worker(env)
    server = harness.Server(env, workers=2)
    server.start()
    failed = False
    try:
        for email in ("fuzz-member@example.com", "fuzz-admin@example.com"):
            print(f"\n=== schemathesis as {email} ===", flush=True)
            returncode = _schemathesis(server.base_url, env, email, factors[email])
            failed = failed or returncode != 0
    finally:
        server.stop()
        _stop(worker)
        _empty_redis_db(env)
    return 1 if failed else 0


def _environment() -> dict[str, str]:
    """The bench's production settings, with this run's database, Redis DB and settings."""
    env = harness.bench_environment(ROOT / "var" / "fuzz")
    env.update(
        {
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/roster_fuzz",
            "REDIS_CACHE_DB": "4",
            "CACHE_KEY_PREFIX": "roster-fuzz",
            "REDIS_BROKER_DB": "4",
            "REDIS_RESULT_DB": "4",
            "API_RATE_LIMITS_ENABLED": "false",
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
    )
    return env


def _fresh_database(env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS roster_fuzz WITH (FORCE)")
        c.execute("CREATE DATABASE roster_fuzz")
    python = str(harness.VENV_BIN / "python")
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


def _seed_accounts(env: dict[str, str]) -> dict[str, dict]:
    """The member and the admin the fuzzer signs in as; returns each one's second factors."""
    # Each account has a TOTP authenticator and recovery codes from the start: a security
    # policy the fuzzer stores may require a second factor of it at once (.ci/fuzz_hooks.py).
    seed = (
        "import json\n"
        "from accounts.models import User\n"
        "from accounts.roles import assign_roles\n"
        "from tests.mfa import recovery_codes_activate, totp_activate\n"
        "factors = {}\n"
        "for email, role in [('fuzz-member@example.com', 'member'),"
        " ('fuzz-admin@example.com', 'admin')]:\n"
        f"    u = User.objects.create_user(email=email, password={PASSWORD!r})\n"
        "    assign_roles(u, [role])\n"
        "    factors[email] = {'totp': totp_activate(u).secret,"
        " 'recovery_codes': recovery_codes_activate(u)}\n"
        "print(json.dumps(factors))\n"
    )
    seeded = subprocess.run(
        [str(harness.VENV_BIN / "python"), "manage.py", "shell", "--no-imports", "-c", seed],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(seeded.stdout.strip().splitlines()[-1])


def _start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(harness.VENV_BIN / "celery"),
            "--app",
            "config",
            "worker",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--concurrency",
            "1",
            "--hostname",
            "fuzz@%h",
        ],
        cwd=ROOT,
        env=env,
    )


def _stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _schemathesis(base_url: str, env: dict[str, str], email: str, factors: dict) -> int:
    """One role's run: every check, within MAX_TIME; its return code."""
    result = subprocess.run(
        [
            str(harness.VENV_BIN / "schemathesis"),
            "--config-file",
            str(ROOT / ".ci" / "schemathesis.toml"),
            "run",
            f"{base_url}/api/schema/",
            "--checks",
            "all",
            "--max-time",
            MAX_TIME,
            # One worker: Python 3.11.7's ast module is not thread-safe and Hypothesis
            # parses lambdas while drawing ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--report",
            "ndjson",
            "--report-dir",
            str(REPORT_DIR / email.split("@")[0]),
        ],
        cwd=ROOT,
        env={
            **env,
            "SCHEMATHESIS_HOOKS": str(ROOT / ".ci" / "fuzz_hooks.py"),
            "FUZZ_BASE_URL": base_url,
            "FUZZ_EMAIL": email,
            "FUZZ_PASSWORD": PASSWORD,
            "FUZZ_TOTP_SECRET": factors["totp"],
            "FUZZ_RECOVERY_CODES": " ".join(factors["recovery_codes"]),
        },
    )
    return result.returncode


def _empty_redis_db(env: dict[str, str]) -> None:
    """Redis DB 4 belongs to this run (cache, broker, results): no task left queued."""
    import redis

    redis.Redis.from_url(env["REDIS_URL"], db=4).flushdb()


if __name__ == "__main__":
    sys.exit(main())
