import pytest
from django.db import OperationalError


def test_health_is_liveness_without_auth(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["service"] == "roster"
    assert body["timestamp"].endswith("Z") and body["version"]


@pytest.mark.django_db
def test_health_ready_when_database_cache_and_broker_answer(client):
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_health_ready_503_names_the_database_when_it_is_down(client, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", refuse)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["down"] == ["database"]


@pytest.mark.django_db
def test_health_ready_503_names_the_broker_when_it_is_down(client, settings):
    from config.celery import app

    old = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/health/ready")
    finally:
        app.conf.broker_url = old
    assert response.status_code == 503
    assert "broker" in response.json()["down"]
