from __future__ import annotations

from celery import shared_task

from slots import services


@shared_task(name="slots.suspend_idle_slots", ignore_result=True, acks_late=True)
def suspend_idle_slots() -> int:
    """Beat task: suspend slots idle longer than ROSTER["SLOT_IDLE_SUSPEND_SECONDS"].

    Safe to run twice or on several workers at once: rows are locked with skip_locked and
    re-checked before each move."""
    return services.slots_suspend_idle()
