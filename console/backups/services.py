"""Backups: create, run, verify, delete, download, expire. Every write is audited here."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import record
from config.errors import Conflict, Invalid
from console import tasks
from console.backups import engine, fileformat
from console.models import Backup

DEFAULT_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 3650
VERIFY_TIMEOUT_SECONDS = 3600
_MANAGE = Path(settings.BASE_DIR) / "manage.py"


def backup_path(backup: Backup) -> Path:
    return Path(settings.BACKUP_DIR) / backup.file_name


def _file_name(backup_id: uuid.UUID) -> str:
    return f"{backup_id}.rbk"


def latest_base() -> Backup | None:
    """What an incremental builds on: the newest ready backup of the whole database."""
    return (
        Backup.objects.filter(
            status=Backup.Status.READY,
            backup_type__in=[Backup.Type.FULL, Backup.Type.INCREMENTAL],
        )
        .order_by("-snapshot_at")
        .first()
    )


def _check_request(backup_type: str, apps: list[str], retention_days: int, encrypted: bool) -> None:
    """What a backup request may ask: 400 ``Invalid`` or 409 ``Conflict`` before anything
    is written."""
    if backup_type not in Backup.Type.values:
        raise Invalid("invalid_choice", f"Unknown backup type '{backup_type}'.", "backup_type")
    if backup_type == Backup.Type.SELECTIVE and not apps:
        raise Invalid("required", "A selective backup names the apps it holds.", "apps")
    if backup_type != Backup.Type.SELECTIVE and apps:
        raise Invalid("not_allowed", "Only a selective backup names apps.", "apps")
    unknown = sorted(set(apps) - engine.app_labels())
    if unknown:
        raise Invalid("unknown_app", f"Unknown app: {', '.join(unknown)}.", "apps")
    if not 1 <= retention_days <= MAX_RETENTION_DAYS:
        raise Invalid(
            "out_of_range",
            f"retention_days is between 1 and {MAX_RETENTION_DAYS}.",
            "retention_days",
        )
    if encrypted and not fileformat.encryption_available():
        raise Conflict(
            "encryption_not_configured",
            "Encryption needs BACKUP_ENCRYPTION_KEYS in the server's environment.",
        )


def backup_create(
    *,
    backup_type: str,
    apps: list[str] | None = None,
    include_files: bool = False,
    encrypted: bool = False,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    actor: Any = None,
    request=None,
    run: bool = True,
) -> Backup:
    """Record a pending backup (queued for a worker when ``run``)."""
    apps = sorted(set(apps or []))
    _check_request(backup_type, apps, retention_days, encrypted)
    with transaction.atomic():
        base = None
        if backup_type == Backup.Type.INCREMENTAL:
            base = latest_base()
            if base is None:
                raise Conflict(
                    "no_base", "An incremental backup needs a ready full backup to build on."
                )
        backup = Backup.objects.create(
            backup_type=backup_type,
            base=base,
            apps=apps,
            include_files=include_files,
            encrypted=encrypted,
            retention_days=retention_days,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            expires_at=timezone.now() + datetime.timedelta(days=retention_days),
        )
        backup.file_name = _file_name(backup.id)
        backup.save(update_fields=["file_name"])
        record(
            action="console.backup.created",
            actor=actor,
            target=backup,
            request=request,
            changes={
                "backup_type": backup_type,
                "apps": apps,
                "base": str(base.id) if base else None,
                "include_files": include_files,
                "encrypted": encrypted,
                "retention_days": retention_days,
            },
        )
        if run:
            transaction.on_commit(lambda: tasks.run_backup.delay(str(backup.id)))
    return backup


def _store(backup: Backup, fields: tuple[str, ...]) -> bool:
    """Write ``fields`` of ``backup``; False when its row is gone (an admin may delete a
    backup while a worker takes or proves it: the worker's result then has nowhere to go)."""
    values = {field: getattr(backup, field) for field in fields}
    return Backup.objects.filter(pk=backup.pk).update(**values) == 1


def backup_run(*, backup_id: uuid.UUID | str) -> Backup | None:
    """Take the snapshot and write the file. Safe to run twice: only a pending backup runs.
    None when the backup was deleted before its turn."""
    with transaction.atomic():
        updated = Backup.objects.filter(pk=backup_id, status=Backup.Status.PENDING).update(
            status=Backup.Status.RUNNING
        )
    backup = Backup.objects.filter(pk=backup_id).first()
    if backup is None or not updated:
        return backup
    try:
        header = _write(backup)
    except Exception as exc:
        with transaction.atomic():
            Backup.objects.filter(pk=backup.pk).update(
                status=Backup.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
            )
            record(
                action="console.backup.failed",
                target=backup,
                metadata={"error": type(exc).__name__},
            )
        raise
    with transaction.atomic():
        backup.status = Backup.Status.READY
        backup.size = backup_path(backup).stat().st_size
        backup.sha256 = header["sha256"]
        backup.key_id = header["key_id"] or ""
        backup.manifest = header["tables"]
        backup.finished_at = timezone.now()
        fields = ("status", "size", "sha256", "key_id", "manifest", "snapshot_at", "finished_at")
        if not _store(backup, fields):
            backup_path(backup).unlink(missing_ok=True)  # deleted meanwhile: no file left over
            return backup
        record(
            action="console.backup.completed",
            target=backup,
            changes={"size": backup.size, "sha256": backup.sha256},
        )
    return backup


def _write(backup: Backup) -> dict[str, Any]:
    directory = Path(settings.BACKUP_DIR)
    writer = fileformat.PayloadWriter(directory=directory, encrypt=backup.encrypted)
    base = backup.base
    try:
        with engine.Snapshot():
            backup.snapshot_at = timezone.now()
            manifest = engine.dump(
                writer.write,
                models_to_dump=engine.backup_models(backup.apps or None),
                base_manifest=base.manifest if base else None,
                since=base.snapshot_at if base else None,
                include_files=backup.include_files,
            )
    except BaseException:
        writer.discard()
        raise
    header = {
        "id": str(backup.id),
        "kind": backup.backup_type,
        "base": str(base.id) if base else None,
        "apps": backup.apps,
        "include_files": backup.include_files,
        "created_at": backup.snapshot_at.isoformat().replace("+00:00", "Z"),
        "vendor": connection.vendor,
        "tables": manifest,
    }
    return fileformat.finish(writer, header=header, destination=directory / backup.file_name)


# --- Restore and proof --------------------------------------------------------------------------


def chain_of(path: Path) -> list[Path]:
    """The file and the files it builds on, base first (found beside it by id)."""
    chain = [path]
    header, _ = fileformat.read_header(path)
    while header.get("base"):
        base = path.with_name(_file_name(header["base"]))
        if not base.exists():
            raise fileformat.BackupFileError(
                f"{chain[0].name} builds on backup {header['base']}, whose file "
                f"{base.name} is not beside it.",
                "base_missing",
            )
        chain.insert(0, base)
        header, _ = fileformat.read_header(base)
    return chain


def restore(path: Path, *, check: bool = False) -> dict[str, Any]:
    """Restore the chain ending at ``path`` into the default database, in one transaction.

    With ``check``, the tables' row counts are compared with the last backup's manifest and
    the audit chain is verified on the restored rows, then everything is rolled back (the
    proof leaves nothing behind; a selective backup's foreign keys into other apps need not
    hold in a scratch database)."""
    from audit.selectors import chain_verify

    chain = chain_of(path)
    opened = [fileformat.records(p) for p in chain]  # every checksum before any write
    last_header = opened[-1][0]
    result: dict[str, Any] = {"files": [p.name for p in chain]}
    stats: dict[str, int] = {}
    with transaction.atomic():
        written = engine.load([records for _, records in opened], stats)
        expected = {label: entry["count"] for label, entry in last_header["tables"].items()}
        actual = engine.counts(expected)
        result["tables"] = len(expected)
        result["rows"] = sum(actual.values())
        result["files_restored"] = stats.get("files", 0)
        if not last_header.get("apps"):
            engine.check_constraints(written)
        if check:
            mismatched = {
                label: {"expected": expected[label], "restored": actual[label]}
                for label in expected
                if expected[label] != actual[label]
            }
            audit_included = "audit.auditevent" in expected
            verify = chain_verify().as_dict() if audit_included else None
            result["count_mismatches"] = mismatched
            result["audit_chain"] = verify
            result["ok"] = not mismatched and (verify is None or verify["ok"])
            transaction.set_rollback(True)
    return result


def _scratch_sqlite() -> tuple[str, Any]:
    handle, name = tempfile.mkstemp(prefix="roster-verify-", suffix=".sqlite3")
    os.close(handle)

    def drop() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)

    return f"sqlite:///{name}", drop


