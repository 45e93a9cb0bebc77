"""config.metrics.CachedLabelsPrometheusAfterMiddleware: the per-view request metrics of
django-prometheus, each series looked up once, counting exactly as the library does."""

from __future__ import annotations

import pytest
from django_prometheus.middleware import Metrics
from prometheus_client import REGISTRY

from config.metrics import CachedLabelsPrometheusAfterMiddleware


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_label_metric_returns_the_library_child():
    middleware = CachedLabelsPrometheusAfterMiddleware(lambda request: None)
    metric = Metrics.get_instance().responses_by_status_view_method
    first = middleware.label_metric(metric, None, None, status="200", view="v", method="GET")
    again = middleware.label_metric(metric, None, None, status="200", view="v", method="GET")
    other = middleware.label_metric(metric, None, None, status="404", view="v", method="GET")
    assert first is again is metric.labels(status="200", view="v", method="GET")
    assert other is metric.labels(status="404", view="v", method="GET")
    assert other is not first
    unlabelled = Metrics.get_instance().responses_streaming
    assert middleware.label_metric(unlabelled, None) is unlabelled


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
