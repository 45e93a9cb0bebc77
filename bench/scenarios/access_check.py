"""GET /api/v1/access/check against a large grant table.

Seeds one organization once, with bulk_create: the bench owner (made through
``orgs.services``, so they hold ``access:manage``) and BENCH_ACCESS_GRANTS grants (default
100,000): BENCH_ACCESS_GRANTS / 100 members with the built-in ``member`` role, each holding
a grant on 50 resources x 2 levels, of which 8 in 10 active, 1 expired and 1 revoked (the
mix the ``grant_check`` partial index leaves out). The owner holds ``res-0:write``. Active
grants end ten years on, so a bench database seeded once stays valid.

wrk scenarios:
- with the owner's JWT, about themself: a held grant (allowed) and an unheld level (denied);
- with the owner's API key (scope ``access:check``): about one member, and about a different
  member and resource each request (a Lua table of the members), the way a service asks.

Offline: the SQL statements of one warm request of each kind (in-process, on the bench
database).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

from bench.harness import BenchContext, Scenario

GRANTS = int(os.environ.get("BENCH_ACCESS_GRANTS", "100000"))
RESOURCES = 50
LEVELS = ("read", "write")
PER_USER = RESOURCES * len(LEVELS)
OWNER_EMAIL = "access-bench-owner@example.com"
PASSWORD = "bench-password-for-access-1"
PREFIX = "access-bench-member-"
SLUG = "access-bench"
BATCH = 1000

_state: dict[str, str] = {}


def _seed_batch(org, numbers: range, password: str, member_role, now) -> None:
    """Members ``numbers`` with the member role and PER_USER grants each."""
    from access.models import Grant
    from accounts.models import User
    from orgs.models import Membership

    RoleLink = Membership.roles.through
    users = User.objects.bulk_create(
        [
            User(
                email=f"{PREFIX}{i}@example.com",
                display_name=f"Access Member {i}",
                password=password,
            )
            for i in numbers
        ]
    )
    rows = Membership.objects.bulk_create([Membership(organization=org, user=u) for u in users])
    RoleLink.objects.bulk_create(
        [RoleLink(membership_id=m.pk, role_id=member_role.pk) for m in rows]
    )
    grants = []
    for user in users:
        for n in range(PER_USER):
            kind = n % 10  # 0-7 active, 8 expired, 9 revoked
            grants.append(
                Grant(
                    organization=org,
                    user=user,
                    resource_key=f"res-{n // len(LEVELS)}",
                    access_level=LEVELS[n % len(LEVELS)],
                    starts_at=now - timedelta(days=20),
                    expires_at=now + timedelta(days=-1 if kind == 8 else 3650),
                    status={8: "expired", 9: "revoked"}.get(kind, "active"),
                    ended_at=now - timedelta(days=1) if kind >= 8 else None,
                )
            )
    Grant.objects.bulk_create(grants, batch_size=BATCH)


def _seed(owner) -> tuple[str, list[str]]:
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from access.models import Grant
    from orgs.catalogue import MEMBER_ROLE
    from orgs.models import Membership, Organization, Role
    from orgs.services import organizations

    EmailAddress.objects.get_or_create(
        user=owner, email=owner.email, defaults={"verified": True, "primary": True}
    )
    org = Organization.objects.filter(slug=SLUG).first()
    if org is None:
        org = organizations.org_create(name="Access bench", slug=SLUG, actor=owner)
    now = timezone.now()
    if not Grant.objects.filter(organization=org, user=owner).exists():
        Grant.objects.create(
            organization=org,
            user=owner,
            resource_key="res-0",
            access_level="write",
            expires_at=now + timedelta(days=3650),
        )
    users = GRANTS // PER_USER
    have = Membership.objects.filter(organization=org).exclude(user=owner).count()
    unusable = make_password(None)
    member_role = Role.objects.get(organization=None, key=MEMBER_ROLE)
    step = max(1, BATCH // PER_USER)
    for start in range(have, users, step):
        # A batch's members and their grants together: an interrupted seed resumes cleanly.
        with transaction.atomic():
            _seed_batch(org, range(start, min(start + step, users)), unusable, member_role, now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE access_grant")
        cursor.execute("ANALYZE orgs_membership")
    member_ids = [
        str(pk)
        for pk in Membership.objects.filter(organization=org)
        .exclude(user=owner)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    ]
    return str(org.pk), member_ids


_VARIED_LUA = """
local users = %(users)s
local counter = 0
request = function()
  counter = counter + 1
  local user = users[(counter * 7919) %% #users + 1]
  local path = string.format(
    "/api/v1/access/check?user=%%s&organization=%(org)s&resource=res-%%d&access_level=%%s",
    user, counter %% %(resources)d, (counter %% 2 == 0) and "read" or "write")
  return wrk.format("GET", path)
end
"""


def _check(org_id: str, user_id: str, resource: str, level: str) -> str:
    return (
        f"/api/v1/access/check?user={user_id}&organization={org_id}"
        f"&resource={resource}&access_level={level}"
    )


def setup(ctx: BenchContext) -> list[Scenario]:
    owner = ctx.create_user(OWNER_EMAIL, PASSWORD, roles=("member",))
    org_id, member_ids = _seed(owner)
    jwt = f"Bearer {ctx.jwt_for(OWNER_EMAIL, PASSWORD)}"
    key = f"Bearer {ctx.api_key_for(OWNER_EMAIL, PASSWORD, ['access:check'], name='access-bench')}"
    allowed = _check(org_id, str(owner.pk), "res-0", "write")
    denied = _check(org_id, str(owner.pk), "res-0", "read")
    member = _check(org_id, member_ids[0], "res-1", "write")
    _state.update(jwt=jwt, key=key, allowed=allowed, denied=denied, member=member)
    return [
        Scenario(
            name=f"GET /access/check JWT allowed ({GRANTS})",
            path=allowed,
            headers={"Authorization": jwt},
        ),
        Scenario(
            name=f"GET /access/check JWT denied ({GRANTS})",
            path=denied,
            headers={"Authorization": jwt},
        ),
        Scenario(
            name=f"GET /access/check key, one member ({GRANTS})",
            path=member,
            headers={"Authorization": key},
        ),
        Scenario(
            name=f"GET /access/check key, varied ({GRANTS})",
            path=member,
            headers={"Authorization": key},
            lua=_VARIED_LUA
            % {
                "users": "{" + ", ".join(json.dumps(u) for u in member_ids) + "}",
                "org": org_id,
                "resources": RESOURCES,
            },
        ),
    ]


def _statements(path: str, authorization: str) -> tuple[int, str]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=authorization)
    first = client.get(path)  # warm: session markers, identity snapshot
    if first.status_code != 200:
        raise RuntimeError(f"{path}: {first.status_code} {first.content[:300]!r}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return len(queries), response.json()["allowed"]


def offline(ctx: BenchContext) -> dict[str, str]:
    figures = {}
    for label, path, auth in [
        ("JWT, allowed", _state["allowed"], _state["jwt"]),
        ("JWT, denied", _state["denied"], _state["jwt"]),
        ("API key, a member", _state["member"], _state["key"]),
    ]:
        count, allowed = _statements(path, auth)
        figures[f"SQL statements, warm GET /access/check, {label}"] = (
            f"{count} (allowed: {allowed})"
        )
    return figures
