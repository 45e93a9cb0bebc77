"""PostgreSQL restart and stop under load.

Clients read (``GET /api/v1/users/me`` with a JWT, ``GET /api/v1/slots``) and write (one
usage event per request, with an API key) back to back while PostgreSQL is restarted
(``pg_ctl restart -m fast``) and then stopped for ``DRILL_PG_DOWN_SECONDS`` (default 6)
and started again. Roster itself is never restarted.

Goals: every request answered during the outages is a success or 503
``service_unavailable`` with ``Retry-After`` (no 500, no dropped connection), quickly;
every request started after PostgreSQL is back succeeds; the web and Celery processes are
the ones started before the drill; afterwards the workers roll up and seal what was written
during the drill (Celery recovered by itself).
"""

from __future__ import annotations

import os
import time
import uuid

import httpx

from bench.drills.common import Job, Load, Report, details, ms, outcomes, percentile
from bench.drills.deployment import PASSWORD, Deployment, wait_until

DOWN_SECONDS = float(os.environ.get("DRILL_PG_DOWN_SECONDS", "6"))


def run(deployment: Deployment) -> Report:
    from django.db import close_old_connections, connections

    from audit.models import AuditEvent
    from usage.models import UsageEvent

    report = Report("postgres")
    close_old_connections()
    email = f"drill-pg-{uuid.uuid4().hex[:8]}@example.com"
    user = deployment.user(email)
    jwt = deployment.login(email)["access"]
    key = deployment.helpers().api_key_for(email, PASSWORD, ["usage:read", "usage:write"])
    as_jwt = {"Authorization": f"Bearer {jwt}"}
    run_id = uuid.uuid4().hex[:8]
    jobs = [
        Job("read /users/me", "GET", "/api/v1/users/me", as_jwt),
        Job("read /users/me", "GET", "/api/v1/users/me", as_jwt),
        Job("read /slots", "GET", "/api/v1/slots", as_jwt),
        Job(
            "write usage event",
            "POST",
            "/api/v1/usage/events",
            {"Authorization": f"Bearer {key}"},
            lambda n: f'{{"meter": "api.requests", "idempotency_key": "pg-{run_id}-{n}"}}',
        ),
    ]
    processes_before = {p.name: p.group_pids() for p in deployment.processes}
    outages: list[tuple[str, float, float]] = []
    ready_probe: tuple[int, float, list] | None = None
    with Load(deployment.base_url, jobs) as load:
        time.sleep(3)
        warm_until = time.monotonic()

        started = time.monotonic()
        deployment.pg.restart("fast")
        outages.append(("restart", started, time.monotonic()))
        time.sleep(5)

        started = time.monotonic()
        deployment.pg.stop("fast")
        time.sleep(1)
        probe_started = time.monotonic()
        r = httpx.get(deployment.base_url + "/health/ready", timeout=30)
        ready_probe = (r.status_code, time.monotonic() - probe_started, r.json().get("down"))
        time.sleep(max(0.0, DOWN_SECONDS - 1))
        deployment.pg.start()
        outages.append(("stop", started, time.monotonic()))
        time.sleep(6)
        ended = time.monotonic()

    report.figure(
        "load",
        f"{len(load.samples)} requests by {len(jobs)} clients over {ended - warm_until:.0f}s",
    )
    warm = load.within(0, warm_until)
    report.check(
        "failures before the outages",
        f"{sum(not s.ok for s in warm)} ({details([s for s in warm if not s.ok], warm_until)})",
        "0",
        all(s.ok for s in warm),
    )
    for name, start, end in outages:
        during = load.between(start, end)
        unclean = [s for s in during if not s.ok and not s.clean_outage]
        answered = [s for s in during if s.clean_outage]
        report.figure(f"{name}: PostgreSQL down for", ms(end - start))
        report.figure(f"{name}: answers meanwhile", outcomes(during))
        report.check(
            f"{name}: answers other than success or 503 service_unavailable + Retry-After",
            len(unclean),
            "0",
            not unclean,
        )
        if name == "stop":
            report.check(
                f"{name}: 503s answered while PostgreSQL was down",
                len(answered),
                "at least 1",
                bool(answered),
            )
        if answered:
            latencies = [s.seconds for s in answered]
            report.check(
                f"{name}: 503 latency p50 / max",
                f"{ms(percentile(latencies, 50))} / {ms(max(latencies))}",
                "max under 2000 ms",
                max(latencies) < 2.0,
            )
    status, seconds, down = ready_probe
    report.figure("/health/ready while stopped", f"{status} in {ms(seconds)}, down: {down}")
    after = load.within(outages[0][2], outages[1][1]) + load.within(outages[1][2])
    failures = [s for s in after if not s.ok]
    report.check(
        "failures among requests started after PostgreSQL was back",
        f"{len(failures)} of {len(after)} ({details(failures, outages[0][2], outages[1][2])})",
        "0",
        not failures,
    )
    processes_after = {p.name: p.group_pids() for p in deployment.processes}
    report.check(
        "Roster processes restarted or lost",
        [n for n in processes_before if processes_before[n] != processes_after[n]],
        "none",
        processes_before == processes_after,
    )
    connections.close_all()

    def caught_up() -> bool:
        rolled = not UsageEvent.objects.filter(user=user, rolled_at__isnull=True).exists()
        sealed = not AuditEvent.objects.filter(seq__isnull=True).exists()
        return rolled and sealed

    started = time.monotonic()
    try:
        wait_until(caught_up, timeout=60, interval=1, what="rollups and sealing")
        caught = True
    except TimeoutError:
        caught = False
    report.check(
        "Celery rolled up and sealed everything written during the drill (no restart)",
        f"{'yes' if caught else 'no'}, within {time.monotonic() - started:.0f}s",
        "yes, within 60s",
        caught,
    )
    return report
