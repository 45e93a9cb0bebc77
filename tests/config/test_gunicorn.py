"""config/gunicorn.py: JSON access lines carrying the request id, and a Prometheus
multiprocess directory wiped when the master starts."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONFIG = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
# The application and worker of the Procfile's web line (the production layout).
PROCFILE_APP = ["config.asgi:application", "--worker-class", "config.gunicorn_worker.RosterWorker"]
# Roster's WSGI application under gunicorn's sync worker, for any other WSGI server.
WSGI_APP = ["config.wsgi:application"]


def test_gunicorn_logs_json_access_lines_with_the_request_id_and_wipes_stale_metrics(tmp_path):
    prometheus_dir = tmp_path / "prometheus"
    prometheus_dir.mkdir()
    (prometheus_dir / "counter_0.db").write_bytes(b"left by a previous run")
    (prometheus_dir / "notes.txt").write_text("not ours to delete")
    log = tmp_path / "gunicorn.log"
    errors = tmp_path / "gunicorn.err"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # A clean environment: the test run's own PROMETHEUS_MULTIPROC_DIR must not be wiped.
    env = {"PATH": "/usr/bin:/bin", "ROSTER_VAR_DIR": str(tmp_path), "DEBUG": "true"}
    with log.open("wb") as out, errors.open("wb") as err:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                *PROCFILE_APP,
                "--config",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=err,
        )
        try:
            wait_until_up(base, process, errors)
            assert not (prometheus_dir / "counter_0.db").exists()
            assert (prometheus_dir / "notes.txt").exists()
            echoed = httpx.get(
                f"{base}/health?code=oauth-code",
                headers={"X-Request-ID": "req-gunicorn-1", "User-Agent": 'agent "quoted"'},
                timeout=10,
            )
            generated = httpx.get(f"{base}/health", timeout=10)
            # What the schema documents for an overlong request line (before Roster).
            too_long = httpx.get(f"{base}/api/v1/users?q={'x' * 5000}", timeout=10)
        finally:
            stop(process)

    lines = [json.loads(line) for line in log.read_text().splitlines()]  # every stdout line is JSON
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    by_id = {line["request_id"]: line for line in access}
    assert echoed.headers["X-Request-ID"] == "req-gunicorn-1"
    line = by_id["req-gunicorn-1"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health", 200)
    assert line["user_agent"] == 'agent "quoted"'
    assert "oauth-code" not in json.dumps(line)
    assert generated.headers["X-Request-ID"] in by_id
    assert too_long.status_code == 414
    assert too_long.headers["Content-Type"].startswith("text/plain")


def test_wipe_prometheus_multiproc_dir_removes_only_sample_files(tmp_path):
    (tmp_path / "counter_1.db").write_bytes(b"")
    (tmp_path / "gauge_livesum_2.db").write_bytes(b"")
    (tmp_path / "README").write_text("kept")
    GUNICORN_CONFIG["wipe_prometheus_multiproc_dir"](tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README"]


def _chunks(body: bytes, size: int = 100):
    """A body httpx sends with Transfer-Encoding: chunked (no Content-Length)."""
    for at in range(0, len(body), size):
        yield body[at : at + size]


@pytest.mark.parametrize("app", [PROCFILE_APP, WSGI_APP], ids=["procfile", "wsgi"])
def test_gunicorn_reads_chunked_bodies_up_to_the_body_limit(tmp_path, app):
    env = {
        "PATH": "/usr/bin:/bin",
        "ROSTER_VAR_DIR": str(tmp_path),
        "DEBUG": "true",
        "API_RATE_LIMITS_ENABLED": "false",
        "DATA_UPLOAD_MAX_MEMORY_SIZE": "20000",
    }
    python = str(Path(sys.executable))
    subprocess.run(  # noqa: S603 - fixed argv, our own venv
        [python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
    )
    subprocess.run(  # noqa: S603
        [
            python,
            "manage.py",
            "shell",
            "-c",
            "from tests.factories import UserFactory; UserFactory(email='chunked@example.com')",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    errors = tmp_path / "gunicorn.err"
    with errors.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603
            [
                str(Path(sys.executable).with_name("gunicorn")),
                *app,
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            wait_until_up(base, process, errors)
            json_type = {"Content-Type": "application/json"}
            credentials = json.dumps(
                {"email": "chunked@example.com", "password": "correct horse battery staple"}
            ).encode()
            token = httpx.post(
                f"{base}/api/v1/auth/token",
                content=_chunks(credentials, 7),
                headers=json_type,
                timeout=10,
            )
            auth = {**json_type, "Authorization": f"Bearer {token.json().get('access')}"}
            batch = json.dumps({"events": [{"meter": "api.requests"}] * 3}).encode()
            ingested = httpx.post(
                f"{base}/api/v1/usage/events", content=_chunks(batch), headers=auth, timeout=10
            )
            oversize = json.dumps(
                {"events": [{"meter": "api.requests", "metadata": {"x": "y" * 3000}}] * 8}
            ).encode()
            assert 20000 < len(oversize) < 30000
            chunked_too_large = httpx.post(
                f"{base}/api/v1/usage/events", content=_chunks(oversize), headers=auth, timeout=10
            )
            sized_too_large = httpx.post(
                f"{base}/api/v1/usage/events", content=oversize, headers=auth, timeout=10
            )
            stats = httpx.get(
                f"{base}/api/v1/usage/stats?period=1h&meter=api.requests", headers=auth, timeout=10
            )
        finally:
            stop(process)

    assert token.request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in token.request.headers
    assert token.status_code == 200, token.text
    assert ingested.status_code == 202, ingested.text
    assert ingested.json() == {"accepted": 3, "duplicates": 0}
    assert chunked_too_large.status_code == sized_too_large.status_code == 413
    assert chunked_too_large.json() == sized_too_large.json()
    assert chunked_too_large.json()["errors"][0]["code"] == "payload_too_large"
    assert stats.json()["totals"] == {"api.requests": 3}
