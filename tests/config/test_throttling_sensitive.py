"""The stricter per-IP buckets of the sign-in endpoints (``throttle_scope`` on the views)."""

import pytest

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "token": ("/api/v1/auth/token", {"email": "nobody@example.com", "password": "wrong-pass"}),
    "mfa": ("/api/v1/auth/token/mfa", {"mfa_token": "not-a-ticket", "code": "123456"}),
    "register": ("/api/v1/auth/register", {"email": "not-an-email", "password": "x"}),
    "password_reset": ("/api/v1/auth/password/reset", {"email": "someone@example.com"}),
}


@pytest.fixture
def strict(settings):
    settings.API_RATE_LIMITS_ENABLED = True
    settings.API_SENSITIVE_RATE_LIMITS = dict.fromkeys(ENDPOINTS, "2/min")
    return settings


@pytest.mark.parametrize("scope", sorted(ENDPOINTS))
def test_sensitive_endpoint_has_its_own_per_ip_limit(strict, client, scope):
    path, body = ENDPOINTS[scope]
    codes = [client.post(path, body, content_type="application/json").status_code for _ in range(2)]
    assert 429 not in codes
    refused = client.post(path, body, content_type="application/json")
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1
    assert refused["X-RateLimit-Limit"] == "2"
    assert refused["X-RateLimit-Remaining"] == "0"
    # Another client IP has its own bucket.
    other = client.post(path, body, content_type="application/json", REMOTE_ADDR="10.9.8.7")
    assert other.status_code != 429


def test_sensitive_buckets_are_separate_per_endpoint(strict, client):
    token_path, token_body = ENDPOINTS["token"]
    for _ in range(3):
        client.post(token_path, token_body, content_type="application/json")
    reset_path, reset_body = ENDPOINTS["password_reset"]
    response = client.post(reset_path, reset_body, content_type="application/json")
    assert response.status_code == 202


def test_sensitive_limit_applies_even_to_the_right_password(strict, client, member, password):
    path = ENDPOINTS["token"][0]
    good = {"email": member.email, "password": password}
    assert client.post(path, good, content_type="application/json").status_code == 200
    assert client.post(path, good, content_type="application/json").status_code == 200
    assert client.post(path, good, content_type="application/json").status_code == 429
