"""Backups in the background: run, prove, expire (``console.backups.services``)."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from console.backups import services


@shared_task(name="console.run_backup", ignore_result=True, acks_late=True)
def run_backup(backup_id: str) -> None:
    """Take the backup, then queue its proof. A second run of the same id does nothing."""
    backup = services.backup_run(backup_id=backup_id)
    if backup is not None and backup.status == backup.Status.READY and backup.verified_at is None:
        transaction.on_commit(lambda: verify_backup.delay(backup_id))


@shared_task(
    name="console.verify_backup",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=60,
    max_retries=3,
)
def verify_backup(backup_id: str) -> None:
    """Restore the backup into a scratch database and record whether it checked out."""
    services.backup_verify(backup_id=backup_id)


@shared_task(
    name="console.expire_backups",
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=60,
    max_retries=5,
)
def expire_backups() -> int:
    """Delete backups past their retention_days. Safe to run twice."""
    return services.backups_expire()


from console.reports.tasks import run_report  # noqa: E402  (registered with the worker)

__all__ = ["expire_backups", "run_backup", "run_report", "verify_backup"]
