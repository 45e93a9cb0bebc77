"""The Celery app. Tasks live in ``<app>/tasks.py``; periodic schedules are declared here."""

import os

from celery import Celery
from celery.signals import task_failure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("roster")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic work, declared in code (beat reads it at start-up).
app.conf.beat_schedule = {
    # Usage rollups: overlapping runs are safe (SKIP LOCKED); stats stay exact meanwhile.
    "usage-rollup": {"task": "usage.rollup", "schedule": 15.0, "options": {"expires": 60}},
    # Retention (ROSTER["USAGE_RETENTION_DAYS"]): deletes rolled raw events only.
    "usage-purge-events": {"task": "usage.purge_events", "schedule": 24 * 3600.0},
    # Usage events partitions (PostgreSQL), created months ahead; a no-op when they exist.
    "usage-ensure-partitions": {"task": "usage.ensure_partitions", "schedule": 24 * 3600.0},
    # A no-op unless ROSTER["SLOT_IDLE_SUSPEND_SECONDS"] > 0.
    "slots-suspend-idle": {"task": "slots.suspend_idle_slots", "schedule": 60.0},
    # Links new audit events into the hash chain; single-flight, so overlapping runs are no-ops.
    "audit-seal-events": {
        "task": "audit.seal_events",
        "schedule": 5.0,
        "options": {"expires": 30},
    },
    # Retention (ROSTER["AUDIT_RETENTION_DAYS"]): prunes sealed events, moves the checkpoint.
    "audit-prune-events": {"task": "audit.prune_events", "schedule": 24 * 3600.0},
    # Audit events partitions (PostgreSQL), created months ahead; a no-op when they exist.
    "audit-ensure-partitions": {"task": "audit.ensure_partitions", "schedule": 24 * 3600.0},
    # Erases deleted accounts once ROSTER["ACCOUNT_ERASURE_GRACE_DAYS"] have passed.
    "accounts-erase-due": {"task": "accounts.erase_due_accounts", "schedule": 3600.0},
    # Grants past their end marked expired, requests past their decision date lapsed, holders
    # warned a day ahead; checks compare expires_at themselves, so a late run opens nothing.
    "access-expire-due": {
        "task": "access.expire_due",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    # Deletes backups past their retention_days (console.backups), increments before bases.
    "console-expire-backups": {"task": "console.expire_backups", "schedule": 3600.0},
}


@task_failure.connect
def count_task_failure(sender=None, **kwargs):
    from config.metrics import CELERY_TASK_FAILURES

    CELERY_TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()
