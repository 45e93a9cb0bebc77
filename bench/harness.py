"""Benchmark harness: Roster under gunicorn on PostgreSQL + Redis, driven by wrk.

The harness process itself runs Django against the bench database so scenario modules can
seed data through the ORM; the load comes from `wrk` (a compiled driver) in a separate
process, and the server's CPU time is read from /proc before and after each run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass
class Scenario:
    name: str
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    # The client counts to run it at; empty: every count of the run.
    connections: tuple[int, ...] = ()
    duration: int | None = None
    # Extra Lua for wrk, e.g. a ``request`` function that builds each request's body.
    lua: str = ""


@dataclass
class Result:
    scenario: str
    connections: int
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    server_cpu_ms_per_request: float | None
    # CPU of every PostgreSQL process on the machine (the bench is its only client).
    db_cpu_ms_per_request: float | None = None

    def line(self) -> str:
        cpu = (
            f"{self.server_cpu_ms_per_request:6.2f}"
            if self.server_cpu_ms_per_request is not None
            else "   n/a"
        )
        db = (
            f"{self.db_cpu_ms_per_request:5.2f}"
            if self.db_cpu_ms_per_request is not None
            else "  n/a"
        )
        return (
            f"{self.scenario[:44]:<44} c={self.connections:<3} {self.rps:9.0f} req/s  "
            f"p50 {self.p50_ms:7.2f}  p95 {self.p95_ms:7.2f}  p99 {self.p99_ms:7.2f} ms  "
            f"cpu/req {cpu} ms  db cpu/req {db} ms  non-2xx {self.non_2xx}  errors {self.errors}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_environment(var_dir: Path) -> dict[str, str]:
    """Production settings on PostgreSQL + Redis, with keys made once for the bench."""
    from cryptography.fernet import Fernet

    var_dir.mkdir(parents=True, exist_ok=True)
    pem = var_dir / "jwt.pem"
    if not pem.exists():
        sys.path.insert(0, str(ROOT))
        from config.keys import _new_rsa_pem

        pem.write_text(_new_rsa_pem())
    fernet = var_dir / "fernet.key"
    if not fernet.exists():
        fernet.write_text(Fernet.generate_key().decode())
    env = dict(os.environ)
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + "k" * 60,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": os.environ.get(
                "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/roster_bench"
            ),
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
            "REDIS_CACHE_DB": "5",
            "REDIS_BROKER_DB": "6",
            "REDIS_RESULT_DB": "7",
            "CACHE_KEY_PREFIX": "roster-bench",
            "JWT_PRIVATE_KEY_FILE": str(pem),
            "CREDENTIAL_ENCRYPTION_KEYS": fernet.read_text().strip(),
            "ROSTER_VAR_DIR": str(var_dir),
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
            # Benchmarks measure the request path, not the per-role request budget.
            "RATELIMIT_ENABLE": "false",
            "API_RATE_LIMITS_ENABLED": "false",
            "RATE_LIMIT_LOGIN_FAILED": "100000/m/ip,100000/m/key",
            "RATE_LIMIT_SIGNUP": "100000/m/ip",
            "ROSTER_TESTING": "false",
        }
    )
    if os.environ.get("BENCH_RATE_LIMITS") == "on":
        # The product's default: every request counted against its role's budget, with
        # budgets no run reaches, so the figures are the limit's cost and never its 429s.
        env.update(
            {
                "API_RATE_LIMITS_ENABLED": "true",
                **{
                    f"API_RATE_LIMIT_{role}": "100000000/min"
                    for role in ("ANONYMOUS", "MEMBER", "MANAGER", "ADMIN", "REGISTER", "TOKEN")
                },
            }
        )
    return env


def ensure_database(env: dict[str, str]) -> None:
    import psycopg

    url = env["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _cpu_seconds(pids) -> float:
    """utime + stime of the given processes, in seconds (those gone are skipped)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU used so far by the PostgreSQL server on this machine: its live processes, plus
    what the ones that have exited used (the postmaster's cutime + cstime), so a backend
    closing its connection during a run takes nothing away."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = _stat(int(entry.name))
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])
        parent = Path(f"/proc/{fields[1]}/comm")
        try:
            is_postmaster = parent.read_text().strip() != "postgres"
        except (FileNotFoundError, ProcessLookupError):
            is_postmaster = False
        if is_postmaster:
            total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


# The Procfile's web line: gunicorn's asyncio worker reading each request in full before
# Roster's WSGI application runs (config/buffered_wsgi.py).
PROCFILE_LAYOUT = "procfile"
PROCFILE_WORKER_CLASS = "config.gunicorn_worker.RosterWorker"
PROCFILE_APP = "config.asgi:application"


class Server:
    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        worker_class: str = PROCFILE_LAYOUT,
        app: str | None = None,
    ):
        self.env = env
        if worker_class == PROCFILE_LAYOUT:
            worker_class = PROCFILE_WORKER_CLASS
            app = app or PROCFILE_APP
        self.app = app or "config.wsgi:application"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.worker_class = worker_class
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [
            str(VENV_BIN / "gunicorn"),
            self.app,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            "--no-control-socket",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ]
        if self.worker_class == "gthread":
            cmd += ["--threads", "4"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not become healthy")

    def pids(self) -> list[int]:
        if self.proc is None:
            return []
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        return pids

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.pids())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_LUA = """
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
%(lua)s
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%f %%f %%f\\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _lua_string(value: str | None) -> str:
    if value is None:
        return "nil"
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def wait_until_idle(server: Server, *, timeout: float = 120.0) -> None:
    """Until the server has finished the requests a previous run left queued (wrk stops
    sending, not the server working: a run of password hashes leaves seconds of them), so
    that their CPU is not counted against the next run."""
    deadline = time.monotonic() + timeout
    last = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = server.cpu_seconds()
        if now - last < 0.05:
            return
        last = now


def run_wrk(server: Server, scenario: Scenario, connections: int, duration: int) -> Result:
    headers = dict(scenario.headers)
    if scenario.body is not None:
        headers.setdefault("Content-Type", "application/json")
    header_lines = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
    )
    script = _LUA % {
        "method": _lua_string(scenario.method),
        "body": _lua_string(scenario.body),
        "headers": header_lines,
        "lua": scenario.lua,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        script_path = f.name
    threads = min(2, connections)
    wait_until_idle(server)
    cpu_before, db_before = server.cpu_seconds(), postgres_cpu_seconds()
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            script_path,
            server.base_url + scenario.path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu_after, db_after = server.cpu_seconds(), postgres_cpu_seconds()
    os.unlink(script_path)
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    requests, duration_us, non_2xx, errors, p50, p95, p99 = line.split()[1:]
    requests = int(requests)
    return Result(
        scenario=scenario.name,
        connections=connections,
        requests=requests,
        rps=requests / (int(duration_us) / 1e6),
        p50_ms=float(p50) / 1000,
        p95_ms=float(p95) / 1000,
        p99_ms=float(p99) / 1000,
        non_2xx=int(non_2xx),
        errors=int(errors),
        server_cpu_ms_per_request=(cpu_after - cpu_before) * 1000 / requests if requests else None,
        db_cpu_ms_per_request=(db_after - db_before) * 1000 / requests if requests else None,
    )


class BenchContext:
    """What scenario modules get: the server, the run's settings, helpers for users and keys."""

    def __init__(self, server: Server, *, connections: tuple[int, ...], duration: int):
        self.server = server
        self.base_url = server.base_url
        self.connections = connections
        self.duration = duration

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310
                raw = r.read()
                return r.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"raw": raw.decode(errors="replace")}

    def create_user(self, email: str, password: str, roles=("member",)):
        from accounts.models import User
        from accounts.roles import assign_roles

        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        assign_roles(user, roles)
        return user

    def jwt_for(self, email: str, password: str) -> str:
        status, body = self.request(
            "POST", "/api/v1/auth/token", {"email": email, "password": password}
        )
        if status != 200 or "access" not in body:
            raise RuntimeError(f"token request failed: {status} {body}")
        return body["access"]

    def api_key_for(self, email: str, password: str, scopes: list[str], name="bench") -> str:
        token = self.jwt_for(email, password)
        status, body = self.request(
            "POST",
            "/api/v1/users/me/api-keys",
            {"name": name, "scopes": scopes},
            {"Authorization": f"Bearer {token}"},
        )
        if status != 201:
            raise RuntimeError(f"api key request failed: {status} {body}")
        return body["key"]


# --- offline benches run in phases (bench/*_partitions.py) ---------------------------------

PSQL = ["psql", "-qAt", "-h", "127.0.0.1", "-U", "postgres"]


def psql(sql: str, database: str = "postgres") -> str:
    """One statement through psql on the local server; its output."""
    return subprocess.run(
        [*PSQL, "-d", database, "-c", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def run_phase(script: Path, phase: str, events: int, *, cwd: Path, env: dict) -> dict:
    """Run ``script --phase PHASE --events N`` in a process of its own (its own Django, on the
    database ``env`` names) and return the JSON its last line prints."""
    out = subprocess.run(
        [str(ROOT / ".venv/bin/python"), str(script), "--phase", phase, "--events", str(events)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        name = env.get("DATABASE_URL", "").rsplit("/", 1)[-1]
        raise SystemExit(f"{phase} on {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
