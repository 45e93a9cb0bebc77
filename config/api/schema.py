"""The OpenAPI contract, made uniform for every operation in one place.

``AutoSchema`` (``DEFAULT_SCHEMA_CLASS``) gives each operation, from what the view declares:

- a readable operation id (``slots_list``, ``slots_suspend``, ``auth_token``) and a tag;
- every error status it can answer, each with the one error envelope of docs/api.md and the
  machine codes it can carry (``x-error-codes`` and the description): 400 for bodies,
  filters and query parameters, 401/403 for authenticated operations, 404 for path
  parameters and pages, 409 where a rule can conflict, 413/415 for bodies, 429 everywhere;
- the security schemes that may call it (API keys are left out where ``NotApiKey`` refuses
  them), the API-key scope it needs (``x-required-scopes``) and the rate limit in force
  (``x-rate-limit``).

Request strings follow DRF's CharField: no NUL, and not only whitespace where blank values
are refused (a ``pattern`` each), so a generated client or a fuzzer knows what is refused.

``postprocess_schema`` (a ``POSTPROCESSING_HOOK``) then applies the rules that hold for the
whole API: request bodies refuse unknown fields (``additionalProperties: false``), other
request strings and query parameters refuse NUL, every response carries ``X-Request-ID``
and the ``X-RateLimit-*`` headers, 429s ``Retry-After``, 401s ``WWW-Authenticate``, every
GET an ``ETag`` (304 on ``If-None-Match``); request examples and the access rules in words
are added, and the rate limits of the deployment go into the API description.
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import extend_schema_field
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_utils import (
    get_django_filter_backends,
    get_filter_forms,
    get_flat_serializer_fields,
    get_form_fields_with_error_codes,
    get_serializer_fields_with_error_codes,
)
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, AllowAny

# --- the error envelope -----------------------------------------------------------------

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


_TAG_FOR_TOKEN = {
    "slot-types": "slots",
    "meters": "usage",
    "admin": "usage",
}


def _class_of(serializer: Any) -> Any:
    return serializer if isinstance(serializer, type) else type(serializer)


def _codes_text(codes: list[str]) -> str:
    return ", ".join(f"`{c}`" for c in codes)


class AutoSchema(StandardizedErrorsAutoSchema):
    # --- ids, tags ------------------------------------------------------------------------

    def _tokenize_path(self) -> list[str]:
        tokens = super()._tokenize_path()
        if tokens[:2] == ["api", "v1"]:
            tokens = tokens[2:]
        elif tokens[:1] == [".well-known"]:
            tokens = tokens[1:]
        return tokens

    def get_operation_id(self) -> str:
        # Explicit ids (extend_schema(operation_id=...)) never reach this method.
        tokens = [t.split(".")[0].replace("-", "_") for t in self._tokenize_path()]
        if self.method == "POST" and self._posts_an_action():
            return "_".join(tokens)
        if self.method == "GET" and self._is_list_view():
            action = "list"
        else:
            action = self.method_mapping[self.method.lower()]
        return "_".join([*tokens, action])

    def _posts_an_action(self) -> bool:
        """A POST that does something (sign in, suspend) rather than add to a collection."""
        action = getattr(self.view, "action", None)
        if action is not None:
            return action != "create"
        return not hasattr(self.view, "get")

    def get_tags(self) -> list[str]:
        tags = super().get_tags()
        first = self._tokenize_path()[:1]
        if first and tags == first:
            return [_TAG_FOR_TOKEN.get(first[0], first[0])]
        return tags

    # --- string rules of DRF's CharField -------------------------------------------------

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and not _UNCONSTRAINED_STRING_KEYS & set(schema)
        ):
            # CharField refuses NUL, and (trimming) a value of only whitespace when blank
            # values are not allowed: both are part of the contract.
            blank_refused = field.trim_whitespace and not field.allow_blank
            schema["pattern"] = NON_BLANK_PATTERN if blank_refused else NO_NUL_PATTERN
        return schema

    # --- request bodies on DELETE -------------------------------------------------------

    def _get_request_body(self, direction="request"):
        # DELETE /users/me takes {password}; spectacular only documents bodies of
        # POST/PUT/PATCH, so a DELETE documents its body when the view declares one.
        if self.method == "DELETE" and self._declares_request():
            self.method = "POST"
            try:
                return super()._get_request_body(direction)
            finally:
                self.method = "DELETE"
        return super()._get_request_body(direction)

    def _declares_request(self) -> bool:
        # Only generic views: spectacular cannot guess a plain APIView's serializer.
        if not hasattr(self.view, "get_serializer"):
            return False
        declared = self.get_request_serializer()
        default = SpectacularAutoSchema.get_request_serializer(self)
        return declared is not None and _class_of(declared) is not _class_of(default)

    # --- security, scopes, limits -------------------------------------------------------

    def _permission_classes(self) -> list[type]:
        return [p.__class__ for p in self.view.get_permissions()]

    def _refuses_api_keys(self) -> bool:
        if any(p.__name__ == "NotApiKey" for p in self._permission_classes()):
            return True
        # HasScope closes views that declare no scope to API keys unless they opt in.
        return (
            any(p.__name__ == "HasScope" for p in self._permission_classes())
            and not getattr(self.view, "required_scopes", None)
            and not getattr(self.view, "api_key_without_scope", False)
        )

    def _is_public(self) -> bool:
        return self._permission_classes() == [AllowAny]

    def get_auth(self):
        auths = super().get_auth()
        if self._refuses_api_keys():
            auths = [a for a in auths if "apiKey" not in a]
        return auths

    def required_scope(self) -> str | None:
        scopes = getattr(self.view, "required_scopes", None)
        if not scopes or self._refuses_api_keys() or self._is_public():
            return None
        read_scope, write_scope = scopes
        return read_scope if self.method in SAFE_METHODS else write_scope

    def sensitive_rate(self) -> str | None:
        scope = getattr(self.view, "throttle_scope", None)
        return settings.API_SENSITIVE_RATE_LIMITS.get(scope) if scope else None

    def get_extensions(self) -> dict[str, Any]:
        extensions = dict(super().get_extensions() or {})
        if self._is_public():
            extensions["x-required-scopes"] = []
        elif self._refuses_api_keys():
            extensions["x-api-keys"] = "refused"
        else:
            scope = self.required_scope()
            extensions["x-required-scopes"] = [scope] if scope else []
        rate = self.sensitive_rate()
        extensions["x-rate-limit"] = (
            f"{rate} per client IP" if rate else "per role (see the API description)"
        )
        return extensions

    # --- error responses ------------------------------------------------------------------

    def _get_response_bodies(self, direction="response"):
        responses = SpectacularAutoSchema._get_response_bodies(self, direction=direction)
        if direction != "response":
            return responses
        declared = {
            int(code): response
            for code, response in responses.items()
            if str(code).isdigit() and int(code) >= 400
        }
        result = {c: r for c, r in responses.items() if not (str(c).isdigit() and int(c) >= 400)}
        envelope = self.resolve_serializer(ErrorResponseSerializer, "response").ref
        for status, codes in self._error_codes(declared).items():
            result[str(status)] = self._error_response(
                status, codes, declared.get(status), envelope
            )
        return result

    def _has_body(self) -> bool:
        if self.method in ("POST", "PUT", "PATCH"):
            return self.get_request_serializer() is not None
        return self.method == "DELETE" and self._declares_request()

    def _query_parameters(self) -> list[dict]:
        return [p for p in self._get_parameters() if p.get("in") == "query"]

    def _field_codes(self) -> dict[str, set[str]]:
        """Validation codes by field, from the request serializer or the filter forms."""
        if self._has_body():
            serializer = self.get_request_serializer()
            if isinstance(serializer, dict):  # {"application/json": OpenApiTypes.OBJECT}
                return {}
            try:
                fields = get_serializer_fields_with_error_codes(
                    get_flat_serializer_fields(serializer)
                )
            except Exception:  # noqa: BLE001 - an exotic serializer only loses the field list
                return {}
        else:
            backends = get_django_filter_backends(self.get_filter_backends())
            forms = get_filter_forms(self.view, backends) if backends else []
            fields = [f for form in forms for f in get_form_fields_with_error_codes(form)]
        codes: dict[str, set[str]] = {}
        for field in fields:
            codes.setdefault(field.name, set()).update(field.error_codes)
        return codes

    def _error_codes(self, declared: dict[int, Any]) -> dict[int, list[str]]:
        """Every error status this operation can answer, with the codes each can carry."""
        domain = declared_errors(self.view, self.method)
        has_body = self._has_body()
        public = self._is_public()
        path_params = any(p.get("in") == "path" for p in self._get_parameters())
        paginated = self._get_paginator() is not None and self._is_list_view()
        statuses: dict[int, list[str]] = {}

        def add(status: int, *codes: str) -> None:
            bucket = statuses.setdefault(status, [])
            bucket.extend(c for c in codes if c not in bucket)

        if has_body or self._query_parameters() or 400 in domain or 400 in declared:
            add(400)
            if has_body:
                add(400, "parse_error", "unknown_field")
            for field_codes in self._field_codes().values():
                add(400, *sorted(field_codes))
        if not public:
            add(401, *AUTH_FAILURE_CODES)
            add(403, "permission_denied")
            if not self._refuses_api_keys() and getattr(self.view, "required_scopes", None):
                add(403, "insufficient_scope")
            if self._refuses_api_keys():
                add(403, "api_key_not_allowed")
        if path_params or paginated or 404 in domain:
            add(404, "not_found")
        if 409 in domain or 409 in declared:
            add(409)
        if has_body:
            add(413, "payload_too_large")
            add(415, "unsupported_media_type")
        add(429, "throttled")
        add(503, "service_unavailable")
        for status, codes in domain.items():
            add(status, *codes)
        for status in declared:
            add(status)
        return dict(sorted(statuses.items()))

    def _error_response(self, status: int, codes: list[str], declared, envelope) -> dict:
        text = STATUS_TEXT.get(status, "Error.")
        declared_text = declared.get("description") if isinstance(declared, dict) else None
        # A view's own wording wins, unless the codes listed here are more precise.
        if declared_text and status not in declared_errors(self.view, self.method):
            text = declared_text
        if codes:
            text = f"{text} Codes: {_codes_text(codes)}."
        example_code = codes[0] if codes else "error"
        return {
            "description": text,
            "content": {
                "application/json": {
                    "schema": envelope,
                    "example": {
                        "type": (
                            "validation_error"
                            if status == 400
                            else "server_error"
                            if status >= 500
                            else "client_error"
                        ),
                        "errors": [
                            {
                                "code": example_code,
                                "detail": STATUS_TEXT.get(status, "Error."),
                                "attr": None,
                            }
                        ],
                    },
                }
            },
            "x-error-codes": codes,
        }


class TokenRequestExtension(OpenApiSerializerExtension):
    """``POST /auth/token`` needs ``email`` or ``username`` besides the password."""

    target_class = "accounts.api.auth_serializers.TokenRequestSerializer"

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["anyOf"] = [{"required": ["email"]}, {"required": ["username"]}]
        return schema


# --- whole-schema rules -------------------------------------------------------------------

NO_NUL_PATTERN = r"^[^\u0000]*$"
# Python's str.strip() whitespace, spelled out so every regex dialect reads it alike.
_WHITESPACE = (
    r"\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
NON_BLANK_PATTERN = rf"^[^\u0000]*[^\u0000{_WHITESPACE}][^\u0000]*$"
_UNCONSTRAINED_STRING_KEYS = {"format", "enum", "pattern", "const"}
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

RESPONSE_HEADERS = {
    "X-Request-ID": {
        "description": "The request's id (a valid incoming `X-Request-ID` is echoed). The "
        "same id is in the logs and in the audit events the request wrote.",
        "required": True,
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {
        "description": "Requests allowed in the current window for this caller (the "
        "tightest limit in force). Absent when rate limiting is off.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Seconds until the current window ends.",
        "schema": {"type": "integer"},
    },
}
RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "required": True,
    "schema": {"type": "integer"},
}
WWW_AUTHENTICATE = {
    "description": 'How to authenticate: `Bearer realm="api"`.',
    "required": True,
    "schema": {"type": "string"},
}


ETAG = {
    "description": "A hash of the body. Send it back as `If-None-Match` to get 304 when "
    "nothing changed.",
    "required": True,
    "schema": {"type": "string"},
}


def _conditional_get(operation: dict) -> None:
    """Every GET answers with an ``ETag`` and honours ``If-None-Match`` (Django's
    ConditionalGetMiddleware): 304 with no body when the representation is unchanged."""
    operation.setdefault("parameters", []).append(
        {
            "in": "header",
            "name": "If-None-Match",
            "required": False,
            "schema": {"type": "string"},
            "description": "The `ETag` of a copy you hold; 304 when it is still current.",
        }
    )
    responses = operation.setdefault("responses", {})
    for status in ("200",):
        if status in responses:
            responses[status].setdefault("headers", {})["ETag"] = _header_ref("ETag")
    responses["304"] = {
        "description": "Not modified: the copy named by `If-None-Match` is current.",
        "headers": {"ETag": _header_ref("ETag")},
    }


# Request examples, by operation id: what a client would send against a fresh Roster (the
# seeded slot types, meters and settings). The fuzzer's "examples" phase sends them too.
REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "auth_token": {"email": "ada@example.com", "password": "correct horse battery staple"},
    "auth_token_mfa": {"mfa_token": "Jm3x…from POST /auth/token", "code": "123456"},
    "auth_token_refresh": {"refresh": "eyJhbGciOiJSUzI1NiIsImtpZCI6…"},
    "auth_register": {
        "email": "ada@example.com",
        "password": "correct horse battery staple",
        "display_name": "Ada Lovelace",
    },
    "auth_password_reset": {"email": "ada@example.com"},
    "users_me_partial_update": {"display_name": "Ada", "timezone": "Europe/Zurich"},
    "users_me_update": {
        "username": "ada",
        "display_name": "Ada Lovelace",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+41446681800",
        "department": "Analytical Engines",
        "timezone": "Europe/London",
        "locale": "en",
    },
    "users_me_destroy": {"password": "correct horse battery staple"},
    "users_me_password": {
        "current_password": "correct horse battery staple",
        "new_password": "a longer and newer passphrase",
    },
    "users_me_settings_partial_update": {"theme": "dark", "page_size": 100},
    "users_me_preferences_partial_update": {"theme": "dark"},
    "users_me_api_keys_create": {
        "name": "CI usage uploader",
        "scopes": ["usage:write"],
        "expires_at": "2031-01-01T00:00:00Z",
    },
    "users_partial_update": {"status": "suspended"},
    "users_bulk": {
        "action": "create",
        "users": [{"email": "grace@example.com", "display_name": "Grace", "roles": ["member"]}],
    },
    "slots_create": {
        "type": "workspace",
        "name": "dev box",
        "config": {"cpu": 2, "memory_gb": 4, "region": "eu-west"},
    },
    "slots_partial_update": {"name": "dev box (big)", "config": {"cpu": 4, "memory_gb": 16}},
    "slots_credentials_update": {"kind": "api_key", "api_key": "sk-live-51Hc9example"},
    "usage_events_create": {
        "events": [
            {"meter": "api.requests", "idempotency_key": "req-7f3a"},
            {"meter": "tokens.input", "quantity": 1250, "idempotency_key": "req-7f3a-in"},
        ]
    },
}


def _request_example(operation: dict) -> None:
    example = REQUEST_EXAMPLES.get(operation.get("operationId", ""))
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if example is not None and media is not None:
        media.setdefault("example", example)


def _access_notes(operation: dict) -> None:
    """Who may call, in words, from the extensions set by AutoSchema."""
    notes = []
    if operation.get("x-api-keys") == "refused":
        notes.append("**API keys:** refused (403); use a JWT or the browser session.")
    elif operation.get("x-required-scopes"):
        scopes = ", ".join(f"`{s}`" for s in operation["x-required-scopes"])
        notes.append(f"**API keys:** need the scope {scopes}.")
    rate = operation.get("x-rate-limit", "")
    if rate.endswith("per client IP"):
        notes.append(f"**Rate limit:** {rate}, on top of the sign-in lockout.")
    if notes:
        operation["description"] = "\n\n".join([operation.get("description", ""), *notes]).strip()


def _header_component(name: str) -> str:
    return name.replace("-", "")


def _header_ref(name: str) -> dict:
    return {"$ref": f"#/components/headers/{_header_component(name)}"}


def _refuse_nul(schema: Any, seen: set[int]) -> None:
    """Strings in requests refuse NUL: the JSON parser rejects ``\\u0000`` (PostgreSQL
    cannot store it), and so do the form fields behind query parameters."""
    if isinstance(schema, list):
        for item in schema:
            _refuse_nul(item, seen)
        return
    if not isinstance(schema, dict) or id(schema) in seen:
        return
    seen.add(id(schema))
    if schema.get("type") == "string" and not _UNCONSTRAINED_STRING_KEYS & set(schema):
        schema["pattern"] = NO_NUL_PATTERN
    for key, value in schema.items():
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            for sub in value.values():
                _refuse_nul(sub, seen)
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            _refuse_nul(value, seen)


def _closed_objects(schema: Any, seen: set[int]) -> None:
    """Request objects with declared properties refuse any other key (400 ``unknown_field``)."""
    if isinstance(schema, list):
        for item in schema:
            _closed_objects(item, seen)
        return
    if not isinstance(schema, dict) or id(schema) in seen:
        return
    seen.add(id(schema))
    if "properties" in schema and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            for sub in value.values():
                _closed_objects(sub, seen)
        elif key in ("items", "allOf", "anyOf", "oneOf"):
            _closed_objects(value, seen)


def _request_schemas(result: dict) -> list[dict]:
    """Schemas that describe what clients send: request components and inline bodies."""
    components = result.get("components", {}).get("schemas", {})
    found = [s for name, s in components.items() if name.endswith("Request")]
    for path_item in result.get("paths", {}).values():
        for method in _HTTP_METHODS:
            operation = path_item.get(method)
            if not operation:
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                schema = media.get("schema", {})
                if "$ref" not in schema:
                    found.append(schema)
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and "schema" in parameter:
                    found.append(parameter["schema"])
    return found


def _rate_limit_text() -> str:
    roles = settings.API_RATE_LIMITS
    sensitive = settings.API_SENSITIVE_RATE_LIMITS
    rows = "\n".join(f"| {role} | {rate} |" for role, rate in roles.items())
    scoped = "\n".join(
        f"| {scope.replace('_', ' ')} | {rate} per IP |" for scope, rate in sensitive.items()
    )
    return (
        "\n\n## Rate limits\n\n"
        "Every caller has a budget per fixed window, shared by all Roster processes (Redis). "
        "Signed-in callers are counted per user by their highest role; API keys count as "
        "their owner; anonymous callers per IP:\n\n"
        f"| caller | limit |\n|---|---|\n{rows}\n\n"
        "Sign-in endpoints have stricter per-IP buckets on top (and the account lockout "
        "after repeated failures):\n\n"
        f"| endpoint | limit |\n|---|---|\n{scoped}\n\n"
        "Responses carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` "
        "(the tightest limit in force); a refused request is 429 with `Retry-After`."
    )


API_DESCRIPTION_RULES = """

