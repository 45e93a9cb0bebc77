"""Sign-in limits: allauth's rate-limit counters, kept by this module for the API door.

Roster has two kinds of limit. These are *attempt counters* (failed sign-ins, wrong codes,
sign-ups, resets): kept in allauth's cache shape so that allauth's pages and the API count
the same attempts and a lockout earned at one door holds at every door. The other kind,
config.api.throttling, is a *per-request budget* of API calls, counted in fixed windows in the
same round trip as the caller's identity. Both read their rate text with config.rates and
take the caller's address from config.client_ip, the one rule for "which IP is the client".

One mechanism for every door. allauth's pages count failed sign-ins (through
:class:`accounts.adapters.AccountAdapter.pre_authenticate`, which calls :func:`consume`) and
its MFA form counts wrong codes in cache entries of one shape: a list of attempt times under
``allauth:rl:<app>:<action>:<rate>:<ip or key hash>``, changed under a ``:lock`` entry. The
API door reads and writes the same entries here, so a lockout earned through one door holds
at every door. The rates are allauth's setting (``ACCOUNT_RATE_LIMITS``), the address is
config.client_ip (which allauth is given too), and only allauth's public settings are read.

An attempt is counted *before* the password is checked and handed back when it succeeds (as
allauth does), so N parallel wrong attempts cannot get more than the limit: the count is
taken under the lock entry, which ``cache.add`` makes atomic on Redis.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from allauth import app_settings as allauth_settings
from allauth.account import app_settings as account_settings
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from accounts.flows.metrics import count_sign_in, door_of
from accounts.managers import normalize_email
from accounts.policy_rules import lockout_rule_for
from audit.services import record
from config.client_ip import client_ip
from config.errors import Invalid, TooManyRequests
from config.rates import Rate, parse_rates

APP = "allauth.account"
LOGIN_FAILED = "login_failed"
LOGIN_KEY_PREFIX = "login:"
SESSION_PASSWORD_CHECKS = "password_check"  # noqa: S105 - an action name, not a secret
LOCK_TIMEOUT = 10
LOCK_WAIT = 1.0
LOCK_RETRY = 0.01
LOCK_MAX_RETRY = 0.1


def rates(action: str, *, per: str | None = None, key: str | None = None) -> list[Rate]:
    """The configured rates of ``action`` (``ACCOUNT_RATE_LIMITS``), without repeats.

    For the failed sign-ins of one account (``key`` from :func:`login_attempt_key`), the
    account's lockout policy (accounts.policy_rules), when one is stored, replaces the
    ``key`` rates of the setting; the per-IP rates stay the setting's. A policy change
    starts a fresh count (the rate is part of the cache key). With the action's limits
    turned off in the setting, no policy turns them on."""
    parsed = parse_rates((account_settings.RATE_LIMITS or {}).get(action))
    if parsed and action == LOGIN_FAILED and key is not None and key.startswith(LOGIN_KEY_PREFIX):
        rule = lockout_rule_for(key.removeprefix(LOGIN_KEY_PREFIX))
        if rule is not None:
            policy = Rate(rule.max_failures, float(rule.window_seconds), "key")
            parsed = [r for r in parsed if r.per != "key"] + [policy]
    return [r for r in dict.fromkeys(parsed) if per is None or r.per == per]


def _django_request(request):
    """The counters want Django's request; DRF wraps it."""
    return getattr(request, "_request", request)


def _address(request) -> str:
    ip = client_ip(request)
    if not ip:
        raise PermissionDenied("Unable to determine client IP address")
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        # One budget per network: rotating addresses inside it buys no attempts.
        prefix = allauth_settings.RATE_LIMIT_IPV6_PREFIX
        return str(ipaddress.IPv6Network(f"{address}/{prefix}", strict=False).network_address)
    return ip


