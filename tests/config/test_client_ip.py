"""One answer to "which IP is the client" (config.client_ip), for the API's request budgets
as for the sign-in limits and the audit log."""

import pytest
from django.test import RequestFactory

from config.client_ip import client_ip

pytestmark = pytest.mark.urls("tests.config.urls")

ECHO = "/api/v1/_test/echo"
BODY = {"name": "a", "count": 1}


@pytest.fixture
def behind_two_proxies(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    settings.API_RATE_LIMITS_ENABLED = True
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "anonymous": "2/min"}
    return settings


def _echo(client, **headers) -> int:
    return client.post(ECHO, BODY, content_type="application/json", **headers).status_code


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"REMOTE_ADDR": "10.0.0.2"}, "10.0.0.2"),
        # Our two proxies appended the caller and the outer proxy: the caller's is 2nd from the end.
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.9, 10.0.0.1"},
            "198.51.100.9",
        ),
        # No header at all: the caller reached us directly.
        ({"REMOTE_ADDR": "203.0.113.5"}, "203.0.113.5"),
        # Fewer entries than proxies: it went around a proxy of ours; the address is unknown.
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.9"}, None),
        ({"REMOTE_ADDR": "not an address"}, None),
    ],
)
def test_client_ip_behind_two_proxies(behind_two_proxies, meta, expected):
    assert client_ip(RequestFactory().get("/", **meta)) == expected


def test_client_ip_without_request_is_unknown():
    assert client_ip(None) is None


@pytest.mark.django_db
def test_budget_follows_the_forwarded_client_not_the_proxy(behind_two_proxies, client):
    first = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.9, 10.0.0.1"}
    second = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.10, 10.0.0.1"}
    assert [_echo(client, **first) for _ in range(3)] == [201, 201, 429]
    assert _echo(client, **second) == 201


@pytest.mark.django_db
def test_callers_of_unknown_address_share_one_budget(behind_two_proxies, client):
    """Going around a proxy with a short X-Forwarded-For buys no budget per peer address:
    every caller of unknown address counts in one anonymous bucket."""
    codes = [
        _echo(client, REMOTE_ADDR=f"203.0.113.{n}", HTTP_X_FORWARDED_FOR="198.51.100.9")
        for n in range(3)
    ]
    assert codes == [201, 201, 429]
    # A caller whose address is known keeps their own budget.
    assert _echo(client, REMOTE_ADDR="203.0.113.50") == 201


@pytest.mark.django_db
def test_sign_in_refuses_an_unknown_address(behind_two_proxies, client, member, password):
    """The sign-in limits count per address, so an attempt whose address is unknown is
    refused before any password is checked (as allauth's pages refuse it)."""
    behind_two_proxies.API_RATE_LIMITS_ENABLED = False
    response = client.post(
        "/api/v1/auth/token",
        {"email": member.email, "password": password},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.9",
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
