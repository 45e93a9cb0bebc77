"""Helpers shared by the sign-in tests (no tests here)."""

from __future__ import annotations

from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD

TOKEN_URL = "/api/v1/auth/token"
STATUS_URL = "/api/v1/auth/status"


def login(user, password: str = DEFAULT_PASSWORD, client: APIClient | None = None) -> dict:
    client = client or APIClient()
    response = client.post(TOKEN_URL, {"email": user.email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def error_code(response) -> str:
    return response.json()["errors"][0]["code"]
