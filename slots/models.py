from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from slots.lifecycle import LIVE_STATUSES, SlotStatus


class CredentialKind(models.TextChoices):
    API_KEY = "api_key"
    BASIC = "basic"
    OAUTH = "oauth"


CREDENTIAL_KINDS = tuple(CredentialKind.values)
SLOT_NAME_MAX_LENGTH = 100


def validate_config_schema(value) -> None:
    """A slot type's schema must itself be a valid JSON Schema describing an object."""
    from jsonschema import exceptions, validators

    if not isinstance(value, dict):
        raise ValidationError("The config schema must be a JSON object.", code="invalid_schema")
    try:
        validators.validator_for(value).check_schema(value)
    except exceptions.SchemaError as exc:
        raise ValidationError(
            f"Not a valid JSON Schema: {exc.message}"[:300], code="invalid_schema"
        ) from exc
    if value.get("type", "object") != "object":
        raise ValidationError("Slot config is always a JSON object.", code="invalid_schema")


def validate_credential_kinds(value) -> None:
    if not isinstance(value, list) or any(kind not in CREDENTIAL_KINDS for kind in value):
        raise ValidationError(
            f"Credential kinds must be a list drawn from {', '.join(CREDENTIAL_KINDS)}.",
            code="invalid_credential_kinds",
        )


class SlotType(models.Model):
    """What kind of resource a slot allocates. Admin-managed data."""

    key = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9_-]{0,63}$",
                "Lower-case letters, digits, dashes and underscores, starting with a letter.",
                code="invalid_key",
            )
        ],
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    config_schema = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_config_schema],
        help_text="JSON Schema for the slot's config. Top-level property defaults are filled in.",
    )
    default_limit = models.PositiveIntegerField(
        default=3,
        help_text="Live slots of this type a user may hold unless their own limit is set.",
    )
    credential_kinds = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_credential_kinds],
        help_text='Credential kinds slots of this type accept: "api_key", "basic", "oauth".',
    )
    requires_provisioning = models.BooleanField(
        default=False,
        help_text="New slots start as 'provisioning' and need an admin (or the provisioner) "
        "to activate them.",
    )
    is_enabled = models.BooleanField(default=True, help_text="New slots may be created.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class Slot(models.Model):
    """A named allocation of a resource held by one user."""

    Status = SlotStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slots"
    )
    type = models.ForeignKey(SlotType, on_delete=models.PROTECT, related_name="slots")
    name = models.CharField(max_length=SLOT_NAME_MAX_LENGTH)
    status = models.CharField(max_length=16, choices=SlotStatus.choices)
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_active_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Names are unique among the owner's live slots, case-insensitively; a released
            # slot frees its name.
            models.UniqueConstraint(
                "owner",
                Lower("name"),
                condition=models.Q(status__in=LIVE_STATUSES),
                name="slot_owner_live_name_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in SlotStatus]),
                name="slot_status_valid",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status=SlotStatus.RELEASED, released_at__isnull=False)
                    | (~models.Q(status=SlotStatus.RELEASED) & models.Q(released_at__isnull=True))
                ),
                name="slot_released_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status"], name="slot_owner_status"),
            models.Index(fields=["owner", "-created_at"], name="slot_owner_created"),
            models.Index(fields=["status", "last_active_at"], name="slot_status_active"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type_id and self.type.key}, {self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class SlotCredential(models.Model):
    """The slot's credentials, encrypted (MultiFernet). Only kind and hint are readable."""

    slot = models.OneToOneField(
        Slot, on_delete=models.CASCADE, primary_key=True, related_name="credential"
    )
    kind = models.CharField(max_length=16, choices=[(k, k) for k in CREDENTIAL_KINDS])
    hint = models.CharField(max_length=4, blank=True, default="")
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "slot credential"

    def __str__(self) -> str:
        return f"{self.kind} credentials of slot {self.slot_id}"
