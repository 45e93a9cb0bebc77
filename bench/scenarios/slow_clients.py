"""Slow clients, and what the web layout costs the hot path.

Offline figures, for the Procfile's layout (gunicorn's asyncio worker reading requests in
full before Roster's WSGI application runs, config/buffered_wsgi.py) and for gunicorn's
sync worker (the layout before it), each on its own server started here with the run's
worker count:
- the hot path: ``GET /health`` and ``GET /api/v1/users/me`` (JWT, API key) driven by wrk
  at BENCH_SLOW_CONNECTIONS connections (default 16), one layout after the other per
  round, BENCH_SLOW_ROUNDS rounds (default 2): req/s, p50/p95 and server CPU per request;
- slow clients: 50 sockets (half trickling their headers, half a body declared 100 kB),
  one byte per socket every 2 s; meanwhile ``/health`` and ``/users/me`` (JWT, API key) are
  read one after the other for 10 s (or until one read has waited 40 s), and their
  latency is compared with the same reads before the slow clients came. The goal: no read
  delayed by more than 100 ms.
"""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request

from bench.harness import PROCFILE_LAYOUT, BenchContext, Scenario, Server, run_wrk

EMAIL = "slow-clients-bench@example.com"
PASSWORD = "bench-password-for-slow-clients-1"
SLOW_SOCKETS = 50
TRICKLE_SECONDS = 2.0
LAYOUTS = (("procfile", PROCFILE_LAYOUT), ("sync (before)", "sync"))


class _Trickle:
    def __init__(self, port: int, count: int):
        self.sockets = []
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n % 2:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            else:
                sock.sendall(
                    b"POST /api/v1/usage/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n["
                )
            self.sockets.append(sock)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(TRICKLE_SECONDS):
            for sock in self.sockets:
                try:
                    sock.send(b"a")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def _read(base: str, path: str, headers: dict[str, str]) -> tuple[float, int]:
    request = urllib.request.Request(base + path, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=40) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0
    return (time.monotonic() - started) * 1000, status


def _reads(base: str, targets, seconds: float) -> dict[str, list[tuple[float, int]]]:
    out = {name: [] for name, _, _ in targets}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, path, headers in targets:
            out[name].append(_read(base, path, headers))
    return out


def _slow_clients(server: Server, targets) -> dict[str, str]:
    before = _reads(server.base_url, targets, 3)
    trickle = _Trickle(server.port, SLOW_SOCKETS)
    try:
        time.sleep(1)
        during = _reads(server.base_url, targets, 10)
    finally:
        trickle.close()
    figures = {}
    for name, _, _ in targets:
        base_ms = statistics.median(ms for ms, _ in before[name])
        times = [ms for ms, _ in during[name]]
        failed = sum(1 for _, status in during[name] if status != 200)
        figures[name] = (
            f"{len(times)} reads, p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms"
            f" (before: p50 {base_ms:.1f} ms), worst delay {max(times) - base_ms:.1f} ms"
            f" [goal ≤ 100 ms], not 200: {failed}"
        )
    return figures


def offline(ctx: BenchContext) -> dict[str, str]:
    ctx.create_user(EMAIL, PASSWORD, roles=("member",))
    jwt = {"Authorization": f"Bearer {ctx.jwt_for(EMAIL, PASSWORD)}"}
    key = {"X-API-Key": ctx.api_key_for(EMAIL, PASSWORD, ["profile:read"], name="slow")}
    targets = (
        ("GET /health", "/health", {}),
        ("GET /users/me (JWT)", "/api/v1/users/me", jwt),
        ("GET /users/me (API key)", "/api/v1/users/me", key),
    )
    connections = int(os.environ.get("BENCH_SLOW_CONNECTIONS", "16"))
    rounds = int(os.environ.get("BENCH_SLOW_ROUNDS", "2"))
    servers = {}
    figures: dict[str, str] = {}
    try:
        for label, layout in LAYOUTS:
            servers[label] = Server(ctx.server.env, workers=ctx.server.workers, worker_class=layout)
            servers[label].start()
        for round_ in range(1, rounds + 1):
            for name, path, headers in targets:
                for label, server in servers.items():
                    scenario = Scenario(name=name, path=path, headers=headers)
                    result = run_wrk(server, scenario, connections, ctx.duration)
                    print(f"[slow_clients] round {round_} {label:<13} {result.line()}", flush=True)
        for label, server in servers.items():
            for name, figure in _slow_clients(server, targets).items():
                figures[f"{label}: 50 slow clients, {name}"] = figure
    finally:
        for server in servers.values():
            server.stop()
    return figures
