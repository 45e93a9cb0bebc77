"""``AutoSchema`` (``DEFAULT_SCHEMA_CLASS``): each operation's id, tag, string rules, body on
DELETE, security schemes, API-key scope, rate limit and every error status it can answer."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import is_serializer
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

from config.api.schema.errors import (
    AUTH_FAILURE_CODES,
    STATUS_TEXT,
    ErrorResponseSerializer,
    codes_text,
    declared_errors,
)
from config.api.schema.request_rules import (
    NO_NUL_PATTERN,
    NON_BLANK_PATTERN,
    UNCONSTRAINED_STRING_KEYS,
)

_TAG_FOR_TOKEN = {
    "slot-types": "slots",
    "meters": "usage",
    "admin": "usage",
}


def _class_of(serializer: Any) -> Any:
    return serializer if isinstance(serializer, type) else type(serializer)


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
            and not UNCONSTRAINED_STRING_KEYS & set(schema)
            # A RegexField's own pattern is written in after this (spectacular maps the
            # field's validators next, and keeps a pattern already set): it must win.
            and not any(isinstance(v, RegexValidator) for v in field.validators)
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

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # A body that must name one field of several (a oneOf/anyOf of ``required``) is
        # required, though no single field is: without a body the request is refused.
        if not required and is_serializer(serializer):
            component = self.resolve_serializer(serializer, direction).schema or {}
            branches = component.get("oneOf") or component.get("anyOf") or []
            required = bool(branches) and all(branch.get("required") for branch in branches)
        return schema, required

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
            text = f"{text} Codes: {codes_text(codes)}."
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
