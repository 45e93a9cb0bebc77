"""Activity: heartbeats (``last_active_at``, written at most once per interval) and the
suspension of slots left idle."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import Conflict
from slots.lifecycle import LIVE_STATUSES, SlotStatus
from slots.models import Slot
from slots.services.transitions import apply_transition

# Heartbeats write last_active_at at most this often per slot.
HEARTBEAT_WRITE_INTERVAL = timedelta(seconds=30)


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
            apply_transition(slot, "suspend", actor=None, request=None, reason="idle")
            suspended += 1
    return suspended
