"""Redis stop, freeze (SIGSTOP) and rollback to a snapshot.

Clients read ``GET /api/v1/users/me`` with a JWT back to back. Redis (cache, rate limits,
revocation, Celery broker) is stopped for 5 s, then frozen with SIGSTOP for 6 s. A user
signs out during the stop. Last, a user's session is made live in the cache, Redis is
snapshotted (SAVE), the user signs out, and Redis is restored from the snapshot, which
still holds the session's "live" marker and not its revocation.

Goals: during the stop and the freeze every answer is a success or a quick 503
``service_unavailable`` with ``Retry-After`` (max under 1 s; redis-py's own timeouts held
requests 5-15 s); ``/health/ready`` answers within 0.5 s while Redis is stopped or
frozen; sign-out during the stop answers
204 and holds (the access and refresh tokens are refused once Redis is back); every request
started after Redis is back (plus the fail-fast window of config.redis_connection) succeeds;
the restored snapshot revives no session (the signed-out token is refused every time);
Celery works again without a restart and logs no "Error on restarting Gossip".
"""

from __future__ import annotations

import time
import uuid

import httpx

from bench.drills.common import (
    Job,
    Load,
    Report,
    details,
    error_code,
    ms,
    outcomes,
    percentile,
)
from bench.drills.deployment import Deployment, wait_until

STOP_SECONDS = 5.0
FREEZE_SECONDS = 6.0


