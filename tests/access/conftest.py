"""An organization with one person per role (tests/orgs' world) and a requestable resource
whose approvers are the admins and the manager."""

from __future__ import annotations

import pytest

from access.services import resources
from tests.orgs.conftest import World, assert_error, jwt_client, key_client, verified, world

__all__ = ["World", "assert_error", "jwt_client", "key_client", "verified", "world"]


@pytest.fixture
def db_resource(world):
    return resources.resource_create(
        organization=world.org,
        actor=world.owner,
        key="production-db",
        name="Production database",
        levels=["read", "write", "admin"],
        approvers={"roles": ["admin"], "teams": [], "users": [str(world.manager.pk)]},
        max_duration_days=14,
        auto_approve_levels=[],
    )
