"""Clients and assertions shared by the tests of the /users API."""

from __future__ import annotations

from rest_framework.test import APIClient


def jwt_client(user) -> APIClient:
    """A client holding a real RS256 access token from a token login."""
    from accounts.tokens import token_issue

    pair = token_issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access}")
    client.session_id = pair.session_id
    return client


def api_key_client(user, scopes) -> APIClient:
    from accounts.apikeys import api_key_create

    _, raw = api_key_create(user=user, name="test", scopes=scopes, actor=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def assert_error(response, status: int, code: str, attr: str | None = "__any__") -> dict:
    assert response.status_code == status, (response.status_code, response.content[:2000])
    body = response.json()
    codes = [(e["code"], e["attr"]) for e in body["errors"]]
    if attr == "__any__":
        assert code in [c for c, _ in codes], codes
    else:
        assert (code, attr) in codes, codes
    return body
