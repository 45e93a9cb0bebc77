"""Abusive clients: 50 MB bodies, 100,000-deep JSON, 50 slow sockets.

- 50 MB bodies to ``POST /api/v1/usage/events``, once with ``Content-Length`` and once
  chunked, written as fast as the server takes them. Goal: 413 within 2 s, and no web
  process grows by more than 20 MB (peak resident memory, ``VmHWM``, before and after).
- A 100,000-deep JSON array (200 KB). Goal: 400 ``parse_error`` within 2 s.
- 50 slow sockets, opened last: 25 send their headers one byte every 2 s, 25 send complete
  headers announcing a 10,000-byte body and then one byte of it every 2 s. Meanwhile
  ``/health`` and an authenticated ``GET /api/v1/users/me`` are timed back to back for
  ``DRILL_SLOW_SECONDS`` (default 20; each request gives up after 5 s), against the same
  requests timed just before. Goal: p95 delayed by no more than 100 ms, nothing timed out,
  and no slow client answered 500.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import uuid

import httpx

from bench.drills.common import Report, error_code, ms, percentile
from bench.drills.deployment import PASSWORD, Deployment

BIG = 50 * 1024 * 1024
DEPTH = 100_000
SLOW_SOCKETS = 50
SLOW_SECONDS = float(os.environ.get("DRILL_SLOW_SECONDS", "20"))


def _peak_rss_kb(deployment: Deployment) -> dict[int, int]:
    peaks = {}
    for pid in deployment.web.group_pids():
        try:
            for line in open(f"/proc/{pid}/status"):  # noqa: SIM115, PTH123
                if line.startswith("VmHWM:"):
                    peaks[pid] = int(line.split()[1])
        except OSError:
            continue
    return peaks


def _address(deployment: Deployment) -> tuple[str, int]:
    host, port = deployment.base_url.rsplit("//", 1)[1].split(":")
    return host, int(port)


def _big_body(deployment: Deployment, key: str, *, chunked: bool) -> tuple[str, float, int]:
    """Send a 50 MB body as fast as the server reads it; the status line, when it came, and
    how many body bytes the server took first."""
    sock = socket.create_connection(_address(deployment), timeout=10)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BIG}"
    head = (
        "POST /api/v1/usage/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n{framing}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    piece = b" " * 65536
    started = time.monotonic()
    sent = 0
    try:
        sock.sendall(head)
        while sent < BIG:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            sock.sendall(data)
            sent += len(piece)
        if chunked and sent >= BIG:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    try:
        answer = sock.recv(200).decode(errors="replace")
    except (OSError, TimeoutError) as exc:
        answer = f"no answer ({type(exc).__name__})"
    seconds = time.monotonic() - started
    sock.close()
    return answer.split("\r\n", 1)[0], seconds, sent


class SlowClients(threading.Thread):
    """Half trickle their headers, half their body: one byte per socket every 2 s."""

    def __init__(self, deployment: Deployment, count: int):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.sockets: list[tuple[socket.socket, bytes]] = []
        for index in range(count):
            sock = socket.create_connection(_address(deployment), timeout=5)
            if index % 2:
                pending = (
                    b"GET /api/v1/users/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
                    + b"a" * 1000
                    + b"\r\n\r\n"
                )
            else:
                sock.sendall(
                    b"POST /api/v1/usage/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
                )
                pending = b" " * 10000
            self.sockets.append((sock, pending))
        self.closed_early = 0

    def run(self) -> None:
        offset = 0
        while not self.stop.wait(2.0 if offset else 0):
            for sock, pending in self.sockets:
                try:
                    sock.send(pending[offset : offset + 1])
                except OSError:
                    pass
            offset += 1

    def outcomes(self) -> dict[str, int]:
        """What each slow socket got back so far: a status line, a close, or nothing."""
        seen: dict[str, int] = {}
        for sock, _ in self.sockets:
            sock.setblocking(False)
            try:
                data = sock.recv(200)
                outcome = data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed"
            except BlockingIOError:
                outcome = "no answer yet"
            except OSError as exc:
                outcome = f"closed ({type(exc).__name__})"
            seen[outcome] = seen.get(outcome, 0) + 1
        return seen

    def close(self) -> None:
        self.stop.set()
        for sock, _ in self.sockets:
            sock.close()


def _timed(client: httpx.Client, path: str, headers: dict) -> float | None:
    started = time.monotonic()
    try:
        r = client.get(path, headers=headers)
    except httpx.HTTPError:
        return None
    return time.monotonic() - started if r.status_code == 200 else None


def run(deployment: Deployment) -> Report:
    report = Report("abuse")
    email = f"drill-abuse-{uuid.uuid4().hex[:8]}@example.com"
    deployment.user(email)
    jwt = deployment.login(email)["access"]
    key = deployment.helpers().api_key_for(email, PASSWORD, ["usage:read", "usage:write"])

    for chunked in (False, True):
        label = "chunked" if chunked else "Content-Length"
        before = _peak_rss_kb(deployment)
        status, seconds, sent = _big_body(deployment, key, chunked=chunked)
        time.sleep(0.5)
        after = _peak_rss_kb(deployment)
        growth_mb = max((after[p] - before.get(p, after[p]) for p in after), default=0) / 1024
        report.check(
            f"50 MB body ({label})",
            f"'{status}' after {ms(seconds)}, {sent / 2**20:.1f} MB taken, "
            f"web peak memory +{growth_mb:.1f} MB",
            "413 within 2000 ms, memory +20 MB at most",
            " 413 " in f"{status} " and seconds < 2.0 and growth_mb <= 20,
        )

    body = "[" * DEPTH + "]" * DEPTH
    started = time.monotonic()
    r = httpx.post(
        deployment.base_url + "/api/v1/usage/events",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )
    seconds = time.monotonic() - started
    report.check(
        f"{DEPTH:,}-deep JSON",
        f"{r.status_code} {error_code(r)} in {ms(seconds)}",
        "400 parse_error within 2000 ms",
        r.status_code == 400 and error_code(r) == "parse_error" and seconds < 2.0,
    )

    # --- slow clients (last: on a layout that is not immune they take the web down) ----------
    as_user = {"Authorization": f"Bearer {jwt}"}
    kinds = {"/health": {}, "/api/v1/users/me": as_user}
    baseline: dict[str, list[float]] = {k: [] for k in kinds}
    during: dict[str, list[float | None]] = {k: [] for k in kinds}
    with httpx.Client(base_url=deployment.base_url, timeout=5) as client:
        for _ in range(20):
            for path, headers in kinds.items():
                latency = _timed(client, path, headers)
                if latency is not None:
                    baseline[path].append(latency)
    slow = SlowClients(deployment, SLOW_SOCKETS)
    slow.start()
    try:
        time.sleep(2)
        ends = time.monotonic() + SLOW_SECONDS
        with httpx.Client(base_url=deployment.base_url, timeout=5) as client:
            while time.monotonic() < ends:
                for path, headers in kinds.items():
                    during[path].append(_timed(client, path, headers))
                time.sleep(0.05)
        slow_outcomes = slow.outcomes()
    finally:
        slow.close()
    report.figure("slow clients", f"{SLOW_SOCKETS} sockets, one byte each every 2 s")
    for path in kinds:
        answered = [x for x in during[path] if x is not None]
        failed = len(during[path]) - len(answered)
        base = percentile(baseline[path], 50)
        p95 = percentile(answered, 95) if answered else float("inf")
        delay = p95 - base
        report.check(
            f"{path} meanwhile: p50 / p95 / max (before: p50 {ms(base)})",
            f"{ms(percentile(answered, 50)) if answered else '-'} / {ms(p95)} / "
            f"{ms(max(answered)) if answered else '-'}, {failed} of {len(during[path])} "
            "failed or timed out (5 s)",
            "p95 delayed by 100 ms at most, none failed",
            delay <= 0.1 and failed == 0,
        )
    report.check(
        "what the slow clients got back",
        slow_outcomes,
        "no 500",
        not any(" 500 " in f"{k} " for k in slow_outcomes),
    )
    # A layout that is not immune recovers once the sockets are gone.
    started = time.monotonic()
    deployment.wait_healthy(timeout=90)
    report.figure(
        "/health answered again after the slow sockets closed",
        f"in {ms(time.monotonic() - started)}",
    )
    return report
