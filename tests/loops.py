"""Run an event loop from a test whatever the main thread holds.

The page tests drive Chromium through Playwright's sync API, which keeps an event loop
running in the main thread for the rest of the session; ``asyncio.run`` (or a loop's
``run_until_complete``) called there afterwards refuses to start. A thread of its own has
no running loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def on_own_thread(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` on a new thread; its result, or its exception raised here."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="test-event-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
