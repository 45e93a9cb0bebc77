"""Bulk export and import of users in the admin (django-import-export).

Export: CSV or XLSX of the list as filtered in the admin (columns below, never a secret),
every text cell spreadsheet-safe (``config.exports``), every export audited.
Import: CSV only, create-only, checked row by row in a dry run first (email format,
duplicates in the file and in Roster, known roles, the profile rules of the users
service). One bad row rejects the whole file. Files never carry passwords: a column that
looks like one rejects the file; imported users get an unusable password and an email to
set theirs once the import commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from import_export import resources
from import_export.fields import Field

from accounts.admin_services import user_send_password_reset
from accounts.managers import normalize_email
from accounts.models import PROFILE_FIELDS, ROLE_NAMES, USER_OBJECT_FIELDS, User
from accounts.services.users import user_create
from audit.masking import is_secret_key
from config.errors import DomainError
from config.exports import spreadsheet_cell

IMPORT_COLUMNS = ("email", *PROFILE_FIELDS, "roles")
_FORBIDDEN_COLUMN_WORDS = ("password", "passwd", "hash", "secret")


def parse_roles(raw: Any) -> tuple[list[str], list[str]]:
    """``"admin, manager"`` -> (known roles, unknown names); empty means member."""
    names = [part.strip().lower() for part in str(raw or "").replace(";", ",").split(",")]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in ROLE_NAMES]
    return [n for n in ROLE_NAMES if n in names] or ["member"], unknown


def user_create_invited(
    *, email: str, profile: dict[str, Any], roles: Iterable[str], actor, request=None
) -> User:
    """Create a user without a password and, once committed, email them a link to set one."""
    user = user_create(
        email=email,
        roles=list(roles),
        actor=actor,
        request=request,
        **{k: v for k, v in profile.items() if v not in (None, "")},
    )
    transaction.on_commit(lambda: _send_set_password_email(user.pk, request))
    return user


def _send_set_password_email(user_id, request) -> None:
    user = User.objects.get(pk=user_id)
    user_send_password_reset(user=user, actor=getattr(request, "user", None), request=request)


class UserExportResource(resources.ModelResource):
    """The admin list, as filtered, for spreadsheets. Metadata only."""

    roles = Field(column_name="roles")
    mfa_enabled = Field(column_name="mfa_enabled")
    live_slots = Field(column_name="live_slots")

    class Meta:
        model = User
        name = "Users"
        # The user object's columns (less email_verified), then the admin's own.
        fields = (
            *USER_OBJECT_FIELDS[: USER_OBJECT_FIELDS.index("email_verified")],
            "mfa_enabled",
            "live_slots",
            "slot_limit",
            "date_joined",
            "last_login",
        )
        export_order = fields

    def export_resource(self, instance, selected_fields=None, **kwargs) -> list:
        # A display name like =HYPERLINK(...) must reach the spreadsheet as text.
        row = super().export_resource(instance, selected_fields, **kwargs)
        return [spreadsheet_cell(value) for value in row]

    def dehydrate_roles(self, user: User) -> str:
        return ",".join(user.roles)

    def dehydrate_mfa_enabled(self, user: User) -> str:
        return "yes" if getattr(user, "mfa_enabled", False) else "no"

    def dehydrate_live_slots(self, user: User) -> int:
        return getattr(user, "live_slot_count", 0)


class UserImportResource(resources.ModelResource):
    """Create-only import; every row is validated before anything is written."""

    roles = Field(column_name="roles", attribute="_import_roles_text")

    class Meta:
        model = User
        name = "New users (CSV)"
        fields = IMPORT_COLUMNS
        import_id_fields = ("email",)
        use_transactions = True
        clean_model_instances = False  # the users service validates, with its own rules
        skip_unchanged = False
        report_skipped = True

    def __init__(self, *, actor=None, request=None, **kwargs):
        super().__init__(**kwargs)
        self.actor = actor
        self.request = request
        self._first_row_of: dict[str, int] = {}

    def before_import(self, dataset, **kwargs):
        headers = [str(h or "").strip().lower() for h in (dataset.headers or [])]
        secret = [
            h
            for h in headers
            if is_secret_key(h) or any(word in h for word in _FORBIDDEN_COLUMN_WORDS)
        ]
        if secret:
            raise ValidationError(
                f"Import files may not carry passwords or secrets (column {', '.join(secret)}). "
                "Imported users get an email to set their own password."
            )
        if "email" not in headers:
            raise ValidationError("The file needs an 'email' column.")
        unknown = [h for h in headers if h not in IMPORT_COLUMNS]
        if unknown:
            raise ValidationError(
                f"Unknown column(s): {', '.join(unknown)}. Allowed: {', '.join(IMPORT_COLUMNS)}."
            )
        dataset.headers = headers
        self._first_row_of = {}

    def get_instance(self, instance_loader, row):
        # Create-only: an address that already exists is refused row by row, never updated.
        return None

    def import_instance(self, instance, row, **kwargs):
        errors: dict[str, list[str]] = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)

        row_number = kwargs.get("row_number")
        email = normalize_email(str(row.get("email") or "").strip())
        instance.email = email
        try:
            validate_email(email)
        except ValidationError:
            errors.setdefault("email", []).append(f"'{email[:100]}' is not a valid email address.")
        else:
            key = email.lower()
            if key in self._first_row_of:
                errors.setdefault("email", []).append(
                    f"{email} appears twice in the file (first at row {self._first_row_of[key]})."
                )
            elif User.objects.filter(email__iexact=email).exists():
                errors.setdefault("email", []).append(f"{email} already has an account.")
            self._first_row_of.setdefault(key, row_number)

        roles, unknown = parse_roles(row.get("roles"))
        if unknown:
            errors.setdefault("roles", []).append(
                f"Unknown role(s): {', '.join(unknown)}. Use {', '.join(ROLE_NAMES)}."
            )
        instance._import_roles = roles
        instance._import_roles_text = ",".join(roles)
        if errors:
            raise ValidationError(errors)

    def do_instance_save(self, instance, is_create):
        profile = {c: getattr(instance, c, "") for c in PROFILE_FIELDS}
        try:
            created = user_create_invited(
                email=instance.email,
                profile=profile,
                roles=instance._import_roles,
                actor=self.actor,
                request=self.request,
            )
        except DomainError as exc:
            raise ValidationError({exc.attr or "email": [exc.detail]}) from exc
        except ValidationError:
            raise
        instance.pk = created.pk
        instance._state.adding = False
        instance._state.db = created._state.db

    def save_m2m(self, instance, row, **kwargs):
        # Roles were assigned by the users service.
        return None
