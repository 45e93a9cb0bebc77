"""Backup and restore of the benchmark database: `.venv/bin/python bench/backups.py`.

On a PostgreSQL database of its own (``roster_bench_backups``, dropped and created here), the
data set is built with plain SQL (``generate_series``): BENCH_BACKUP_USERS users (default
100,000), BENCH_BACKUP_AUDIT audit events (1,000,000; sealed into the chain by
``audit.services.events_seal`` unless BENCH_BACKUP_SEAL=off) and BENCH_BACKUP_USAGE usage
events (10,000,000, spread over the users and the last 30 days, rolled up; one in ten with an
idempotency key, which the side table holds too, as ingestion writes it). Then, through
``console.backups.services`` as ``manage.py backup`` runs it:

- a full backup: seconds, CPU of this process and of PostgreSQL, peak memory, file size; the
  size and the time of the same payload encrypted (the file format's Fernet frames over the
  same gzip stream, which is what ``--encrypt`` writes);
- a realistic change (1% of the users renamed, 1% more audit events sealed, 1% more usage
  events, un-rolled), then an incremental backup on the full one: the same figures;
- ``manage.py restore`` of the chain (full + incremental) into a scratch database, in a
  process of its own: seconds and CPU (the scratch database's migration is timed apart);
- the proof (``services.backup_verify``: scratch database, migrate, restore --check, row
  counts, audit chain, drop): seconds and its result.

Smaller runs: BENCH_BACKUP_USERS=10000 BENCH_BACKUP_AUDIT=100000 BENCH_BACKUP_USAGE=1000000.
BENCH_BACKUP_KEEP=on keeps the database and the files afterwards.
"""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

USERS = int(os.environ.get("BENCH_BACKUP_USERS", "100000"))
AUDIT = int(os.environ.get("BENCH_BACKUP_AUDIT", "1000000"))
USAGE = int(os.environ.get("BENCH_BACKUP_USAGE", "10000000"))
SEAL = os.environ.get("BENCH_BACKUP_SEAL", "on") == "on"
KEEP = os.environ.get("BENCH_BACKUP_KEEP", "off") == "on"
# The change between the full and the incremental backup, as a share of each data set.
CHANGE = float(os.environ.get("BENCH_BACKUP_CHANGE", "0.01"))
DATABASE = os.environ.get("BENCH_BACKUP_DATABASE", "roster_bench_backups")
PREFIX = "backups-bench-user-"
CHUNK = 1_000_000


def _print(label: str, figure: str) -> None:
    print(f"[backups] {label}: {figure}", flush=True)


def _admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


