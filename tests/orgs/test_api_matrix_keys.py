"""The permission matrix of every organization route through an API key: a key with the
organization scopes does what its owner may, never more; a key without the scope of the
method is 403 ``insufficient_scope``."""

from __future__ import annotations

import pytest

from tests.orgs.conftest import key_client
from tests.orgs.test_api_matrix import ROLES, ROUTE_COUNT, call, routes


@pytest.mark.parametrize("index", range(ROUTE_COUNT))
@pytest.mark.parametrize("role", ROLES)
def test_route_per_role_with_api_key(world, index, role):
    method, path, body, statuses = routes(world)[index]
    client = key_client(world.person(role), ["orgs:read", "orgs:write"])
    response = call(client, method, path, body)
    assert response.status_code == statuses[ROLES.index(role)], (method, path, role)


@pytest.mark.parametrize("index", range(ROUTE_COUNT))
def test_route_needs_the_scope_of_its_method(world, index):
    method, path, body, statuses = routes(world)[index]
    read_only = key_client(world.owner, ["orgs:read"])
    response = call(read_only, method, path, body)
    if method == "get":
        assert response.status_code == statuses[0]
    else:
        assert response.status_code == 403
        assert response.json()["errors"][0]["code"] == "insufficient_scope"
    other_scope = key_client(world.owner, ["profile:read", "profile:write"])
    assert call(other_scope, method, path, body).status_code == 403
