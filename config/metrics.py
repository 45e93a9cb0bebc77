"""``/metrics``: Prometheus text format.

Request counts and latencies come from django-prometheus, in prometheus_client's
multi-process mode so that every gunicorn worker and Celery worker adds to the same
series. Domain figures (active users, slots by status, usage backlog and rollup lag, audit
sealing lag) are read from the apps' selectors at scrape time, so they are right whichever
process answers; each app registers its own (``register_source``), since config imports
no app. Counters (sign-ins by door and result, usage events ingested, Celery task
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
from django_prometheus.middleware import PrometheusAfterMiddleware
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


class CachedLabelsPrometheusAfterMiddleware(PrometheusAfterMiddleware):
    """django-prometheus's per-view middleware, with each labelled series looked up once.

    ``label_metric`` is the library's documented override point. The library calls
    ``metric.labels(...)`` about six times per request, each validating the label names and
    taking the metric's lock to find a child that exists after the first request; the same
    child is kept here per metric and label values, so the recorded samples are the same.
    The label values (method, status, view name, charset, template) are bounded by the
    project's routes and responses, as prometheus_client's own store of children is.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._children: dict[tuple, object] = {}

    def label_metric(self, metric, request, response=None, **labels):
        if not labels:
            return metric
        key = (id(metric), *labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**labels)
        return child


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


# config imports no app: each app adds its gauges here from its AppConfig.ready().
DOMAIN_SOURCES: list = []


def register_source(source) -> None:
    """Add an app's gauges: ``source()`` yields metric families, read at every scrape.

    Called from the app's ``AppConfig.ready()`` (so in every process that serves /metrics);
    sources are collected in registration order, which is ``INSTALLED_APPS`` order.
    """
    if source not in DOMAIN_SOURCES:
        DOMAIN_SOURCES.append(source)


def gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


def age_seconds(moment) -> float:
    """How long ago ``moment`` was, in seconds (0 for None): the lag of a waiting queue."""
    return max(0.0, (timezone.now() - moment).total_seconds()) if moment else 0.0


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
