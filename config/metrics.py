"""``/metrics``: Prometheus text format.

Request counts and latencies are django-prometheus's series, recorded by
``RequestMetricsMiddleware``, in prometheus_client's multi-process mode so that every
gunicorn worker and Celery worker adds to the same series. Domain figures (active users,
slots by status, usage backlog and rollup lag, audit sealing lag) are read from the apps'
selectors at scrape time, so they are right whichever process answers; each app registers
its own (``register_source``), since config imports no app. Counters (sign-ins by door and
result, usage events ingested, Celery task failures) are incremented where the event
happens. Outside DEBUG the endpoint needs ``Authorization: Bearer <METRICS_TOKEN>``.
"""

from __future__ import annotations

import hmac
import os
from timeit import default_timer

import prometheus_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django_prometheus.middleware import Metrics
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


# The methods django-prometheus labels by name; any other is one label value.
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"}
)


class RequestMetricsMiddleware:
    """Request counts and latencies by view, method and status, in django-prometheus's own
    series (``Metrics``, the library's documented way to reach them).

    The library's pair of middleware wrote 17 samples per request into the multi-process
    files, most of them restating others (totals before and after the middleware, by
    transport, by charset, body sizes of every GET) — about an eighth of the Python work of
    a ``GET /api/v1/users/me``. This records the series that answer "how many, how fast,
    how did it end" per view, six samples:

    - ``django_http_requests_total_by_method`` and
      ``django_http_requests_total_by_view_transport_method`` (requests that reached a view);
    - ``django_http_responses_total_by_status`` and
      ``django_http_responses_total_by_status_view_method``;
    - ``django_http_requests_latency_seconds_by_view_method``: the time of the whole request
      in Django, its middleware included (it sits outermost but one);

    and ``ViewExceptionMetricsMiddleware`` (innermost, so it sees a view's exception before
    the API's error handler answers it) counts ``django_http_exceptions_total_by_type`` and
    ``_by_view``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = default_timer()
        response = self.get_response(request)
        metrics, status = Metrics.get_instance(), str(response.status_code)
        method = request.method if request.method in _METHODS else "<invalid method>"
        view = _view_name(request)
        _child(metrics.requests_by_method, method=method).inc()
        _child(metrics.responses_by_status, status=status).inc()
        if view is not None:
            transport = "https" if request.is_secure() else "http"
            _child(
                metrics.requests_by_view_transport_method,
                view=view,
                transport=transport,
                method=method,
            ).inc()
        view = view or "<unnamed view>"
        _child(
            metrics.responses_by_status_view_method, status=status, view=view, method=method
        ).inc()
        _child(metrics.requests_latency_by_view_method, view=view, method=method).observe(
            default_timer() - started
        )
        return response


class ViewExceptionMetricsMiddleware:
    """Counts the exceptions views raise, by type and by view (see
    ``RequestMetricsMiddleware``); the response is left to the handlers outside it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        metrics = Metrics.get_instance()
        _child(metrics.exceptions_by_type, type=type(exception).__name__).inc()
        _child(metrics.exceptions_by_view, view=_view_name(request) or "<unnamed view>").inc()


# Each labelled child, looked up once per process: label values are bounded by the
# project's routes, methods, statuses and exception types.
_children: dict[tuple, object] = {}


def _child(metric, **labels):
    key = (id(metric), *labels.values())
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(**labels)
    return child


def _view_name(request) -> str | None:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return None
    return match.view_name or "<unnamed view>"


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
