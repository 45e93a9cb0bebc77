"""Typed validation of user setting values against their :class:`SettingDefinition`.

A definition is data an admin may change at any time, so the registry checks two things:
that a definition is coherent (its default obeys its own rules, its pattern compiles, its
JSON Schema is a schema), and that a value obeys the definition. Stored values are checked
again on every read: a value that a later definition no longer allows reads back as the
default instead of leaking an out-of-rules value to clients (the admin reports them).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from accounts.models import SettingDefinition

# Bounds that hold whatever a definition says: settings are small, and a row per user per
# key must stay cheap to read on every request.
STRING_HARD_MAX_LENGTH = 4096
JSON_HARD_MAX_BYTES = 32 * 1024
INTEGER_HARD_BOUND = 2**53  # the largest integer every JSON client can represent exactly

Type = SettingDefinition.Type


# The codes a setting value can be refused with (``SettingValueError.code``, and the
# request-level ones of accounts.services.settings).
SETTING_VALUE_ERROR_CODES = [
    "invalid",
    "unknown_setting",
    "invalid_type",
    "not_allowed",
    "min_value",
    "max_value",
    "max_length",
    "pattern",
    "json_schema",
    "invalid_characters",
]


class SettingValueError(ValueError):
    """A value that the definition does not allow. ``code`` names the rule."""

    def __init__(self, code: str, detail: str):
        self.code = code
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True)
class DefinitionProblem:
    field: str
    code: str
    detail: str


def has_forbidden_characters(text: str) -> bool:
    """Control characters and lone surrogates: unprintable, and surrogates break UTF-8."""
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def _walk_strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_strings(v)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check_allowed(definition: SettingDefinition, value: Any) -> None:
    allowed = definition.choices or []
    if allowed and value not in allowed:
        shown = ", ".join(json.dumps(c, ensure_ascii=False) for c in allowed[:20])
        raise SettingValueError("not_allowed", f"Allowed values: {shown}.")


def validate_value(definition: SettingDefinition, value: Any) -> Any:
    """Return the value to store, or raise :class:`SettingValueError` naming the rule."""
    kind = definition.type
    if kind == Type.BOOLEAN:
        if not isinstance(value, bool):
            raise SettingValueError("invalid_type", f"Expected a boolean, got {_type_name(value)}.")
        return value

    if kind == Type.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingValueError(
                "invalid_type", f"Expected an integer, got {_type_name(value)}."
            )
        if abs(value) > INTEGER_HARD_BOUND:
            raise SettingValueError("out_of_range", "The integer is too large.")
        if definition.min_value is not None and value < definition.min_value:
            raise SettingValueError("min_value", f"Must be at least {definition.min_value}.")
        if definition.max_value is not None and value > definition.max_value:
            raise SettingValueError("max_value", f"Must be at most {definition.max_value}.")
        _check_allowed(definition, value)
        return value

    if kind in (Type.STRING, Type.CHOICE):
        if not isinstance(value, str):
            raise SettingValueError("invalid_type", f"Expected a string, got {_type_name(value)}.")
        if kind == Type.CHOICE:
            _check_allowed(definition, value)
            return value
        limit = min(definition.max_length or STRING_HARD_MAX_LENGTH, STRING_HARD_MAX_LENGTH)
        if len(value) > limit:
            raise SettingValueError("max_length", f"At most {limit} characters.")
        if has_forbidden_characters(value):
            raise SettingValueError("invalid_characters", "Control characters are not allowed.")
        if definition.pattern and re.fullmatch(definition.pattern, value) is None:
            # In words: the definition's description says what the value looks like; the
            # pattern itself is for the admin who wrote it, not for the person typing.
            hint = f" {definition.description.strip()}" if definition.description.strip() else ""
            raise SettingValueError("pattern", f"This is not in the form this setting takes.{hint}")
        _check_allowed(definition, value)
        return value

    if kind == Type.JSON:
        try:
            encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise SettingValueError("invalid_type", "Not a JSON value.") from exc
        if len(encoded.encode("utf-8", "surrogatepass")) > JSON_HARD_MAX_BYTES:
            raise SettingValueError("max_length", f"At most {JSON_HARD_MAX_BYTES} bytes of JSON.")
        if any(has_forbidden_characters(s) for s in _walk_strings(value)):
            raise SettingValueError("invalid_characters", "Control characters are not allowed.")
        if definition.json_schema:
            validator = jsonschema.Draft202012Validator(definition.json_schema)
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path)
                prefix = f"At /{where}: " if where else ""
                raise SettingValueError("json_schema", f"{prefix}{error.message}")
        return value

    raise SettingValueError("invalid_definition", f"Unknown setting type {kind!r}.")


def is_valid(definition: SettingDefinition, value: Any) -> bool:
    try:
        validate_value(definition, value)
    except SettingValueError:
        return False
    return True


def effective_value(definition: SettingDefinition, stored: Any, *, has_stored: bool) -> Any:
    """What a user's setting reads as: the stored value if still valid, else the default."""
    if has_stored and is_valid(definition, stored):
        return stored
    return definition.default


