"""Typed settings: a user's values (validated against their definitions), and the admin's
clean-up of values a changed definition no longer allows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import settings_registry
from accounts.models import SettingDefinition, User, UserSetting
from audit.services import record
from config.errors import Invalid

SETTINGS_MAX_KEYS_PER_REQUEST = 100


def settings_update(
    *, user: User, values: Mapping[str, Any], actor, request=None, category: str | None = None
) -> None:
    """Set several settings at once, all or nothing.

    Each key must name a definition (in ``category`` when given), each value must obey it;
    ``null`` resets a setting to its default. Every error names its key (``attr``) and rule
    (``code``). Audit: one ``user.settings.updated`` with ``{key: [old, new]}``.
    """
    if not isinstance(values, Mapping):
        raise Invalid("invalid", "Expected an object of {key: value}.")
    if len(values) > SETTINGS_MAX_KEYS_PER_REQUEST:
        raise Invalid(
            "too_many_keys", f"At most {SETTINGS_MAX_KEYS_PER_REQUEST} settings per request."
        )
    by_key, cleaned = _clean_values(values, category=category)
    if not cleaned:
        return
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one writer per user
        stored = {
            s.definition_id: s
            for s in UserSetting.objects.filter(user=user, definition__in=by_key.values())
        }
        changes: dict[str, list] = {}
        for key, value in cleaned.items():
            before, after = _store(user, by_key[key], stored.get(by_key[key].pk), value)
            if before != after:
                changes[key] = [before, after]
        if changes:
            record(
                action="user.settings.updated",
                actor=actor,
                target=user,
                request=request,
                changes=changes,
            )


def _clean_values(
    values: Mapping[str, Any], *, category: str | None
) -> tuple[dict[str, SettingDefinition], dict[str, Any]]:
    """(definitions by key, cleaned values); a ValidationError naming every bad key."""
    definitions = SettingDefinition.objects.filter(key__in=[str(k) for k in values])
    if category is not None:
        definitions = definitions.filter(category=category)
    by_key = {d.key: d for d in definitions}
    errors: dict[str, list[ValidationError]] = {}
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        definition = by_key.get(key)
        if definition is None:
            where = f" in {category}" if category else ""
            errors[key] = [ValidationError(f"No setting {key!r}{where}.", code="unknown_setting")]
            continue
        if value is None:
            cleaned[key] = None
            continue
        try:
            cleaned[key] = settings_registry.validate_value(definition, value)
        except settings_registry.SettingValueError as exc:
            errors[key] = [ValidationError(exc.detail, code=exc.code)]
    if errors:
        raise ValidationError(errors)
    return by_key, cleaned


def _store(user: User, definition: SettingDefinition, row: UserSetting | None, value: Any):
    """Write one value (None: back to the default); (effective before, effective after)."""
    before = settings_registry.effective_value(
        definition, row.value if row else None, has_stored=row is not None
    )
    if value is None:
        if row is not None:
            row.delete()
        return before, definition.default
    if row is None:
        UserSetting.objects.create(user=user, definition=definition, value=value)
    elif row.value != value:
        row.value = value
        row.save(update_fields=["value", "updated_at"])
    return before, value


# --- setting definitions (admin) -------------------------------------------------------


def settings_clear_invalid(*, definition: SettingDefinition, actor, request=None) -> int:
    """Delete the stored values a changed definition no longer allows (they already read as
    the default; this makes it final). Returns how many were removed."""
    with transaction.atomic():
        rows = (
            UserSetting.objects.select_for_update()
            .filter(definition=definition)
            .values_list("pk", "user_id", "value")
        )
        invalid = [
            (pk, user_id)
            for pk, user_id, value in rows
            if not settings_registry.is_valid(definition, value)
        ]
        if not invalid:
            return 0
        pks = [pk for pk, _ in invalid]
        for start in range(0, len(pks), 500):
            UserSetting.objects.filter(pk__in=pks[start : start + 500]).delete()
        record(
            action="setting_definition.invalid_values_cleared",
            actor=actor,
            target=definition,
            request=request,
            metadata={
                "key": definition.key,
                "removed": len(invalid),
                "user_ids": [str(user_id) for _, user_id in invalid[:100]],
            },
        )
    return len(invalid)
