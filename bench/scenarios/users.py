"""Users: the profile read every client makes, and the administration list, with 100k users.

Seeds BENCH_USERS users (default 100,000) once with bulk_create: every one a member (so the
role flags have rows to look at), one in ten with a verified email address, one in seven
suspended; all share one cheap unusable password hash.

wrk scenarios:
- GET /api/v1/users/me with a JWT (member), and with an API key (profile:read);
- GET /api/v1/users?page_size=50 with a JWT (manager): the first page of 100k with count;
- GET /api/v1/users?page_size=50&status=suspended&ordering=-email: filtered and sorted;
- GET /api/v1/users?page_size=50&q=user-4242: the search across name and email columns.
"""

from __future__ import annotations

import os

from bench.harness import BenchContext, Scenario

USERS = int(os.environ.get("BENCH_USERS", "100000"))
PREFIX = "users-bench-user-"
MEMBER_EMAIL = "users-bench-member@example.com"
MANAGER_EMAIL = "users-bench-manager@example.com"
PASSWORD = "bench-password-for-users-1"
BATCH = 5000


def _seed_users() -> None:
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from accounts.models import User

    existing = User.objects.filter(email__startswith=PREFIX).count()
    if existing >= USERS:
        return
    unusable = make_password(None)
    member_group = Group.objects.get(name="member")
    Membership = User.groups.through
    for start in range(existing, USERS, BATCH):
        users = []
        for i in range(start, min(start + BATCH, USERS)):
            suspended = i % 7 == 0
            users.append(
                User(
                    email=f"{PREFIX}{i}@example.com",
                    display_name=f"Bench User {i}",
                    first_name="Bench",
                    last_name=f"User{i}",
                    department=f"Dept {i % 40}",
                    password=unusable,
                    status=User.Status.SUSPENDED if suspended else User.Status.ACTIVE,
                    is_active=not suspended,
                )
            )
        User.objects.bulk_create(users, batch_size=BATCH)
        Membership.objects.bulk_create(
            [Membership(user_id=u.pk, group_id=member_group.pk) for u in users],
            batch_size=BATCH,
        )
        EmailAddress.objects.bulk_create(
            [
                EmailAddress(user_id=u.pk, email=u.email, verified=True, primary=True)
                for n, u in enumerate(users)
                if n % 10 == 0
            ],
            batch_size=BATCH,
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_user")
        cursor.execute("ANALYZE accounts_user_groups")
        cursor.execute("ANALYZE account_emailaddress")


def setup(ctx: BenchContext) -> list[Scenario]:
    _seed_users()
    ctx.create_user(MEMBER_EMAIL, PASSWORD, roles=("member",))
    ctx.create_user(MANAGER_EMAIL, PASSWORD, roles=("manager",))
    member = {"Authorization": f"Bearer {ctx.jwt_for(MEMBER_EMAIL, PASSWORD)}"}
    key = {"X-API-Key": ctx.api_key_for(MEMBER_EMAIL, PASSWORD, ["profile:read"])}
    manager = {"Authorization": f"Bearer {ctx.jwt_for(MANAGER_EMAIL, PASSWORD)}"}
    return [
        Scenario(name="GET /users/me (JWT)", path="/api/v1/users/me", headers=member),
        Scenario(name="GET /users/me (API key)", path="/api/v1/users/me", headers=key),
        Scenario(
            name="GET /users?page_size=50 (100k users)",
            path="/api/v1/users?page_size=50",
            headers=manager,
        ),
        Scenario(
            name="GET /users filtered+sorted (100k)",
            path="/api/v1/users?page_size=50&status=suspended&ordering=-email",
            headers=manager,
        ),
        Scenario(
            name="GET /users?q= search (100k)",
            path="/api/v1/users?page_size=50&q=user-4242",
            headers=manager,
        ),
    ]
