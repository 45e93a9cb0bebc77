"""The Procfile's Celery workers reconnect to a restarted broker quietly and keeps working.

Gossip and mingle (cluster chatter that Roster does not use) broke on every broker
reconnect (``Error on restarting Gossip: AttributeError``); the worker runs without them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from celery import Celery

from tests.servers import REDIS_SERVER, RedisServer, procfile_line, stop

ROOT = Path(__file__).resolve().parents[2]


def _procfile_command(name: str) -> list[str]:
    command = os.path.expandvars(procfile_line(name).replace(":-2}", "}"))
    return shlex.split(command.replace("${CELERY_CONCURRENCY}", "1"))


def _wait_for(path: Path, text: str, *, after: int = 0, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in path.read_text()[after:]:
            return True
        time.sleep(0.3)
    return False


def _worker(name: str, env: dict, log: Path) -> subprocess.Popen:
    command = _procfile_command("worker")
    command[command.index("--hostname") + 1] = f"{name}@%h"
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - the Procfile's own command
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server")
def test_two_workers_reconnect_to_a_restarted_broker_quietly(tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    broker = redis.url + "/0"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update({"CELERY_BROKER_URL": broker, "ROSTER_VAR_DIR": str(tmp_path)})
    env["ROSTER_TESTING"] = "true"
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    workers = [_worker(f"w{n}", env, log) for n, log in enumerate(logs, start=1)]
    try:
        for log in logs:
            assert _wait_for(log, "ready."), log.read_text()[-3000:]
        redis.kill()
        time.sleep(8)  # long enough for both to notice and retry
        seen = [len(log.read_text()) for log in logs]
        redis.start()  # the same port: the workers' broker comes back
        # Both reconnect by themselves, then run work sent to the new broker.
        for log, offset in zip(logs, seen, strict=True):
            assert _wait_for(log, "Connected to", after=offset), log.read_text()[-3000:]
        client = Celery(broker=broker)
        # A task of Roster's own that needs no database while idle suspension is off.
        client.send_task("slots.suspend_idle_slots")
        assert any(
            _wait_for(log, "succeeded", after=offset, seconds=30)
            for log, offset in zip(logs, seen, strict=True)
        )
        for log in logs:
            text = log.read_text()
            assert "Gossip" not in text, text[-3000:]
            assert "Traceback" not in text, text[-3000:]
    finally:
        for worker in workers:
            stop(worker)
        redis.kill()