def _cache_key(request, *, action: str, rate: Rate, key: str | None) -> str:
    if rate.per == "ip":
        source: tuple[str, ...] = ("ip", _address(request))
    elif rate.per == "key":
        if key is None:
            raise ValueError(f"rate {rate} counts per key but no key was given")
        source = (hashlib.sha256(key.encode("utf8")).hexdigest(),)
    elif rate.per == "user":
        source = ("user", str(_django_request(request).user.pk))
    else:
        raise ValueError(rate.per)
    return ":".join(("allauth", "rl", APP, action, str(rate), *source))


@contextmanager
def _locked(cache_key: str) -> Iterator[bool]:
    lock = f"{cache_key}:lock"
    deadline = time.monotonic() + LOCK_WAIT
    pause = LOCK_RETRY
    while not cache.add(lock, True, timeout=LOCK_TIMEOUT):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            yield False
            return
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, LOCK_MAX_RETRY)
    try:
        yield True
    finally:
        cache.delete(lock)


@dataclass
class Usage:
    """The attempts one call counted: ``rollback`` hands them back."""

    counted: list[tuple[str, float, float]] = field(default_factory=list)

    def rollback(self) -> None:
        for cache_key, duration, stamp in self.counted:
            with _locked(cache_key) as locked:
                if locked:  # unable to lock: the limit stays a little stricter, no harm
                    history = [ts for ts in cache.get(cache_key, []) if ts != stamp]
                    cache.set(cache_key, history, duration)


def _consume_rate(cache_key: str, rate: Rate) -> float | None:
    """Count one attempt under ``rate``; its time, or None when over the limit."""
    with _locked(cache_key) as locked:
        if not locked:
            return None
        history = cache.get(cache_key, [])
        now = time.time()
        while history and history[-1] <= now - rate.duration:
            history.pop()
        if len(history) >= rate.amount:
            return None
        history.insert(0, now)
        cache.set(cache_key, history, rate.duration)
        return now


def consume(request, *, action: str, key: str | None = None, per: str | None = None):
    """Count one attempt against every rate of ``action`` (or only those ``per``);
    the :class:`Usage`, or None when a rate is used up."""
    usage = Usage()
    for rate in rates(action, per=per, key=key):
        cache_key = _cache_key(request, action=action, rate=rate, key=key)
        stamp = _consume_rate(cache_key, rate)
        if stamp is None:
            return None
        usage.counted.append((cache_key, rate.duration, stamp))
    return usage


def clear(request, *, action: str, key: str | None = None) -> None:
    for rate in rates(action, key=key):
        cache_key = _cache_key(request, action=action, rate=rate, key=key)
        with _locked(cache_key) as locked:
            if locked:
                cache.delete(cache_key)


def retry_after(request, *, key: str | None, action: str = LOGIN_FAILED) -> int:
    """Seconds until the limits of ``action`` (login_failed unless named) let one more
    attempt through."""
    now = time.time()
    wait = 0.0
    for rate in rates(action, key=key):
        if rate.per not in ("ip", "key") or (rate.per == "key" and key is None):
            continue
        cache_key = _cache_key(request, action=action, rate=rate, key=key)
        history = [ts for ts in (cache.get(cache_key) or []) if ts > now - rate.duration]
        if len(history) >= rate.amount:
            history.sort(reverse=True)
            wait = max(wait, history[rate.amount - 1] + rate.duration - now)
    return max(1, int(wait + 0.999))


# --- the login_failed limit of every door ----------------------------------------------------


def login_attempt_key(email: str) -> str:
    """The per-account counter key. Host-independent: allauth's default mixes in the host
    name, which would give an attacker one budget per accepted ``Host`` header."""
    return f"{LOGIN_KEY_PREFIX}{normalize_email(email)}"


def mfa_attempt_key(user) -> str:
    # allauth's AuthenticateForm counts wrong codes under exactly this key.
    return f"mfa-auth-user-{user.pk}"


