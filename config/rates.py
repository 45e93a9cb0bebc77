"""Rate text: the one grammar of every limit Roster reads from its settings.

``<amount>/<period>[/<per>]``. ``<period>`` is a unit, optionally after a count (``m``,
``5m``, ``300s``, ``0.5h``); the units are ``s``, ``m``, ``h``, ``d``, also spelled ``sec``,
``min``, ``hour``, ``day``. ``<per>`` names what is counted (``ip``, ``key`` or ``user``),
``ip`` when left out. The sign-in attempt counters (allauth's ``ACCOUNT_RATE_LIMITS``, e.g.
``10/m/ip,5/5m/key``, accounts.flows.limits) and the API's request budgets
(``API_RATE_LIMITS``, e.g. ``100/min``, config.api.throttling) are both read here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


@dataclass(frozen=True)
class Rate:
    amount: int
    duration: float | int  # seconds
    per: str = "ip"  # "ip", "key" or "user"

    def __str__(self) -> str:
        # Part of allauth's cache keys: written exactly as allauth writes it ("5/300.0/key").
        return f"{self.amount}/{self.duration}/{self.per}"


def _duration(text: str) -> float | int:
    count = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    seconds = UNITS.get(text[len(count) :].lower())
    if seconds is None:
        raise ValueError(f"unknown period unit in {text!r}")
    # As allauth counts: a written count is a float ("5m" is 300.0), a bare unit an int
    # ("m" is 60), so the rate's text in the cache keys is the same as allauth's.
    return float(count) * seconds if count.strip() else seconds


@functools.lru_cache(maxsize=128)
def parse_rate(text: str) -> Rate:
    """``"5/5m/key"`` → ``Rate(5, 300.0, "key")``; ``"100/min"`` → ``Rate(100, 60, "ip")``.
    ValueError when the text is not a rate."""
    parts = [part.strip() for part in text.strip().split("/")]
    if len(parts) not in (2, 3) or not parts[1]:
        raise ValueError(f"not a rate: {text!r}")
    per = parts[2] if len(parts) == 3 else "ip"
    return Rate(int(parts[0]), _duration(parts[1]), per)


def parse_rates(text: str | None) -> list[Rate]:
    """A comma-separated list of rates (``"10/m/ip,5/5m/key"``); none for an empty text."""
    return [parse_rate(part) for part in (text or "").split(",") if part.strip()]
