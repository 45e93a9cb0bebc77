"""/users/me/api-keys and API-key authentication: shown once, hashed, scoped, revocable."""

import hashlib

import pytest
import time_machine
from django.urls import include, path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts import apikeys
from accounts.models import ApiKey, User
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import STATUS_URL, bearer, error_code, login


class _ScopedProbe(APIView):
    """A stand-in for any slots endpoint: read needs slots:read, write slots:write."""

    required_scopes = ("slots:read", "slots:write")

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("api/v1/_probe/slots", _ScopedProbe.as_view()),
    path("", include("config.urls")),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.test_apikeys_api")]

KEYS_URL = "/api/v1/users/me/api-keys"
PROBE = "/api/v1/_probe/slots"


def _jwt(user):
    return bearer(login(user)["access"])


def _create(client, **body):
    body = {"name": "ci", "scopes": ["slots:read"], **body}
    return client.post(KEYS_URL, body, format="json")


def test_create_shows_the_secret_once_and_stores_only_its_digest(member):
    client = _jwt(member)
    response = _create(client, name="deploy bot", scopes=["slots:write", "slots:read"])
    assert response.status_code == 201, response.content
    body = response.json()
    raw = body["key"]
    assert raw.startswith("rst_") and body["prefix"] in raw
    assert body["scopes"] == ["slots:read", "slots:write"]
    key = ApiKey.objects.get(pk=body["id"])
    assert key.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiKey.objects.filter(pk=key.pk).values().first())

    listing = client.get(KEYS_URL).json()
    assert listing["count"] == 1
    assert set(listing["results"][0]) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
    }
    assert raw not in str(listing) and key.digest not in str(listing)
    assert client.get(f"{KEYS_URL}/{key.pk}").json()["name"] == "deploy bot"

    event = AuditEvent.objects.get(action="apikey.created")
    assert event.target_id == str(key.pk)
    assert raw not in str(event.changes) + str(event.metadata)


def test_key_works_as_bearer_and_as_x_api_key(member):
    raw = _create(_jwt(member)).json()["key"]
    assert bearer(raw).get(STATUS_URL).json()["method"] == "api_key"
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get(STATUS_URL).json()["user"]["id"] == str(member.pk)


def test_scopes_are_enforced(member):
    raw = _create(_jwt(member), scopes=["slots:read"]).json()["key"]
    client = bearer(raw)
    assert client.get(PROBE).status_code == 200
    response = client.post(PROBE, {}, format="json")
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"
    # JWT and session callers hold every scope.
    assert _jwt(member).post(PROBE, {}, format="json").status_code == 200


def test_key_without_the_read_scope_cannot_read(member):
    raw = _create(_jwt(member), scopes=["usage:read"]).json()["key"]
    response = bearer(raw).get(PROBE)
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"


def test_revoked_key_stops_working_at_once(member):
    client = _jwt(member)
    created = _create(client).json()
    user_of_key = bearer(created["key"])
    assert user_of_key.get(STATUS_URL).status_code == 200
    assert client.delete(f"{KEYS_URL}/{created['id']}").status_code == 204
    response = user_of_key.get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "api_key_revoked"
    assert client.get(KEYS_URL).json()["count"] == 0
    assert AuditEvent.objects.filter(action="apikey.revoked", target_id=created["id"]).exists()
    assert client.delete(f"{KEYS_URL}/{created['id']}").status_code == 404


def test_expired_key_is_refused(member):
    soon = timezone.now() + timezone.timedelta(hours=1)
    raw = _create(_jwt(member), expires_at=soon.isoformat()).json()["key"]
    assert bearer(raw).get(STATUS_URL).status_code == 200
    with time_machine.travel(soon + timezone.timedelta(seconds=1), tick=False):
        response = bearer(raw).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "api_key_expired"


def test_key_of_a_suspended_user_is_refused(member):
    raw = _create(_jwt(member)).json()["key"]
    User.objects.filter(pk=member.pk).update(status="suspended", is_active=False)
    response = bearer(raw).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "account_inactive"


def test_keys_cannot_manage_keys_or_sessions(member):
    raw = _create(_jwt(member), scopes=list(apikeys.API_KEY_SCOPES)).json()["key"]
    client = bearer(raw)
    for method, url in [
        ("get", KEYS_URL),
        ("post", KEYS_URL),
        ("get", "/api/v1/users/me/sessions"),
        ("post", "/api/v1/users/me/sessions/revoke-others"),
    ]:
        response = getattr(client, method)(
            url, {"name": "x", "scopes": ["slots:read"]}, format="json"
        )
        assert response.status_code == 403, url
        assert error_code(response) == "api_key_not_allowed"


def test_other_users_keys_are_404(member, other_member):
    theirs, _ = apikeys.api_key_create(
        user=other_member, name="theirs", scopes=["slots:read"], actor=other_member
    )
    client = _jwt(member)
    assert client.get(f"{KEYS_URL}/{theirs.pk}").status_code == 404
    assert client.delete(f"{KEYS_URL}/{theirs.pk}").status_code == 404
    assert client.delete(f"{KEYS_URL}/not-a-uuid").status_code == 404
    assert client.get(KEYS_URL).json()["count"] == 0
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_anonymous_is_401(anon_client):
    assert anon_client.get(KEYS_URL).status_code == 401
    assert anon_client.post(KEYS_URL, {}, format="json").status_code == 401


def test_session_caller_can_manage_keys(member, client_for):
    client = client_for(member)
    assert _create(client).status_code == 201


