"""``/metrics``: Prometheus text format.

Request counts and latencies come from django-prometheus, in prometheus_client's
multi-process mode so that every gunicorn worker and Celery worker adds to the same
series. Domain figures (active users, slots by status, usage backlog and rollup lag, audit
sealing lag) are read from the apps' selectors at scrape time, so they are right whichever
process answers. Counters (sign-ins by door and result, usage events ingested, Celery task
failures) are incremented where the event happens. Outside DEBUG the endpoint needs
``Authorization: Bearer <METRICS_TOKEN>``.
"""

from __future__ import annotations

import hmac
import os

import prometheus_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily

from config.api.exceptions import envelope

CELERY_TASK_FAILURES = prometheus_client.Counter(
    "roster_celery_task_failures", "Celery tasks that raised", ["task"]
)
LOGIN_ATTEMPTS = prometheus_client.Counter(
    "roster_login_attempts", "Sign-in attempts through any door", ["door", "result"]
)
USAGE_EVENTS_INGESTED = prometheus_client.Counter(
    "roster_usage_events_ingested",
    "Usage events received by the ingestion API: stored, or duplicates of a key already counted",
    ["result"],
)


def count_usage_ingested(*, accepted: int, duplicates: int) -> None:
    """Called by usage ingestion once its transaction has committed."""
    USAGE_EVENTS_INGESTED.labels(result="accepted").inc(accepted)
    USAGE_EVENTS_INGESTED.labels(result="duplicate").inc(duplicates)


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return settings.DEBUG
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip(), token)


class RosterCollector:
    """Domain gauges, computed from the database and cache at scrape time."""

    def __init__(self, sources=None):
        self.sources = sources if sources is not None else DOMAIN_SOURCES

    def collect(self):
        for source in self.sources:
            yield from source()


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


def _active_users():
    from accounts.metrics import active_user_counts

    family = _gauge("roster_active_users", "Users active within the window", ["window"])
    for window, count in active_user_counts().items():
        family.add_metric([window], count)
    yield family


def _users_by_status():
    from accounts.metrics import user_counts_by_status

    family = _gauge("roster_users", "Users by status", ["status"])
    for status, count in user_counts_by_status().items():
        family.add_metric([status], count)
    yield family


def _login_events():
    from accounts.metrics import login_event_counts

    family = _gauge("roster_login_events_24h", "Sign-in attempts in the last 24 h", ["result"])
    for result, count in login_event_counts().items():
        family.add_metric([result], count)
    yield family


def _slots_by_status():
    from slots.selectors import slot_counts_by_status

    family = _gauge("roster_slots", "Slots by status", ["status"])
    for status, count in slot_counts_by_status().items():
        family.add_metric([status], count)
    yield family


def _age_seconds(moment) -> float:
    return max(0.0, (timezone.now() - moment).total_seconds()) if moment else 0.0


def _usage_backlog():
    from usage.selectors import unrolled_backlog

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
        value=_age_seconds(backlog["oldest_received_at"]),
    )


def _audit_sealing():
    from audit.models import AuditEvent

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
        value=_age_seconds(oldest),
    )


DOMAIN_SOURCES: list = [
    _active_users,
    _users_by_status,
    _login_events,
    _slots_by_status,
    _usage_backlog,
    _audit_sealing,
]


def register_source(source) -> None:
    """Apps add their gauges (a generator function of metric families) at import time."""
    if source not in DOMAIN_SOURCES:
        DOMAIN_SOURCES.append(source)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = JsonResponse(
            envelope("client_error", "not_authenticated", "A metrics token is required."),
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = prometheus_client.CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in list(prometheus_client.REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(RosterCollector())
    return HttpResponse(
        prometheus_client.generate_latest(registry),
        content_type=prometheus_client.CONTENT_TYPE_LATEST,
    )
