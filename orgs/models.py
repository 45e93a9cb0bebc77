"""Organizations (tenants), their plans, members, roles, teams, invitations and domains.

Fields, constraints and cheap properties only; every write goes through ``orgs.services``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$"
ROLE_KEY_RE = r"^[a-z][a-z0-9_-]{0,39}$"
slug_validator = RegexValidator(
    SLUG_RE,
    "Lower-case letters, digits and dashes (not at either end), at most 50 characters.",
    code="invalid_slug",
)
role_key_validator = RegexValidator(
    ROLE_KEY_RE,
    "Lower-case letters, digits, dashes and underscores, starting with a letter.",
    code="invalid_key",
)


class Plan(models.Model):
    """What a tenant subscribes to: seats, features, slot and usage limits. Admin data."""

    key = models.CharField(max_length=40, unique=True, validators=[role_key_validator])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    seat_limit = models.PositiveIntegerField(help_text="Members plus pending invitations.")
    features = models.JSONField(default=list, blank=True, help_text="Feature keys (strings).")
    slot_limits = models.JSONField(
        default=dict, blank=True, help_text="Live slots per slot type key, per member."
    )
    usage_limits = models.JSONField(default=dict, blank=True, help_text="Limit per meter key.")
    is_active = models.BooleanField(default=True, help_text="Offered for new tenants.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seat_limit", "key"]

    def __str__(self) -> str:
        return self.key


class Organization(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"
        ARCHIVED = "archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="organizations"
    )
    features = models.JSONField(default=list, blank=True)
    seat_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Members plus pending invitations; empty: no limit."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "suspended", "archived"]),
                name="org_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class OrganizationDomain(models.Model):
    class JoinMode(models.TextChoices):
        OFF = "off"
        SUGGEST = "suggest"
        AUTO = "auto"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="domains")
    # Stored lower-case: one domain belongs to one organization.
    domain = models.CharField(max_length=253, unique=True)
    verified = models.BooleanField(default=False)
    join_mode = models.CharField(max_length=8, choices=JoinMode.choices, default=JoinMode.OFF)
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class Role(models.Model):
    """A built-in role (no organization; permissions from ``orgs.catalogue``) or an
    organization's custom role (permissions stored as catalogue keys)."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="roles"
    )
    key = models.CharField(max_length=40, validators=[role_key_validator])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    permissions = models.JSONField(default=list, blank=True)
    builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization_id", "key"]
        constraints = [
            models.UniqueConstraint("organization", "key", name="role_org_key_unique"),
            models.UniqueConstraint(
                "key", condition=models.Q(organization__isnull=True), name="role_builtin_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Membership(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="org_memberships"
    )
    roles = models.ManyToManyField(Role, related_name="memberships", blank=True)
    permissions = models.JSONField(default=list, blank=True, help_text="Direct permissions.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint("organization", "user", name="membership_org_user_unique"),
        ]
        indexes = [models.Index(fields=["user", "status"], name="membership_user_status")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organization_id}"


class Team(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    team_type = models.CharField(max_length=50, blank=True, default="")
    goals = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="team_org_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    class Role(models.TextChoices):
        LEAD = "lead"
        MEMBER = "member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="team_memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    title = models.CharField(max_length=100, blank=True, default="")
    permissions = models.JSONField(default=list, blank=True, help_text="Team permissions.")
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint("team", "user", name="team_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in team {self.team_id} ({self.role})"


class Invitation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        CANCELED = "canceled"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(max_length=254)
    roles = models.ManyToManyField(Role, related_name="invitations", blank=True)
    teams = models.ManyToManyField(Team, related_name="invitations", blank=True)
    # SHA-256 of the link's secret; emptied when the link dies (accepted, resent, canceled).
    token_digest = models.CharField(max_length=64, blank=True, default="", db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # How long a link lives: a resend restarts the expiry with the same span.
    valid_days = models.PositiveSmallIntegerField(default=7)
    decided_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            # One pending invitation per address and organization, whatever the race.
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(status="pending"),
                name="invitation_one_pending_per_email",
            ),
        ]
        indexes = [models.Index(Lower("email"), "status", name="invitation_email_status")]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.organization_id}"

    def effective_status(self, now=None) -> str:
        if self.status == self.Status.PENDING and self.expires_at <= (now or timezone.now()):
            return self.Status.EXPIRED
        return self.status


class TenantOnboarding(models.Model):
    """One ``POST /admin/tenants`` by idempotency key: what was asked and what was answered."""

    key = models.CharField(max_length=200, unique=True)
    fingerprint = models.CharField(max_length=64)
    organization = models.ForeignKey(
        Organization, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


# Module-level names for the OpenAPI enum names (ENUM_NAME_OVERRIDES in settings).
OrganizationStatus = Organization.Status
MembershipStatus = Membership.Status
InvitationStatus = Invitation.Status
TeamRole = TeamMembership.Role
DomainJoinMode = OrganizationDomain.JoinMode


# An organization's SAML identity provider lives in its own module (orgs.saml).
from orgs.saml.models import SamlConnection  # noqa: E402, F401
