"""The console's records: backups (``console.backups``) and reports (``console.reports``)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Backup(models.Model):
    """One backup file: what it holds, where it is, and whether a restore of it was proven."""

    class Type(models.TextChoices):
        FULL = "full"
        INCREMENTAL = "incremental"
        SELECTIVE = "selective"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    backup_type = models.CharField(max_length=16, choices=Type.choices)
    # The backup an incremental builds on (full or incremental); restored before it.
    base = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="increments"
    )
    apps = models.JSONField(default=list, blank=True)
    include_database = models.BooleanField(default=True)
    include_files = models.BooleanField(default=False)
    encrypted = models.BooleanField(default=False)
    key_id = models.CharField(max_length=12, blank=True, default="")
    retention_days = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, default="")
    file_name = models.CharField(max_length=100, blank=True, default="")
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    # Per table: mode, rows written, rows in the table at the snapshot, watermarks.
    manifest = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    snapshot_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_ok = models.BooleanField(null=True, blank=True)
    verified_detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="backup_expires_at")]

    def __str__(self) -> str:
        return f"{self.backup_type} backup {self.id} ({self.status})"


from console.reports.models import Report  # noqa: E402  (the console's records, one module each)

__all__ = ["Backup", "Report"]
