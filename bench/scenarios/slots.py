"""Slots: the list a client polls and the heartbeat a running slot sends.

Seeds one member holding 50 live workspace slots (half with encrypted credentials, so the
list joins the credential summary) through the slot services, once; later runs reuse them.

wrk scenarios:
- GET /api/v1/slots (first page = all 50 slots) with a JWT, and with an API key (slots:read);
- POST /api/v1/slots/{id}/heartbeat with a JWT: the steady state of a slot reporting in, where
  the cache gate lets at most one write through per slot per 30 s, so almost every request
  is answered without a database write;
- GET /api/v1/auth/status with the same JWT: the cost of authentication alone, to read the
  two above against.
"""

from __future__ import annotations

from bench.harness import BenchContext, Scenario

EMAIL = "slots-bench-owner@example.com"
PASSWORD = "bench-password-for-slots-1"
SLOTS = 50


def _seed(user) -> list[str]:
    from slots import services
    from slots.models import Slot

    if user.slot_limit is None or user.slot_limit < SLOTS:
        user.slot_limit = SLOTS
        user.save(update_fields=["slot_limit"])
    live = Slot.objects.filter(owner=user).exclude(status=Slot.Status.RELEASED)
    have = set(live.values_list("name", flat=True))
    for i in range(SLOTS):
        name = f"bench-{i:02d}"
        if name in have:
            continue
        slot = services.slot_create(
            owner=user,
            type="workspace",
            name=name,
            config={"cpu": 1 + i % 8, "memory_gb": 2 ** (i % 6), "region": "eu-west"},
            actor=user,
        )
        if i % 2 == 0:
            services.slot_credentials_set(
                slot=slot,
                credentials={"kind": "api_key", "api_key": f"bench-secret-key-{i:04d}-xyz"},
                actor=user,
            )
    return [str(pk) for pk in live.order_by("name").values_list("id", flat=True)]


def setup(ctx: BenchContext) -> list[Scenario]:
    user = ctx.create_user(EMAIL, PASSWORD)
    slot_ids = _seed(user)
    token = ctx.jwt_for(EMAIL, PASSWORD)
    key = ctx.api_key_for(EMAIL, PASSWORD, ["slots:read", "slots:write"], name="slots-bench")
    jwt = {"Authorization": f"Bearer {token}"}
    status, body = ctx.request("GET", "/api/v1/slots", headers=jwt)
    if status != 200 or body.get("count") != SLOTS or len(body["results"]) != SLOTS:
        raise RuntimeError(f"slots bench seed is off: {status} {body.get('count')}")
    return [
        Scenario(name="slots list, 50 slots (JWT)", path="/api/v1/slots", headers=jwt),
        Scenario(
            name="slots list, 50 slots (API key)",
            path="/api/v1/slots",
            headers={"Authorization": f"Bearer {key}"},
        ),
        Scenario(
            name="slot heartbeat (JWT)",
            method="POST",
            path=f"/api/v1/slots/{slot_ids[0]}/heartbeat",
            headers=jwt,
        ),
        Scenario(name="auth status (JWT), baseline", path="/api/v1/auth/status", headers=jwt),
    ]
