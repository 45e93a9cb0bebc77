"""The client's address: the one answer for the sign-in limits, the API's request budgets,
sessions, the audit log and allauth (whose adapter asks here,
accounts.adapters.AccountAdapter.get_client_ip). Nothing else reads ``REMOTE_ADDR`` or
``X-Forwarded-For`` for an address.

``X-Forwarded-For`` is spoofable: it is read only when ``ALLAUTH_TRUSTED_PROXY_COUNT`` (env
``TRUSTED_PROXY_COUNT``) says how many proxies of ours append to it, and then only the entry
the outermost of them wrote. ``ALLAUTH_TRUSTED_CLIENT_IP_HEADER`` names a header a proxy of
ours sets instead. Otherwise ``REMOTE_ADDR``. These are allauth's settings, read the way
allauth reads them, so one configuration serves every door.
"""

from __future__ import annotations

import ipaddress

from allauth import app_settings as allauth_settings
from django.http.request import split_domain_port


def _forwarded_for(request) -> tuple[bool, str | None]:
    """(usable, address) from X-Forwarded-For; unusable when it has fewer entries than the
    proxies we trust (someone else wrote it, or a proxy is missing)."""
    trusted = allauth_settings.TRUSTED_PROXY_COUNT
    header = request.headers.get("x-forwarded-for")
    if trusted <= 0 or not header:
        return True, None
    entries = header.split(",")
    if len(entries) < trusted:
        return False, None
    return True, entries[-trusted]


def _clean(value: str) -> str | None:
    value = value.strip()
    try:
        host, port = split_domain_port(value)
        if port and host:
            value = host[1:-1] if host[0] == "[" and host[-1] == "]" else host
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """A valid IP address, or None when the client's address is unknown.

    Unknown means: no request; the trusted client-IP header missing; an X-Forwarded-For with
    fewer entries than the proxies we trust (the request went around a proxy of ours, so
    ``REMOTE_ADDR`` is a proxy or whoever bypassed it, not the client); or a value that is not
    an IP address. Each caller says what unknown means to it: the sign-in limits refuse the
    attempt (as allauth's pages do), the API's budgets count every unknown caller in one
    bucket, the audit log records no address."""
    if request is None:
        return None
    # DRF wraps Django's request; the headers are the inner one's.
    request = getattr(request, "_request", request)
    header = allauth_settings.TRUSTED_CLIENT_IP_HEADER
    if header:
        address = request.headers.get(header)
    else:
        usable, address = _forwarded_for(request)
        if not usable:
            return None
        address = address or request.META.get("REMOTE_ADDR")
    return _clean(address) if address else None
