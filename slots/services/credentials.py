"""A slot's credentials: checked against its kind, stored encrypted, read back only for the
code that provisions the resource, re-encrypted when the key rotates."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from config.errors import Conflict, Invalid
from slots import crypto
from slots.models import CREDENTIAL_KINDS, Slot, SlotCredential, SlotType
from slots.services.rules import ensure_may_manage, forget_cached_credential

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
    ensure_may_manage(slot=slot, actor=actor)
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
    forget_cached_credential(slot)
    return credential


def slot_credentials_clear(*, slot: Slot, actor, request=None) -> bool:
    """Remove the slot's credentials; False when there were none (nothing recorded)."""
    ensure_may_manage(slot=slot, actor=actor)
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
    forget_cached_credential(slot)
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