def _recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [str(harness.VENV_BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


@contextmanager
def _measured(into: dict):
    """Wall seconds, CPU of this process and its children, CPU of PostgreSQL."""
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    kids_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    db_before = harness.postgres_cpu_seconds()
    started = time.perf_counter()
    yield into
    into["seconds"] = time.perf_counter() - started
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    into["cpu"] = (self_after.ru_utime + self_after.ru_stime) - (
        self_before.ru_utime + self_before.ru_stime
    )
    into["children_cpu"] = (kids_after.ru_utime + kids_after.ru_stime) - (
        kids_before.ru_utime + kids_before.ru_stime
    )
    into["db_cpu"] = harness.postgres_cpu_seconds() - db_before
    into["peak_rss_mb"] = self_after.ru_maxrss / 1024
    into["children_peak_rss_mb"] = kids_after.ru_maxrss / 1024


def _mb(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"


# --- The data set -------------------------------------------------------------------------


def _seed_users(count: int) -> None:
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO accounts_user (id, password, is_superuser, email, display_name,
                first_name, last_name, phone, department, timezone, locale, status, is_active,
                is_staff, date_joined, updated_at)
            SELECT md5(%(prefix)s || i::text)::uuid, %(password)s, false,
                   %(prefix)s || i::text || '@example.com', 'Bench User ' || i::text,
                   'Bench', 'User' || i::text, '', 'Dept ' || (i %% 40)::text, 'UTC', 'en',
                   CASE WHEN i %% 7 = 0 THEN 'suspended' ELSE 'active' END, i %% 7 <> 0,
                   false, now() - (i %% 1000) * interval '1 hour',
                   now() - (i %% 1000) * interval '1 hour' - interval '2 hours'
            FROM generate_series(1, %(count)s) AS i
            """,
            {"prefix": PREFIX, "password": make_password(None), "count": count},
        )
        cursor.execute(
            """
            INSERT INTO accounts_user_groups (user_id, group_id)
            SELECT u.id, g.id FROM accounts_user u, auth_group g
            WHERE g.name = 'member' AND u.email LIKE %s
            """,
            [PREFIX + "%"],
        )
        cursor.execute("ANALYZE accounts_user")


def _seed_audit(count: int) -> None:
    from bench.scenarios.audit import _seed

    for start in range(0, count, CHUNK):
        _seed(min(CHUNK, count - start), member_id="backups-bench")


def _seal() -> int:
    from audit.services import events_seal

    total = 0
    while sealed := events_seal(time_budget=600):
        total += sealed
    return total


def _seed_usage(count: int, *, rolled: bool, days: float) -> None:
    """``count`` events over the users, 4 meters, the last ``days`` days."""
    from datetime import UTC, datetime

    from django.db import connection

    from bench.scenarios.usage import METERS, SLOTS, _meter_ids
    from usage.models import Meter
    from usage.sql import dialect

    for key in METERS:
        Meter.objects.get_or_create(key=key, defaults={"name": key})
    dialect().ensure_partitions(datetime.now(UTC), 3, months_back=2)
    prefix = f"bk-{time.time_ns()}-"
    with connection.cursor() as cursor:
        cursor.execute("SELECT array_agg(id ORDER BY id) FROM accounts_user")
        users = cursor.fetchone()[0]
        for start in range(0, count, CHUNK):
            n = min(CHUNK, count - start)
            cursor.execute(
                """
                INSERT INTO usage_usageevent (user_id, meter_id, slot_id, quantity,
                    occurred_at, received_at, idempotency_key, metadata, rolled_at)
                SELECT (%(users)s::uuid[])[1 + (i::bigint * 7919) %% %(nusers)s],
                       (%(meters)s::bigint[])[1 + i %% 4],
                       CASE WHEN i %% 6 = 5 THEN NULL ELSE (%(slots)s::uuid[])[1 + i %% 5] END,
                       CASE WHEN i %% 4 = 0 THEN 1 ELSE (i %% 997) END,
                       now() - (%(days)s * 86400.0 * i / %(total)s) * interval '1 second',
                       now() - (%(days)s * 86400.0 * i / %(total)s) * interval '1 second',
                       CASE WHEN i %% 10 = 0 THEN %(prefix)s || i::text END,
                       '{}'::jsonb,
                       CASE WHEN %(rolled)s THEN now() - interval '1 day' END
                FROM generate_series(%(first)s, %(last)s) AS i
                """,
                {
                    "users": users,
                    "nusers": len(users),
                    "meters": _meter_ids(),
                    "slots": SLOTS,
                    "days": days,
                    "total": count,
                    "prefix": prefix,
                    "rolled": rolled,
                    "first": start + 1,
                    "last": start + n,
                },
            )
        # Every accepted key is in the side table too (what ingestion writes).
        cursor.execute(
            """
            INSERT INTO usage_idempotencykey (user_id, idempotency_key, meter_id, quantity,
                slot_id, occurred_at, recorded_at)
            SELECT user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at,
                   received_at
            FROM usage_usageevent WHERE idempotency_key LIKE %s
            """,
            [prefix + "%"],
        )
        cursor.execute("ANALYZE usage_usageevent")
        cursor.execute("ANALYZE usage_idempotencykey")


def _change() -> dict[str, int]:
    """What happens between two backups: users renamed, events audited and sealed, usage."""
    from django.db import connection

    users = max(1, int(USERS * CHANGE))
    audit = max(1, int(AUDIT * CHANGE))
    usage = max(1, int(USAGE * CHANGE))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE accounts_user SET display_name = display_name || ' (renamed)',
                updated_at = now()
            WHERE id IN (SELECT id FROM accounts_user WHERE email LIKE %s
                         ORDER BY id LIMIT %s)
            """,
            [PREFIX + "%", users],
        )
    from bench.scenarios.audit import _seed

    _seed(audit, member_id="backups-bench", days=1)
    if SEAL:
        _seal()
    _seed_usage(usage, rolled=False, days=0.01)
    return {"users": users, "audit": audit, "usage": usage}


# --- The steps ----------------------------------------------------------------------------


def _backup(backup_type: str) -> tuple[object, dict]:
    from console.backups import services

    backup = services.backup_create(backup_type=backup_type, run=False)
    figures: dict = {}
    with _measured(figures):
        backup = services.backup_run(backup_id=backup.id)
    return backup, figures


def _encrypted_size(path: Path) -> tuple[int, float]:
    """The payload framed and encrypted as ``PayloadWriter`` does with ``--encrypt``: its
    size (header excluded) and the seconds the encryption took."""
    from cryptography.fernet import Fernet
    from django.conf import settings

    from console.backups import fileformat

    fernet = Fernet(settings.BACKUP_ENCRYPTION_KEYS[0].encode())
    _, offset = fileformat.read_header(path)
    size, started = 0, time.perf_counter()
    with path.open("rb") as handle:
        handle.seek(offset)
        while frame := handle.read(fileformat.FRAME_SIZE):
            size += len(struct.pack(">I", 0)) + len(fernet.encrypt(frame))
    return size, time.perf_counter() - started


def _report_backup(name: str, backup, figures: dict) -> None:
    rows = sum(entry.get("rows", 0) for entry in backup.manifest.values())
    _print(
        f"{name} backup",
        f"{figures['seconds']:.1f} s, {rows:,} rows ({rows / figures['seconds']:,.0f} rows/s), "
        f"cpu {figures['cpu']:.1f} s + PostgreSQL {figures['db_cpu']:.1f} s, "
        f"peak RSS of the process so far {figures['peak_rss_mb']:,.0f} MB",
    )
    size, seconds = _encrypted_size(_path(backup))
    _print(
        f"{name} file",
        f"{_mb(backup.size)} (gzip'd JSON lines, COPY text in the big tables); "
        f"encrypted {_mb(size)} "
        f"(+{(size / max(1, backup.size) - 1):.0%}, Fernet took {seconds:.1f} s more)",
    )
    biggest = sorted(backup.manifest.items(), key=lambda kv: -kv[1].get("rows", 0))[:4]
    _print(
        f"{name} largest sections",
        ", ".join(
            f"{label} {entry['mode']} {entry.get('format', 'json')} {entry.get('rows', 0):,}"
            for label, entry in biggest
        ),
    )


def _path(backup) -> Path:
    from console.backups import services

    return services.backup_path(backup)


def _counts() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        out = {}
        for table in (
            "accounts_user",
            "audit_auditevent",
            "usage_usageevent",
            "usage_idempotencykey",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
            out[table] = cursor.fetchone()[0]
    return out


def main() -> int:
    from cryptography.fernet import Fernet

    var = ROOT / "var" / "bench-backups"
    env = harness.bench_environment(var)
    base_url = env["DATABASE_URL"].rsplit("/", 1)[0]
    env["DATABASE_URL"] = f"{base_url}/{DATABASE}"
    env["BACKUP_DIR"] = str(var / "backups")
    env["BACKUP_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    scratch_url = f"{base_url}/{DATABASE}_restore"
    load = os.getloadavg()
    print(
        f"Roster backups bench: {USERS:,} users, {AUDIT:,} audit events "
        f"({'sealed' if SEAL else 'unsealed'}), {USAGE:,} usage events; database {DATABASE}; "
        f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n",
        flush=True,
    )
    _recreate(env["DATABASE_URL"])
    started = time.perf_counter()
    _manage(["migrate", "--noinput", "-v0"], env)
    migrate_seconds = time.perf_counter() - started
    _print("migrate an empty database", f"{migrate_seconds:.1f} s")
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    try:
        return _run(env, scratch_url)
    finally:
        from django.db import connections

        connections.close_all()
        if not KEEP:
            _recreate(scratch_url, drop_only=True)
            _recreate(env["DATABASE_URL"], drop_only=True)
            for path in Path(env["BACKUP_DIR"]).glob("*.rbk"):
                path.unlink()


def _run(env: dict[str, str], scratch_url: str) -> int:
    from console.backups import services

    started = time.perf_counter()
    _seed_users(USERS)
    _seed_audit(AUDIT)
    seeded = f"users and audit events {time.perf_counter() - started:.0f} s"
    if SEAL:
        sealing = time.perf_counter()
        sealed = _seal()
        seeded += f", sealing {sealed:,} events {time.perf_counter() - sealing:.0f} s"
    usage = time.perf_counter()
    _seed_usage(USAGE, rolled=True, days=30)
    seeded += f", usage events {time.perf_counter() - usage:.0f} s"
    _print("data set built (SQL)", seeded)
    _print("rows", ", ".join(f"{t} {n:,}" for t, n in _counts().items()))

    full, figures = _backup("full")
    _report_backup("full", full, figures)

    changed = _change()
    _print(
        "change",
        f"{changed['users']:,} users renamed, {changed['audit']:,} audit events "
        f"({'sealed' if SEAL else 'unsealed'}), {changed['usage']:,} usage events (un-rolled)",
    )
    incremental, figures = _backup("incremental")
    _report_backup("incremental", incremental, figures)
    # What the snapshot held (the backup's own audit events come after it).
    labels = {"accounts_user": "accounts.user", "audit_auditevent": "audit.auditevent"}
    labels["usage_usageevent"] = "usage.usageevent"
    labels["usage_idempotencykey"] = "usage.idempotencykey"
    expected = {table: incremental.manifest[label]["count"] for table, label in labels.items()}

    _recreate(scratch_url)
    scratch_env = {**env, "DATABASE_URL": scratch_url}
    started = time.perf_counter()
    _manage(["migrate", "--noinput", "-v0"], scratch_env)
    _print("scratch database migrated", f"{time.perf_counter() - started:.1f} s")
    figures = {}
    with _measured(figures):
        _manage(["restore", str(_path(incremental)), "--json"], scratch_env)
    import psycopg

    with psycopg.connect(scratch_url) as conn:
        restored = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in expected
        }
    rows = sum(entry["count"] for entry in incremental.manifest.values())
    _print(
        "restore of the chain (full + incremental)",
        f"{figures['seconds']:.1f} s, {rows:,} rows ({rows / figures['seconds']:,.0f} rows/s), "
        f"cpu {figures['children_cpu']:.1f} s + PostgreSQL {figures['db_cpu']:.1f} s, "
        f"peak RSS {figures['children_peak_rss_mb']:,.0f} MB; counts "
        + ("match" if restored == expected else f"DIFFER {restored} vs {expected}"),
    )
    _recreate(scratch_url, drop_only=True)

    figures = {}
    with _measured(figures):
        incremental = services.backup_verify(backup_id=incremental.id)
    detail = incremental.verified_detail
    _print(
        "proof of the incremental (scratch db, migrate, restore --check, counts, chain)",
        f"{figures['seconds']:.1f} s, ok={incremental.verified_ok}"
        + ("" if incremental.verified_ok else f" {str(detail)[:500]}")
        + f", audit chain {(detail.get('audit_chain') or {}).get('checked', 'n/a')}",
    )
    load = os.getloadavg()
    _print("load average at the end", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0 if incremental.verified_ok and restored == expected else 1


if __name__ == "__main__":
    sys.exit(main())
