"""Write side of usage, one module per job:

- ``ingestion``: store one event or a batch, validated by ``usage.contract``;
- ``quota``: flag (and audit) a limit crossed, once per user, meter and window;
- ``rollup``: roll raw events into hourly and daily buckets (the periodic job);
- ``retention``: purge old raw events, keeping their idempotency keys.

Each dialect's SQL is in ``usage.sql``. The services that the API, the pages, the tasks and
other apps call are importable from here.
"""

from usage.services.ingestion import IngestResult, usage_events_ingest
from usage.services.quota import usage_quota_check
from usage.services.retention import usage_events_purge
from usage.services.rollup import RollupResult, usage_rollup, usage_rollup_and_check_quotas

__all__ = [
    "IngestResult",
    "RollupResult",
    "usage_events_ingest",
    "usage_events_purge",
    "usage_quota_check",
    "usage_rollup",
    "usage_rollup_and_check_quotas",
]
