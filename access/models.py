"""Requestable resources, access requests, their reviews, and the grants they start.

Fields, constraints and cheap properties only; every write goes through ``access.services``.
A grant's ``expires_at`` is the truth: a grant whose time has passed gives nothing, whether or
not the expiry task has marked it ``expired`` yet.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from access.policies.models import PasswordHistory, SecurityPolicy  # noqa: F401 - app's models
from orgs.models import Organization

RESOURCE_KEY_RE = r"^[a-z][a-z0-9_.-]{0,62}$"
LEVEL_RE = r"^[a-z][a-z0-9_-]{0,39}$"
ORG_ROLE_PREFIX = "org-role:"
resource_key_validator = RegexValidator(
    RESOURCE_KEY_RE,
    "Lower-case letters, digits, dots, dashes and underscores, starting with a letter.",
    code="invalid_key",
)


class RequestableResource(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="requestable_resources"
    )
    key = models.CharField(max_length=63, validators=[resource_key_validator])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    levels = models.JSONField(default=list, help_text="Access levels, narrowest first.")
    approvers = models.JSONField(default=dict, help_text="{roles: [], teams: [], users: []}")
    min_approvals = models.PositiveSmallIntegerField(default=1)
    max_duration_days = models.PositiveSmallIntegerField(default=14)
    pending_days = models.PositiveSmallIntegerField(default=7)
    auto_approve_levels = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint("organization", "key", name="resource_org_key_unique"),
        ]

    def __str__(self) -> str:
        return self.key


class AccessRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DENIED = "denied"
        CANCELED = "canceled"
        LAPSED = "lapsed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="access_requests"
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests"
    )
    resource_key = models.CharField(max_length=80)
    access_level = models.CharField(max_length=40)
    justification = models.TextField()
    duration_days = models.PositiveSmallIntegerField()
    levels = models.JSONField(default=list, help_text="The resource's levels when asked.")
    min_approvals = models.PositiveSmallIntegerField(default=1)
    approvers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="access_requests_to_review", blank=True
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decide_by = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                "requester",
                "organization",
                "resource_key",
                "access_level",
                condition=Q(status="pending"),
                name="access_request_one_pending",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "decide_by"], name="access_request_due"),
            models.Index(fields=["requester", "status"], name="access_request_requester"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_key}:{self.access_level} for {self.requester_id}"


class Review(models.Model):
    class Action(models.TextChoices):
        APPROVE = "approve"
        DENY = "deny"
        DELEGATE = "delegate"

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_reviews"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    comment = models.TextField(blank=True, default="")
    conditions = models.JSONField(default=dict, blank=True)
    delegate_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint("request", "reviewer", name="review_once_per_reviewer"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.reviewer_id}"


class Grant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        EXPIRED = "expired"
        REVOKED = "revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_grants"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="access_grants"
    )
    request = models.OneToOneField(
        AccessRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="grant"
    )
    resource_key = models.CharField(max_length=80)
    access_level = models.CharField(max_length=40)
    starts_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    ended_at = models.DateTimeField(null=True, blank=True)
    expiring_notified = models.BooleanField(default=False)

    class Meta:
        ordering = ["-starts_at", "id"]
        indexes = [
            # GET /access/check: one index range scan.
            models.Index(
                fields=["user", "organization", "resource_key", "access_level", "expires_at"],
                condition=Q(status="active"),
                name="grant_check",
            ),
            models.Index(fields=["status", "expires_at"], name="grant_due"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_key}:{self.access_level} for {self.user_id}"

    def is_active(self, now=None) -> bool:
        return self.status == self.Status.ACTIVE and self.expires_at > (now or timezone.now())

    @property
    def effective_status(self) -> str:
        if self.status == self.Status.ACTIVE and self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.status


# The API schema names these enums (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
AccessRequestStatus = AccessRequest.Status
GrantStatus = Grant.Status
ReviewAction = Review.Action
