"""gunicorn settings shared by `make run`, the benchmarks and production."""

import os
from pathlib import Path

from gunicorn.glogging import Logger

from config.logging import redact_path

# The atoms that carry a path, a whole URL or a query string.
_URL_ATOMS = ("r", "U", "f", "{referer}i", "{raw_uri}e", "{path_info}e", "{http_referer}e")
_QUERY_ATOMS = ("q", "{query_string}e")


class RedactingLogger(Logger):
    """gunicorn's logger, with the secrets a URL carries redacted from every access atom
    (config.logging.redact_path), whatever the access log format or handler: password-reset
    and email-confirmation links carry their key in the path."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in _URL_ATOMS:
            if isinstance(atoms.get(name), str):
                atoms[name] = redact_path(atoms[name])
        for name in _QUERY_ATOMS:
            if atoms.get(name):
                atoms[name] = redact_path("?" + atoms[name])[1:]
        return atoms


# Logs: JSON lines on stdout, like the application's (config/logging.py). Each access line
# carries the request id from the response's X-Request-ID header. The message leaves out the
# query string, where OAuth callbacks carry their authorization code.
logger_class = RedactingLogger
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "config.logging.JSONFormatter"},
        "access": {"()": "config.logging.AccessLogFormatter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
        },
        "access": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "access",
        },
    },
    "root": {"level": "INFO", "handlers": ["stdout"]},
    "loggers": {
        # No levels here: gunicorn sets them from --log-level.
        "gunicorn.error": {"handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"handlers": ["access"], "propagate": False},
    },
}


def prometheus_multiproc_dir() -> Path:
    """The directory settings.py chooses (from the environment, .env or ROSTER_VAR_DIR).

    Loading the settings also puts PROMETHEUS_MULTIPROC_DIR into this process's environment,
    so the workers forked from here and ``child_exit`` use the same directory.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    return Path(settings.PROMETHEUS_MULTIPROC_DIR)


def wipe_prometheus_multiproc_dir(directory: Path) -> None:
    """Remove the sample files of processes that no longer exist (prometheus_client's advice).

    Only ``*.db`` files are removed, so a directory pointed at the wrong place loses nothing
    else.
    """
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def on_starting(server):
    # Once per master start, before any worker writes: the files of the previous run's
    # processes would otherwise be summed into /metrics forever and pile up on disk.
    # Celery processes write here too, and only this master wipes. A Celery process already
    # running when it starts (kept across a web restart, or quicker to start) keeps writing
    # to its unlinked files, so its samples are missing from /metrics until it restarts.
    # Accepted: restart Celery after the web processes when its metrics matter.
    wipe_prometheus_multiproc_dir(prometheus_multiproc_dir())


def child_exit(server, worker):
    # Multi-process Prometheus metrics: forget the live gauges of a worker that exited.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
