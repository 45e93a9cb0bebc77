"""Audit: reading a large log, what a request pays for its audit write, sealing throughput.

Seeds the log up to BENCH_AUDIT_EVENTS events (default 1,000,000; only the missing ones are
inserted, with plain SQL) and seals them, then drives the read endpoints with wrk.

Offline figures:
- what an audited request pays, end to end: ``PATCH /api/v1/users/me`` with a new display
  name on every request (one ``user.updated`` event each, with encrypted personal values),
  driven by wrk against the real server and, in the same run, against a second server that
  differs only in that ``record()`` does nothing (``bench/unaudited_wsgi.py``); a third
  variant repeats the audited run with the sealer working meanwhile. Each round runs the
  three back to back; the extra cost is the median of the rounds' differences, printed with
  the events written next to the responses served (the audited runs also count the requests
  in flight when wrk stopped).
- ``record()`` cost: the extra time a request's transaction spends because it writes one
  audit event (PostgreSQL, a realistic event with request context, changes and metadata),
  measured as the difference between the same transaction with and without the event.
- sealing throughput (events/s) on fresh events, and the full chain check (events/s).
"""

from __future__ import annotations

import os
import statistics
import threading
import time

from bench.harness import PROCFILE_APP, BenchContext, Result, Scenario, Server, run_wrk

TARGET = int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000"))
MEMBER = "audit-bench-member@example.com"
ADMIN = "audit-bench-admin@example.com"
PASSWORD = "bench-password-for-audit-1"

_figures: dict[str, str] = {}

_ACTIONS = [
    "auth.login.succeeded",
    "auth.login.failed",
    "auth.logout",
    "auth.token.refreshed",
    "auth.password.changed",
    "auth.mfa.enabled",
    "session.revoked",
    "apikey.created",
    "apikey.revoked",
    "user.updated",
    "user.created",
    "slot.created",
    "slot.updated",
    "slot.status.changed",
    "slot.credentials.changed",
    "slot.released",
    "usage.quota.exceeded",
    "admin.accounts.user.updated",
    "admin.slots.slot.updated",
    "user.roles.changed",
]


