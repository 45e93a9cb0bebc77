"""The authenticated hot path: what one member's client reads most, each with the same caller.

Seeds one member (a verified address, 10 live slots, 200 usage events) once; later runs reuse
them. Run it with rate limits on (the product's default, budgets raised so none trips) and
off to see what the limit costs: `BENCH_RATE_LIMITS=on .venv/bin/python bench/run.py --only
hot_path --connections 64`.

wrk scenarios:
- GET /api/v1/users/me with a JWT, and with an API key (profile:read);
- GET /api/v1/slots, GET /api/v1/usage/stats?period=30d and GET /api/v1/audit/events with
  the member's JWT: the other authenticated reads, which share the same per-request layers.

Offline: the CPU of one GET /users/me inside this process through Roster's WSGI application
(no gunicorn, no wrk), best of 5 rounds of 500, for JWT and API key — steadier than the wrk
figures on a machine where other work runs — and the SQL statements one warm request runs
(a JWT runs none on Redis: accounts.identity_cache).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from bench.harness import BenchContext, Scenario

EMAIL = "hot-path-bench-member@example.com"
PASSWORD = "bench-password-for-hot-path-1"
SLOTS = 10
EVENTS = 200
IN_PROCESS_ROUNDS, IN_PROCESS_REQUESTS = 5, 500

_state: dict = {}


def _seed(ctx: BenchContext, user, jwt: dict[str, str]) -> None:
    from allauth.account.models import EmailAddress

    from slots import services
    from slots.models import Slot
    from usage.models import UsageEvent

    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    if user.slot_limit is None or user.slot_limit < SLOTS:
        user.slot_limit = SLOTS
        user.save(update_fields=["slot_limit"])
    live = Slot.objects.filter(owner=user).exclude(status=Slot.Status.RELEASED)
    have = set(live.values_list("name", flat=True))
    for i in range(SLOTS):
        if f"hot-{i:02d}" not in have:
            services.slot_create(
                owner=user, type="workspace", name=f"hot-{i:02d}", config={"cpu": 1}, actor=user
            )
    if UsageEvent.objects.filter(user=user).count() < EVENTS:
        now = datetime.now(UTC)
        events = [
            {
                "meter": "api.requests",
                "quantity": 1 + i % 7,
                "occurred_at": (now - timedelta(minutes=30 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "idempotency_key": uuid.uuid4().hex,
            }
            for i in range(EVENTS)
        ]
        status, body = ctx.request("POST", "/api/v1/usage/events", {"events": events}, jwt)
        if status not in (200, 201, 202):
            raise RuntimeError(f"hot path usage seed failed: {status} {json.dumps(body)[:300]}")


def setup(ctx: BenchContext) -> list[Scenario]:
    user = ctx.create_user(EMAIL, PASSWORD, roles=("member",))
    jwt = {"Authorization": f"Bearer {ctx.jwt_for(EMAIL, PASSWORD)}"}
    _seed(ctx, user, jwt)
    key = {"X-API-Key": ctx.api_key_for(EMAIL, PASSWORD, ["profile:read"], name="hot-path")}
    _state["jwt"], _state["key"] = jwt, key
    for headers, path in ((jwt, "/api/v1/users/me"), (key, "/api/v1/users/me")):
        status, body = ctx.request("GET", path, headers=headers)
        if status != 200 or not body.get("email_verified"):
            raise RuntimeError(f"hot path check failed: {status} {body}")
    return [
        Scenario(name="me: GET /users/me (JWT)", path="/api/v1/users/me", headers=jwt),
        Scenario(name="me: GET /users/me (API key)", path="/api/v1/users/me", headers=key),
        Scenario(name="me: GET /slots (JWT, 10 slots)", path="/api/v1/slots", headers=jwt),
        Scenario(
            name="me: GET /usage/stats?period=30d (JWT)",
            path="/api/v1/usage/stats?period=30d",
            headers=jwt,
        ),
        Scenario(name="me: GET /audit/events (JWT)", path="/api/v1/audit/events", headers=jwt),
    ]


def _in_process_ms(
    application,
    headers: dict[str, str],
    rounds: int = IN_PROCESS_ROUNDS,
    requests: int = IN_PROCESS_REQUESTS,
) -> float:
    import io
    import time

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/users/me",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }

    def start_response(status, response_headers, exc_info=None):
        if not status.startswith("200"):
            raise RuntimeError(f"in-process GET /users/me answered {status}")

    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            response = application(dict(environ), start_response)
            b"".join(response)
            response.close()
        best = min(best, (time.process_time() - started) / requests)
    return best * 1000


def _warm_statements(application, headers: dict[str, str]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _in_process_ms(application, headers, rounds=1, requests=1)  # warm
    with CaptureQueriesContext(connection) as queries:
        _in_process_ms(application, headers, rounds=1, requests=1)
    return len(queries)


def offline(ctx: BenchContext) -> dict[str, str]:
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    figures = {}
    for label, name in (("JWT", "jwt"), ("API key", "key")):
        figures[f"SQL statements per warm GET /users/me ({label})"] = str(
            _warm_statements(application, _state[name])
        )
        figures[f"in-process CPU per GET /users/me ({label})"] = (
            f"{_in_process_ms(application, _state[name]):.3f} ms"
        )
    return figures
