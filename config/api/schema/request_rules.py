"""What requests may hold, as the schema says it: strings refuse NUL (and blank values where
DRF's CharField refuses them), objects refuse unknown keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NO_NUL_PATTERN = r"^[^\u0000]*$"
# Python's str.strip() whitespace, spelled out so every regex dialect reads it alike (a
# character class body: the request rules of other apps build on it too).
STRIP_WHITESPACE = (
    r"\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
NON_BLANK_PATTERN = rf"^[^\u0000]*[^\u0000{STRIP_WHITESPACE}][^\u0000]*$"
UNCONSTRAINED_STRING_KEYS = {"format", "enum", "pattern", "const"}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _visit(
    schema: Any,
    seen: set[int],
    rule: Callable[[dict], None],
    *,
    maps: tuple[str, ...],
    nested: tuple[str, ...],
) -> None:
    """Apply ``rule`` to every schema object reached through the keys ``maps`` (objects of
    schemas) and ``nested`` (a schema or a list of them), each object once."""
    if isinstance(schema, list):
        for item in schema:
            _visit(item, seen, rule, maps=maps, nested=nested)
        return
    if not isinstance(schema, dict) or id(schema) in seen:
        return
    seen.add(id(schema))
    rule(schema)
    for key, value in schema.items():
        if key in maps and isinstance(value, dict):
            for sub in value.values():
                _visit(sub, seen, rule, maps=maps, nested=nested)
        elif key in nested:
            _visit(value, seen, rule, maps=maps, nested=nested)


def _nul_refused(schema: dict) -> None:
    if schema.get("type") == "string" and not UNCONSTRAINED_STRING_KEYS & set(schema):
        schema["pattern"] = NO_NUL_PATTERN


def refuse_nul(schema: Any, seen: set[int]) -> None:
    """Strings in requests refuse NUL: the JSON parser rejects ``\\u0000`` (PostgreSQL
    cannot store it), and so do the form fields behind query parameters."""
    _visit(
        schema,
        seen,
        _nul_refused,
        maps=("properties", "patternProperties"),
        nested=("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"),
    )


def _closed(schema: dict) -> None:
    if "properties" in schema and "additionalProperties" not in schema:
        schema["additionalProperties"] = False


def closed_objects(schema: Any, seen: set[int]) -> None:
    """Request objects with declared properties refuse any other key (400 ``unknown_field``)."""
    _visit(schema, seen, _closed, maps=("properties",), nested=("items", "allOf", "anyOf", "oneOf"))


def request_schemas(result: dict) -> list[dict]:
    """Schemas that describe what clients send: request components and inline bodies."""
    components = result.get("components", {}).get("schemas", {})
    found = [s for name, s in components.items() if name.endswith("Request")]
    for path_item in result.get("paths", {}).values():
        for method in HTTP_METHODS:
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