## Conventions

- JSON in and out (`application/json`, UTF-8). Both `/api/v1/x` and `/api/v1/x/` work.
- Request bodies accept only the fields documented for them: any other key is 400
  `unknown_field` (`attr` names the key), a read-only one 400 `read_only_field`. Strings
  may not contain NUL (`\\u0000`); arrays and objects nest at most 64 levels (deeper is
  400 `parse_error`: no document of the API needs more, and it keeps decoding cheap);
  bodies above 2 MB are 413, `Content-Length` or `Transfer-Encoding: chunked` alike.
- Errors: every 4xx/5xx body is `{type, errors: [{code, detail, attr}]}`. Each operation
  lists the `code`s it can return per status (also as `x-error-codes`).
- Lists: page-number pagination (`page`, `page_size` ≤ 200) returning `{count, next,
  previous, results}`; audit and usage events use cursor pagination (`cursor`,
  `page_size`) returning `{next, previous, results}`. `ordering` takes a field name,
  `-` for descending.
- Authentication: `Authorization: Bearer <JWT>` (RS256; verify with
  `/.well-known/jwks.json`), an API key as `Authorization: Bearer rst_…` or
  `X-API-Key: rst_…`, or the browser session cookie with CSRF. API keys carry scopes
  (`x-required-scopes` on each operation); some operations refuse API keys altogether.
