"""Write side of usage, one module per job:

- ``ingestion``: store one event or a batch, validated by ``usage.contract``;
- ``quota``: flag (and audit) a limit crossed, once per user, meter and window;
- ``rollup``: roll raw events into hourly and daily buckets (the periodic job);
- ``retention``: purge old raw events (dropping whole partitions on PostgreSQL), keeping
  their idempotency keys; create the events partitions ahead.

Each dialect's SQL is in ``usage.sql``. The services that the API, the pages, the tasks and
other apps call are importable from here.
"""

from usage.services.ingestion import IngestResult, usage_events_ingest
from usage.services.quota import usage_quota_check
from usage.services.retention import usage_events_purge, usage_partitions_ensure
from usage.services.rollup import RollupResult, usage_rollup, usage_rollup_and_check_quotas

__all__ = [
    "IngestResult",
    "RollupResult",
    "usage_events_ingest",
    "usage_events_purge",
    "usage_partitions_ensure",
    "usage_quota_check",
    "usage_rollup",
    "usage_rollup_and_check_quotas",
]
