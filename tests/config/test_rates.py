"""One grammar for every rate text (config.rates): allauth's attempt counters and the API's
request budgets read the same units, and the counters keep allauth's cache-key text."""

import pytest

from accounts.flows.limits import LOGIN_FAILED, login_attempt_key, rates
from config.api.throttling import budget
from config.rates import Rate, parse_rate, parse_rates

pytestmark = pytest.mark.urls("tests.config.urls")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # allauth's ACCOUNT_RATE_LIMITS: the text of each rate in its cache keys.
        ("10/m/ip", "10/60/ip"),
        ("5/5m/key", "5/300.0/key"),
        ("3/5m/key", "3/300.0/key"),
        ("10/d/key", "10/86400/key"),
        ("5/300s/user", "5/300.0/user"),
        ("7/0.5h", "7/1800.0/ip"),
        # The API's budgets, with the long unit names.
        ("100/min", "100/60/ip"),
        ("20/ Min ", "20/60/ip"),
        ("5/sec", "5/1/ip"),
        ("10/hour", "10/3600/ip"),
        ("1/day", "1/86400/ip"),
        ("3/2min", "3/120.0/ip"),
    ],
)
def test_parse_rate_units_and_allauth_key_text(text, expected):
    assert str(parse_rate(text)) == expected


@pytest.mark.parametrize("text", ["", "10", "10/", "10/x", "10/5", "a/m", "1/m/ip/x", "5/mm"])
def test_parse_rate_refuses_what_is_not_a_rate(text):
    with pytest.raises(ValueError):
        parse_rate(text)


def test_parse_rates_reads_a_list():
    assert parse_rates(" 10/m/ip , 5/5m/key ,") == [Rate(10, 60, "ip"), Rate(5, 300.0, "key")]
    assert parse_rates("") == parse_rates(None) == []


def test_budget_is_a_whole_number_of_seconds():
    assert budget("100/min") == (100, 60)
    assert budget("30/5m") == (30, 300)
    for text in ("1/0.5s", "1/1.5s", "1/0m"):
        with pytest.raises(ValueError):
            budget(text)


@pytest.mark.django_db
def test_sign_in_counters_read_the_shared_units(settings):
    settings.ACCOUNT_RATE_LIMITS = {LOGIN_FAILED: "10/min/ip,5/5min/key"}
    key = login_attempt_key("someone@example.com")
    assert rates(LOGIN_FAILED, key=key) == [Rate(10, 60, "ip"), Rate(5, 300.0, "key")]


@pytest.mark.django_db
def test_api_budget_with_a_counted_unit(settings, client):
    settings.API_RATE_LIMITS_ENABLED = True
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "anonymous": "2/5m"}
    body = {"name": "a", "count": 1}
    codes = [
        client.post("/api/v1/_test/echo", body, content_type="application/json").status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]
    refused = client.post("/api/v1/_test/echo", body, content_type="application/json")
    assert refused["X-RateLimit-Limit"] == "2"
    assert 1 <= int(refused["Retry-After"]) <= 301  # the window is 5 minutes