- Every response carries `X-Request-ID`. `GET /users/me` and `GET /slots/{id}` send an
  `ETag`; repeat with `If-None-Match` to get 304 when nothing changed.
"""


# Answered by gunicorn, before Roster, when method + path + query exceed its request-line
# limit (4,094 bytes): plain HTML, not the error envelope, so it is documented as such.
_REQUEST_LINE_TOO_LONG = {
    "description": (
        "URI Too Long: the request line (method, path and query string) is over the web "
        "server's limit of 4,094 bytes. Answered by gunicorn before Roster, as plain text."
    ),
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


def _choice_lists_not_empty(operation: dict) -> None:
    """A query list of choices (``?ordering=``) given empty is refused (400), so the schema
    says it holds at least one item: otherwise ``?ordering=`` would read as a valid empty
    list to a client or a fuzzer, though it is also a list holding one blank choice."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") == "query" and schema.get("type") == "array":
            if "enum" in schema.get("items", {}):
                schema.setdefault("minItems", 1)


def postprocess_schema(result: dict, generator, request=None, public=True, **kwargs) -> dict:
    for schema in _request_schemas(result):
        _closed_objects(schema, set())
    seen: set[int] = set()
    for schema in _request_schemas(result):
        _refuse_nul(schema, seen)

    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    if "apiKey" in schemes:
        schemes["apiKeyBearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "API key (rst_…)",
            "description": "A scoped API key sent as `Authorization: Bearer rst_…`.",
        }

    for path_item in result.get("paths", {}).values():
        for method in _HTTP_METHODS:
            operation = path_item.get(method)
            if not operation:
                continue
            security = operation.get("security")
            if security and {"apiKey": []} in security:
                security.insert(security.index({"apiKey": []}) + 1, {"apiKeyBearer": []})
            if method == "get":
                _conditional_get(operation)
                _choice_lists_not_empty(operation)
            _request_example(operation)
            _access_notes(operation)
            operation.setdefault("responses", {}).setdefault(
                "414", copy.deepcopy(_REQUEST_LINE_TOO_LONG)
            )
            for status, response in operation.get("responses", {}).items():
                if status == "414":
                    continue
                headers = response.setdefault("headers", {})
                for name in RESPONSE_HEADERS:
                    headers.setdefault(name, _header_ref(name))
                if status in ("429", "503"):
                    headers.setdefault("Retry-After", _header_ref("Retry-After"))
                if status == "401":
                    headers.setdefault("WWW-Authenticate", _header_ref("WWW-Authenticate"))
    result["components"].setdefault("headers", {}).update(
        {
            _header_component(name): copy.deepcopy(header)
            for name, header in [
                *RESPONSE_HEADERS.items(),
                ("Retry-After", RETRY_AFTER),
                ("WWW-Authenticate", WWW_AUTHENTICATE),
                ("ETag", ETAG),
            ]
        }
    )

    info = result.setdefault("info", {})
    info["description"] = (
        (info.get("description") or "") + API_DESCRIPTION_RULES + (_rate_limit_text())
    )
    return result
