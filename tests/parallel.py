"""What each pytest-xdist worker gets of its own when the suite runs in parallel (``-n N``).

A worker reads these before Django's settings load (they are the worker's environment, set
by the controlling process when it starts the worker), so everything the settings derive
from them is the worker's own:

- ``ROSTER_VAR_DIR``: a subdirectory ``gw0``, ``gw1``... of the run's var directory (its
  keys, file cache, filesystem Celery broker, mail and SMS files, backups, static files);
- ``PROMETHEUS_MULTIPROC_DIR``: ``prometheus`` in that directory (the metrics tests read
  the counters of their own process only);
- ``REDIS_TEST_DB``: the run's Redis test database plus the worker's number (with the
  default 9: workers use 9, 10...), the cache and the channel layer the tests flush;
- the PostgreSQL test database: pytest-django names it with the worker's suffix
  (``test_roster_gw0``), and the tests that start servers take that name from the
  connection.

Servers the tests start bind free ports (``tests.servers.free_port``) and keep their files
under the test's ``tmp_path``, which xdist already makes per worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REDIS_DATABASES = 16  # redis-server's default ``databases``


def worker_environment(
    name: str, number: int, *, var_dir: Path, redis_test_db: int, redis_url: str
) -> dict[str, str]:
    """The environment of worker ``name`` (``gw3``), the ``number``-th (from 0)."""
    redis_db = redis_test_db + number
    if redis_url and redis_db >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"worker {name} would use Redis database {redis_db}: lower REDIS_TEST_DB "
            f"({redis_test_db}) or the number of workers"
        )
    own = var_dir / name
    return {
        "ROSTER_VAR_DIR": str(own),
        "REDIS_TEST_DB": str(redis_db),
        # Set explicitly: the settings only default it (from the var directory) when the
        # environment has none, and the controlling process's own is in the environment the
        # worker inherits — shared, every worker's counters would add up in one directory.
        "PROMETHEUS_MULTIPROC_DIR": str(own / "prometheus"),
    }


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    """Before the workers start: give each its environment (execnet sets a spec's ``env``
    in the new process before pytest, and so Django, starts there)."""
    from django.conf import settings

    base_db = int(os.environ.get("REDIS_TEST_DB", "9"))
    for number, spec in enumerate(specs):
        spec.env.update(
            worker_environment(
                spec.id,
                number,
                var_dir=Path(settings.VAR_DIR),
                redis_test_db=base_db,
                redis_url=settings.REDIS_URL,
            )
        )
