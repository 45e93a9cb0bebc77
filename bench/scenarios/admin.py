"""Admin console: the dashboard on the index and the user list, with 10,000+ users stored.

An admin's browser session is made directly in the session store (the admin login page
is a form with CSRF, which wrk cannot follow) and sent as the session cookie.

wrk scenarios:
- GET /admin/ — the dashboard as admins see it (figures cached for 60 s);
- GET /admin/?refresh=1 — every figure recomputed on each request (the uncached cost);
- GET /admin/accounts/user/ — the first 50 users with roles, MFA and live slot count;
- GET /admin/accounts/user/?status__exact=suspended&q=bench — filtered and searched.
"""

from __future__ import annotations

import os

from bench.harness import BenchContext, Scenario

USERS = int(os.environ.get("BENCH_ADMIN_USERS", "10000"))
ADMIN_EMAIL = "admin-bench@example.com"
PASSWORD = "bench-password-for-admin-1"


def _seed_users() -> None:
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    existing = User.objects.filter(email__startswith="admin-bench-user-").count()
    if existing >= USERS:
        return
    unusable = make_password(None)
    batch = []
    for i in range(existing, USERS):
        suspended = i % 7 == 0
        batch.append(
            User(
                email=f"admin-bench-user-{i}@example.com",
                display_name=f"Bench User {i}",
                password=unusable,
                status=User.Status.SUSPENDED if suspended else User.Status.ACTIVE,
                is_active=not suspended,
            )
        )
    User.objects.bulk_create(batch, batch_size=5000)


def _session_cookie(user) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def setup(ctx: BenchContext) -> list[Scenario]:
    _seed_users()
    admin = ctx.create_user(ADMIN_EMAIL, PASSWORD, roles=("admin",))
    headers = {"Cookie": _session_cookie(admin)}
    return [
        Scenario(name="GET /admin/ (dashboard, cached)", path="/admin/", headers=headers),
        Scenario(
            name="GET /admin/?refresh=1 (dashboard computed)",
            path="/admin/?refresh=1",
            headers=headers,
        ),
        Scenario(
            name="GET /admin/accounts/user/ (50 of 10k)",
            path="/admin/accounts/user/",
            headers=headers,
        ),
        Scenario(
            name="GET user list filtered + searched",
            path="/admin/accounts/user/?status__exact=suspended&q=bench",
            headers=headers,
        ),
    ]
