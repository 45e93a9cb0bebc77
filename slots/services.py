"""Write side of slots: every change to a slot goes through one of these functions.

Each opens its own transaction, enforces the rule (quota with the owner row locked, config
schema, status machine, who may act), and records the audit event in the same transaction.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from jsonschema import FormatChecker, validators

from audit.services import record
from config.errors import Conflict, Forbidden, Invalid
from slots import crypto
from slots.lifecycle import LIVE_STATUSES, OWNER_ACTIONS, SlotStatus, target_status
from slots.models import CREDENTIAL_KINDS, SLOT_NAME_MAX_LENGTH, Slot, SlotCredential, SlotType

# A slot's config is a small settings document, not a data store.
CONFIG_MAX_BYTES = 16 * 1024
CONFIG_MAX_DEPTH = 16
CONFIG_MAX_ERRORS = 20
# Heartbeats write last_active_at at most this often per slot.
HEARTBEAT_WRITE_INTERVAL = timedelta(seconds=30)
# Secrets shorter than this get no hint: four characters of a short secret give too much away.
HINT_MIN_SECRET_LENGTH = 12

CREDENTIAL_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "api_key": {"required": ("api_key",), "optional": ()},
    "basic": {"required": ("username", "password"), "optional": ()},
    "oauth": {
        "required": ("client_id", "client_secret"),
        "optional": ("access_token", "refresh_token"),
    },
}
CREDENTIAL_HINT_FIELD = {"api_key": "api_key", "basic": "password", "oauth": "client_secret"}
CREDENTIAL_MAX_LENGTH = 8192

_UNSET: Any = object()


# --- who may act ------------------------------------------------------------------------


def actor_is_admin(actor) -> bool:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return bool(actor.is_superuser or "admin" in actor.roles)


def _ensure_may_manage(*, slot: Slot, actor) -> None:
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
                ValidationError(error.message[:300], code="invalid_config")
            )
        raise ValidationError(by_attr)
    return config


def _name_taken(*, owner_id, name: str, exclude_id=None) -> bool:
    qs = Slot.objects.annotate(lname=Lower("name")).filter(
        owner_id=owner_id, status__in=LIVE_STATUSES, lname=name.lower()
    )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return qs.exists()


def _name_taken_error() -> Conflict:
    return Conflict("name_taken", "You already hold a live slot with this name.", attr="name")


# --- create, update ---------------------------------------------------------------------


def slot_create(
    *,
    owner,
    type: SlotType | str,  # noqa: A002  (the API's own word for it)
    name: str,
    config: dict | None = None,
    actor,
    request=None,
) -> Slot:
    """Create a slot for ``owner``. Admins may create for anyone; others only for themselves."""
    if actor is not None and actor.pk != owner.pk and not actor_is_admin(actor):
        raise Forbidden(detail="Only admins may create slots for other users.")
    slot_type = resolve_slot_type(type)
    name = validate_slot_name(name)
    config = validate_slot_config(slot_type=slot_type, config={} if config is None else config)

    User = get_user_model()
    with transaction.atomic():
        # The owner row is the quota's lock: concurrent creates for one user queue here, so
        # the count below cannot go stale before the insert commits.
        locked_owner = (
            User.objects.select_for_update(no_key=True)
            .only("id", "status", "slot_limit")
            .get(pk=owner.pk)
        )
        if locked_owner.status != "active":
            raise Conflict("owner_inactive", "Slots can only be created for active accounts.")
        if _name_taken(owner_id=owner.pk, name=name):
            raise _name_taken_error()
        live = Slot.objects.filter(owner_id=owner.pk, status__in=LIVE_STATUSES)
        if locked_owner.slot_limit is not None:
            limit, held = locked_owner.slot_limit, live.count()
        else:
            limit, held = slot_type.default_limit, live.filter(type=slot_type).count()
        if held >= limit:
            raise Conflict(
                "slot_quota_exceeded",
                f"The owner already holds {held} live slot(s); the limit is {limit}.",
            )
        now = timezone.now()
        status = SlotStatus.PROVISIONING if slot_type.requires_provisioning else SlotStatus.ACTIVE
        try:
            with transaction.atomic():
                slot = Slot.objects.create(
                    owner_id=owner.pk,
                    type=slot_type,
                    name=name,
                    status=status,
                    config=config,
                    created_at=now,
                    updated_at=now,
                    status_changed_at=now,
                )
        except IntegrityError as exc:
            raise _name_taken_error() from exc
        record(
            action="slot.created",
            actor=actor,
            target=slot,
            request=request,
            changes={"type": [None, slot_type.key], "name": [None, name], "status": [None, status]},
            metadata={"owner": str(owner.pk), "config": config},
        )
    return slot


def slot_update(
    *, slot: Slot, name: str = _UNSET, config: dict = _UNSET, actor, request=None
) -> Slot:
    """Rename a slot and/or replace its config (validated against the type's schema)."""
    _ensure_may_manage(slot=slot, actor=actor)
    new_name = validate_slot_name(name) if name is not _UNSET else _UNSET
    with transaction.atomic():
        locked = Slot.objects.select_for_update().select_related("type").get(pk=slot.pk)
        if not locked.is_live:
            raise Conflict("slot_released", "A released slot cannot be changed.")
        new_config = (
            validate_slot_config(slot_type=locked.type, config=config)
            if config is not _UNSET
            else _UNSET
        )
        changes: dict[str, list] = {}
        if new_name is not _UNSET and new_name != locked.name:
            if new_name.lower() != locked.name.lower() and _name_taken(
                owner_id=locked.owner_id, name=new_name, exclude_id=locked.pk
            ):
                raise _name_taken_error()
            changes["name"] = [locked.name, new_name]
            locked.name = new_name
        if new_config is not _UNSET and new_config != locked.config:
            changes["config"] = [locked.config, new_config]
            locked.config = new_config
        if changes:
            locked.updated_at = timezone.now()
            try:
                with transaction.atomic():
                    locked.save(update_fields=["name", "config", "updated_at"])
            except IntegrityError as exc:
                # A concurrent rename or create took the name between our check and save.
                raise _name_taken_error() from exc
            record(
                action="slot.updated", actor=actor, target=locked, request=request, changes=changes
            )
    _refresh_from(slot, locked)
    return slot


def _refresh_from(slot: Slot, source: Slot) -> None:
    """Copy the saved state onto the caller's instance, so it sees what was written."""
    for field in ("name", "config", "status", "updated_at", "status_changed_at", "released_at"):
        setattr(slot, field, getattr(source, field))
    if hasattr(slot, "_state") and "credential" in slot._state.fields_cache:
        del slot._state.fields_cache["credential"]


# --- lifecycle --------------------------------------------------------------------------


def slot_transition(
    *, slot: Slot, action: str, actor, request=None, reason: str | None = None
) -> Slot:
    """Move the slot through the status machine (``slots.lifecycle``).

    Owners may suspend, resume and release their slots; admins and Roster itself
    (``actor=None``) may do everything. An illegal move is 409 ``invalid_transition``.
    """
    if actor is not None and not actor_is_admin(actor):
        if actor.pk != slot.owner_id:
            raise Forbidden(detail="Only the slot's owner or an admin may change it.")
        if action not in OWNER_ACTIONS:
            raise Forbidden(detail=f"Only admins may {action} a slot.")
    with transaction.atomic():
        locked = Slot.objects.select_for_update().get(pk=slot.pk)
        _apply_transition(locked, action, actor=actor, request=request, reason=reason)
    _refresh_from(slot, locked)
    return slot


def _apply_transition(locked: Slot, action: str, *, actor, request, reason: str | None) -> None:
    """Move a row already locked by the caller; the only code that writes a slot's status."""
    before = locked.status
    after = target_status(before, action)
    if after is None:
        raise Conflict("invalid_transition", f"A slot that is {before} cannot be {_past(action)}.")
    now = timezone.now()
    locked.status = after
    locked.status_changed_at = now
    locked.updated_at = now
    if after == SlotStatus.RELEASED:
        locked.released_at = now
    locked.save(update_fields=["status", "status_changed_at", "updated_at", "released_at"])
    metadata: dict[str, Any] = {"transition": action}
    if reason:
        metadata["reason"] = reason
    if after == SlotStatus.RELEASED:
        # Nothing may use a released slot's credentials again: drop them.
        SlotCredential.objects.filter(slot_id=locked.pk).delete()
    record(
        action="slot.released" if after == SlotStatus.RELEASED else "slot.status.changed",
        actor=actor,
        target=locked,
        request=request,
        changes={"status": [before, after]},
        metadata=metadata,
    )


def _past(action: str) -> str:
    return {"activate": "activated", "suspend": "suspended", "resume": "resumed"}.get(
        action, f"{action}d"
    )


def slot_activate(*, slot: Slot, actor, request=None) -> Slot:
    return slot_transition(slot=slot, action="activate", actor=actor, request=request)


def slot_suspend(*, slot: Slot, actor, request=None, reason: str | None = None) -> Slot:
    return slot_transition(slot=slot, action="suspend", actor=actor, request=request, reason=reason)


def slot_resume(*, slot: Slot, actor, request=None) -> Slot:
    return slot_transition(slot=slot, action="resume", actor=actor, request=request)


def slot_release(*, slot: Slot, actor, request=None) -> Slot:
    return slot_transition(slot=slot, action="release", actor=actor, request=request)


def slots_release_owned(*, user) -> int:
    """Release every live slot of ``user``, by the system (account erasure: registered with
    ``accounts.hooks`` in ``SlotsConfig.ready``). Releasing drops the stored credentials."""
    live = Slot.objects.select_related("type", "credential").filter(
        owner=user, status__in=LIVE_STATUSES
    )
    released = 0
    for slot in live:
        slot_release(slot=slot, actor=None)
        released += 1
    return released


# --- credentials ------------------------------------------------------------------------


def _clean_credentials(*, slot_type: SlotType, credentials: Any) -> tuple[str, dict[str, str]]:
    if not isinstance(credentials, dict):
        raise Invalid("invalid", "Credentials must be a JSON object.")
    kind = credentials.get("kind")
    if kind not in CREDENTIAL_KINDS:
        raise Invalid(
            "invalid_choice",
            f"The kind must be one of {', '.join(CREDENTIAL_KINDS)}.",
            attr="kind",
        )
    if kind not in (slot_type.credential_kinds or []):
        accepted = ", ".join(slot_type.credential_kinds or []) or "none"
        raise Invalid(
            "credential_kind_not_accepted",
            f"Slots of type {slot_type.key} accept these credential kinds: {accepted}.",
            attr="kind",
        )
    spec = CREDENTIAL_FIELDS[kind]
    allowed = {"kind", *spec["required"], *spec["optional"]}
    for field in credentials:
        if field not in allowed:
            raise Invalid("unknown_field", f"{field} is not a field of {kind} credentials.", field)
    secret: dict[str, str] = {}
    for field in (*spec["required"], *spec["optional"]):
        value = credentials.get(field)
        if value is None or value == "":
            if field in spec["required"]:
                raise Invalid("required", "This field is required.", attr=field)
            continue
        if not isinstance(value, str):
            raise Invalid("invalid", "Must be a string.", attr=field)
        if len(value) > CREDENTIAL_MAX_LENGTH:
            raise Invalid("max_length", f"At most {CREDENTIAL_MAX_LENGTH} characters.", attr=field)
        secret[field] = value
    return kind, secret


def credential_hint(kind: str, secret: dict[str, str]) -> str:
    value = secret.get(CREDENTIAL_HINT_FIELD[kind], "")
    return value[-4:] if len(value) >= HINT_MIN_SECRET_LENGTH else ""


def slot_credentials_set(*, slot: Slot, credentials: dict, actor, request=None) -> SlotCredential:
    """Store (replace) the slot's credentials, encrypted. The audit event names the kind only."""
    _ensure_may_manage(slot=slot, actor=actor)
    with transaction.atomic():
        locked = Slot.objects.select_for_update().select_related("type").get(pk=slot.pk)
        if not locked.is_live:
            raise Conflict("slot_released", "A released slot cannot be changed.")
        kind, secret = _clean_credentials(slot_type=locked.type, credentials=credentials)
        previous = SlotCredential.objects.filter(slot_id=locked.pk).values_list("kind", flat=True)
        previous_kind = next(iter(previous), None)
        credential, _ = SlotCredential.objects.update_or_create(
            slot_id=locked.pk,
            defaults={
                "kind": kind,
                "hint": credential_hint(kind, secret),
                "ciphertext": crypto.encrypt(slot_id=locked.pk, secret=secret),
                "updated_at": timezone.now(),
            },
        )
        record(
            action="slot.credentials.changed",
            actor=actor,
            target=locked,
            request=request,
            changes={"kind": [previous_kind, kind]},
            metadata={"operation": "set"},
        )
    if "credential" in slot._state.fields_cache:
        del slot._state.fields_cache["credential"]
    return credential


def slot_credentials_clear(*, slot: Slot, actor, request=None) -> bool:
    """Remove the slot's credentials; False when there were none (nothing recorded)."""
    _ensure_may_manage(slot=slot, actor=actor)
    with transaction.atomic():
        locked = Slot.objects.select_for_update().get(pk=slot.pk)
        if not locked.is_live:
            raise Conflict("slot_released", "A released slot cannot be changed.")
        credential = SlotCredential.objects.filter(slot_id=locked.pk).first()
        if credential is None:
            return False
        credential.delete()
        record(
            action="slot.credentials.changed",
            actor=actor,
            target=locked,
            request=request,
            changes={"kind": [credential.kind, None]},
            metadata={"operation": "clear"},
        )
    if "credential" in slot._state.fields_cache:
        del slot._state.fields_cache["credential"]
    return True


def slot_credentials_get(*, slot: Slot) -> dict[str, str]:
    """The decrypted credentials (``{"kind": ..., <fields>}``) for the code that provisions the
    resource, or ``{}`` when none are configured. Never hand the result to a client or a log."""
    credential = SlotCredential.objects.filter(slot_id=slot.pk).first()
    if credential is None:
        return {}
    secret = crypto.decrypt(slot_id=slot.pk, ciphertext=credential.ciphertext)
    return {"kind": credential.kind, **secret}


def credentials_rotate_keys(*, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every stored credential under the newest key. Safe to run again and
    alongside traffic: each row is rewritten under its own lock."""
    counts = {"rotated": 0, "current": 0, "failed": 0}
    last_pk = None
    while True:
        qs = SlotCredential.objects.order_by("pk").values_list("pk", flat=True)
        if last_pk is not None:
            qs = qs.filter(pk__gt=last_pk)
        batch = list(qs[:batch_size])
        if not batch:
            break
        last_pk = batch[-1]
        for pk in batch:
            with transaction.atomic():
                row = SlotCredential.objects.select_for_update().filter(pk=pk).first()
                if row is None:
                    continue
                if crypto.is_current(row.ciphertext):
                    counts["current"] += 1
                    continue
                try:
                    row.ciphertext = crypto.rotate(row.ciphertext)
                except crypto.CredentialDecryptionError:
                    counts["failed"] += 1
                    continue
                row.save(update_fields=["ciphertext"])
                counts["rotated"] += 1
    return counts


# --- activity ---------------------------------------------------------------------------


def heartbeat_cache_key(slot_id) -> str:
    return f"slots:heartbeat:{slot_id}"


def slot_heartbeat(*, slot: Slot, now: datetime | None = None) -> bool:
    """Note that the slot is in use. Writes ``last_active_at`` at most once per slot per
    ``HEARTBEAT_WRITE_INTERVAL`` (a cache gate, then a conditional update as the hard
    guarantee across processes). Returns whether this call wrote."""
    if not slot.is_live:
        raise Conflict("slot_released", "A released slot takes no heartbeats.")
    interval = HEARTBEAT_WRITE_INTERVAL
    if not cache.add(heartbeat_cache_key(slot.pk), 1, timeout=int(interval.total_seconds())):
        return False
    now = now or timezone.now()
    written = (
        Slot.objects.filter(pk=slot.pk, status__in=LIVE_STATUSES)
        .filter(Q(last_active_at__isnull=True) | Q(last_active_at__lte=now - interval))
        .update(last_active_at=now)
    )
    if written:
        slot.last_active_at = now
    return bool(written)


def slots_suspend_idle(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Suspend active slots idle longer than ROSTER["SLOT_IDLE_SUSPEND_SECONDS"] (0 = never).

    Idle means no heartbeat and no status change within the period. Each slot is suspended
    in its own transaction with its row locked (``skip_locked``), so several workers can run
    this at once and a slot in use by a request is simply left for the next run.
    """
    seconds = int(settings.ROSTER.get("SLOT_IDLE_SUSPEND_SECONDS") or 0)
    if seconds <= 0:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=seconds)
    idle = Q(status=SlotStatus.ACTIVE, status_changed_at__lt=cutoff) & (
        Q(last_active_at__isnull=True) | Q(last_active_at__lt=cutoff)
    )
    candidates = list(Slot.objects.filter(idle).order_by().values_list("pk", flat=True)[:limit])
    suspended = 0
    for pk in candidates:
        with transaction.atomic():
            slot = Slot.objects.select_for_update(skip_locked=True).filter(idle, pk=pk).first()
            if slot is None:
                continue
            _apply_transition(slot, "suspend", actor=None, request=None, reason="idle")
            suspended += 1
    return suspended
