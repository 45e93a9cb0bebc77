"""Usage gauges for /metrics, registered with ``config.metrics`` in ``UsageConfig.ready``."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from config.metrics import age_seconds
from usage.selectors import unrolled_backlog


def usage_gauges():
    backlog = unrolled_backlog()
    yield GaugeMetricFamily(
        "roster_usage_unrolled_events",
        "Accepted usage events not yet rolled up into hourly/daily buckets",
        value=backlog["events"],
    )
    # The rollup keeps no run log: its lag is how long the oldest waiting event has waited.
    yield GaugeMetricFamily(
        "roster_usage_rollup_lag_seconds",
        "Age of the oldest usage event waiting for the rollup (0 when none waits)",
        value=age_seconds(backlog["oldest_received_at"]),
    )
