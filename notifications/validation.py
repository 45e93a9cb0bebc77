"""The rules a notification's text and data obey, whichever door it came through
(``notify`` from a service, ``POST /notifications/send``, the WebSocket)."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from config.errors import Invalid

DATA_MAX_BYTES = 8 * 1024
# Line breaks and tabs are text in a message; every other control character (NUL first) is
# not, and lone surrogates cannot be encoded as UTF-8.
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


def _has_forbidden_characters(text: str, *, multiline: bool) -> bool:
    return any(
        unicodedata.category(ch) in ("Cc", "Cs") and not (multiline and ch in _ALLOWED_CONTROLS)
        for ch in text
    )


def check_text(value: Any, *, attr: str, max_length: int, required: bool = False) -> str:
    if not isinstance(value, str):
        raise Invalid("invalid", "Expected a string.", attr=attr)
    value = value.strip()
    if required and not value:
        raise Invalid("blank", "This field may not be blank.", attr=attr)
    if len(value) > max_length:
        raise Invalid("max_length", f"At most {max_length} characters.", attr=attr)
    if _has_forbidden_characters(value, multiline=attr != "title"):
        raise Invalid("invalid_characters", "Control characters are not allowed.", attr=attr)
    return value


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def check_data(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("invalid", "Expected a JSON object.", attr="data")
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Invalid("invalid", "Not a JSON object.", attr="data") from exc
    if len(encoded.encode("utf-8", "surrogatepass")) > DATA_MAX_BYTES:
        raise Invalid("max_length", f"At most {DATA_MAX_BYTES} bytes of JSON.", attr="data")
    if any(_has_forbidden_characters(s, multiline=False) for s in _strings(value)):
        raise Invalid("invalid_characters", "Control characters are not allowed.", attr="data")
    return value
