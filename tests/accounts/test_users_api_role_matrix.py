"""The role matrix of every /users/me* route: anonymous 401, and the owner's own data for
member, manager and admin alike (roles never widen what /me shows)."""

import pytest

from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

# (method, path, body, status for any signed-in role)
ME_ROUTES = [
    ("get", "/api/v1/users/me", None, 200),
    ("patch", "/api/v1/users/me", {"department": "Ops"}, 200),
    (
        "put",
        "/api/v1/users/me",
        {
            "username": None,
            "display_name": "Ada",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": "",
            "department": "",
            "timezone": "UTC",
            "locale": "en",
        },
        200,
    ),
    ("get", "/api/v1/users/me/settings", None, 200),
    ("patch", "/api/v1/users/me/settings", {"theme": "dark"}, 200),
    ("get", "/api/v1/users/me/preferences", None, 200),
    ("patch", "/api/v1/users/me/preferences", {"theme": "light"}, 200),
    ("get", "/api/v1/users/me/sessions", None, 200),
    ("post", "/api/v1/users/me/sessions/revoke-others", None, 204),
    ("get", "/api/v1/users/me/api-keys", None, 200),
    ("post", "/api/v1/users/me/api-keys", {"name": "k", "scopes": ["slots:read"]}, 201),
    ("get", "/api/v1/users/me/export", None, 200),
    (
        "post",
        "/api/v1/users/me/password",
        {"current_password": "not it", "new_password": "x"},
        400,
    ),
    ("delete", "/api/v1/users/me", {"password": "not it"}, 400),
]


@pytest.mark.parametrize(("method", "path", "body", "_status"), ME_ROUTES)
def test_me_routes_anonymous_is_401(anon_client, method, path, body, _status):
    response = getattr(anon_client, method)(path, body, format="json")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"
    assert "WWW-Authenticate" in response


@pytest.mark.parametrize("role", ["member", "manager", "admin"])
@pytest.mark.parametrize(("method", "path", "body", "status"), ME_ROUTES)
def test_me_routes_answer_every_role_about_themselves(
    user_factory, client_for, role, method, path, body, status
):
    user = user_factory(email=f"{role}-self@example.com", roles=[role])
    other = user_factory(email=f"{role}-other@example.com")
    response = getattr(client_for(user), method)(path, body, format="json")
    assert response.status_code == status, response.content[:500]
    assert other.email not in response.content.decode()
    assert DEFAULT_PASSWORD not in response.content.decode()
