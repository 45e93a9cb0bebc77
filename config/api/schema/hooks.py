"""``postprocess_schema`` (a ``POSTPROCESSING_HOOK``): the rules that hold for the whole API,
applied to the generated schema."""

from __future__ import annotations

import copy

from config.api.schema.description import API_DESCRIPTION_RULES, rate_limit_text
from config.api.schema.examples import request_example
from config.api.schema.headers import (
    ETAG,
    RESPONSE_HEADERS,
    RETRY_AFTER,
    WWW_AUTHENTICATE,
    conditional_get,
    header_component,
    header_ref,
)
from config.api.schema.request_rules import (
    HTTP_METHODS,
    closed_objects,
    refuse_nul,
    request_schemas,
)


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
    for schema in request_schemas(result):
        closed_objects(schema, set())
    seen: set[int] = set()
    for schema in request_schemas(result):
        refuse_nul(schema, seen)

    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    if "apiKey" in schemes:
        schemes["apiKeyBearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "API key (rst_…)",
            "description": "A scoped API key sent as `Authorization: Bearer rst_…`.",
        }

    for path_item in result.get("paths", {}).values():
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if not operation:
                continue
            security = operation.get("security")
            if security and {"apiKey": []} in security:
                security.insert(security.index({"apiKey": []}) + 1, {"apiKeyBearer": []})
            if method == "get":
                conditional_get(operation)
                _choice_lists_not_empty(operation)
            request_example(operation)
            _access_notes(operation)
            operation.setdefault("responses", {}).setdefault(
                "414", copy.deepcopy(_REQUEST_LINE_TOO_LONG)
            )
            for status, response in operation.get("responses", {}).items():
                if status == "414":
                    continue
                headers = response.setdefault("headers", {})
                for name in RESPONSE_HEADERS:
                    headers.setdefault(name, header_ref(name))
                if status in ("429", "503"):
                    headers.setdefault("Retry-After", header_ref("Retry-After"))
                if status == "401":
                    headers.setdefault("WWW-Authenticate", header_ref("WWW-Authenticate"))
    result["components"].setdefault("headers", {}).update(
        {
            header_component(name): copy.deepcopy(header)
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
        (info.get("description") or "") + API_DESCRIPTION_RULES + (rate_limit_text())
    )
    return result
