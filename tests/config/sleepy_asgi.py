"""The Procfile's application plus one route that sleeps, for tests/config/test_gunicorn_worker.py
only (the product has no such route): ``GET /api/v1/test-only/sleep?seconds=N`` holds Roster's
application thread for N seconds, the way a request stuck on a lock or a slow call would."""

import os
import time
from pathlib import Path
from urllib.parse import parse_qs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.buffered_wsgi import BufferedWSGI  # noqa: E402
from config.wsgi import application as roster  # noqa: E402

SLEEP_PATH = "/api/v1/test-only/sleep"
SLEEPING_MARK = "test-only-sleeping"


def _sleepy(environ, start_response):
    if environ["PATH_INFO"] == SLEEP_PATH:
        seconds = float(parse_qs(environ["QUERY_STRING"]).get("seconds", ["60"])[0])
        # Tells the test when the application thread is held (SLEEPING_MARK in the var dir).
        (Path(os.environ["ROSTER_VAR_DIR"]) / SLEEPING_MARK).touch()
        time.sleep(seconds)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept\n"]
    return roster(environ, start_response)


application = BufferedWSGI(_sleepy)
