"""Slot gauges for /metrics, registered with ``config.metrics`` in ``SlotsConfig.ready``."""

from __future__ import annotations

from config.metrics import gauge
from slots.selectors import slot_counts_by_status


def slot_gauges():
    family = gauge("roster_slots", "Slots by status", ["status"])
    for status, count in slot_counts_by_status().items():
        family.add_metric([status], count)
    yield family
