"""Every API route states how API keys may use it: a scope, an explicit opening, or refusal."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from config.api.permissions import HasScope, NotApiKey
from tests.accounts.users_helpers import api_key_client


def _api_views(patterns=None, prefix=""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _api_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            view = getattr(entry.callback, "cls", None)
            route = prefix + str(entry.pattern)
            if view is not None and issubclass(view, APIView) and route.startswith("api/v1/"):
                yield route, view


def test_every_api_view_decides_about_api_keys():
    undecided = []
    for route, view in _api_views():
        permissions = [p for p in view.permission_classes]
        if any(p is NotApiKey for p in permissions):
            continue
        if getattr(view, "required_scopes", None) or getattr(view, "api_key_without_scope", 0):
            continue
        if [p.__name__ for p in permissions] == ["AllowAny"]:
            continue  # public: sign-in, register, reset, JWKS
        assert any(p is HasScope for p in permissions), route
        undecided.append(route)
    # HasScope refuses keys on these; listing them keeps the decision visible.
    assert undecided == [], undecided


class _Undeclared(APIView):
    def get(self, request):
        return Response({"ok": True})


@pytest.mark.django_db
def test_api_key_is_refused_where_no_scope_is_declared(member):
    client = api_key_client(member, ["usage:read"])
    request = APIRequestFactory().get("/api/v1/undeclared", **client._credentials)
    response = _Undeclared.as_view()(request)
    response.render()
    assert response.status_code == 403
    assert response.data["errors"][0]["code"] == "api_key_not_allowed"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/auth/status", "/api/v1/meters"])
def test_any_api_key_may_use_the_open_routes(member, path):
    response = api_key_client(member, ["slots:read"]).get(path)
    assert response.status_code == 200
