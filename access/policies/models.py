"""Security policies (platform: no organization) and password history.

Fields and constraints only; every write goes through ``access.policies.services``."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from orgs.models import Organization


class SecurityPolicy(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="security_policies",
        help_text="Empty: the platform's policy.",
    )
    # One of access.policies.types.POLICY_TYPES (checked by the services; no choices here, so
    # a new type needs no migration).
    policy_type = models.CharField(max_length=20)
    values = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "security policies"
        ordering = ["policy_type", "organization_id"]
        constraints = [
            models.UniqueConstraint("organization", "policy_type", name="policy_org_type_unique"),
            models.UniqueConstraint(
                "policy_type",
                condition=Q(organization__isnull=True),
                name="policy_platform_type_unique",
            ),
        ]

    def __str__(self) -> str:
        scope = self.organization.slug if self.organization_id else "platform"
        return f"{self.policy_type} ({scope})"


class PasswordHistory(models.Model):
    """The hashes of a user's last passwords (as many as their policy's ``history``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_history"
    )
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "password history"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="pwhistory_user_created")]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"
