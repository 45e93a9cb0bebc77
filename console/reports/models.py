"""A report: what was asked, by whom, and the figures computed for it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Report(models.Model):
    class Type(models.TextChoices):
        TEAM_PERFORMANCE = "team_performance", _("Team Performance")
        ACTIVITY_MONITORING = "activity_monitoring", _("Activity Monitoring")
        ACCESS_REVIEW = "access_review", _("Access Review")
        USAGE = "usage", _("Usage")

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    class Format(models.TextChoices):
        JSON = "json"
        CSV = "csv"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    report_type = models.CharField(max_length=24, choices=Type.choices)
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="reports"
    )
    # A deleted team leaves its reports to the organization; ``parameters`` still names it.
    team = models.ForeignKey(
        "orgs.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    # The request as it was understood (period resolved to dates): what the digest vouches for.
    parameters = models.JSONField(default=dict)
    format = models.CharField(max_length=4, choices=Format.choices, default=Format.JSON)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    file_name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    as_of = models.DateTimeField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    file_sha256 = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        app_label = "console"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="report_org_created"),
            models.Index(fields=["requested_by", "-created_at"], name="report_requester_created"),
        ]

    def __str__(self) -> str:
        return f"{self.report_type} report {self.id} ({self.status})"