def lockout_error(
    request, *, key: str | None, email: str | None = None, user=None
) -> TooManyRequests:
    """The 429 for a refused attempt; audits ``auth.lockout`` once per locked window."""
    wait = retry_after(request, key=key)
    # One auth.lockout event per locked window and key, however often the door is knocked.
    subject = hashlib.sha256((key or client_ip(request) or "").encode()).hexdigest()
    marker = f"auth:lockout-audited:{subject}"
    if cache.add(marker, 1, timeout=wait):
        record(
            action="auth.lockout",
            actor=None,
            target=user,
            request=request,
            metadata={"email": email, "retry_after": wait} if email else {"retry_after": wait},
        )
    count_sign_in(door=door_of(request), result="locked_out")
    return TooManyRequests(wait, code="too_many_attempts", detail="Too many failed attempts.")


def consume_login_attempt(request, *, email: str, user=None) -> Usage:
    """Count one attempt against the account and the IP; 429 (with wait) when over."""
    key = login_attempt_key(email)
    usage = consume(request, action=LOGIN_FAILED, key=key)
    if usage is None:
        raise lockout_error(request, key=key, email=normalize_email(email), user=user)
    return usage


def consume_ip_attempt(request) -> None:
    """A failed credential that names no account (a bad API key) counts against the IP."""
    if consume(request, action=LOGIN_FAILED, per="ip") is None:
        raise lockout_error(request, key=None)


def consume_or_429(request, *, action: str, key: str | None = None) -> None:
    """The sign-up and password-reset limits (``ACCOUNT_RATE_LIMITS``) of the API door."""
    if consume(request, action=action, key=key) is None:
        raise TooManyRequests(60, code="too_many_attempts", detail="Too many requests.")


def on_password_reset(sender, request, user, **kwargs) -> None:
    """A completed password reset lifts the lockout of the account's addresses, as allauth's
    page does for its own key (``password_reset`` signal, connected in AccountsConfig.ready)."""
    for address in EmailAddress.objects.filter(user_id=user.pk):
        clear(request, action=LOGIN_FAILED, key=login_attempt_key(address.email))


# --- the password check of a signed-in session --------------------------------------------

# Wrong passwords given to /me/password and DELETE /me count against this per-account limit,
# as failed logins do, so a stolen session cannot be used to guess the password.
PASSWORD_CHECK_RATE = Rate(5, 300, "key")


def _password_check_key(request, *, user) -> str:
    return _cache_key(
        request, action=SESSION_PASSWORD_CHECKS, rate=PASSWORD_CHECK_RATE, key=f"user:{user.pk}"
    )


def password_check_allowed(request, *, user) -> None:
    """429 (``TooManyRequests`` with its wait) while ``user``'s wrong passwords have used up
    the limit; called before the password is checked, so a locked check hashes nothing.
    ``RATELIMIT_ENABLE=false`` turns it off with the pages' limits."""
    if not settings.RATELIMIT_ENABLE:
        return
    rate = PASSWORD_CHECK_RATE
    now = time.time()
    history = sorted(
        (
            ts
            for ts in cache.get(_password_check_key(request, user=user), [])
            if ts > now - rate.duration
        ),
        reverse=True,
    )
    if len(history) >= rate.amount:
        raise TooManyRequests(wait=history[rate.amount - 1] + rate.duration - now)


def password_check_failed(request, *, user) -> None:
    """Count one wrong password against ``user``'s limit (a form's or a serializer's check)."""
    if settings.RATELIMIT_ENABLE:
        _consume_rate(_password_check_key(request, user=user), PASSWORD_CHECK_RATE)


@contextmanager
def password_check_attempt(request, *, user) -> Iterator[None]:
    """Count a wrong password (``invalid_password`` raised inside) against ``user``'s limit;
    429 while it is used up (:func:`password_check_allowed`, :func:`password_check_failed`)."""
    password_check_allowed(request, user=user)
    try:
        yield
    except Invalid as exc:
        if exc.code == "invalid_password":
            password_check_failed(request, user=user)
        raise
