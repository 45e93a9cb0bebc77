"""The error envelope of every 4xx and 5xx answer, the words for each status, the codes
every authenticated operation can carry, and the domain codes a view declares."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

ERROR_TYPES = ["validation_error", "client_error", "server_error"]


@extend_schema_field({"type": "string", "enum": ERROR_TYPES})
class _ErrorTypeField(serializers.CharField):
    pass


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Machine-readable and stable: branch on this, not on `detail`."
    )
    detail = serializers.CharField(help_text="Human-readable explanation (English).")
    attr = serializers.CharField(
        allow_null=True,
        help_text="The field at fault, dotted for nested fields and list items "
        "(`events.3.meter`, `config.cpu`); null when the error is not about one field.",
    )


class ErrorResponseSerializer(serializers.Serializer):
    """The body of every 4xx and 5xx answer of the API."""

    type = _ErrorTypeField(
        help_text="`validation_error` (400 about the input), `client_error` (other 4xx), "
        "`server_error` (5xx)."
    )
    errors = ErrorSerializer(many=True, help_text="At least one error.")


STATUS_TEXT = {
    400: "Invalid input: the body, a query parameter or a value is not acceptable.",
    401: "Not authenticated: no credentials, or the token or API key is not valid "
    "(`WWW-Authenticate` says how to sign in).",
    403: "Authenticated, but the role or the API key's scope does not allow this.",
    404: "Not found, or not visible to the caller (other users' objects are never revealed).",
    409: "Conflict with the current state (duplicate, quota, illegal state change).",
    413: "The request body is larger than the limit (2 MB by default).",
    415: "The body is not `application/json`.",
    429: "Rate limited: wait `Retry-After` seconds.",
    503: "A service Roster depends on (database, cache, broker) is unreachable: retry after "
    "`Retry-After` seconds.",
}

# Codes every operation of a kind can produce, beyond the per-operation ones below.
AUTH_FAILURE_CODES = [
    "not_authenticated",
    "authentication_failed",
    "token_invalid",
    "token_expired",
    "token_revoked",
    "token_wrong_type",
    "token_unknown_key",
    "token_algorithm_not_allowed",
    "invalid_api_key",
    "api_key_expired",
    "api_key_revoked",
    "account_inactive",
]


def declared_errors(view, method: str) -> dict[int, list[str]]:
    """The domain error codes a view declares for one operation, per status.

    A view lists the codes its services raise next to itself, in ``error_codes``: status
    keys apply to every operation of the view; a key naming the action (viewsets), the
    HTTP method (``"patch"``) or both (``"credentials:put"``) holds the codes of that
    operation. The schema collects them from there; nothing lists them by operation id.
    """
    declared = getattr(view, "error_codes", None) or {}
    action = getattr(view, "action", None)
    method = method.lower()
    found: dict[int, list[str]] = {}
    per_operation = [declared.get(k, {}) for k in (f"{action}:{method}", action, method) if k]
    for table in [{k: v for k, v in declared.items() if isinstance(k, int)}, *per_operation]:
        for status, codes in table.items():
            bucket = found.setdefault(status, [])
            bucket.extend(c for c in codes if c not in bucket)
    return found


def codes_text(codes: list[str]) -> str:
    return ", ".join(f"`{c}`" for c in codes)
