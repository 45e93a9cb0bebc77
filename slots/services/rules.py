"""Who may act on a slot, the checks of what a slot may hold (its name, its type, its config
against the type's JSON schema), and the small helpers every write of the package shares."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower
from jsonschema import FormatChecker, validators

from config.errors import Conflict, Forbidden, Invalid
from slots.lifecycle import LIVE_STATUSES
from slots.models import SLOT_NAME_MAX_LENGTH, Slot, SlotType

# A slot's config is a small settings document, not a data store.
CONFIG_MAX_BYTES = 16 * 1024
CONFIG_MAX_DEPTH = 16
CONFIG_MAX_ERRORS = 20

# --- who may act ------------------------------------------------------------------------


def actor_is_admin(actor) -> bool:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return bool(actor.is_superuser or "admin" in actor.roles)


def ensure_may_manage(*, slot: Slot, actor) -> None:
    """Owner or admin; ``actor=None`` is Roster itself (tasks, provisioning code)."""
    if actor is None or actor.pk == slot.owner_id or actor_is_admin(actor):
        return
    raise Forbidden(detail="Only the slot's owner or an admin may change it.")


# --- validation -------------------------------------------------------------------------


def validate_slot_name(name: Any) -> str:
    if not isinstance(name, str):
        raise Invalid("invalid", "The name must be a string.", attr="name")
    name = name.strip()
    if not name:
        raise Invalid("blank", "The name may not be blank.", attr="name")
    if len(name) > SLOT_NAME_MAX_LENGTH:
        raise Invalid(
            "max_length",
            f"Ensure the name has no more than {SLOT_NAME_MAX_LENGTH} characters.",
            attr="name",
        )
    # Control, format (e.g. bidi overrides, zero-width) and line/paragraph separators make
    # names that render misleadingly or break logs.
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name):
        raise Invalid("invalid_name", "The name may not contain control characters.", attr="name")
    return name


def resolve_slot_type(type_or_key: SlotType | str) -> SlotType:
    if isinstance(type_or_key, SlotType):
        slot_type = type_or_key
    else:
        slot_type = SlotType.objects.filter(key=str(type_or_key)).first()
        if slot_type is None:
            raise Invalid("unknown_type", "There is no slot type with this key.", attr="type")
    if not slot_type.is_enabled:
        raise Invalid("type_disabled", "New slots of this type cannot be created.", attr="type")
    return slot_type


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > CONFIG_MAX_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def _error_attr(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    # Name the missing or unexpected property itself, not the object that holds it.
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        if len(missing) == 1:
            parts.append(str(missing[0]))
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in known]
        if len(extra) == 1:
            parts.append(str(extra[0]))
    return ".".join(["config", *parts])


def _in_words(error) -> str:
    """jsonschema's message, except where it shows a regular expression: a value that does not
    match a ``pattern`` is told in words, with the schema's ``description`` when it has one."""
    if error.validator != "pattern":
        return error.message
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    value = error.instance if isinstance(error.instance, str) else str(error.instance)
    text = f"“{value[:100]}” is not in the expected form."
    return f"{text} {described}" if isinstance(described, str) and described else text


def validate_slot_config(*, slot_type: SlotType, config: Any) -> dict:
    """The config with the schema's top-level defaults filled in, or a ValidationError whose
    keys are JSON paths (``config.cpu``)."""
    if not isinstance(config, dict):
        raise Invalid("invalid_config", "The config must be a JSON object.", attr="config")
    if len(json.dumps(config, separators=(",", ":"))) > CONFIG_MAX_BYTES:
        raise Invalid(
            "config_too_large",
            f"The config may be at most {CONFIG_MAX_BYTES} bytes of JSON.",
            attr="config",
        )
    if _depth(config) > CONFIG_MAX_DEPTH:
        raise Invalid(
            "config_too_large",
            f"The config may be nested at most {CONFIG_MAX_DEPTH} levels deep.",
            attr="config",
        )
    schema = slot_type.config_schema or {}
    config = dict(config)
    for prop, spec in (schema.get("properties") or {}).items():
        if prop not in config and isinstance(spec, dict) and "default" in spec:
            config[prop] = spec["default"]
    validator = validators.validator_for(schema)(schema, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.path])
    if errors:
        by_attr: dict[str, list[ValidationError]] = {}
        for error in errors[:CONFIG_MAX_ERRORS]:
            by_attr.setdefault(_error_attr(error), []).append(
                ValidationError(_in_words(error)[:300], code="invalid_config")
            )
        raise ValidationError(by_attr)
    return config


def name_taken(*, owner_id, name: str, exclude_id=None) -> bool:
    qs = Slot.objects.annotate(lname=Lower("name")).filter(
        owner_id=owner_id, status__in=LIVE_STATUSES, lname=name.lower()
    )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return qs.exists()


def name_taken_error() -> Conflict:
    return Conflict("name_taken", "You already hold a live slot with this name.", attr="name")


# --- shared by the writes ---------------------------------------------------------------


def refresh_from(slot: Slot, source: Slot) -> None:
    """Copy the saved state onto the caller's instance, so it sees what was written."""
    for field in ("name", "config", "status", "updated_at", "status_changed_at", "released_at"):
        setattr(slot, field, getattr(source, field))
    forget_cached_credential(slot)


def forget_cached_credential(slot: Slot) -> None:
    """Drop the instance's cached credential row, so its next read sees what was written."""
    if hasattr(slot, "_state") and "credential" in slot._state.fields_cache:
        del slot._state.fields_cache["credential"]
