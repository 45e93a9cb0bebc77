"""Audit sealing under SIGKILLs.

While a client changes its profile over and over (one ``user.updated`` event per request),
``DRILL_AUDIT_KILLS`` times (default 5): a backlog of 20,000 unsealed events is added
(the benchmark's SQL seeder), ``audit.seal_events`` is queued, and the Celery worker caught
holding the chain row (a lock on ``audit_auditchain`` in an open transaction, traced to its
process through the connection's port) is SIGKILLed with its whole pool and restarted.
Then sealing runs to the end and ``manage.py audit_verify`` checks the whole chain.

Goals: every kill lands inside a sealing transaction; afterwards every event is sealed, the
chain's links are 1..N without a gap, and ``audit_verify`` reports it intact (exit 0).
"""

from __future__ import annotations

import json
import os
import time
import uuid

from bench.drills.common import Job, Load, Report
from bench.drills.deployment import Deployment, wait_until

KILLS = int(os.environ.get("DRILL_AUDIT_KILLS", "5"))
BACKLOG = 20_000

_SEALER = """
SELECT a.client_port, a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.relation = 'audit_auditchain'::regclass AND l.granted AND a.xact_start IS NOT NULL
  AND a.pid <> pg_backend_pid()
"""


def _kill_a_sealer(deployment: Deployment, conn, timeout: float = 30) -> str | None:
    deadline = time.monotonic() + timeout
    queued = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - queued > 2:
            deployment.send_task("audit.seal_events")
            queued = time.monotonic()
        for port, state in conn.execute(_SEALER).fetchall():
            worker = deployment.worker_of_backend(port)
            if worker is not None:
                worker.kill()
                worker.start()
                deployment.wait_worker_ready(worker)
                return f"{worker.name} ({state})"
        time.sleep(0.02)
    return None


def run(deployment: Deployment) -> Report:
    from django.db import close_old_connections, connection

    from audit.models import AuditChain, AuditEvent
    from bench.scenarios.audit import _seed

    report = Report("audit")
    close_old_connections()
    email = f"drill-audit-{uuid.uuid4().hex[:8]}@example.com"
    user = deployment.user(email)
    jwt = deployment.login(email)["access"]
    job = Job(
        "PATCH /users/me",
        "PATCH",
        "/api/v1/users/me",
        {"Authorization": f"Bearer {jwt}"},
        lambda n: f'{{"display_name": "Drill {n}"}}',
    )
    kills: list[str] = []
    with Load(deployment.base_url, [job]) as load, deployment.pg.connect() as conn:
        for _ in range(KILLS):
            _seed(BACKLOG, member_id=str(user.pk), days=1)
            connection.close()
            killed = _kill_a_sealer(deployment, conn)
            if killed:
                kills.append(killed)
        time.sleep(1)
    audited = [s for s in load.samples if s.ok]
    report.figure(
        "traffic",
        f"{len(audited)} audited profile changes during the kills, "
        f"{sum(not s.ok for s in load.samples)} failed",
    )
    report.check(
        "Celery workers SIGKILLed while holding the chain row",
        f"{len(kills)}: {', '.join(kills)}",
        str(KILLS),
        len(kills) == KILLS,
    )

    def all_sealed() -> bool:
        if AuditEvent.objects.filter(seq__isnull=True).exists():
            deployment.send_task("audit.seal_events")
            return False
        return True

    close_old_connections()
    wait_until(all_sealed, timeout=180, interval=2, what="every audit event sealed")
    total = AuditEvent.objects.count()
    linked = AuditEvent.objects.filter(seq__isnull=False).count()
    chain = AuditChain.objects.get(pk=1)
    report.check(
        "events / sealed links / chain head",
        f"{total:,} / {linked:,} / {chain.head_seq:,}",
        "all equal",
        total == linked == chain.head_seq,
    )
    started = time.monotonic()
    verify = deployment.manage("audit_verify")
    seconds = time.monotonic() - started
    try:
        result = json.loads(verify.stdout)
    except ValueError:
        result = {"output": verify.stdout[-500:], "errors": verify.stderr[-1500:]}
    report.figure(f"manage.py audit_verify ({seconds:.1f}s)", json.dumps(result))
    report.check(
        "manage.py audit_verify",
        f"exit {verify.returncode}",
        "exit 0, chain intact",
        verify.returncode == 0 and result.get("ok") is not False,
    )
    return report
