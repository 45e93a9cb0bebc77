"""The OpenAPI contract: what a client team reads instead of our code."""

import importlib
import re

import jsonschema
import pytest
from django.apps import apps
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from config.api.schema import NO_NUL_PATTERN, NON_BLANK_PATTERN

METHODS = ("get", "post", "put", "patch", "delete")
ENVELOPE = "#/components/schemas/ErrorResponse"


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    # The settings registry's definitions (seeded data) shape the settings endpoints; a
    # transactional test that ran before may have flushed them, so seed them again.
    with django_db_blocker.unblock():
        importlib.import_module("accounts.migrations.0004_seed_setting_definitions").seed(
            apps, None
        )
        return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _op(schema, operation_id):
    matches = [op for _, _, op in _operations(schema) if op["operationId"] == operation_id]
    assert len(matches) == 1, operation_id
    return matches[0]


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_openapi_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_openapi_documents_every_route_of_the_contract(schema):
    documented = {(method.upper(), path) for path, method, _ in _operations(schema)}
    contract = {
        ("POST", "/api/v1/auth/register/"),
        ("POST", "/api/v1/auth/token/"),
        ("POST", "/api/v1/auth/token/mfa/"),
        ("POST", "/api/v1/auth/token/refresh/"),
        ("POST", "/api/v1/auth/logout/"),
        ("GET", "/api/v1/auth/status/"),
        ("POST", "/api/v1/auth/password/reset/"),
        ("GET", "/.well-known/jwks.json"),
        ("GET", "/api/v1/users/me/"),
        ("PATCH", "/api/v1/users/me/"),
        ("PUT", "/api/v1/users/me/"),
        ("DELETE", "/api/v1/users/me/"),
        ("GET", "/api/v1/users/me/export/"),
        ("POST", "/api/v1/users/me/password/"),
        ("GET", "/api/v1/users/me/preferences/"),
        ("PATCH", "/api/v1/users/me/preferences/"),
        ("GET", "/api/v1/users/me/settings/"),
        ("PATCH", "/api/v1/users/me/settings/"),
        ("GET", "/api/v1/users/me/sessions/"),
        ("DELETE", "/api/v1/users/me/sessions/{session_id}/"),
        ("POST", "/api/v1/users/me/sessions/revoke-others/"),
        ("GET", "/api/v1/users/me/api-keys/"),
        ("POST", "/api/v1/users/me/api-keys/"),
        ("DELETE", "/api/v1/users/me/api-keys/{id}/"),
        ("GET", "/api/v1/users/"),
        ("GET", "/api/v1/users/{user_id}/"),
        ("PATCH", "/api/v1/users/{user_id}/"),
        ("DELETE", "/api/v1/users/{user_id}/"),
        ("POST", "/api/v1/users/bulk/"),
        ("GET", "/api/v1/slot-types/"),
        ("GET", "/api/v1/slots/"),
        ("POST", "/api/v1/slots/"),
        ("GET", "/api/v1/slots/{id}/"),
        ("PATCH", "/api/v1/slots/{id}/"),
        ("DELETE", "/api/v1/slots/{id}/"),
        ("POST", "/api/v1/slots/{id}/activate/"),
        ("POST", "/api/v1/slots/{id}/suspend/"),
        ("POST", "/api/v1/slots/{id}/resume/"),
        ("POST", "/api/v1/slots/{id}/heartbeat/"),
        ("PUT", "/api/v1/slots/{id}/credentials/"),
        ("DELETE", "/api/v1/slots/{id}/credentials/"),
        ("GET", "/api/v1/meters/"),
        ("POST", "/api/v1/usage/events/"),
        ("GET", "/api/v1/usage/events/"),
        ("GET", "/api/v1/usage/stats/"),
        ("GET", "/api/v1/usage/quota/"),
        ("GET", "/api/v1/admin/usage/stats/"),
        ("GET", "/api/v1/audit/events/"),
        ("GET", "/api/v1/audit/verify/"),
    }
    assert contract <= documented, sorted(contract - documented)
    # A route the server refuses is not documented (PUT on a slot is 405).
    assert ("PUT", "/api/v1/slots/{id}/") not in documented


