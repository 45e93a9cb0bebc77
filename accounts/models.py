from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_lazy as _

from accounts.managers import UserManager, normalize_email

ROLE_NAMES = ("member", "manager", "admin", "support")

# The user object, one source for every door that shows or takes it: the API
# (accounts.selectors.user_as_dict and the users serializers), the data export, the admin
# form and its CSV import/export. PROFILE_FIELDS are the ones a user may change.
PROFILE_FIELDS = (
    "username",
    "display_name",
    "first_name",
    "last_name",
    "phone",
    "department",
    "timezone",
    "locale",
)
USER_OBJECT_FIELDS = (
    "id",
    "email",
    *PROFILE_FIELDS,
    "status",
    "roles",
    "email_verified",
    "mfa_enabled",
    "date_joined",
    "last_login",
)

username_validator = RegexValidator(
    r"^[A-Za-z0-9_.-]{1,150}$",
    "Use up to 150 letters, digits, dots, dashes and underscores.",
    code="invalid_username",
)


class User(AbstractBaseUser, PermissionsMixin):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        DEACTIVATED = "deactivated", _("Deactivated")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    username = models.CharField(
        max_length=150, null=True, blank=True, validators=[username_validator]
    )
    display_name = models.CharField(max_length=150, blank=True, default="")
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    phone = models.CharField(max_length=20, blank=True, default="")
    department = models.CharField(max_length=150, blank=True, default="")
    timezone = models.CharField(max_length=64, blank=True, default="UTC")
    locale = models.CharField(max_length=16, blank=True, default="en")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Kept equal to ``status == active`` by the services and by a database constraint;
    # Django, allauth and the admin read it, so it stays a real column.
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    slot_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Live slots this user may hold; empty uses each slot type's default.",
    )
    date_joined = models.DateTimeField(default=dj_timezone.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    # Set when the user deletes their own account; personal data is erased once it passes.
    erasure_due_at = models.DateTimeField(null=True, blank=True)
    # Any save of the row (profile, status, password, sign-in time); incremental backups
    # take the users changed since their base by it.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["date_joined"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.CheckConstraint(
                condition=(
                    models.Q(status="active", is_active=True)
                    | (~models.Q(status="active") & models.Q(is_active=False))
                ),
                name="user_is_active_matches_status",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="user_status_idx"),
            # The user list pages through 100k+ users by join date.
            models.Index(fields=["date_joined", "id"], name="user_joined_idx"),
            models.Index(
                fields=["erasure_due_at"],
                name="user_erasure_due_idx",
                condition=models.Q(erasure_due_at__isnull=False, erased_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        # A save of chosen fields (a profile edit, a status change, a sign-in) stamps
        # ``updated_at`` too: Django stamps auto_now fields only when they are saved.
        update_fields = kwargs.get("update_fields")
        if update_fields and "updated_at" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "updated_at"]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)
        if self.username is not None:
            self.username = self.username.strip() or None

    def get_full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.display_name

    def get_short_name(self) -> str:
        return self.display_name or self.first_name or self.email

    @property
    def roles(self) -> list[str]:
        if hasattr(self, "has_role_member"):
            # Loaded with the user object's flags (accounts.selectors.user_with_flags, as an
            # API request's authentication does): the roles as of this request, no query.
            return [r for r in ROLE_NAMES if getattr(self, f"has_role_{r}")]
        names = {g.name for g in self.groups.all()}
        return [r for r in ROLE_NAMES if r in names]


# Module-level name for the OpenAPI enum override (UserStatusEnum in settings).
UserStatus = User.Status


class ApiSession(models.Model):
    """One token login (API door). JWTs carry its id as ``sid``; revoking it kills them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_sessions")
    created_at = models.DateTimeField(default=dj_timezone.now)
    last_seen_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    # The jti of the one refresh token that may still be used; older ones are reuse.
    refresh_jti = models.CharField(max_length=64, blank=True, default="")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=64, blank=True, default="")
    # The organization its access tokens name (``org`` claim), chosen at token login and
    # switched at refresh. A plain id: accounts sits below orgs and never references it.
    active_org_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "revoked_at"], name="apisession_user_live"),
            # The live sessions naming an organization, revoked when it drops a member.
            models.Index(fields=["active_org_id", "revoked_at"], name="apisession_active_org"),
            # Recent revocations, written to the cache again after an outage.
            models.Index(fields=["revoked_at"], name="apisession_revoked_at"),
        ]

    def __str__(self) -> str:
        return f"API session {self.id} of {self.user_id}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > dj_timezone.now()


# Every API key starts with this, then its public prefix: how a key is told from a JWT.
API_KEY_SCHEME = "rst_"


# What the admin shows of an API key: metadata only, never the digest.
API_KEY_METADATA_FIELDS = (
    "name",
    "shown_prefix",
    "scopes",
    "created_at",
    "expires_at",
    "last_used_at",
    "last_used_ip",
    "revoked_at",
)


class ApiKey(models.Model):
    """A scoped key. The secret is shown once; only its SHA-256 digest is kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    _audit_actor_type = "api_key"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        indexes = [models.Index(fields=["user", "revoked_at"], name="apikey_user_live")]

    def __str__(self) -> str:
        return f"{self.name} ({self.shown_prefix}…)"

    @property
    def shown_prefix(self) -> str:
        """The prefix as people see it: how the key itself begins (``rst_<prefix>``)."""
        return f"{API_KEY_SCHEME}{self.prefix}"

    shown_prefix.fget.short_description = "prefix"

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > dj_timezone.now()


class SettingDefinition(models.Model):
    """A typed user setting, defined as data (editable in the admin)."""

    class Type(models.TextChoices):
        STRING = "string"
        INTEGER = "integer"
        BOOLEAN = "boolean"
        CHOICE = "choice"
        JSON = "json"

    key = models.CharField(
        max_length=100,
        unique=True,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", code="invalid_key")],
    )
    type = models.CharField(max_length=16, choices=Type.choices)
    category = models.CharField(max_length=50, default="preferences", db_index=True)
    default = models.JSONField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True, help_text="Allowed values (choice).")
    min_value = models.BigIntegerField(null=True, blank=True)
    max_value = models.BigIntegerField(null=True, blank=True)
    max_length = models.PositiveIntegerField(null=True, blank=True)
    pattern = models.CharField(max_length=500, blank=True, default="")
    json_schema = models.JSONField(null=True, blank=True)
    is_public = models.BooleanField(default=False)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "key"]

    def __str__(self) -> str:
        return self.key


class UserSetting(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="settings")
    definition = models.ForeignKey(
        SettingDefinition, on_delete=models.CASCADE, related_name="values"
    )
    value = models.JSONField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "definition"], name="usersetting_unique")
        ]

    def __str__(self) -> str:
        # The setting's key: what an admin reads on a user's page.
        return self.definition.key


# The SMS second factor's tables (accounts.sms: why not an allauth Authenticator).
from accounts.sms.models import SmsCode, SmsDevice  # noqa: E402, F401
