"""The notifications WebSocket: sockets held by one web process, and a team notification's
fan-out to every connected member.

Offline figures, on a server of its own started here: the Procfile's web layout with ONE
worker (so every socket is in the same process), on the run's PostgreSQL + Redis (the Redis
channel layer delivers):
- memory per socket: the worker's RSS once the sockets of BENCH_WS_SOCKETS members (default
  1000; a list such as ``300,1000`` runs each count on a fresh server) are connected and
  authenticated (JWT in the first message), minus its RSS before, divided by their number;
  sockets are opened 25 at a time, and opening stops at the first one refused (the count
  held is printed);
- fan-out: the lead of a team of BENCH_WS_MEMBERS (default 1,000) sends a team notification
  through ``notifications_send`` (the service behind ``POST /api/v1/notifications/send``)
  from this process; the time from the call until the last connected socket has received
  it, and until the first, until the rows were stored (audit included), until they were
  handed to the channel layer (the email settings read and the batch sent to the web
  processes, notifications.ws), BENCH_WS_REPEATS times (default 10):
  each repeat printed, then p50/p95/max over the repeats that reached every socket within
  60 s.

The members (``ws-fanout-NNNN@bench.example``), their organization and team are made once
and reused by later runs. In the bench run (``bench/run.py --only ws_fanout --no-peer``), or
on its own without wrk: ``.venv/bin/python bench/scenarios/ws_fanout.py`` (the same
environment: bench.harness.bench_environment, BENCH_DATABASE_URL, BENCH_REDIS_URL).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import harness  # noqa: E402
from bench.harness import PROCFILE_LAYOUT, BenchContext, Server  # noqa: E402

LEAD = "ws-fanout-lead@bench.example"
ORG_SLUG = "ws-fanout-bench"
TEAM = "Everyone"
OPEN_AT_ONCE = 25


def _member_email(n: int) -> str:
    return f"ws-fanout-{n:04d}@bench.example"


def _seed(members: int):
    """The lead, ``members`` members of the organization and of its team (made in bulk, once)."""
    from accounts.models import User
    from orgs.models import Membership, Organization, Role, Team, TeamMembership
    from orgs.services.organizations import org_create
    from orgs.services.teams import team_create

    lead = User.objects.filter(email=LEAD).first()
    if lead is None:
        lead = User.objects.create_user(email=LEAD)
        lead.emailaddress_set.create(email=LEAD, verified=True, primary=True)
    org = Organization.objects.filter(slug=ORG_SLUG).first() or org_create(
        name="WS fan-out bench", slug=ORG_SLUG, actor=lead
    )
    team = Team.objects.filter(organization=org, name=TEAM).first() or team_create(
        organization=org, actor=lead, name=TEAM
    )
    emails = [_member_email(n) for n in range(members)]
    have = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    User.objects.bulk_create(
        [User(email=e, password="!", display_name=e.split("@")[0]) for e in emails if e not in have]
    )
    users = list(User.objects.filter(email__in=emails).order_by("email"))
    joined = set(Membership.objects.filter(organization=org).values_list("user_id", flat=True))
    fresh = Membership.objects.bulk_create(
        [Membership(organization=org, user=u) for u in users if u.pk not in joined]
    )
    member_role = Role.objects.get(organization=None, key="member")
    Membership.roles.through.objects.bulk_create(
        [Membership.roles.through(membership_id=m.pk, role_id=member_role.pk) for m in fresh]
    )
    in_team = set(TeamMembership.objects.filter(team=team).values_list("user_id", flat=True))
    TeamMembership.objects.bulk_create(
        [TeamMembership(team=team, user=u) for u in users if u.pk not in in_team]
    )
    return lead, team, users


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _worker_pid(server: Server) -> int:
    children = [p for p in server.pids() if p != server.proc.pid]
    if len(children) != 1:
        raise RuntimeError(f"expected one worker, found {children}")
    return children[0]


async def _open(url: str, tokens: list[str]) -> tuple[list, str | None]:
    """Open and authenticate a socket per token, OPEN_AT_ONCE at a time, until all are open
    or one is refused: the sockets open, and what refused the first that failed."""
    from websockets.asyncio.client import connect

    async def one(token: str):
        ws = await connect(url, open_timeout=60, max_queue=None)
        await ws.send(json.dumps({"type": "auth", "token": token}))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if hello.get("type") != "connection":
            await ws.close()
            raise RuntimeError(f"{hello.get('code')}: {hello.get('detail')}")
        return ws

    sockets: list = []
    for start in range(0, len(tokens), OPEN_AT_ONCE):
        began = time.monotonic()
        batch = tokens[start : start + OPEN_AT_ONCE]
        opened = await asyncio.gather(*(one(t) for t in batch), return_exceptions=True)
        sockets += [ws for ws in opened if not isinstance(ws, BaseException)]
        failed = [exc for exc in opened if isinstance(exc, BaseException)]
        if len(tokens) > 1 and (failed or not len(sockets) % 100):
            print(
                f"[ws_fanout] {len(sockets)} sockets open "
                f"(last {len(batch)} in {time.monotonic() - began:.1f} s)",
                flush=True,
            )
        if failed:
            return sockets, f"{len(failed)} of the next {len(batch)} refused: {failed[0]}"
    return sockets, None


async def _fan_out(sockets, send) -> dict[str, float]:
    """``send(title)`` in a thread; milliseconds until the rows were stored, until they were
    handed to the channel layer (the call returned), until the first and the last socket had
    the notification (of those that got it within 60 s), and how many sockets got it."""
    title = f"Fan-out {time.monotonic_ns()}"
    arrivals: list[float] = []

    async def wait(ws):
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "notification" and (
                message["notification"]["title"] == title
            ):
                arrivals.append(time.monotonic())
                return

    waiting = [asyncio.ensure_future(wait(ws)) for ws in sockets]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    stored = await asyncio.to_thread(send, title)
    returned = time.monotonic()
    await asyncio.wait(waiting, timeout=60)
    for task in waiting:
        task.cancel()
    ms = 1000
    return {
        "stored": (stored - started) * ms,
        "handed": (returned - started) * ms,
        "first": (min(arrivals) - started) * ms if arrivals else float("nan"),
        "last": (max(arrivals) - started) * ms if arrivals else float("nan"),
        "received": len(arrivals),
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):.0f} ms, p95 {_percentile(values, 0.95):.0f} ms, "
        f"max {max(values):.0f} ms"
    )


async def _run(server: Server, tokens: list[str], send, repeats: int, members: int) -> dict:
    url = server.base_url.replace("http", "ws", 1) + "/ws/v1/notifications"
    pid = _worker_pid(server)
    # A first socket warms the worker up (imports, the channel layer's connection).
    warm, refused = await _open(url, tokens[:1])
    if refused:
        raise RuntimeError(refused)
    await warm[0].close()
    await asyncio.sleep(1)
    before = _rss_kib(pid)
    opened = time.monotonic()
    sockets, refused = await _open(url, tokens)
    opening = time.monotonic() - opened
    await asyncio.sleep(2)
    after = _rss_kib(pid)
    n = len(sockets)
    figures = {
        f"{n} sockets in one worker": (
            f"RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB, "
            f"{(after - before) / max(n, 1):.1f} KiB per socket; "
            f"opened and authenticated in {opening:.1f} s ({OPEN_AT_ONCE} at a time)"
        )
    }
    if refused:
        figures[f"held {n} of {len(tokens)}"] = refused
    runs = []
    try:
        for repeat in range(1, repeats + 1):
            run = await _fan_out(sockets, send)
            runs.append(run)
            print(
                f"[ws_fanout] {n} sockets, repeat {repeat}: stored {run['stored']:.0f} ms, "
                f"handed to the channel layer {run['handed']:.0f} ms, first socket "
                f"{run['first']:.0f} ms, last {run['last']:.0f} ms, "
                f"received by {run['received']} of {n}",
                flush=True,
            )
            await asyncio.sleep(0.5)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    complete = [r for r in runs if r["received"] == n]
    label = f"team notification to {members} members, {n} connected"
    for key, what in (
        ("last", "until the last socket has it"),
        ("first", "until the first socket has it"),
        ("stored", "until the rows were stored"),
        ("handed", "until handed to the channel layer"),
    ):
        values = [r[key] for r in complete]
        figures[f"{label}, {what}"] = _row(values) if values else "no repeat reached every socket"
    short = [str(r["received"]) for r in runs if r["received"] != n]
    figures[f"{label}, repeats"] = (
        f"{len(runs)}; every socket reached (within 60 s of the call) in "
        + (
            f"{len(complete)}; the others reached {', '.join(short)}"
            if short
            else f"{len(complete)}"
        )
    )
    return figures


def offline(ctx: BenchContext) -> dict[str, str]:
    from django.db import transaction

    from accounts.tokens import token_issue
    from notifications.services import notifications_send

    members = int(os.environ.get("BENCH_WS_MEMBERS", "1000"))
    counts = [int(c) for c in os.environ.get("BENCH_WS_SOCKETS", "1000").split(",")]
    repeats = int(os.environ.get("BENCH_WS_REPEATS", "10"))
    lead, team, users = _seed(members)

    def send(title: str) -> float:
        # The service inside an outer transaction: its rows are stored when it returns, and
        # they go to the channel layer when the outer transaction commits.
        with transaction.atomic():
            notifications_send(actor=lead, team_id=team.pk, title=title, message="Bench fan-out.")
            stored = time.monotonic()
        return stored

    figures: dict[str, str] = {}
    for count in counts:
        tokens = [token_issue(user=u).access for u in users[:count]]
        server = Server(ctx.server.env, workers=1, worker_class=PROCFILE_LAYOUT)
        server.start()
        try:
            figures.update(asyncio.run(_run(server, tokens, send, repeats, members)))
        finally:
            server.stop()
    return figures


def main() -> int:
    env = harness.bench_environment(harness.ROOT / "var" / "bench")
    harness.ensure_database(env)
    subprocess.run(  # noqa: S603 - our own venv
        [str(harness.VENV_BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"],
        cwd=harness.ROOT,
        env=env,
        check=True,
    )
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    print(f"ws_fanout: one gunicorn worker ({PROCFILE_LAYOUT}) on PostgreSQL + Redis", flush=True)
    for label, figure in offline(SimpleNamespace(server=SimpleNamespace(env=env))).items():
        print(f"[ws_fanout] {label}: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
