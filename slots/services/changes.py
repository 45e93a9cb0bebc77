"""Create and update: a new slot under the owner's quota, a renamed or reconfigured one."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from audit.services import record
from config.errors import Conflict, Forbidden
from orgs.selectors import plan_limits_for
from slots.lifecycle import LIVE_STATUSES, SlotStatus
from slots.models import Slot, SlotType
from slots.services.rules import (
    actor_is_admin,
    ensure_may_manage,
    name_taken,
    name_taken_error,
    refresh_from,
    resolve_slot_type,
    validate_slot_config,
    validate_slot_name,
)

_UNSET: Any = object()


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
    with transaction.atomic():
        _lock_owner_within_quota(owner_id=owner.pk, slot_type=slot_type, name=name)
        slot = _insert_slot(owner_id=owner.pk, slot_type=slot_type, name=name, config=config)
        record(
            action="slot.created",
            actor=actor,
            target=slot,
            request=request,
            changes={
                "type": [None, slot_type.key],
                "name": [None, name],
                "status": [None, slot.status],
            },
            metadata={"owner": str(owner.pk), "config": config},
        )
    return slot


def _lock_owner_within_quota(*, owner_id, slot_type: SlotType, name: str) -> None:
    """Lock the owner row, then check that a new slot named ``name`` fits: an active owner, a
    name not held by a live slot, and room under the most generous of the owner's own limit
    (their ``slot_limit`` across all types, or else the type's default limit counted within
    the type) and their organizations' plans (``orgs.selectors.plan_limits_for``: live slots
    of this type)."""
    # The owner row is the quota's lock: concurrent creates for one user queue here, so the
    # count below cannot go stale before the insert commits.
    locked_owner = (
        get_user_model()
        .objects.select_for_update(no_key=True)
        .only("id", "status", "slot_limit")
        .get(pk=owner_id)
    )
    if locked_owner.status != "active":
        raise Conflict("owner_inactive", "Slots can only be created for active accounts.")
    if name_taken(owner_id=owner_id, name=name):
        raise name_taken_error()
    held = Slot.objects.filter(owner_id=owner_id, status__in=LIVE_STATUSES).aggregate(
        total=Count("id"), of_type=Count("id", filter=Q(type=slot_type))
    )
    # Each rule as (limit, held under it); the owner may create if any rule has room.
    rules = [
        (locked_owner.slot_limit, held["total"])
        if locked_owner.slot_limit is not None
        else (slot_type.default_limit, held["of_type"])
    ]
    plan_limit = plan_limits_for(locked_owner).slots.get(slot_type.key)
    if plan_limit is not None:
        rules.append((plan_limit, held["of_type"]))
    limit, count = max(rules, key=lambda rule: (rule[0] - rule[1], rule[0]))
    if count >= limit:
        raise Conflict(
            "slot_quota_exceeded",
            f"The owner already holds {count} live slot(s); the limit is {limit}.",
        )


def _insert_slot(*, owner_id, slot_type: SlotType, name: str, config: dict) -> Slot:
    """The new row: provisioning when its type needs it, else active at once."""
    now = timezone.now()
    status = SlotStatus.PROVISIONING if slot_type.requires_provisioning else SlotStatus.ACTIVE
    try:
        with transaction.atomic():
            return Slot.objects.create(
                owner_id=owner_id,
                type=slot_type,
                name=name,
                status=status,
                config=config,
                created_at=now,
                updated_at=now,
                status_changed_at=now,
            )
    except IntegrityError as exc:
        # A concurrent create took the name between the check and the insert.
        raise name_taken_error() from exc


def slot_update(
    *, slot: Slot, name: str = _UNSET, config: dict = _UNSET, actor, request=None
) -> Slot:
    """Rename a slot and/or replace its config (validated against the type's schema)."""
    ensure_may_manage(slot=slot, actor=actor)
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
            if new_name.lower() != locked.name.lower() and name_taken(
                owner_id=locked.owner_id, name=new_name, exclude_id=locked.pk
            ):
                raise name_taken_error()
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
                raise name_taken_error() from exc
            record(
                action="slot.updated", actor=actor, target=locked, request=request, changes=changes
            )
    refresh_from(slot, locked)
    return slot