@pytest.mark.parametrize(
    "body,attr,code",
    [
        ({"name": ""}, "name", "blank"),
        ({"name": "x" * 101}, "name", "max_length"),
        ({"scopes": []}, "scopes", "min_length"),
        ({"scopes": ["admin:all"]}, "scopes", "invalid_choice"),
        ({"scopes": "slots:read"}, "scopes", "not_a_list"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at", "expires_in_past"),
        ({"expires_at": "tomorrow"}, "expires_at", "invalid"),
        ({"owner": "someone"}, "owner", "unknown_field"),
        ({"name": None}, "name", "null"),
    ],
)
def test_create_bad_input_is_400(member, body, attr, code):
    response = _create(_jwt(member), **body)
    assert response.status_code == 400, response.content
    errors = {(e["attr"], e["code"]) for e in response.json()["errors"]}
    assert any(a == attr or (a or "").startswith(f"{attr}.") for a, _ in errors), errors
    assert code in {c for _, c in errors}, errors
    assert not ApiKey.objects.exists()


def test_duplicate_scopes_are_folded(member):
    body = _create(_jwt(member), scopes=["slots:read", "slots:read"]).json()
    assert body["scopes"] == ["slots:read"]


def test_live_key_limit(member, monkeypatch):
    monkeypatch.setattr(apikeys, "MAX_LIVE_KEYS_PER_USER", 2)
    client = _jwt(member)
    assert _create(client).status_code == 201
    assert _create(client).status_code == 201
    response = _create(client)
    assert response.status_code == 409 and error_code(response) == "api_key_limit"


@pytest.mark.parametrize(
    "value,code",
    [
        ("rst_", "invalid_api_key"),
        ("rst_" + "z" * 56, "invalid_api_key"),
        ("rst_0123456789ab_" + "A" * 43, "invalid_api_key"),
        ("rst_0123456789ab_" + "A" * 4300, "invalid_api_key"),
    ],
)
def test_malformed_or_unknown_keys_are_401(db, value, code):
    response = bearer(value).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == code


def test_right_prefix_wrong_secret_is_401(member):
    raw = _create(_jwt(member)).json()["key"]
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    response = bearer(forged).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "invalid_api_key"


def test_spraying_bad_keys_locks_the_ip_out(member):
    client = bearer("rst_0123456789ab_" + "A" * 43)
    statuses = [client.get(STATUS_URL).status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    # The same IP's password login is locked too: one policy.
    response = APIClient().post(
        "/api/v1/auth/token",
        {"email": member.email, "password": "correct horse battery staple"},
        format="json",
    )
    assert response.status_code == 429


def test_a_revoked_key_in_use_does_not_lock_the_ip_out(member):
    key, raw = apikeys.api_key_create(
        user=member, name="old job", scopes=["slots:read"], actor=member
    )
    apikeys.api_key_revoke(key=key, actor=member)
    client = bearer(raw)
    for _ in range(15):
        response = client.get(STATUS_URL)
        assert response.status_code == 401 and error_code(response) == "api_key_revoked"
    response = APIClient().post(
        "/api/v1/auth/token",
        {"email": member.email, "password": "correct horse battery staple"},
        format="json",
    )
    assert response.status_code == 200


def test_last_used_is_written_at_most_once_a_minute(member):
    key, raw = apikeys.api_key_create(user=member, name="k", scopes=["slots:read"], actor=member)
    client = bearer(raw)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get(STATUS_URL)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None and key.last_used_ip == "127.0.0.1"
    with time_machine.travel(start + timezone.timedelta(seconds=30), tick=False):
        client.get(STATUS_URL)
    key.refresh_from_db()
    assert key.last_used_at == first
    with time_machine.travel(start + timezone.timedelta(seconds=61), tick=False):
        client.get(STATUS_URL)
    key.refresh_from_db()
    assert key.last_used_at > first


def test_use_from_a_new_ip_is_audited_once(member):
    _, raw = apikeys.api_key_create(user=member, name="k", scopes=["slots:read"], actor=member)
    client = bearer(raw)
    client.get(STATUS_URL, REMOTE_ADDR="10.0.0.1")
    client.get(STATUS_URL, REMOTE_ADDR="10.0.0.1")
    client.get(STATUS_URL, REMOTE_ADDR="10.0.0.2")
    events = AuditEvent.objects.filter(action="apikey.used_from_new_ip").order_by("id")
    assert [e.ip for e in events] == ["10.0.0.1", "10.0.0.2"]
    assert events[1].metadata["previous_ip"] == "10.0.0.1"
    assert events[0].actor_type == "api_key"
    assert raw not in str([e.metadata for e in events])


@pytest.mark.django_db
@pytest.mark.parametrize("name", [0, 1.5, True, ["k"], {"n": 1}])
def test_api_key_name_must_be_a_string(member, client_for, name):
    response = client_for(member).post(
        "/api/v1/users/me/api-keys", {"name": name, "scopes": ["slots:read"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "name"
    assert not ApiKey.objects.filter(user=member).exists()


def test_listed_prefix_is_how_the_key_begins(member):
    """The prefix a user sees in the list matches the start of the key they were shown."""
    client = _jwt(member)
    created = _create(client).json()
    listed = client.get(KEYS_URL).json()["results"][0]
    assert created["key"].startswith(created["prefix"] + "_")
    assert listed["prefix"] == created["prefix"]
    assert listed["prefix"].startswith("rst_")


def test_create_name_over_the_limit_before_trimming_is_400(member):
    """The schema's maxLength counts what is sent: a padded name one over is refused."""
    response = _create(_jwt(member), name="\u00a0" + "x" * 100)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "max_length"
