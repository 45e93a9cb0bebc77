import json

import pytest

pytestmark = [pytest.mark.urls("tests.config.urls"), pytest.mark.django_db]


def _assert_envelope(response, status: int, error_type: str, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["type"] == error_type
    assert body["errors"][0]["code"] == code
    assert set(body["errors"][0]) == {"code", "detail", "attr"}
    return body


def test_request_id_echoes_a_valid_incoming_id(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"


def test_request_id_generated_when_missing_or_invalid(client):
    first = client.get("/health")["X-Request-ID"]
    second = client.get("/health", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert len(first) == 32 and len(second) == 32 and first != second


def test_request_id_appears_in_log_lines(caplog):
    from django.test import Client

    from config.logging import JSONFormatter, RequestIDFilter

    caplog.handler.addFilter(RequestIDFilter())
    Client(raise_request_exception=False).get("/api/v1/_test/echo", HTTP_X_REQUEST_ID="trace-42")
    lines = [JSONFormatter().format(r) for r in caplog.records]
    assert any(json.loads(line)["request_id"] == "trace-42" for line in lines)


def test_error_envelope_unknown_api_route_is_json_404(client):
    _assert_envelope(client.get("/api/v1/does-not-exist"), 404, "client_error", "not_found")


def test_error_envelope_405(client):
    _assert_envelope(client.delete("/api/v1/_test/echo"), 405, "client_error", "method_not_allowed")


def test_error_envelope_415(client):
    response = client.post("/api/v1/_test/echo", data="name=x", content_type="text/plain")
    _assert_envelope(response, 415, "client_error", "unsupported_media_type")


def test_error_envelope_malformed_json(client):
    response = client.post("/api/v1/_test/echo", data="{not json", content_type="application/json")
    _assert_envelope(response, 400, "client_error", "parse_error")


def test_error_envelope_nan_and_nul_are_refused(client):
    response = client.post(
        "/api/v1/_test/echo", data='{"name": "x", "count": NaN}', content_type="application/json"
    )
    _assert_envelope(response, 400, "client_error", "parse_error")
    response = client.post(
        "/api/v1/_test/echo",
        data='{"name": "a\\u0000b", "count": 1}',
        content_type="application/json",
    )
    _assert_envelope(response, 400, "client_error", "parse_error")


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000, "[" * 65 + "]" * 65],
    ids=["100000-deep-array", "100000-deep-object", "65-deep-array"],
)
def test_error_envelope_deeply_nested_json_is_parse_error(client, body):
    response = client.post("/api/v1/_test/echo", data=body, content_type="application/json")
    _assert_envelope(response, 400, "client_error", "parse_error")


def test_error_envelope_oversized_body_is_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 5000, "count": 1})
    _assert_envelope(
        client.post("/api/v1/_test/echo", data=body, content_type="application/json"),
        413,
        "client_error",
        "payload_too_large",
    )


def test_error_envelope_validation_error_names_fields(client):
    response = client.post(
        "/api/v1/_test/echo",
        data={"name": "x" * 30, "count": "many"},
        content_type="application/json",
    )
    body = _assert_envelope(response, 400, "validation_error", "max_length")
    assert {e["attr"] for e in body["errors"]} == {"name", "count"}


def test_error_envelope_domain_conflict_is_409_with_code(client):
    response = client.post(
        "/api/v1/_test/echo", data={"name": "taken", "count": 1}, content_type="application/json"
    )
    body = _assert_envelope(response, 409, "client_error", "name_taken")
    assert body["errors"][0]["attr"] == "name"


def test_error_envelope_unauthenticated_is_401_with_www_authenticate(client):
    response = client.get("/api/v1/_test/private")
    _assert_envelope(response, 401, "client_error", "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_error_envelope_server_error_hides_the_trace():
    from django.test import Client

    response = Client(raise_request_exception=False).get("/api/v1/_test/echo")
    body = _assert_envelope(response, 500, "server_error", "error")
    assert "boom" not in response.content.decode()
    assert "Traceback" not in json.dumps(body)
