"""Account pages: server-rendered HTML for a signed-in browser session.

Seeds one member with a few slots and a day of usage events (through the services), and a
browser session made the way Django's test client does it (the bench process shares the
server's database and SECRET_KEY). wrk fetches:
- GET /account/ (overview);
- GET /account/slots/ (5 live slots);
- GET /account/usage/ (exact totals for three periods, the 24 h chart and the quota bars).
"""

from __future__ import annotations

from datetime import timedelta

from bench.harness import BenchContext, Scenario

EMAIL = "pages-bench@example.com"
PASSWORD = "bench-password-for-pages-1"


def _session_cookie(user) -> str:
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def _seed(user) -> None:
    from django.utils import timezone

    from slots import services as slot_services
    from slots.models import Slot
    from usage.models import UsageEvent
    from usage.services import usage_events_ingest

    have = set(Slot.objects.filter(owner=user).values_list("name", flat=True))
    for i in range(5):
        if f"page-{i}" not in have:
            slot_services.slot_create(
                owner=user,
                type="agent",
                name=f"page-{i}",
                config={"runtime": "node20"},
                actor=user,
            )
    if not UsageEvent.objects.filter(user=user).exists():
        now = timezone.now()
        events = [
            {
                "meter": "api.requests",
                "quantity": 1,
                "occurred_at": (now - timedelta(minutes=3 * i)).isoformat(),
            }
            for i in range(480)
        ]
        usage_events_ingest(caller=user, body={"events": events})


def setup(ctx: BenchContext) -> list[Scenario]:
    user = ctx.create_user(EMAIL, PASSWORD)
    _seed(user)
    cookie = {"Cookie": _session_cookie(user)}
    return [
        Scenario(name="page /account/ (session)", path="/account/", headers=cookie),
        Scenario(name="page /account/slots/ (5 slots)", path="/account/slots/", headers=cookie),
        Scenario(name="page /account/usage/ (480 events)", path="/account/usage/", headers=cookie),
    ]