def _scratch_postgres() -> tuple[str, Any]:
    name = f"roster_verify_{uuid.uuid4().hex[:16]}"
    params = connection.get_connection_params()
    # Outside any transaction (the tasks and commands call this in autocommit mode).
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    user = params.get("user") or ""
    password = params.get("password") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = params.get("host") or ""
    port = params.get("port") or ""
    location = f"{host}:{port}" if port else host
    return f"postgres://{auth}{location}/{name}", drop


def run_manage(args: list[str], *, database_url: str, timeout: int) -> subprocess.CompletedProcess:
    """``manage.py`` in a process of its own whose default database is ``database_url``."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ROSTER_VAR_DIR": str(settings.VAR_DIR),
        "BACKUP_ENCRYPTION_KEYS": ",".join(settings.BACKUP_ENCRYPTION_KEYS),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_TEST_NAME", None)
    return subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [sys.executable, str(_MANAGE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def prove(path: Path) -> dict[str, Any]:
    """Restore the chain into a scratch database (created, migrated, dropped) and check it."""
    fileformat.check(path)  # refuse a damaged file before creating anything
    make = _scratch_postgres if connection.vendor == "postgresql" else _scratch_sqlite
    url, drop = make()
    try:
        migrated = run_manage(
            ["migrate", "--skip-checks", "-v0", "--no-input"],
            database_url=url,
            timeout=VERIFY_TIMEOUT_SECONDS,
        )
        if migrated.returncode:
            return {
                "ok": False,
                "error": "scratch_migrate_failed",
                "stderr": migrated.stderr[-2000:],
            }
        restored = run_manage(
            ["restore", str(path), "--check", "--json"],
            database_url=url,
            timeout=VERIFY_TIMEOUT_SECONDS,
        )
        lines = restored.stdout.strip().splitlines()
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError):
            return {"ok": False, "error": "restore_failed", "stderr": restored.stderr[-2000:]}
    finally:
        drop()


def backup_verify(*, backup_id: uuid.UUID | str) -> Backup | None:
    """Prove the backup restores; store and audit the result (None: deleted meanwhile)."""
    backup = Backup.objects.filter(pk=backup_id).first()
    if backup is None or backup.status != Backup.Status.READY:
        return backup
    try:
        detail = prove(backup_path(backup))
    except fileformat.BackupFileError as exc:
        detail = {"ok": False, "error": exc.code, "detail": str(exc)}
    with transaction.atomic():
        backup.verified_at = timezone.now()
        backup.verified_ok = bool(detail.get("ok"))
        backup.verified_detail = detail
        if not _store(backup, ("verified_at", "verified_ok", "verified_detail")):
            return backup  # deleted while it was being proved: nothing to record
        record(
            action="console.backup.verified",
            target=backup,
            changes={"ok": backup.verified_ok},
        )
    return backup


def backup_delete(*, backup: Backup, actor: Any = None, request=None, reason: str = "") -> None:
    with transaction.atomic():
        locked = Backup.objects.select_for_update().get(pk=backup.pk)
        if locked.increments.exists():
            raise Conflict(
                "has_increments",
                "Incremental backups build on this one: delete them first.",
            )
        if locked.status == Backup.Status.RUNNING:
            raise Conflict("running", "The backup is running: delete it once it has ended.")
        path = backup_path(locked)
        record(
            action="console.backup.expired" if reason == "retention" else "console.backup.deleted",
            actor=actor,
            target=locked,
            request=request,
            changes={"backup_type": locked.backup_type, "sha256": locked.sha256},
        )
        locked.delete()
        transaction.on_commit(lambda: path.unlink(missing_ok=True))


def backup_downloaded(*, backup: Backup, actor: Any, request=None) -> Path:
    """The file to send, once the download is on the audit record."""
    if backup.status != Backup.Status.READY:
        raise Conflict("not_ready", f"The backup is {backup.status}, not ready.")
    path = backup_path(backup)
    if not path.exists():
        raise Conflict("file_missing", "The backup's file is no longer in the backup directory.")
    with transaction.atomic():
        record(
            action="console.backup.downloaded",
            actor=actor,
            target=backup,
            request=request,
            changes={"sha256": backup.sha256, "size": backup.size},
        )
    return path


def backups_expire(*, now: datetime.datetime | None = None) -> int:
    """Delete backups past their retention, newest first (so increments go before their
    base); a base whose increments are still kept stays until they expire too."""
    now = now or timezone.now()
    deleted = 0
    for backup in Backup.objects.filter(expires_at__lte=now).order_by("-created_at"):
        if backup.increments.exists() or backup.status == Backup.Status.RUNNING:
            continue
        backup_delete(backup=backup, reason="retention")
        deleted += 1
    return deleted
