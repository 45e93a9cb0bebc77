"""Audit gauges for /metrics, registered with ``config.metrics`` in ``AuditConfig.ready``."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from audit.models import AuditEvent
from config.metrics import age_seconds


def sealing_gauges():
    # Both reads use the sealer's partial index on unsealed rows.
    unsealed = AuditEvent.objects.filter(seq__isnull=True)
    oldest = unsealed.order_by("id").values_list("occurred_at", flat=True).first()
    yield GaugeMetricFamily(
        "roster_audit_unsealed_events",
        "Audit events recorded but not yet sealed into the hash chain",
        value=unsealed.count(),
    )
    yield GaugeMetricFamily(
        "roster_audit_sealing_lag_seconds",
        "Age of the oldest audit event waiting to be sealed (0 when none waits)",
        value=age_seconds(oldest),
    )
