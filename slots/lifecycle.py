"""The slot status machine: the one place that says which moves are legal and who may make them.

provisioning --activate--> active --suspend--> suspended --resume--> active
any live status --release--> released (final)
"""

from __future__ import annotations

from django.db import models


class SlotStatus(models.TextChoices):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RELEASED = "released"


LIVE_STATUSES = (SlotStatus.PROVISIONING, SlotStatus.ACTIVE, SlotStatus.SUSPENDED)

# action -> {from status: to status}
TRANSITIONS: dict[str, dict[str, str]] = {
    "activate": {SlotStatus.PROVISIONING: SlotStatus.ACTIVE},
    "suspend": {SlotStatus.ACTIVE: SlotStatus.SUSPENDED},
    "resume": {SlotStatus.SUSPENDED: SlotStatus.ACTIVE},
    "release": {status: SlotStatus.RELEASED for status in LIVE_STATUSES},
}

# What an owner may do to their own slot; admins (and the system) may do everything.
OWNER_ACTIONS = frozenset({"suspend", "resume", "release"})


def target_status(current: str, action: str) -> str | None:
    """The status ``action`` leads to from ``current``, or None when the move is illegal."""
    return TRANSITIONS.get(action, {}).get(current)
