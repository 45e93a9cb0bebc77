"""gunicorn settings shared by `make run`, the benchmarks and production."""

import os


def child_exit(server, worker):
    # Multi-process Prometheus metrics: forget the live gauges of a worker that exited.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