def test_openapi_operation_ids_read_well_and_are_unique(schema):
    ids = [op["operationId"] for _, _, op in _operations(schema)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", operation_id), operation_id
        assert not operation_id.startswith(("api_v1", "well_known")), operation_id
    for expected in (
        "auth_token",
        "auth_token_refresh",
        "auth_register",
        "slots_list",
        "slots_create",
        "slots_retrieve",
        "slots_suspend",
        "users_me_retrieve",
        "users_me_partial_update",
        "usage_events_create",
        "jwks_retrieve",
    ):
        assert expected in ids


def test_openapi_every_error_uses_the_envelope_and_lists_its_codes(schema):
    for path, method, op in _operations(schema):
        errors = {int(s): r for s, r in op["responses"].items() if s.isdigit() and int(s) >= 400}
        assert 429 in errors, (method, path)
        # gunicorn's answer to an overlong request line, before Roster: text, no envelope.
        assert "text/plain" in errors.pop(414)["content"], (method, path)
        for status, response in errors.items():
            content = response["content"]["application/json"]
            assert content["schema"] == {"$ref": ENVELOPE}, (method, path, status)
            assert isinstance(response["x-error-codes"], list)
            for code in response["x-error-codes"]:
                assert f"`{code}`" in response["description"]
        if op.get("security"):
            assert {401, 403} <= set(errors), (method, path)
            assert "token_revoked" in errors[401]["x-error-codes"]
        if "requestBody" in op:
            assert {400, 413, 415} <= set(errors), (method, path)
            assert {"parse_error", "unknown_field"} <= set(errors[400]["x-error-codes"])
        if "{" in path:
            assert 404 in errors, (method, path)


def test_openapi_lists_the_domain_codes_of_an_operation(schema):
    create = _op(schema, "slots_create")["responses"]
    assert {"name_taken", "slot_quota_exceeded"} <= set(create["409"]["x-error-codes"])
    assert {"required", "max_length", "invalid_config"} <= set(create["400"]["x-error-codes"])
    assert "insufficient_scope" in create["403"]["x-error-codes"]
    register = _op(schema, "auth_register")["responses"]
    assert {"email_taken", "username_taken"} <= set(register["409"]["x-error-codes"])
    assert "password_too_similar" in register["400"]["x-error-codes"]
    token = _op(schema, "auth_token")["responses"]
    assert "invalid_credentials" in token["401"]["x-error-codes"]
    assert "too_many_attempts" in token["429"]["x-error-codes"]
    assert "email_unverified" in token["403"]["x-error-codes"]


def test_openapi_error_envelope_component(schema):
    envelope = schema["components"]["schemas"]["ErrorResponse"]
    assert envelope["required"] == ["errors", "type"]
    error = _resolve(schema, envelope["properties"]["errors"]["items"])
    assert set(error["properties"]) == {"code", "detail", "attr"}
    assert error["properties"]["attr"]["nullable"] is True


def test_openapi_security_schemes_cover_every_credential(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["jwt"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["jwt"]["description"],
    }
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "X-API-Key")
    assert schemes["apiKeyBearer"]["scheme"] == "bearer"
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "sessionid")

    def kinds(operation_id):
        return [next(iter(s)) for s in _op(schema, operation_id).get("security", [])]

    assert kinds("slots_list") == ["jwt", "apiKey", "apiKeyBearer", "session"]
    # API keys may never manage keys, sessions or passwords.
    for refused in ("users_me_api_keys_create", "users_me_sessions_list", "users_me_password"):
        assert kinds(refused) == ["jwt", "session"], refused
        assert _op(schema, refused)["x-api-keys"] == "refused"
    assert kinds("auth_token") == []


def test_openapi_states_the_scope_each_operation_needs(schema):
    assert _op(schema, "slots_list")["x-required-scopes"] == ["slots:read"]
    assert _op(schema, "slots_create")["x-required-scopes"] == ["slots:write"]
    assert _op(schema, "usage_events_create")["x-required-scopes"] == ["usage:write"]
    assert _op(schema, "users_me_partial_update")["x-required-scopes"] == ["profile:write"]
    assert "`slots:write`" in _op(schema, "slots_create")["description"]


