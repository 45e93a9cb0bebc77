"""Deeply nested JSON bodies are a 400 ``parse_error`` with the envelope, never a 500: the
parser bounds nesting at 64 levels before decoding (config/api/parsers.py)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from accounts.apikeys import api_key_create
from tests.accounts.test_auth_helpers import bearer, login
from usage.models import UsageEvent

pytestmark = pytest.mark.django_db

DEEP = 100_000


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int, inner: str = "1") -> str:
    return '{"a":' * depth + inner + "}" * depth


# Brackets inside a string are text, not nesting.
BRACKETS_TEXT = "[{" * 100


def event_with_depth(depth: int) -> str:
    """A valid usage event whose JSON nests ``depth`` levels (the event is level 1)."""
    metadata = deep_object(depth - 1, json.dumps(BRACKETS_TEXT))
    return '{"meter": "api.requests", "metadata": ' + metadata + "}"


def assert_parse_error(response) -> None:
    assert response.status_code == 400, response.content[:500]
    body = response.json()
    assert body["type"] == "client_error"
    assert [e["code"] for e in body["errors"]] == ["parse_error"]
    assert set(body["errors"][0]) == {"code", "detail", "attr"}


def jwt_client(user) -> APIClient:
    return bearer(login(user)["access"])


def key_client(user) -> APIClient:
    _, raw = api_key_create(user=user, name="deep", scopes=["usage:write"], actor=user)
    return bearer(raw)


@pytest.mark.parametrize("body", [deep_array(DEEP), deep_object(DEEP)], ids=["array", "object"])
def test_json_depth_100000_deep_token_request_is_parse_error(anon_client, member, body):
    response = anon_client.post("/api/v1/auth/token", data=body, content_type="application/json")
    assert_parse_error(response)


@pytest.mark.parametrize("make_client", [jwt_client, key_client], ids=["jwt", "api_key"])
@pytest.mark.parametrize("body", [deep_array(DEEP), deep_object(DEEP)], ids=["array", "object"])
def test_json_depth_100000_deep_usage_events_is_parse_error(member, make_client, body):
    client = make_client(member)
    response = client.post("/api/v1/usage/events", data=body, content_type="application/json")
    assert_parse_error(response)
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize("body", [deep_array(DEEP), deep_object(DEEP)], ids=["array", "object"])
def test_json_depth_100000_deep_settings_update_is_parse_error(member, body):
    response = jwt_client(member).patch(
        "/api/v1/users/me/settings", data=body, content_type="application/json"
    )
    assert_parse_error(response)


def test_json_depth_65_is_refused_and_64_accepted(member):
    client = key_client(member)
    assert len(json.loads(event_with_depth(64))["metadata"]) == 1  # well-formed JSON
    response = client.post(
        "/api/v1/usage/events", data=event_with_depth(65), content_type="application/json"
    )
    assert_parse_error(response)
    assert not UsageEvent.objects.exists()

    response = client.post(
        "/api/v1/usage/events", data=event_with_depth(64), content_type="application/json"
    )
    assert response.status_code == 202, response.content
    metadata, depth = UsageEvent.objects.get().metadata, 1
    while isinstance(metadata, dict):
        metadata, depth = metadata.get("a"), depth + 1
    assert (depth, metadata) == (64, BRACKETS_TEXT)
