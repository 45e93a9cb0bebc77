"""Rules every endpoint shares: paging input, request ids, conditional GET, CORS."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from config.api.pagination import MAX_PAGE_SIZE

pytestmark = pytest.mark.django_db

SLOTS = "/api/v1/slots"
EVENTS = "/api/v1/usage/events"
AUDIT = "/api/v1/audit/events"


def _error(response, status: int, code: str, attr: str | None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] in ("validation_error", "client_error")
    assert {"code": body["errors"][0]["code"], "attr": body["errors"][0]["attr"]} == {
        "code": code,
        "attr": attr,
    }
    return body


# --- paging input -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [SLOTS, EVENTS, AUDIT, "/api/v1/users/me/api-keys"])
@pytest.mark.parametrize(
    "value, code",
    [
        ("abc", "invalid"),
        ("null", "invalid"),
        ("2.5", "invalid"),
        ("0", "min_value"),
        ("-3", "min_value"),
        (str(MAX_PAGE_SIZE + 1), "max_value"),
    ],
)
def test_page_size_out_of_bounds_is_400_on_every_list(client_for, member, url, value, code):
    response = client_for(member).get(url, {"page_size": value})
    _error(response, 400, code, "page_size")


@pytest.mark.parametrize("url", [SLOTS, EVENTS, AUDIT])
def test_page_size_within_bounds_is_used(client_for, member, url):
    client = client_for(member)
    assert client.get(url, {"page_size": MAX_PAGE_SIZE}).status_code == 200
    # Given but empty is a client's mistake, not "the default".
    _error(client.get(url, {"page_size": ""}), 400, "invalid", "page_size")


def test_page_size_pages_the_list(client_for, member):
    client = client_for(member)
    for name in ("a", "b", "c"):
        created = client.post(SLOTS, {"type": "workspace", "name": name}, format="json")
        assert created.status_code == 201, created.content
    body = client.get(SLOTS, {"page_size": 2, "ordering": "name"}).json()
    assert (body["count"], len(body["results"])) == (3, 2)
    assert "page_size=2" in body["next"]


@pytest.mark.parametrize("url", [EVENTS, AUDIT])
def test_mangled_cursor_is_400_not_404(client_for, member, url):
    response = client_for(member).get(url, {"cursor": "not-a-cursor"})
    _error(response, 400, "invalid", "cursor")


def test_page_past_the_end_is_404(client_for, member):
    response = client_for(member).get(SLOTS, {"page": 9})
    _error(response, 404, "not_found", None)


# --- X-Request-ID ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/users/me"),
        ("get", "/api/v1/nowhere"),
        ("post", "/api/v1/auth/token"),
        ("get", "/.well-known/jwks.json"),
        ("get", "/health"),
        ("get", "/api/schema/"),
    ],
)
def test_every_response_carries_a_request_id(client, method, path):
    response = getattr(client, method)(path, HTTP_X_REQUEST_ID="trace-42.abc")
    assert response["X-Request-ID"] == "trace-42.abc"
    fresh = getattr(client, method)(path, HTTP_X_REQUEST_ID="bad id\r\ninjected")
    assert fresh["X-Request-ID"] != "bad id\r\ninjected"
    assert len(fresh["X-Request-ID"]) == 32


# --- ETag / If-None-Match ---------------------------------------------------------------


def test_users_me_etag_and_304(client_for, member):
    client = client_for(member)
    first = client.get("/api/v1/users/me")
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"')
    again = client.get("/api/v1/users/me", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert again["X-Request-ID"]
    # A change is a new representation: the old tag no longer matches.
    client.patch("/api/v1/users/me", {"display_name": "Renamed"}, format="json")
    changed = client.get("/api/v1/users/me", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()["display_name"] == "Renamed"


def test_users_me_etag_differs_per_user(client_for, member, other_member):
    mine = client_for(member).get("/api/v1/users/me")["ETag"]
    response = client_for(other_member).get("/api/v1/users/me", HTTP_IF_NONE_MATCH=mine)
    assert response.status_code == 200


def test_slot_detail_etag_and_304(client_for, member):
    client = client_for(member)
    created = client.post(
        SLOTS, {"type": "workspace", "name": "box", "config": {"cpu": 2}}, format="json"
    )
    assert created.status_code == 201, created.content
    url = f"{SLOTS}/{created.json()['id']}"
    first = client.get(url)
    assert first.status_code == 200
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert client.get(url, HTTP_IF_NONE_MATCH='"stale"').status_code == 200
    client.post(f"{url}/suspend")
    after = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200
    assert after.json()["status"] == "suspended"


def test_conditional_get_ignores_writes_and_errors(client_for, member):
    client = client_for(member)
    etag = client.get("/api/v1/users/me")["ETag"]
    # Only GET is conditional here: a PATCH with a stale tag is not short-circuited.
    response = client.patch(
        "/api/v1/users/me", {"display_name": "x"}, format="json", HTTP_IF_NONE_MATCH=etag
    )
    assert response.status_code == 200
    # An error is never turned into a 304, even when its own tag is presented.
    url = f"{SLOTS}/00000000-0000-0000-0000-000000000000"
    missing = client.get(url)
    assert missing.status_code == 404
    assert client.get(url, HTTP_IF_NONE_MATCH=missing["ETag"]).status_code == 404


def test_streaming_csv_export_is_untouched_by_etags(admin_user, client):
    from usage.services import usage_events_ingest

    usage_events_ingest(caller=admin_user, body={"meter": "tokens.input", "quantity": 3})
    client.force_login(admin_user)
    today = timezone.now().date()
    query = {"start": str(today - timedelta(days=1)), "end": str(today), "granularity": "day"}
    response = client.get("/admin/usage/usageevent/export/", query, HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 200
    assert response.streaming
    assert "ETag" not in response
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("bucket_start,")
    assert "tokens.input" in body


# --- CORS -------------------------------------------------------------------------------

APP = "https://app.example.com"


def _preflight(client, origin: str, path: str = "/api/v1/users/me"):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, x-api-key, content-type",
    )


def test_cors_off_by_default(client):
    response = _preflight(client, APP)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in client.get("/health", HTTP_ORIGIN=APP)


@override_settings(CORS_ALLOWED_ORIGINS=[APP], CORS_ALLOW_CREDENTIALS=True)
def test_cors_listed_origin_gets_credentials_and_our_headers(client_for, member):
    client = client_for(member)
    preflight = _preflight(client, APP)
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == APP
    assert preflight["Access-Control-Allow-Credentials"] == "true"
    allowed = preflight["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "x-api-key", "x-request-id", "if-none-match"} <= set(
        h.strip() for h in allowed.split(",")
    )
    response = client.get("/api/v1/users/me", HTTP_ORIGIN=APP)
    assert response["Access-Control-Allow-Origin"] == APP
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert {"x-request-id", "x-ratelimit-remaining", "retry-after", "etag"} <= exposed


@override_settings(CORS_ALLOWED_ORIGINS=[APP], CORS_ALLOW_CREDENTIALS=True)
def test_cors_unlisted_origin_and_pages_get_nothing(client):
    assert "Access-Control-Allow-Origin" not in _preflight(client, "https://evil.example")
    assert "Access-Control-Allow-Origin" not in client.get("/accounts/login/", HTTP_ORIGIN=APP)


@pytest.mark.parametrize(
    "origins, credentials",
    [("", "False"), ("https://app.example.com,https://admin.example.com", "True")],
)
def test_cors_credentials_only_when_origins_are_listed(origins, credentials):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
        "django.setup(); from django.conf import settings; "
        "print(settings.CORS_ALLOWED_ORIGINS, settings.CORS_ALLOW_CREDENTIALS)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "CORS_ALLOWED_ORIGINS": origins,
        "ROSTER_TESTING": "true",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out.endswith(credentials)
    if origins:
        assert "https://admin.example.com" in out