def test_openapi_documents_rate_limits(schema, settings):
    description = schema["info"]["description"]
    assert f"| member | {settings.API_RATE_LIMITS['member']} |" in description
    assert f"| admin | {settings.API_RATE_LIMITS['admin']} |" in description
    token = _op(schema, "auth_token")
    assert token["x-rate-limit"] == f"{settings.API_SENSITIVE_RATE_LIMITS['token']} per client IP"
    assert _op(schema, "auth_register")["x-rate-limit"].startswith(
        settings.API_SENSITIVE_RATE_LIMITS["register"]
    )
    assert _op(schema, "slots_list")["x-rate-limit"].startswith("per role")
    headers = schema["components"]["headers"]
    assert {"XRequestID", "XRateLimitLimit", "RetryAfter", "WWWAuthenticate", "ETag"} <= set(
        headers
    )


def test_openapi_response_headers(schema):
    for path, method, op in _operations(schema):
        for status, response in op["responses"].items():
            if status == "414":
                continue  # gunicorn's answer, before Roster's middleware adds any header
            assert response["headers"]["X-Request-ID"] == {
                "$ref": "#/components/headers/XRequestID"
            }, (method, path, status)
            if status == "429":
                assert "Retry-After" in response["headers"]
            if status == "401":
                assert "WWW-Authenticate" in response["headers"]
        if method == "get":
            assert "ETag" in op["responses"]["200"]["headers"], path
            assert "304" in op["responses"]
            assert any(p["name"] == "If-None-Match" for p in op["parameters"])


def test_openapi_request_bodies_refuse_unknown_fields_and_nul(schema):
    checked = 0
    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Request") or "properties" not in component:
            continue
        checked += 1
        assert component["additionalProperties"] is False, name
        for prop, field in component["properties"].items():
            if field.get("type") == "string" and not {"format", "enum"} & set(field):
                pattern = field["pattern"]
                # The generic rules, or a field's own pattern that refuses NUL as well.
                assert pattern in (NO_NUL_PATTERN, NON_BLANK_PATTERN) or not any(
                    re.search(pattern, value) for value in ("\x00", "a\x00b", "a.b\x00")
                ), (name, prop)
    assert checked >= 20
    token = schema["components"]["schemas"]["TokenRequestRequest"]
    assert token["anyOf"] == [{"required": ["email"]}, {"required": ["username"]}]


def test_openapi_blank_pattern_matches_what_the_server_refuses():
    blank = re.compile(NON_BLANK_PATTERN)
    for refused in ("", " ", "\t\n", "\x1c", "\u3000", "a\x00b"):
        assert not blank.search(refused), repr(refused)
    for accepted in ("a", " a ", "é", "😀"):
        assert blank.search(accepted), repr(accepted)


def test_openapi_delete_me_documents_its_password_body(schema):
    body = _op(schema, "users_me_destroy")["requestBody"]["content"]["application/json"]
    assert "password" in _resolve(schema, body["schema"])["properties"]


def test_openapi_pagination_parameters_are_bounded(schema):
    parameters = {p["name"]: p for p in _op(schema, "slots_list")["parameters"]}
    assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert parameters["page"]["schema"]["minimum"] == 1
    cursor = {p["name"]: p for p in _op(schema, "audit_events_list")["parameters"]}
    assert cursor["page_size"]["schema"]["maximum"] == 200


def test_openapi_query_lists_of_choices_hold_at_least_one(schema):
    """`?ordering=` is 400 (a blank choice), so the schema may not call it an empty list."""
    lists = [
        (path, parameter)
        for path, method, operation in _operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and parameter["schema"].get("type") == "array"
    ]
    assert any(parameter["name"] == "ordering" for _, parameter in lists)
    for path, parameter in lists:
        if "enum" in parameter["schema"]["items"]:
            assert parameter["schema"].get("minItems") == 1, (path, parameter["name"])


def test_openapi_request_examples_are_valid_against_their_schemas(schema):
    examples = 0
    for _, _, op in _operations(schema):
        media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" not in media:
            continue
        examples += 1
        # "#/components/..." references resolve against this document.
        document = {**media["schema"], "components": schema["components"]}
        jsonschema.validate(media["example"], document)
    assert examples >= 15


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_from_our_static_files(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(src|href)=\"https?://", html), "a CDN URL in the docs page"
    assets = re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", html)
    assert any("drf_spectacular_sidecar" in a for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


@pytest.mark.django_db
def test_schema_endpoint_serves_the_contract(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Roster API"
