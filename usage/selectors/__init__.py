"""Read side of usage, one module per job:

- ``stats``: exact totals and series over a period, a user's or everyone's;
- ``quota``: the limits that apply and the use in the current window;
- ``exports``: a person's usage in their export, the admin's CSV rows;
- ``events``: meters, raw events, the rollup's backlog;
- ``common``: exact decimals and the helpers every read shares.

Each dialect's SQL snippets are in ``usage.sql``. The selectors that the API, the pages,
the admin, the services and other apps call are importable from here.
"""

from usage.models import NO_SLOT
from usage.selectors.common import number
from usage.selectors.events import (
    ROLLUP_LAST_RUN_KEY,
    meter_list,
    rollup_last_run,
    unrolled_backlog,
    usage_events_for,
)
from usage.selectors.exports import usage_all_time, usage_export_for_user, usage_export_rows
from usage.selectors.quota import effective_limits, quota_window, usage_in_range, usage_quota
from usage.selectors.stats import (
    GRANULARITY_STEP,
    PERIODS,
    Window,
    floor_to,
    period_window,
    usage_stats,
    usage_system_stats,
    usage_totals,
)

__all__ = [
    "GRANULARITY_STEP",
    "NO_SLOT",
    "PERIODS",
    "ROLLUP_LAST_RUN_KEY",
    "Window",
    "effective_limits",
    "floor_to",
    "meter_list",
    "number",
    "period_window",
    "quota_window",
    "rollup_last_run",
    "unrolled_backlog",
    "usage_all_time",
    "usage_events_for",
    "usage_export_for_user",
    "usage_export_rows",
    "usage_in_range",
    "usage_quota",
    "usage_stats",
    "usage_system_stats",
    "usage_totals",
]
