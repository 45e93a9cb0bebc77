"""The organizations' world (one person per role) and its clients, shared with tests/orgs."""

from tests.orgs.conftest import World, assert_error, jwt_client, key_client, verified, world

__all__ = ["World", "assert_error", "jwt_client", "key_client", "verified", "world"]
