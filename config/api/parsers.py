"""A JSON parser that bounds the body size and refuses what the database cannot store."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser as BaseJSONParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


# How deep arrays and objects may nest. Roster's deepest documents (settings values, slot
# config, usage metadata) need a handful of levels; 64 leaves room for any of them while
# staying far below Python's recursion limit (1000), so the decoder and everything that
# walks the data afterwards (NUL check, serializers, JSON Schema, JSONField) is safe.
MAX_JSON_DEPTH = 64

# A JSON string, escapes included (unrolled so that it scans in linear time).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting_exceeds(raw: bytes, limit: int) -> bool:
    """Whether arrays/objects in ``raw`` nest deeper than ``limit``, without recursing.

    Strings are blanked out, everything but brackets is dropped, and each round removes
    the innermost pairs (one level), all in C: at most ``limit`` rounds over the body.
    Unbalanced leftovers count as open levels; json.loads reports them as malformed.
    """
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return False
    brackets = brackets.replace(b"{", b"[").replace(b"}", b"]")
    levels = 0
    while brackets and levels <= limit:
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets, levels = shorter, levels + 1
    return levels + brackets.count(b"[") > limit


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _contains_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


class JSONParser(BaseJSONParser):
    # How a number with a fraction or an exponent is read; ExactJSONParser reads Decimals.
    parse_float = float

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        meta = getattr(request, "META", {}) if request is not None else {}
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if limit and declared > limit:
            raise PayloadTooLarge()
        raw = stream.read(limit + 1) if limit else stream.read()
        if limit and len(raw) > limit:
            raise PayloadTooLarge()
        if _nesting_exceeds(raw, MAX_JSON_DEPTH):
            raise ParseError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep is refused.")
        try:
            text = raw.decode("utf-8")
            data = json.loads(text, parse_constant=_reject_constant, parse_float=self.parse_float)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ParseError("Malformed JSON: the body is not valid UTF-8 JSON.") from exc
        if ("\\u0000" in text or "\x00" in text) and _contains_nul(data):
            raise ParseError("Strings may not contain NUL (\\u0000) characters.")
        return data


class ExactJSONParser(JSONParser):
    """Numbers with a fraction or an exponent become ``Decimal``s, exactly as written.

    Only for bodies whose numbers go into decimal columns (usage events): elsewhere numbers
    land in JSON fields (settings values, slot config, audit changes) written by the
    standard encoder and checked as floats, where a Decimal would not fit.
    """

    parse_float = Decimal