def definition_problems(definition: SettingDefinition) -> list[DefinitionProblem]:
    """Everything that makes a definition unusable; empty when it is coherent."""
    problems: list[DefinitionProblem] = []
    kind = definition.type
    if kind not in Type.values:
        return [DefinitionProblem("type", "invalid_choice", f"Unknown type {kind!r}.")]
    if not isinstance(definition.choices, list):
        problems.append(DefinitionProblem("choices", "invalid", "Choices must be a JSON list."))
    elif kind == Type.CHOICE and not definition.choices:
        problems.append(DefinitionProblem("choices", "required", "A choice needs allowed values."))
    elif kind == Type.CHOICE and not all(isinstance(c, str) for c in definition.choices):
        problems.append(DefinitionProblem("choices", "invalid", "Choice values must be strings."))
    if (
        definition.min_value is not None
        and definition.max_value is not None
        and definition.min_value > definition.max_value
    ):
        problems.append(
            DefinitionProblem("max_value", "invalid", "The maximum is below the minimum.")
        )
    if definition.pattern:
        try:
            re.compile(definition.pattern)
        except re.error as exc:
            problems.append(DefinitionProblem("pattern", "invalid", f"Not a valid regex: {exc}."))
    if definition.json_schema is not None:
        if kind != Type.JSON:
            problems.append(
                DefinitionProblem("json_schema", "invalid", "Only json settings take a schema.")
            )
        else:
            try:
                jsonschema.Draft202012Validator.check_schema(definition.json_schema)
            except SchemaError as exc:
                problems.append(
                    DefinitionProblem("json_schema", "invalid", f"Not a JSON Schema: {exc.message}")
                )
    if not problems:
        try:
            validate_value(definition, definition.default)
        except SettingValueError as exc:
            problems.append(
                DefinitionProblem(
                    "default", exc.code, f"The default breaks the definition: {exc.detail}"
                )
            )
    return problems


# --- OpenAPI description of the registry ------------------------------------------------

# Characters a free-text setting or profile field may not contain (see has_forbidden_characters).
PRINTABLE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"

# JSON Schema keywords that mean the same in OpenAPI 3.0; a definition's schema using
# anything else is described as "any JSON value" rather than misdescribed.
_PORTABLE_KEYWORDS = {
    "type",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "properties",
    "required",
    "additionalProperties",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "description",
    "title",
}


def _portable(schema: Any) -> bool:
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or not set(schema) <= _PORTABLE_KEYWORDS:
        return False
    if isinstance(schema.get("type"), list):
        return False
    nested = [schema.get("items"), schema.get("additionalProperties")]
    nested += list((schema.get("properties") or {}).values())
    return all(_portable(s) for s in nested if s is not None)


def openapi_schema(definition: SettingDefinition) -> dict[str, Any]:
    """The OpenAPI 3.0 schema of the values a definition allows (as precise as portable)."""
    kind = definition.type
    schema: dict[str, Any]
    if kind == Type.BOOLEAN:
        schema = {"type": "boolean"}
    elif kind == Type.INTEGER:
        low, high = definition.min_value, definition.max_value
        schema = {
            "type": "integer",
            "minimum": -INTEGER_HARD_BOUND if low is None else max(low, -INTEGER_HARD_BOUND),
            "maximum": INTEGER_HARD_BOUND if high is None else min(high, INTEGER_HARD_BOUND),
        }
        if definition.choices:
            schema["enum"] = list(definition.choices)
    elif kind == Type.CHOICE:
        schema = {"type": "string", "enum": list(definition.choices or [])}
    elif kind == Type.STRING:
        limit = min(definition.max_length or STRING_HARD_MAX_LENGTH, STRING_HARD_MAX_LENGTH)
        schema = {"type": "string", "maxLength": limit}
        if definition.pattern:
            schema["pattern"] = f"^(?:{definition.pattern})$"
        else:
            schema["pattern"] = PRINTABLE_PATTERN
        if definition.choices:
            schema["enum"] = list(definition.choices)
    elif definition.json_schema and _portable(definition.json_schema):
        schema = dict(definition.json_schema)
    else:
        schema = {}
    if definition.description:
        schema["description"] = definition.description
    return schema