def _call(deployment, method, path, token=None, **kwargs) -> tuple[httpx.Response, float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    r = httpx.request(method, deployment.base_url + path, headers=headers, timeout=30, **kwargs)
    return r, time.monotonic() - started


def _ready(deployment) -> bool:
    try:
        r = httpx.get(deployment.base_url + "/health/ready", timeout=5)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def _grace() -> float:
    from config.redis_connection import UNREACHABLE_SECONDS

    return UNREACHABLE_SECONDS + 0.5


def _outage_checks(report: Report, load: Load, name: str, start: float, end: float) -> None:
    during = load.between(start, end)
    unclean = [s for s in during if not s.ok and not s.clean_outage]
    refused = [s for s in during if s.clean_outage]
    report.figure(f"{name}: answers meanwhile", outcomes(during))
    report.check(
        f"{name}: answers other than success or 503 service_unavailable + Retry-After",
        f"{len(unclean)} ({outcomes(unclean)})",
        "0",
        not unclean,
    )
    report.check(f"{name}: 503s answered", len(refused), "at least 1", bool(refused))
    if refused:
        latencies = [s.seconds for s in refused]
        report.check(
            f"{name}: 503 latency p50 / max",
            f"{ms(percentile(latencies, 50))} / {ms(max(latencies))}",
            "max under 1000 ms",
            max(latencies) < 1.0,
        )


def _ready_check(report: Report, deployment: Deployment, name: str, bound: float) -> None:
    r, seconds = _call(deployment, "GET", "/health/ready")
    down = r.json().get("down") if r.status_code == 503 else None
    report.check(
        f"{name}: /health/ready",
        f"{r.status_code} down={down} in {ms(seconds)}",
        f"503 naming the cache, within {ms(bound)}",
        r.status_code == 503 and "cache" in (down or []) and seconds < bound,
    )


def run(deployment: Deployment) -> Report:
    from django.db import close_old_connections

    from accounts.models import ApiSession
    from audit.models import AuditEvent

    report = Report("redis")
    close_old_connections()
    grace = _grace()
    names = {who: f"drill-redis-{who}-{uuid.uuid4().hex[:8]}@example.com" for who in "abc"}
    for email in names.values():
        deployment.user(email)
    reader = deployment.login(names["a"])
    leaver = deployment.login(names["b"])
    as_reader = {"Authorization": f"Bearer {reader['access']}"}
    jobs = [Job("read /users/me", "GET", "/api/v1/users/me", as_reader) for _ in range(3)]
    workers_before = {w.name: w.group_pids() for w in deployment.workers}
    web_before = deployment.web.group_pids()
    recovered_windows: list[tuple[float, float]] = []

    with Load(deployment.base_url, jobs) as load:
        time.sleep(3)
        warm = load.within(0, time.monotonic())
        report.check(
            "failures before the outages", sum(not s.ok for s in warm), "0", all(s.ok for s in warm)
        )

        # --- stop -----------------------------------------------------------------------
        stop_started = time.monotonic()
        deployment.redis.stop()
        time.sleep(1)
        r, seconds = _call(deployment, "POST", "/api/v1/auth/logout", leaver["access"])
        report.check(
            "stop: sign-out while Redis is down",
            f"{r.status_code} in {ms(seconds)}",
            "204",
            r.status_code == 204,
        )
        _ready_check(report, deployment, "stop", 0.5)
        time.sleep(max(0.0, STOP_SECONDS - (time.monotonic() - stop_started)))
        deployment.redis.start()
        stop_ended = time.monotonic()
        _outage_checks(report, load, "stop", stop_started, stop_ended)
        time.sleep(grace)
        back = time.monotonic()
        r, _ = _call(deployment, "GET", "/api/v1/users/me", leaver["access"])
        report.check(
            "stop: the signed-out access token once Redis is back",
            f"{r.status_code} {error_code(r)}",
            "401 token_revoked",
            r.status_code == 401,
        )
        r, _ = _call(
            deployment, "POST", "/api/v1/auth/token/refresh", json={"refresh": leaver["refresh"]}
        )
        report.check(
            "stop: the signed-out refresh token once Redis is back",
            f"{r.status_code} {error_code(r)}",
            "401",
            r.status_code == 401,
        )
        revoked = ApiSession.objects.filter(user__email=names["b"], revoked_at__isnull=False)
        report.check(
            "stop: the sign-out is in the database", revoked.exists(), "True", revoked.exists()
        )
        time.sleep(4)
        recovered_windows.append((back, time.monotonic()))

        # --- freeze ---------------------------------------------------------------------
        freeze_started = time.monotonic()
        deployment.redis.freeze()
        time.sleep(1)
        # A frozen server accepts connections and never answers: each check waits out its
        # read timeout (config/views.py waits 1.5 × READINESS_TIMEOUT for all of them at most).
        _ready_check(report, deployment, "freeze", 0.5)
        time.sleep(max(0.0, FREEZE_SECONDS - (time.monotonic() - freeze_started)))
        deployment.redis.thaw()
        freeze_ended = time.monotonic()
        _outage_checks(report, load, "freeze", freeze_started, freeze_ended)
        time.sleep(grace)
        back = time.monotonic()
        time.sleep(4)
        recovered_windows.append((back, time.monotonic()))

    after = [s for a, b in recovered_windows for s in load.within(a, b)]
    failures = [s for s in after if not s.ok]
    report.check(
        f"failures among requests started after Redis was back (+{grace:.1f}s fail-fast window)",
        f"{len(failures)} of {len(after)} (from Redis answering again: "
        f"{details(failures, stop_ended, freeze_ended)})",
        "0",
        not failures,
    )

    # --- rollback to a snapshot taken before a sign-out -------------------------------------
    victim = deployment.login(names["c"])
    for _ in range(4):  # both web workers see the session live and cache it so
        r, _ = _call(deployment, "GET", "/api/v1/users/me", victim["access"])
        assert r.status_code == 200, r.text
    live_markers = deployment.redis.cli("-n", "1", "--scan", "--pattern", "*sid-live*")
    snapshot = deployment.base / "redis-before-logout.rdb"
    deployment.redis.snapshot(snapshot)
    r, _ = _call(deployment, "POST", "/api/v1/auth/logout", victim["access"])
    report.check(
        "rollback: sign-out before the restore", r.status_code, "204", r.status_code == 204
    )
    r, _ = _call(deployment, "GET", "/api/v1/users/me", victim["access"])
    report.check(
        "rollback: token refused after sign-out", r.status_code, "401", r.status_code == 401
    )
    deployment.redis.restore(snapshot)
    restored_markers = deployment.redis.cli("-n", "1", "--scan", "--pattern", "*sid-live*")
    report.figure(
        "rollback: live markers in the snapshot / in Redis after the restore",
        f"{len(live_markers.split())} / {len(restored_markers.split())}",
    )
    wait_until(lambda: _ready(deployment), timeout=30, what="/health/ready after the restore")
    time.sleep(grace)
    answers = []
    for _ in range(20):
        r, _ = _call(deployment, "GET", "/api/v1/users/me", victim["access"])
        answers.append(f"{r.status_code} {error_code(r)}".strip())
        time.sleep(0.1)
    revived = sum(a.startswith("200") for a in answers)
    report.figure("rollback: answers to the signed-out token after the restore", set(answers))
    report.check("rollback: revived session (200s)", revived, "0", revived == 0)
    report.check(
        "rollback: refused with 401",
        sum(a.startswith("401") for a in answers),
        "20",
        all(a.startswith("401") for a in answers),
    )

    # --- the rest of Roster came through by itself ------------------------------------------
    close_old_connections()
    workers_after = {w.name: w.group_pids() for w in deployment.workers}
    report.check(
        "Roster processes restarted or lost",
        [n for n in workers_before if workers_before[n] != workers_after[n]]
        + ([] if web_before == deployment.web.group_pids() else ["web"]),
        "none",
        workers_before == workers_after and web_before == deployment.web.group_pids(),
    )
    started = time.monotonic()
    try:
        wait_until(
            lambda: not AuditEvent.objects.filter(seq__isnull=True).exists(),
            timeout=60,
            interval=1,
            what="sealing",
        )
        sealed = True
    except TimeoutError:
        sealed = False
    report.check(
        "Celery sealed the sign-outs' audit events after the outages (no restart)",
        f"{'yes' if sealed else 'no'}, within {time.monotonic() - started:.0f}s",
        "yes, within 60s",
        sealed,
    )
    gossip = sum(
        w.log.read_text(errors="replace").count("Error on restarting Gossip")
        for w in deployment.workers
    )
    report.check("Celery 'Error on restarting Gossip' log lines", gossip, "0", gossip == 0)
    return report
