"""The client's address: the one answer for the sign-in limits, sessions, the audit log and
allauth (whose adapter asks here, accounts.adapters.AccountAdapter.get_client_ip).

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
    """A valid IP address, or None (no request, or a header that does not fit the proxy count)."""
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
