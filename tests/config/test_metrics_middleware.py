"""config.metrics.RequestMetricsMiddleware and ViewExceptionMetricsMiddleware:
django-prometheus's per-view request series, each labelled child looked up once, each
request counted once per series."""

from __future__ import annotations

import pytest
from django_prometheus.middleware import Metrics
from prometheus_client import REGISTRY

from config.metrics import ViewExceptionMetricsMiddleware, _child


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_children_are_the_library_children():
    metric = Metrics.get_instance().responses_by_status_view_method
    first = _child(metric, status="200", view="v", method="GET")
    again = _child(metric, status="200", view="v", method="GET")
    other = _child(metric, status="404", view="v", method="GET")
    assert first is again is metric.labels(status="200", view="v", method="GET")
    assert other is metric.labels(status="404", view="v", method="GET")
    assert other is not first


@pytest.mark.django_db
def test_metrics_each_request_counted_once_per_series(client):
    series = {"status": "200", "view": "health", "method": "GET"}
    by_method = "django_http_requests_total_by_method_total"
    by_status_view = "django_http_responses_total_by_status_view_method_total"
    latency = "django_http_requests_latency_seconds_by_view_method_count"
    before = (
        _sample(by_method, method="GET"),
        _sample(by_status_view, **series),
        _sample(latency, view="health", method="GET"),
    )
    for _ in range(3):
        assert client.get("/health").status_code == 200
    after = (
        _sample(by_method, method="GET"),
        _sample(by_status_view, **series),
        _sample(latency, view="health", method="GET"),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [3.0, 3.0, 3.0]


def test_metrics_an_exception_a_view_raises_is_counted_by_type_and_view(rf):
    request = rf.get("/somewhere")
    before = (
        _sample("django_http_exceptions_total_by_type_total", type="LookupError"),
        _sample("django_http_exceptions_total_by_view_total", view="<unnamed view>"),
    )
    ViewExceptionMetricsMiddleware(lambda r: None).process_exception(request, LookupError())
    assert _sample("django_http_exceptions_total_by_type_total", type="LookupError") == (
        before[0] + 1
    )
    assert _sample("django_http_exceptions_total_by_view_total", view="<unnamed view>") == (
        before[1] + 1
    )


@pytest.mark.django_db
@pytest.mark.urls("tests.config.urls")
def test_metrics_a_crash_and_an_unknown_path(client):
    crashed = _sample("django_http_responses_total_by_status_total", status="500")
    answered = client.__class__(raise_request_exception=False).get("/api/v1/_test/echo")
    assert answered.status_code == 500
    assert _sample("django_http_responses_total_by_status_total", status="500") == crashed + 1

    unnamed = {"status": "404", "view": "<unnamed view>", "method": "GET"}
    before = _sample("django_http_responses_total_by_status_view_method_total", **unnamed)
    assert client.get("/no/such/page/").status_code == 404
    after = _sample("django_http_responses_total_by_status_view_method_total", **unnamed)
    assert after == before + 1
