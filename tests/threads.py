"""Races for the concurrency tests (PostgreSQL row locks): the same work on many threads,
released at once."""

from __future__ import annotations

import threading

from django.db import connection


def race(count: int, work) -> list:
    """Run ``work(i)`` for i in range(count) on ``count`` threads released together; returns
    each result, or the exception it raised. Each thread closes its database connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on by the caller
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
