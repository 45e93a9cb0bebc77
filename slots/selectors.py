"""Read side of slots. Other apps call these, never the models directly."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, QuerySet

from slots.lifecycle import LIVE_STATUSES, SlotStatus
from slots.models import Slot, SlotType


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def credentials_summary(slot: Slot) -> dict[str, Any]:
    """What may be shown about a slot's credentials: never the secret itself."""
    credential = getattr(slot, "credential", None)
    if credential is None:
        return {"configured": False, "kind": None, "hint": None, "updated_at": None}
    return {
        "configured": True,
        "kind": credential.kind,
        "hint": credential.hint or None,
        "updated_at": _timestamp(credential.updated_at),
    }


# The columns of the slot object, for reading many slots without building model instances
# (a page of 50 slots costs a fraction of the model + serializer path).
SLOT_ROW_FIELDS = (
    "id",
    "owner_id",
    "type__key",
    "name",
    "status",
    "config",
    "created_at",
    "updated_at",
    "last_active_at",
    "released_at",
    "credential__kind",
    "credential__hint",
    "credential__updated_at",
)


def slot_row_as_dict(row: dict[str, Any]) -> dict[str, Any]:
    """The slot object of the API from a ``.values(*SLOT_ROW_FIELDS)`` row."""
    kind = row["credential__kind"]
    return {
        "id": str(row["id"]),
        "owner": str(row["owner_id"]),
        "type": row["type__key"],
        "name": row["name"],
        "status": row["status"],
        "config": row["config"],
        "credentials": {
            "configured": kind is not None,
            "kind": kind,
            "hint": (row["credential__hint"] or None) if kind is not None else None,
            "updated_at": _timestamp(row["credential__updated_at"]),
        },
        "created_at": _timestamp(row["created_at"]),
        "updated_at": _timestamp(row["updated_at"]),
        "last_active_at": _timestamp(row["last_active_at"]),
        "released_at": _timestamp(row["released_at"]),
    }


def slot_list(*, owner=None) -> QuerySet[Slot]:
    """Slots with what the slot object needs joined in (type key, credential summary)."""
    qs = Slot.objects.select_related("type", "credential")
    if owner is not None:
        qs = qs.filter(owner=owner)
    return qs


def slot_types_available() -> QuerySet[SlotType]:
    return SlotType.objects.filter(is_enabled=True).order_by("key")


def live_slot_count(*, owner, slot_type: SlotType | None = None) -> int:
    qs = Slot.objects.filter(owner=owner, status__in=LIVE_STATUSES)
    if slot_type is not None:
        qs = qs.filter(type=slot_type)
    return qs.count()


def slots_export_for_user(*, user) -> list[dict]:
    """Every slot of the user (all statuses) as JSON-able dicts; credentials only summarised."""
    rows = Slot.objects.filter(owner=user).order_by("created_at", "id").values(*SLOT_ROW_FIELDS)
    return [slot_row_as_dict(row) for row in rows]


def owned_slot_ids(*, user, slot_ids: Iterable[Any]) -> set[uuid.UUID]:
    """Which of ``slot_ids`` belong to ``user`` (any status). Malformed ids are simply not owned."""
    wanted: set[uuid.UUID] = set()
    for raw in slot_ids:
        if isinstance(raw, uuid.UUID):
            wanted.add(raw)
            continue
        try:
            wanted.add(uuid.UUID(str(raw)))
        except (ValueError, TypeError, AttributeError):
            continue
    if not wanted:
        return set()
    return set(
        Slot.objects.filter(owner=user, id__in=wanted).values_list("id", flat=True).iterator()
    )


def slot_counts_by_status() -> dict[str, int]:
    """Number of slots in each status (every status present, zero included)."""
    counts = {status.value: 0 for status in SlotStatus}
    rows = Slot.objects.order_by().values("status").annotate(n=Count("id"))
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts
