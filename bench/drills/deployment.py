"""A production-shaped Roster for the drills, built from nothing and torn down afterwards.

- a PostgreSQL cluster of its own (``initdb`` into a temporary directory, a free port; run
  as the ``postgres`` user when the drills run as root, since PostgreSQL refuses root);
- a ``redis-server`` of its own on a free port (cache, rate limits, revocation, broker);
- every process of the ``Procfile``, started from its own line through ``/bin/sh`` (so
  ``$ROSTER_BIND``, ``$WEB_CONCURRENCY`` and any other variable are substituted exactly as
  a process manager does): ``web`` with 2 workers, two ``worker`` instances and ``beat``.

Each process runs in a process group of its own, so a drill can SIGKILL a whole Celery
worker (its pool included) and the teardown leaves nothing behind. The shared PostgreSQL
(5432) and Redis (6379) of the machine are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import httpx

from bench import harness

ROOT = harness.ROOT
PYTHON = str(harness.VENV_BIN / "python")
PG_BIN = Path(os.environ.get("DRILL_PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
PASSWORD = "drill-password-0123456789"  # noqa: S105 - throwaway users on a throwaway cluster


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)  # noqa: S603


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class PostgresCluster:
    """A throwaway cluster. As root, every PostgreSQL binary runs as ``postgres``."""

    def __init__(self, base: Path):
        self.dir = base / "pg"
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = harness.free_port()

    def _as_owner(self, cmd: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return cmd
        return ["runuser", "-u", "postgres", "--", *cmd]

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        _run(
            self._as_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            )
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\n"
                "max_connections = 200\n"
                # PostgreSQL's own durability is not under test (it is only ever stopped
                # cleanly here); this keeps the drills quick on a shared disk.
                "fsync = off\n"
                "full_page_writes = off\n"
            )
        self.start()

    def _ctl(self, *args: str) -> None:
        _run(self._as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]))

    def start(self) -> None:
        self._ctl("-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self._ctl("-l", str(self.log), "-m", mode, "-w", "-t", "60", "restart")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists():
            try:
                self.stop("immediate")
            except (subprocess.CalledProcessError, OSError):
                try:
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
                except (ValueError, OSError):
                    pass

    def connect(self, database: str = "roster"):
        import psycopg

        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)


class RedisServer:
    """A redis-server child of ours; ``snapshot``/``restore`` move its RDB file around."""

    def __init__(self, base: Path):
        self.dir = base / "redis"
        self.dir.mkdir(parents=True)
        self.port = harness.free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(lambda: self.cli("ping") == "PONG", timeout=20, what="redis-server")

    def cli(self, *args: str) -> str:
        out = subprocess.run(  # noqa: S603 - fixed argv
            [REDIS_CLI, "-p", str(self.port), *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip()

    def run_id(self) -> str:
        info = self.cli("info", "server")
        return next((ln.split(":", 1)[1] for ln in info.splitlines() if "run_id" in ln), "")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def freeze(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def snapshot(self, dest: Path) -> None:
        if self.cli("save") != "OK":
            raise RuntimeError("redis SAVE failed")
        shutil.copy2(self.dir / "dump.rdb", dest)
        (self.dir / "dump.rdb").unlink()

    def restore(self, snapshot: Path) -> None:
        """Stop, put the snapshot in place, start: Redis comes back as it was then."""
        self.stop()
        shutil.copy2(snapshot, self.dir / "dump.rdb")
        self.start()
        (self.dir / "dump.rdb").unlink()


def procfile() -> dict[str, str]:
    """The Procfile's processes, name → command, as written."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        name, command = line.split(":", 1)
        entries[name.strip()] = command.strip()
    return entries


def _with_nodename(command: str, index: int) -> str:
    """Two worker instances on one host need two Celery node names."""
    pattern = re.compile(r"(--hostname[ =])(\S+)")
    if pattern.search(command):
        return pattern.sub(lambda m: m[1] + m[2].replace("@", f"{index}@", 1), command)
    return f"{command} --hostname worker{index}@%h"


class Process:
    """One Procfile process, in a process group of its own, logging to a file."""

    def __init__(self, name: str, command: str, env: dict[str, str], log: Path):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.log_offset = 0

    def start(self) -> None:
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - the Procfile's own command line
                ["/bin/sh", "-c", f"exec {self.command}"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def group_pids(self) -> list[int]:
        """Every live process of the group (the command and whatever it forked)."""
        if self.proc is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # fields[2] is the process group; fields[0] the state (Z: a zombie).
            if int(fields[2]) == self.proc.pid and fields[0] != "Z":
                pids.append(int(entry.name))
        return sorted(pids)

    def log_since_start(self) -> str:
        if not self.log.exists():
            return ""
        with self.log.open("rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            self.proc.wait()
            # The group outlives its leader while a pool child is being reaped.
            wait_until(lambda: not self.group_pids(), timeout=10, what=f"{self.name} gone")

    def stop(self) -> None:
        if not self.alive():
            self.kill()
            return
        self.kill(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


class Deployment:
    """Roster in its production layout on services of its own; a context manager."""

    def __init__(self, *, web_concurrency: int = 2, celery_workers: int = 2):
        self.base = Path(tempfile.mkdtemp(prefix="roster-drills-"))
        # The postgres user must reach its directory inside.
        self.base.chmod(0o755)
        self.web_concurrency = web_concurrency
        self.celery_workers = celery_workers
        self.pg = PostgresCluster(self.base)
        self.redis = RedisServer(self.base)
        self.port = harness.free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: list[Process] = []
        self.env: dict[str, str] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def environment(self) -> dict[str, str]:
        env = harness.bench_environment(self.base / "var")
        for name in ("DATABASE_TEST_NAME", "REDIS_TEST_DB", "PYTEST_ADDOPTS"):
            env.pop(name, None)
        # Rate limits stay on, as in production (a Redis outage reaches every request
        # through them), raised so that the drills' own traffic never meets them: none of
        # the drills is about rate limits, which have tests of their own.
        raised = "1000000/min"
        env.update(
            {
                "DATABASE_URL": self.pg.url("roster"),
                "REDIS_URL": self.redis.url,
                "REDIS_CACHE_DB": "1",
                "REDIS_BROKER_DB": "2",
                "REDIS_RESULT_DB": "3",
                "CACHE_KEY_PREFIX": "roster",
                "ROSTER_BIND": f"127.0.0.1:{self.port}",
                "WEB_CONCURRENCY": str(self.web_concurrency),
                "LOG_LEVEL": "INFO",
                "RATELIMIT_ENABLE": "true",
                "API_RATE_LIMITS_ENABLED": "true",
                "API_RATE_LIMIT_ANONYMOUS": raised,
                "API_RATE_LIMIT_MEMBER": raised,
                "API_RATE_LIMIT_MANAGER": raised,
                "API_RATE_LIMIT_ADMIN": raised,
                "API_RATE_LIMIT_REGISTER": raised,
                "API_RATE_LIMIT_TOKEN": raised,
                "API_RATE_LIMIT_MFA": raised,
                "API_RATE_LIMIT_PASSWORD_RESET": raised,
                "RATE_LIMIT_LOGIN_FAILED": "100000/m/ip,100000/m/key",
                "RATE_LIMIT_SIGNUP": "100000/m/ip",
                "RATE_LIMIT_RESET_PASSWORD": "100000/m/ip,100000/m/key",
                # Static files are not under drill, and collectstatic's compression alone
                # took two minutes on a busy 2-core machine: the plain storage needs none.
                "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
            }
        )
        return env

    def start(self) -> None:
        started = time.monotonic()
        self.pg.init()
        with self.pg.connect("postgres") as conn:
            conn.execute("CREATE DATABASE roster")
        self.redis.start()
        self.env = self.environment()
        self.setup_steps = {"PostgreSQL and Redis": time.monotonic() - started}
        step = time.monotonic()
        subprocess.run(  # noqa: S603
            [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True
        )
        self.setup_steps["migrate"] = time.monotonic() - step
        step = time.monotonic()
        logs = self.base / "logs"
        logs.mkdir()
        for name, command in procfile().items():
            if name == "worker":
                for index in range(1, self.celery_workers + 1):
                    self.processes.append(
                        Process(
                            f"worker{index}",
                            _with_nodename(command, index),
                            self.env,
                            logs / f"worker{index}.log",
                        )
                    )
            else:
                self.processes.append(Process(name, command, self.env, logs / f"{name}.log"))
        for process in self.processes:
            process.start()
        self.wait_healthy()
        for worker in self.workers:
            self.wait_worker_ready(worker)
        self.setup_steps["processes ready"] = time.monotonic() - step
        self.setup_seconds = time.monotonic() - started

    def teardown(self) -> None:
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # noqa: BLE001 - tear everything down regardless
                print(f"  (stopping {process.name}: {exc})")
        self.redis.stop()
        self.pg.destroy()
        if os.environ.get("DRILL_KEEP_DIR"):
            print(f"  drill files kept in {self.base}")
        else:
            shutil.rmtree(self.base, ignore_errors=True)

    # --- processes -------------------------------------------------------------------------

    @property
    def web(self) -> Process:
        return next(p for p in self.processes if p.name == "web")

    @property
    def workers(self) -> list[Process]:
        return [p for p in self.processes if p.name.startswith("worker")]

    def wait_healthy(self, timeout: float = 90) -> None:
        def ok():
            if not self.web.alive():
                raise RuntimeError("web exited:\n" + self.web.log_since_start()[-3000:])
            try:
                return httpx.get(self.base_url + "/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ok, timeout=timeout, interval=0.3, what="the web process's /health")

    def wait_worker_ready(self, worker: Process, timeout: float = 60) -> None:
        def ready():
            if not worker.alive():
                raise RuntimeError(f"{worker.name} exited:\n" + worker.log_since_start()[-3000:])
            return " ready." in worker.log_since_start()

        wait_until(ready, timeout=timeout, interval=0.2, what=f"{worker.name} ready")

    def restart_worker(self, worker: Process) -> None:
        worker.kill()
        worker.start()
        self.wait_worker_ready(worker)

    def worker_of_backend(self, client_port: int) -> Process | None:
        """The Celery worker whose process holds the PostgreSQL connection from this port."""
        inode = _socket_inode(client_port)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        for worker in self.workers:
            for pid in worker.group_pids():
                try:
                    fds = list(Path(f"/proc/{pid}/fd").iterdir())
                except OSError:
                    continue
                for fd in fds:
                    try:
                        if os.readlink(fd) == target:
                            return worker
                    except OSError:
                        continue
        return None

    def send_task(self, name: str) -> None:
        from config.celery import app

        app.send_task(name)

    # --- clients ---------------------------------------------------------------------------

    def helpers(self) -> harness.BenchContext:
        """The benchmark's user and token helpers, pointed at this deployment."""
        return harness.BenchContext(
            SimpleNamespace(base_url=self.base_url), connections=(), duration=0
        )

    def user(self, email: str, **fields):
        from django.db import close_old_connections

        close_old_connections()
        user = self.helpers().create_user(email, PASSWORD)
        if fields:
            type(user).objects.filter(pk=user.pk).update(**fields)
        return user

    def login(self, email: str) -> dict:
        status, body = self.helpers().request(
            "POST", "/api/v1/auth/token", {"email": email, "password": PASSWORD}
        )
        if status != 200:
            raise RuntimeError(f"token request failed: {status} {body}")
        return body

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )


def _socket_inode(local_port: int) -> int | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                return int(fields[9])
    return None
