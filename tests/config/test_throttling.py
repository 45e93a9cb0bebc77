import pytest

pytestmark = [pytest.mark.urls("tests.config.urls"), pytest.mark.django_db]


@pytest.fixture
def limits(settings):
    settings.API_RATE_LIMITS_ENABLED = True
    settings.API_RATE_LIMITS = {
        "anonymous": "3/min",
        "member": "4/min",
        "manager": "6/min",
        "admin": "8/min",
    }
    return settings


def _count_ok(client, n: int, path: str = "/api/v1/_test/private") -> list[int]:
    return [client.get(path).status_code for _ in range(n)]


def test_role_throttle_members_get_their_budget_then_429(limits, client_for, member):
    client = client_for(member)
    codes = _count_ok(client, 6)
    assert codes == [200] * 4 + [429] * 2
    response = client.get("/api/v1/_test/private")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response["X-RateLimit-Limit"] == "4"
    assert response["X-RateLimit-Remaining"] == "0"
    assert response.json()["errors"][0]["code"] == "throttled"


def test_role_throttle_budget_follows_the_role(limits, client_for, manager, admin_user):
    assert _count_ok(client_for(manager), 7).count(200) == 6
    assert _count_ok(client_for(admin_user), 9).count(200) == 8


def test_role_throttle_headers_on_successful_responses(limits, client_for, member):
    response = client_for(member).get("/api/v1/_test/private")
    assert response["X-RateLimit-Limit"] == "4"
    assert response["X-RateLimit-Remaining"] == "3"
    assert 1 <= int(response["X-RateLimit-Reset"]) <= 61


def test_role_throttle_each_user_has_own_budget(limits, client_for, member, other_member):
    assert _count_ok(client_for(member), 5)[-1] == 429
    assert client_for(other_member).get("/api/v1/_test/private").status_code == 200


def test_role_throttle_anonymous_limited_by_ip(limits, client):
    codes = [
        client.post(
            "/api/v1/_test/echo", {"name": "a", "count": 1}, content_type="application/json"
        ).status_code
        for _ in range(4)
    ]
    assert codes == [201, 201, 201, 429]


def test_role_throttle_window_resets(limits, client_for, member):
    import time_machine

    with time_machine.travel("2026-01-01 00:00:05Z", tick=False):
        assert _count_ok(client_for(member), 5)[-1] == 429
    with time_machine.travel("2026-01-01 00:01:01Z", tick=False):
        assert client_for(member).get("/api/v1/_test/private").status_code == 200


def test_rate_limits_off_switch(settings, client_for, member):
    settings.API_RATE_LIMITS_ENABLED = False
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "member": "1/min"}
    assert _count_ok(client_for(member), 3) == [200, 200, 200]
