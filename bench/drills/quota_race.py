"""The quota race: 30 slot creates at once against a live-slot limit of 3.

For each round a fresh user with ``slot_limit`` 3 (slots/services.py ``slot_create`` locks
the owner row) sends 30 ``POST /api/v1/slots`` released together by a barrier, half with a
JWT and half with an API key, each with its own name. Goal: exactly 3 created (201), the
other 27 refused with 409 ``slot_quota_exceeded``, nothing else, and 3 live slots in the
database.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import httpx

from bench.drills.common import Report, error_code
from bench.drills.deployment import PASSWORD, Deployment

ROUNDS = 3
CLIENTS = 30
LIMIT = 3


def _round(deployment: Deployment, number: int) -> tuple[Counter, int]:
    from slots.models import Slot

    email = f"drill-quota-{number}-{uuid.uuid4().hex[:8]}@example.com"
    user = deployment.user(email, slot_limit=LIMIT)
    jwt = deployment.login(email)["access"]
    key = deployment.helpers().api_key_for(email, PASSWORD, ["slots:read", "slots:write"])
    barrier = threading.Barrier(CLIENTS)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def create(index: int) -> None:
        token = jwt if index % 2 else key
        with httpx.Client(base_url=deployment.base_url, timeout=60) as client:
            barrier.wait()
            try:
                r = client.post(
                    "/api/v1/slots",
                    json={"type": "workspace", "name": f"race-{index}"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                outcome = f"{r.status_code} {error_code(r)}".strip()
            except httpx.HTTPError as exc:
                outcome = f"no answer ({type(exc).__name__})"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=create, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    live = Slot.objects.filter(owner=user).exclude(status="released").count()
    return outcomes, live


def run(deployment: Deployment) -> Report:
    report = Report("quota")
    report.figure(
        "setup", f"{ROUNDS} rounds × {CLIENTS} concurrent creates (JWT and API key), limit {LIMIT}"
    )
    for number in range(1, ROUNDS + 1):
        outcomes, live = _round(deployment, number)
        created = outcomes.get("201", 0)
        refused = outcomes.get("409 slot_quota_exceeded", 0)
        other = sum(outcomes.values()) - created - refused
        report.figure(f"round {number} answers", dict(outcomes))
        report.check(f"round {number} created", created, f"exactly {LIMIT}", created == LIMIT)
        report.check(
            f"round {number} refused with slot_quota_exceeded",
            refused,
            f"exactly {CLIENTS - LIMIT}",
            refused == CLIENTS - LIMIT,
        )
        report.check(f"round {number} other answers", other, "0", other == 0)
        report.check(f"round {number} live slots in the database", live, str(LIMIT), live == LIMIT)
    return report
