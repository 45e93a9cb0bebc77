"""/metrics after a real journey: sign-ins through both doors, slots, usage, audit."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db

TOKEN = "metrics-journey-token"


def _samples(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples, name: str, default: float | None = None, **labels) -> float:
    """A series' value; a missing series is a failure unless a default is given (a counter
    that has not been incremented yet in this process is absent, not zero)."""
    key = (name, tuple(sorted(labels.items())))
    if key not in samples:
        assert default is not None, f"no series {name}{labels}"
        return default
    return samples[key]


def test_metrics_show_the_journey(client, settings, member, password, client_for):
    from audit.services import events_seal
    from usage.services import usage_rollup

    settings.METRICS_TOKEN = TOKEN
    # Counters live in the multi-process files of every test process: compare before/after.
    before = _samples(client)

    # Sign-ins: the API door (one good, one wrong password) and the sign-in page (same).
    api = "/api/v1/auth/token"
    good = {"email": member.email, "password": password}
    assert client.post(api, good, content_type="application/json").status_code == 200
    wrong = {"email": member.email, "password": "not-the-password"}
    assert client.post(api, wrong, content_type="application/json").status_code == 401
    page = client.__class__()
    page.post("/accounts/login/", {"login": member.email, "password": "not-the-password"})
    assert (
        page.post("/accounts/login/", {"login": member.email, "password": password}).status_code
        == 302
    )

    # A slot created and suspended, usage recorded (one replay of the same key).
    api_client = client_for(member)
    slot = api_client.post(
        "/api/v1/slots", {"type": "workspace", "name": "box"}, format="json"
    ).json()
    assert api_client.post(f"/api/v1/slots/{slot['id']}/suspend").status_code == 200
    events = {
        "events": [
            {"meter": "api.requests", "idempotency_key": "k1"},
            {"meter": "tokens.input", "quantity": 40, "idempotency_key": "k2"},
        ]
    }
    assert api_client.post("/api/v1/usage/events", events, format="json").json() == {
        "accepted": 2,
        "duplicates": 0,
    }
    replay = {"meter": "api.requests", "idempotency_key": "k1"}
    assert api_client.post("/api/v1/usage/events", replay, format="json").json() == {
        "accepted": 0,
        "duplicates": 1,
    }

    after = _samples(client)

    def delta(name, **labels):
        return _value(after, name, **labels) - _value(before, name, default=0.0, **labels)

    assert delta("roster_login_attempts_total", door="api", result="succeeded") == 1
    assert delta("roster_login_attempts_total", door="api", result="failed") == 1
    assert delta("roster_login_attempts_total", door="page", result="succeeded") == 1
    assert delta("roster_login_attempts_total", door="page", result="failed") == 1
    assert delta("roster_usage_events_ingested_total", result="accepted") == 2
    assert delta("roster_usage_events_ingested_total", result="duplicate") == 1
    assert _value(after, "roster_slots", status="suspended") == 1
    assert _value(after, "roster_slots", status="active") == 0
    assert _value(after, "roster_usage_unrolled_events") == 2
    assert _value(after, "roster_usage_rollup_lag_seconds") >= 0
    assert _value(after, "roster_audit_unsealed_events") >= 4
    assert _value(after, "roster_active_users", window="24h") == 1
    assert _value(after, "roster_active_users", window="7d") == 1
    assert _value(after, "roster_active_users", window="30d") == 1
    assert _value(after, "roster_login_events_24h", result="failed") == 2

    def series_of_view(name, **labels):
        wanted = {("view", "slot-list"), *labels.items()}
        return [key for key in after if key[0] == name and wanted <= set(key[1])]

    assert series_of_view("django_http_requests_total_by_view_transport_method_total")
    assert series_of_view(
        "django_http_responses_total_by_status_view_method_total", status="201"
    ), "response counts by view and status"
    assert series_of_view("django_http_requests_latency_seconds_by_view_method_count"), (
        "latency histogram by view"
    )

    # Once the background work catches up, the backlogs read zero.
    usage_rollup()
    events_seal()
    caught_up = _samples(client)
    assert _value(caught_up, "roster_usage_unrolled_events") == 0
    assert _value(caught_up, "roster_usage_rollup_lag_seconds") == 0
    assert _value(caught_up, "roster_audit_unsealed_events") == 0
    assert _value(caught_up, "roster_audit_sealing_lag_seconds") == 0


def test_metrics_lag_gauges_grow_with_the_wait(client, settings, member, time_machine):
    from audit.services import record
    from usage.services import usage_events_ingest

    settings.METRICS_TOKEN = TOKEN
    time_machine.move_to("2026-03-01 12:00:00Z", tick=False)
    usage_events_ingest(caller=member, body={"meter": "api.requests"})
    record(action="test.metrics.waiting", actor=member, target=member)
    time_machine.move_to("2026-03-01 12:10:00Z", tick=False)
    samples = _samples(client)
    assert _value(samples, "roster_usage_rollup_lag_seconds") == 600
    assert _value(samples, "roster_audit_sealing_lag_seconds") >= 600
