"""The suite runs in parallel (pytest-xdist, ``make test``): each worker has its own var
directory and Redis test database (tests/parallel.py), and its own PostgreSQL test database."""

import os
from pathlib import Path

import pytest
from django.db import connection

from tests.parallel import worker_environment

WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def test_each_worker_has_its_own_directory_and_redis_database():
    first = worker_environment(
        "gw0", 0, var_dir=Path("/srv/var"), redis_test_db=9, redis_url="redis://r"
    )
    second = worker_environment(
        "gw1", 1, var_dir=Path("/srv/var"), redis_test_db=9, redis_url="redis://r"
    )
    assert first == {
        "ROSTER_VAR_DIR": "/srv/var/gw0",
        "REDIS_TEST_DB": "9",
        "PROMETHEUS_MULTIPROC_DIR": "/srv/var/gw0/prometheus",
    }
    assert second == {
        "ROSTER_VAR_DIR": "/srv/var/gw1",
        "REDIS_TEST_DB": "10",
        "PROMETHEUS_MULTIPROC_DIR": "/srv/var/gw1/prometheus",
    }


def test_workers_beyond_redis_databases_are_refused():
    with pytest.raises(pytest.UsageError, match="Redis database 16"):
        worker_environment("gw2", 2, var_dir=Path("/v"), redis_test_db=14, redis_url="redis://r")
    # Without Redis the number is unused.
    assert worker_environment("gw2", 2, var_dir=Path("/v"), redis_test_db=14, redis_url="")


@pytest.mark.skipif(WORKER is None, reason="runs in an xdist worker (make test)")
@pytest.mark.django_db
def test_this_worker_runs_on_its_own_settings(settings):
    assert Path(settings.VAR_DIR).name == WORKER
    assert os.environ["ROSTER_VAR_DIR"] == str(settings.VAR_DIR)
    assert settings.PROMETHEUS_MULTIPROC_DIR == str(Path(settings.VAR_DIR) / "prometheus")
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == settings.PROMETHEUS_MULTIPROC_DIR
    if settings.REDIS_URL:
        own = f"/{os.environ['REDIS_TEST_DB']}"
        assert settings.CACHES["default"]["LOCATION"].endswith(own)
        [layer] = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
        assert layer["address"].endswith(own)
    else:
        assert str(settings.CACHES["default"]["LOCATION"]).startswith(str(settings.VAR_DIR))
    if connection.vendor == "postgresql":
        assert connection.settings_dict["NAME"].endswith(f"_{WORKER}")