def _seed(count: int, *, member_id: str, days: int = 60) -> None:
    """``count`` unsealed events over the last ``days``, 1 in 5000 about the member."""
    from django.db import connection

    actions = "ARRAY[" + ",".join(f"'{a}'" for a in _ACTIONS) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO audit_auditevent (uuid, occurred_at, action, actor_type, actor_id,
                actor_display, target_type, target_id, ip, user_agent, request_id, changes,
                metadata, seal)
            SELECT gen_random_uuid(),
                   now() - make_interval(days => %(days)s)
                         + (i * (%(days)s * 86400.0 / %(count)s)) * interval '1 second',
                   ({actions})[1 + i %% 20],
                   'user',
                   CASE WHEN i %% 5000 = 0 THEN %(member)s
                        ELSE md5('actor' || (i %% 20000)::text)::uuid::text END,
                   'user' || (i %% 20000)::text || '@example.com',
                   CASE WHEN i %% 3 = 0 THEN 'slot' ELSE 'user' END,
                   md5('target' || (i %% 50000)::text)::uuid::text,
                   ('10.' || (i %% 250)::text || '.' || (i %% 200)::text || '.7')::inet,
                   'Mozilla/5.0 (X11; Linux x86_64) bench',
                   md5(i::text),
                   jsonb_build_object('display_name', jsonb_build_array('old', 'new')),
                   jsonb_build_object('door', 'api', 'n', i),
                   ''
            FROM generate_series(1, %(count)s) AS i
            """,  # noqa: S608
            {"days": days, "count": count, "member": member_id},
        )
        cursor.execute("ANALYZE audit_auditevent")


def _seal_all() -> tuple[int, float]:
    from audit.services import events_seal

    total, started = 0, time.perf_counter()
    while True:
        sealed = events_seal(time_budget=120)
        total += sealed
        if sealed == 0:
            break
    return total, time.perf_counter() - started


def setup(ctx: BenchContext) -> list[Scenario]:
    from audit.models import AuditEvent

    member = ctx.create_user(MEMBER, PASSWORD, roles=("member",))
    ctx.create_user(ADMIN, PASSWORD, roles=("admin",))
    existing = AuditEvent.objects.count()
    if existing < TARGET:
        started = time.perf_counter()
        _seed(TARGET - existing, member_id=str(member.pk))
        _figures["seeded"] = f"{TARGET - existing} events in {time.perf_counter() - started:.1f}s"
    sealed, seconds = _seal_all()
    if sealed >= 10_000:
        _figures["sealing throughput (backlog)"] = (
            f"{sealed / seconds:,.0f} events/s ({sealed} events in {seconds:.1f}s)"
        )
    member_token = ctx.jwt_for(MEMBER, PASSWORD)
    admin_token = ctx.jwt_for(ADMIN, PASSWORD)
    as_member = {"Authorization": f"Bearer {member_token}"}
    as_admin = {"Authorization": f"Bearer {admin_token}"}
    some_actor = AuditEvent.objects.exclude(actor_id=str(member.pk)).values_list(
        "actor_id", flat=True
    )[:1][0]
    total = AuditEvent.objects.count()
    return [
        Scenario(
            name=f"audit events: member's own log ({total // 1000}k)",
            path="/api/v1/audit/events",
            headers=as_member,
        ),
        Scenario(
            name="audit events: admin, newest 50",
            path="/api/v1/audit/events",
            headers=as_admin,
        ),
        Scenario(
            name="audit events: admin, action=auth. prefix",
            path="/api/v1/audit/events?action=auth.",
            headers=as_admin,
        ),
        Scenario(
            name="audit events: admin, actor filter",
            path=f"/api/v1/audit/events?actor={some_actor}",
            headers=as_admin,
        ),
        Scenario(
            name="audit events: admin, action + since",
            path="/api/v1/audit/events?action=slot.updated&since=2020-01-01T00:00:00Z",
            headers=as_admin,
        ),
    ]


def _record_cost(rounds: int = 3000) -> dict[str, str]:
    """Same transaction (a row lock + an update, like a service), with and without record()."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import RequestFactory

    from audit.services import record

    user = get_user_model().objects.get(email=MEMBER)
    request = RequestFactory().patch(
        "/api/v1/users/me",
        HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) bench",
        REMOTE_ADDR="198.51.100.7",
    )
    request.user = user
    request.request_id = "bench-request-id-0123456789abcdef"
    table = user._meta.db_table

    def service(audited: bool) -> tuple[float, float]:
        started = time.perf_counter()
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET department = department WHERE id = %s",  # noqa: S608
                    [user.pk],
                )
            inner = 0.0
            if audited:
                t = time.perf_counter()
                record(
                    action="user.updated",
                    actor=user,
                    target=user,
                    request=request,
                    changes={"display_name": ["Old Name", "New Name"], "phone": ["", "+4412"]},
                    metadata={"door": "api", "fields": ["display_name", "phone"]},
                )
                inner = time.perf_counter() - t
        return time.perf_counter() - started, inner

    for _ in range(200):  # warm up connections, caches, prepared plans
        service(True)
        service(False)
    plain, audited, calls = [], [], []
    for _ in range(rounds):
        plain.append(service(False)[0])
        total, inner = service(True)
        audited.append(total)
        calls.append(inner)
    ms = 1000.0
    extra = statistics.mean(audited) - statistics.mean(plain)
    calls.sort()
    return {
        "record() in a request transaction: extra per request (mean)": f"{extra * ms:.3f} ms",
        "record() call itself p50 / p95 / p99": (
            f"{calls[len(calls) // 2] * ms:.3f} / {calls[int(len(calls) * 0.95)] * ms:.3f}"
            f" / {calls[int(len(calls) * 0.99)] * ms:.3f} ms"
        ),
        "same transaction without / with the event (mean)": (
            f"{statistics.mean(plain) * ms:.3f} / {statistics.mean(audited) * ms:.3f} ms"
        ),
    }


# Every request sets a display name never used before (thread id + counter), so each one
# changes the row and writes one event; the baseline does the same UPDATE and no event.
# Requests go round the writers' tokens, so they do not queue on one user's row lock.
_NEW_NAME_EACH_REQUEST = """
local tokens = {%(tokens)s}
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
request = function()
  counter = counter + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[(counter + tid * 7) %% #tokens + 1]
  local body = string.format('{"display_name": "Bench %%d-%%d"}', tid, counter)
  return wrk.format(nil, nil, nil, body)
end
"""

_WRITERS = 16
# Short runs, many rounds: the difference sought (under a millisecond) is smaller than the
# drift between two long runs on a shared 2-core machine, so each round runs every variant
# back to back (in a rotating order) and the figure is the median of the rounds' differences.
_ROUNDS = 10


def _median(results: list[Result], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in results)


def _median_gap(a: list[Result], b: list[Result], attr: str) -> float:
    return statistics.median(getattr(x, attr) - getattr(y, attr) for x, y in zip(a, b, strict=True))


