import pytest
from django.utils import timezone


@pytest.mark.django_db
def test_metrics_refused_without_token_outside_debug(client, settings):
    settings.DEBUG = False
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_metrics_refuses_a_wrong_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401


@pytest.mark.django_db
def test_metrics_exposes_requests_and_domain_figures(client, settings, member):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    member.last_login = timezone.now()
    member.save(update_fields=["last_login"])
    client.get("/health")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert response.status_code == 200
    text = response.content.decode()
    assert response["Content-Type"].startswith("text/plain")
    assert "django_http_requests_total_by_view_transport_method_total" in text
    assert 'roster_active_users{window="24h"} 1.0' in text
    assert 'roster_users{status="active"} 1.0' in text
    assert 'roster_login_events_24h{result="failed"} 0.0' in text


@pytest.mark.django_db
def test_metrics_counts_celery_task_failures(client, settings):
    from config.celery import app

    @app.task(name="roster.test.failing")
    def failing():
        raise RuntimeError("task failed")

    result = failing.apply(throw=False)
    assert result.failed()
    settings.METRICS_TOKEN = "t"
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    assert 'roster_celery_task_failures_total{task="roster.test.failing"}' in text
