"""Organizations in tokens, and the members list of a large organization.

Seeds one organization with BENCH_ORG_MEMBERS members (default 2,000) once, with
bulk_create: the bench owner (made through ``orgs.services``) and plain members with one
cheap unusable password hash, every one with the built-in ``member`` role.

wrk scenarios:
- GET /api/v1/users/me with a JWT of the owner, without an active organization and with one
  (``org``, ``org_roles``, ``permissions`` claims): what the claims cost per request (they
  are minted at sign-in, so the figure should be the same);
- GET /api/v1/orgs/{id}/members (the first page, and page_size=200) with the owner's JWT.

Offline: the SQL statements of one warm members-list request of each page size, and of one
warm /users/me request with and without the claims (in-process, on the bench database).
"""

from __future__ import annotations

import os

from bench.harness import BenchContext, Scenario

MEMBERS = int(os.environ.get("BENCH_ORG_MEMBERS", "2000"))
OWNER_EMAIL = "orgs-bench-owner@example.com"
PASSWORD = "bench-password-for-orgs-1"
PREFIX = "orgs-bench-member-"
SLUG = "orgs-bench"
BATCH = 1000

_state: dict[str, str] = {}


def _seed(owner) -> str:
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password

    from accounts.models import User
    from orgs.catalogue import MEMBER_ROLE
    from orgs.models import Membership, Organization, Role
    from orgs.services import organizations

    EmailAddress.objects.get_or_create(
        user=owner, email=owner.email, defaults={"verified": True, "primary": True}
    )
    org = Organization.objects.filter(slug=SLUG).first()
    if org is None:
        org = organizations.org_create(name="Orgs bench", slug=SLUG, actor=owner)
    have = Membership.objects.filter(organization=org).count()
    if have >= MEMBERS:
        return str(org.pk)
    unusable = make_password(None)
    member_role = Role.objects.get(organization=None, key=MEMBER_ROLE)
    RoleLink = Membership.roles.through
    for start in range(have, MEMBERS, BATCH):
        users = User.objects.bulk_create(
            [
                User(
                    email=f"{PREFIX}{i}@example.com",
                    display_name=f"Org Member {i}",
                    password=unusable,
                )
                for i in range(start, min(start + BATCH, MEMBERS))
            ],
            batch_size=BATCH,
        )
        rows = Membership.objects.bulk_create(
            [Membership(organization=org, user=u) for u in users], batch_size=BATCH
        )
        RoleLink.objects.bulk_create(
            [RoleLink(membership_id=m.pk, role_id=member_role.pk) for m in rows],
            batch_size=BATCH,
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orgs_membership")
        cursor.execute("ANALYZE orgs_membership_roles")
    return str(org.pk)


def _jwt(ctx: BenchContext, organization: str | None) -> str:
    body = {"email": OWNER_EMAIL, "password": PASSWORD}
    if organization:
        body["organization"] = organization
    status, answer = ctx.request("POST", "/api/v1/auth/token", body)
    if status != 200 or "access" not in answer:
        raise RuntimeError(f"token request failed: {status} {answer}")
    return answer["access"]


def setup(ctx: BenchContext) -> list[Scenario]:
    owner = ctx.create_user(OWNER_EMAIL, PASSWORD, roles=("member",))
    org_id = _seed(owner)
    plain = {"Authorization": f"Bearer {_jwt(ctx, None)}"}
    with_org = {"Authorization": f"Bearer {_jwt(ctx, SLUG)}"}
    _state.update(org_id=org_id, plain=plain["Authorization"], with_org=with_org["Authorization"])
    members = f"/api/v1/orgs/{org_id}/members"
    return [
        Scenario(name="GET /users/me (JWT, no org claim)", path="/api/v1/users/me", headers=plain),
        Scenario(
            name="GET /users/me (JWT with org claims)", path="/api/v1/users/me", headers=with_org
        ),
        Scenario(name=f"GET /orgs/{{id}}/members ({MEMBERS})", path=members, headers=plain),
        Scenario(
            name=f"GET /orgs/{{id}}/members?page_size=200 ({MEMBERS})",
            path=f"{members}?page_size=200",
            headers=plain,
        ),
    ]


def _statements(path: str, authorization: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=authorization)
    first = client.get(path)  # warm: session markers, identity snapshot
    if first.status_code != 200:
        raise RuntimeError(f"{path}: {first.status_code} {first.content[:300]!r}")
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    return len(queries)


def offline(ctx: BenchContext) -> dict[str, str]:
    members = f"/api/v1/orgs/{_state['org_id']}/members"
    return {
        "SQL statements, warm GET /users/me, no org claim": str(
            _statements("/api/v1/users/me", _state["plain"])
        ),
        "SQL statements, warm GET /users/me, with org claims": str(
            _statements("/api/v1/users/me", _state["with_org"])
        ),
        f"SQL statements, GET /orgs/{{id}}/members ({MEMBERS}), first page": str(
            _statements(members, _state["plain"])
        ),
        f"SQL statements, GET /orgs/{{id}}/members?page_size=200 ({MEMBERS})": str(
            _statements(f"{members}?page_size=200", _state["plain"])
        ),
    }
