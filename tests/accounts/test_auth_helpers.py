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


def reset_password_by_email(client, email: str, new_password: str):
    """Ask for a reset on the page, follow the emailed link, set ``new_password``."""
    import re

    from django.core import mail

    client.post("/accounts/password/reset/", {"email": email})
    link = re.search(r"https?://[^/]+(/accounts/password/reset/key/\S+/)", mail.outbox[-1].body)
    response = client.get(link.group(1), follow=True)
    set_url = response.redirect_chain[-1][0] if response.redirect_chain else link.group(1)
    return client.post(set_url, {"password1": new_password, "password2": new_password})
