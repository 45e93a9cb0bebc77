"""What every drill shares: a report of figures against goals, and a steady load of clients
whose every request is recorded (when it started and ended, what it got)."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


class Report:
    """Prints each figure as it is measured; a check that misses its goal fails the drill."""

    def __init__(self, name: str):
        self.name = name
        self.failed: list[str] = []

    def figure(self, label: str, value) -> None:
        print(f"[{self.name}] {label}: {value}", flush=True)

    def check(self, label: str, measured, goal: str, ok: bool) -> bool:
        verdict = "ok" if ok else "MISSED"
        print(f"[{self.name}] {label}: {measured}   (goal: {goal}) {verdict}", flush=True)
        if not ok:
            self.failed.append(label)
        return ok

    @property
    def ok(self) -> bool:
        return not self.failed


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


@dataclass
class Sample:
    kind: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer (connection refused, reset, timed out)
    code: str = ""  # the envelope's first error code, or the exception's name
    retry_after: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def clean_outage(self) -> bool:
        return (
            self.status == 503
            and self.code == "service_unavailable"
            and (self.retry_after or "").isdigit()
        )


def error_code(response: httpx.Response) -> str:
    try:
        return response.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


@dataclass
class Job:
    """One kind of request a load thread sends over and over."""

    kind: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    # Called with a running number: the JSON body of that request (None: no body).
    body: Callable[[int], str | None] = lambda n: None


class Load:
    """Threads sending their job back to back (with a short pause) until stopped."""

    def __init__(self, base_url: str, jobs: list[Job], *, timeout: float = 15.0):
        self.base_url = base_url
        self.jobs = jobs
        self.timeout = timeout
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    def _loop(self, job: Job) -> None:
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            while not self._stop.is_set():
                body = job.body(next(self._numbers))
                headers = dict(job.headers)
                if body is not None:
                    headers["Content-Type"] = "application/json"
                started = time.monotonic()
                try:
                    r = client.request(job.method, job.path, headers=headers, content=body)
                    sample = Sample(
                        job.kind,
                        started,
                        time.monotonic(),
                        r.status_code,
                        "" if r.is_success else error_code(r),
                        r.headers.get("Retry-After"),
                    )
                except httpx.HTTPError as exc:
                    sample = Sample(job.kind, started, time.monotonic(), 0, type(exc).__name__)
                with self._lock:
                    self.samples.append(sample)
                time.sleep(0.01)

    def __enter__(self) -> Load:
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)

    def between(self, start: float, end: float) -> list[Sample]:
        """Samples in flight at some moment of [start, end]."""
        with self._lock:
            return [s for s in self.samples if s.started <= end and s.ended >= start]

    def within(self, start: float, end: float | None = None) -> list[Sample]:
        """Samples that started at ``start`` or later and were over by ``end``: requests
        that met neither the outage before nor the one after."""
        with self._lock:
            return [
                s for s in self.samples if s.started >= start and (end is None or s.ended <= end)
            ]


def outcomes(samples: list[Sample]) -> str:
    """``{status code: count}`` in words, e.g. ``200×120, 503 service_unavailable×31``."""
    counts = Counter(f"{s.status} {s.code}".strip() if s.status != 200 else "200" for s in samples)
    return ", ".join(f"{k}×{v}" for k, v in sorted(counts.items())) or "none"


def details(samples: list[Sample], *moments: float) -> str:
    """Each sample's kind, answer and start, in ms from the latest of ``moments`` before it."""
    if not samples:
        return "none"
    parts = []
    for s in samples[:10]:
        before = [m for m in moments if m <= s.started] or [min(moments)]
        parts.append(f"{s.kind} {s.status} {s.code} at {(s.started - max(before)) * 1000:+.0f} ms")
    return "; ".join(parts) + (" …" if len(samples) > 10 else "")
