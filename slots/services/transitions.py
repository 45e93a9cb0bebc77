"""Moves through the status machine (``slots.lifecycle``): the only code that writes a
slot's status, and the release of a person's slots when their account is erased."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from config.errors import Conflict, Forbidden
from slots.lifecycle import LIVE_STATUSES, OWNER_ACTIONS, SlotStatus, target_status
from slots.models import Slot, SlotCredential
from slots.services.rules import actor_is_admin, refresh_from


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
        apply_transition(locked, action, actor=actor, request=request, reason=reason)
    refresh_from(slot, locked)
    return slot


def apply_transition(locked: Slot, action: str, *, actor, request, reason: str | None) -> None:
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
