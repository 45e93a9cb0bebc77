"""The client's address, one answer for the login policy, sessions and the audit log.

allauth decides (``get_client_ip``), so the address an ``auth.lockout`` is counted against is
the address the audit event records. ``X-Forwarded-For`` is spoofable: it is read only when
``ALLAUTH_TRUSTED_PROXY_COUNT`` (env ``TRUSTED_PROXY_COUNT``) says how many proxies of ours
append to it, and then only the entry the outermost of them wrote. Otherwise ``REMOTE_ADDR``.
"""

from __future__ import annotations

from allauth.core.internal.httpkit import get_client_ip


def client_ip(request) -> str | None:
    """A valid IP address, or None (no request, or a header that does not fit the proxy count)."""
    if request is None:
        return None
    # DRF wraps Django's request; allauth reads the headers of the inner one.
    request = getattr(request, "_request", request)
    try:
        return get_client_ip(request)
    except Exception:  # noqa: BLE001 - a missing/odd address is no reason to fail the request
        return None
