"""Per-role API rate limits, shared by every process through the cache.

Roster has two kinds of limit. These are *per-request budgets*: every API call counts, in a
fixed window per caller, folded into the identity cache's round trip so that they cost almost
nothing. The other kind, accounts.flows.limits, are *attempt counters* (failed sign-ins, wrong
codes) kept in allauth's cache shape so that allauth's pages and the API share one lockout.
Both read their rate text with config.rates and take the caller's address from
config.client_ip, the one rule for "which IP is the client".

A fixed window per caller (user id, or client IP when anonymous) counted with an atomic
``cache.incr`` (Redis in production), so two web processes share one budget. The limit in
force is reported on every API response as ``X-RateLimit-Limit/Remaining/Reset``; a refused
request is a 429 with ``Retry-After`` (DRF's ``Throttled``).
"""

from __future__ import annotations

import functools
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from config import outages
from config.client_ip import client_ip
from config.rates import parse_rate

# Callers whose address is unknown (config.client_ip: the request did not come the way the
# proxy settings say) share one anonymous budget.
UNKNOWN_IP = "unknown"


@functools.lru_cache(maxsize=64)
def budget(rate: str) -> tuple[int, int]:
    """``"100/min"`` → (100, 60): a budget and its window in whole seconds (config.rates)."""
    parsed = parse_rate(rate)
    period = int(parsed.duration)
    if period < 1 or period != parsed.duration:
        raise ValueError(f"a budget's window is a whole number of seconds: {rate!r}")
    return parsed.amount, period


def _ip_bucket(request) -> str:
    return f"ip:{client_ip(request) or UNKNOWN_IP}"


def _window(key: str, period: int) -> tuple[str, int]:
    now = time.time()
    window = int(now // period)
    return f"rl:{key}:{period}:{window}", int((window + 1) * period - now) + 1


def window_key(key: str, period: int) -> tuple[str, int]:
    """The Redis key of ``key``'s current window and the seconds until it resets, for a
    caller that counts a request in a round trip of its own (an INCR, with an expiry of
    ``period + 5`` seconds when it creates the key, as :func:`hit` does) and hands the count
    to the throttle as ``request.rate_counted`` (accounts.identity_cache)."""
    cache_key, reset = _window(key, period)
    return cache.make_key(cache_key), reset


def user_window(view, user_id: str) -> tuple[str, int] | None:
    """(key, period) of the window :class:`RoleRateThrottle` will count an authenticated
    request of ``user_id`` in, when it can be known before the user's role is: the view is
    rate limited and every role's budget has the same period. Else None."""
    if not settings.API_RATE_LIMITS_ENABLED or view is None:
        return None
    if not any(issubclass(c, RoleRateThrottle) for c in getattr(view, "throttle_classes", ())):
        return None
    rates = settings.API_RATE_LIMITS
    periods = {budget(rates[role])[1] for role in ("member", "manager", "admin")}
    if len(periods) != 1:
        return None
    return f"user:{user_id}", periods.pop()


def hit(key: str, limit: int, period: int) -> tuple[bool, int, int]:
    """Count one request in the current window: (allowed, remaining, seconds to reset)."""
    cache_key, reset = _window(key, period)
    redis = _redis_client()
    if redis is not None:
        # One round trip: the window's counter made with its expiry if new, then counted.
        pipe = redis.pipeline(transaction=False)
        redis_key = cache.make_key(cache_key)
        pipe.set(redis_key, 0, ex=period + 5, nx=True)
        pipe.incr(redis_key)
        count = pipe.execute()[1]
        return count <= limit, max(0, limit - count), reset
    cache.add(cache_key, 0, timeout=period + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.add(cache_key, 1, timeout=period + 5)
        count = 1
    return count <= limit, max(0, limit - count), reset


def _redis_client():
    """The cache's Redis connection when the cache is django-redis (production), else None.

    django-redis stores integers as plain Redis integers, so INCR on the key it names is
    what ``cache.incr`` does, here in the same round trip as the window's creation."""
    client = getattr(cache, "client", None)
    get_client = getattr(client, "get_client", None)
    return get_client(write=True) if get_client is not None else None


class _WindowThrottle(BaseThrottle):
    def _record(self, request, key: str, rate: str) -> bool:
        limit, period = budget(rate)
        counted = getattr(request._request, "rate_counted", None)
        if counted is not None and counted.key == key and counted.period == period:
            # Already counted by the authentication's round trip (see window_key).
            request._request.rate_counted = None
            allowed, remaining = counted.count <= limit, max(0, limit - counted.count)
            reset = counted.reset
        else:
            allowed, remaining, reset = hit(key, limit, period)
        self._wait = reset
        # The tightest limit in force is the one reported to the client.
        current = getattr(request._request, "ratelimit_info", None)
        if current is None or remaining < current[1]:
            request._request.ratelimit_info = (limit, remaining, reset)
        return allowed

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


class RoleRateThrottle(_WindowThrottle):
    """members 100/min, managers 200/min, admins 500/min (settings.API_RATE_LIMITS)."""

    def allow_request(self, request, view) -> bool:
        if not settings.API_RATE_LIMITS_ENABLED:
            return True
        try:
            return self._allow(request)
        except Exception as exc:
            # A view that only takes access away (sign-out) stays open while the cache is
            # down; everything else answers 503 (config.outages).
            if outages.is_outage(exc) and getattr(view, "open_during_cache_outage", False):
                return True
            raise

    def _allow(self, request) -> bool:
        rates = settings.API_RATE_LIMITS
        user = request.user
        if user is not None and user.is_authenticated:
            roles = user.roles
            role = next((r for r in ("admin", "manager", "member") if r in roles), "member")
            return self._record(request, f"user:{user.pk}", rates[role])
        return self._record(request, _ip_bucket(request), rates["anonymous"])


class SensitiveEndpointThrottle(_WindowThrottle):
    """Stricter per-IP limits on register, token, MFA and password reset.

    The view names its bucket with ``throttle_scope``; the rate is
    ``settings.API_SENSITIVE_RATE_LIMITS[scope]``.
    """

    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "throttle_scope", None)
        if not scope or not settings.API_RATE_LIMITS_ENABLED:
            return True
        rate = settings.API_SENSITIVE_RATE_LIMITS.get(scope)
        if rate is None:
            return True
        return self._record(request, f"{scope}:{_ip_bucket(request)}", rate)


class RateLimitHeadersMiddleware:
    """Adds the limit in force to API responses (set by the throttles above)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        info = getattr(request, "ratelimit_info", None)
        if info is not None:
            limit, remaining, reset = info
            response["X-RateLimit-Limit"] = str(limit)
            response["X-RateLimit-Remaining"] = str(remaining)
            response["X-RateLimit-Reset"] = str(reset)
            if response.status_code == 429 and not response.has_header("Retry-After"):
                response["Retry-After"] = str(reset)
        return response