def _endpoint_cost(ctx: BenchContext) -> dict[str, str]:
    """The audited endpoint on the real server and on the no-audit baseline, alternately."""
    from audit.models import AuditEvent

    writers = [f"audit-bench-writer-{i}@example.com" for i in range(_WRITERS)]
    writer_ids = [str(ctx.create_user(email, PASSWORD, roles=("member",)).pk) for email in writers]
    tokens = ", ".join(f'"{ctx.jwt_for(email, PASSWORD)}"' for email in writers)
    scenario = Scenario(
        name="PATCH /users/me, new display name",
        path="/api/v1/users/me",
        method="PATCH",
        body="{}",
        lua=_NEW_NAME_EACH_REQUEST % {"tokens": tokens},
    )

    def events_now() -> int:
        return AuditEvent.objects.filter(action="user.updated", target_id__in=writer_ids).count()

    seconds = max(3, ctx.duration // 3)

    def run(server: Server, connections: int) -> tuple[Result, int]:
        before = events_now()
        result = run_wrk(server, scenario, connections, seconds)
        time.sleep(1)  # requests still in flight when wrk stopped finish and commit
        return result, events_now() - before

    def run_while_sealing(server: Server, connections: int) -> tuple[Result, int]:
        """The audited run with the sealer linking the new events every second meanwhile
        (beat runs it every 5 s), to show that sealing does not hold the writers up."""
        from django.db import connection

        from audit.services import events_seal

        stop = threading.Event()

        def sealer() -> None:
            try:
                while not stop.wait(1.0):
                    events_seal()
            finally:
                connection.close()

        thread = threading.Thread(target=sealer, daemon=True)
        thread.start()
        try:
            return run(server, connections)
        finally:
            stop.set()
            thread.join()

    baseline = Server(
        ctx.server.env,
        workers=ctx.server.workers,
        worker_class=ctx.server.worker_class,
        app=(
            "bench.unaudited_wsgi:asgi_application"
            if ctx.server.app == PROCFILE_APP
            else "bench.unaudited_wsgi:application"
        ),
    )
    baseline.start()
    variants = (
        ("audited", ctx.server, run),
        ("audited, sealer running", ctx.server, run_while_sealing),
        ("baseline (no audit write)", baseline, run),
    )
    figures: dict[str, str] = {}
    cpu, db = "server_cpu_ms_per_request", "db_cpu_ms_per_request"
    try:
        for connections in ctx.connections:
            runs: dict[str, list[Result]] = {label: [] for label, _, _ in variants}
            written = dict.fromkeys(runs, 0)
            for turn in range(_ROUNDS):
                for label, server, how in variants[turn % 3 :] + variants[: turn % 3]:
                    result, events = how(server, connections)
                    runs[label].append(result)
                    written[label] += events
            served = {k: sum(r.requests - r.non_2xx for r in v) for k, v in runs.items()}
            errors = sum(r.non_2xx + r.errors for v in runs.values() for r in v)
            for label, results in runs.items():
                figures[f"audited endpoint c={connections}: {label}"] = (
                    f"{_median(results, 'rps'):,.0f} req/s, p50 {_median(results, 'p50_ms'):.2f} "
                    f"/ p95 {_median(results, 'p95_ms'):.2f} ms, "
                    f"cpu/req {_median(results, cpu):.2f} ms, "
                    f"db cpu/req {_median(results, db):.2f} ms "
                    f"({written[label]:,} events written for {served[label]:,} responses)"
                )
            b = runs["baseline (no audit write)"]
            for label in ("audited", "audited, sealer running"):
                a = runs[label]
                figures[f"audited endpoint c={connections}: extra per request, {label}"] = (
                    f"p50 {_median_gap(a, b, 'p50_ms'):+.2f} ms, "
                    f"p95 {_median_gap(a, b, 'p95_ms'):+.2f} ms, "
                    f"cpu {_median_gap(a, b, cpu):+.2f} ms in Roster "
                    f"+ {_median_gap(a, b, db):+.2f} ms in PostgreSQL "
                    f"(median of {_ROUNDS} rounds' differences, {seconds}s runs; "
                    f"errors and non-2xx in all runs: {errors})"
                )
    finally:
        baseline.stop()
    return figures


def offline(ctx: BenchContext) -> dict[str, str]:
    from audit.selectors import chain_verify
    from audit.services import events_seal

    figures = dict(_figures)
    figures.update(_endpoint_cost(ctx))
    figures.update(_record_cost())
    events_seal()

    from accounts.models import User

    member = User.objects.get(email=MEMBER)
    fresh = 50_000
    _seed(fresh, member_id=str(member.pk), days=1)
    started = time.perf_counter()
    sealed = 0
    while sealed < fresh:
        count = events_seal(time_budget=120)
        if count == 0:
            break
        sealed += count
    seconds = time.perf_counter() - started
    figures["sealing throughput (fresh events)"] = (
        f"{sealed / seconds:,.0f} events/s ({sealed} in {seconds:.2f}s)"
    )

    started = time.perf_counter()
    result = chain_verify()
    seconds = time.perf_counter() - started
    figures["chain verify"] = (
        f"ok={result.ok} {result.checked:,} links in {seconds:.1f}s "
        f"({result.checked / seconds:,.0f} events/s)"
    )
    return figures
