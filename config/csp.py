"""The Content-Security-Policy middleware, with the policy built once per process.

django-csp's ``CSPMiddleware`` rebuilds the header from ``CONTENT_SECURITY_POLICY`` on every
response (``csp.utils.build_policy``: the directives copied, sorted and joined). For a
response that carries no per-view policy (``@csp_update``, ``@csp_replace``, ``@csp``,
``@csp_exempt`` set attributes on the response) and a request that never asked for a nonce,
that string depends on the settings alone, so it is built once and reused: the JSON API's
responses and every page without a nonce. Anything else (a nonce, a per-view policy, DEBUG's
exempted error pages) goes through django-csp's own ``process_response`` unchanged. The cache
follows the settings (``setting_changed``, sent by ``override_settings``).
"""

from __future__ import annotations

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

# The response attributes django-csp's decorators set; any of them means a per-view policy.
_PER_VIEW_ATTRIBUTES = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)
_SETTINGS = ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY", "DEBUG")

# (header, report-only header, excluded prefixes, report-only excluded prefixes), or None
# until the first response after start-up or a settings change.
_cached: tuple[str, str, tuple[str, ...], tuple[str, ...]] | None = None


def _excluded_prefixes(setting: str) -> tuple[str, ...]:
    policy = getattr(settings, setting, None) or {}
    return tuple(policy.get("EXCLUDE_URL_PREFIXES", None) or ())


def _policies() -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    global _cached
    if _cached is None:
        _cached = (
            build_policy(),
            build_policy(report_only=True),
            _excluded_prefixes("CONTENT_SECURITY_POLICY"),
            _excluded_prefixes("CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        )
    return _cached


@receiver(setting_changed)
def _forget_policies(*, setting: str, **kwargs) -> None:
    global _cached
    if setting in _SETTINGS:
        _cached = None


class CachedPolicyCSPMiddleware(CSPMiddleware):
    """``csp.middleware.CSPMiddleware`` that reuses the settings' policy when it can."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if (
            settings.DEBUG
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _PER_VIEW_ATTRIBUTES)
        ):
            return super().process_response(request, response)
        policy, policy_ro, excluded, excluded_ro = _policies()
        path = request.path_info
        if policy and HEADER not in response and not path.startswith(excluded):
            response[HEADER] = policy
        if policy_ro and HEADER_REPORT_ONLY not in response and not path.startswith(excluded_ro):
            response[HEADER_REPORT_ONLY] = policy_ro
        # As django-csp does: a nonce asked for once the header is written is an error,
        # since it could no longer be in the policy.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
