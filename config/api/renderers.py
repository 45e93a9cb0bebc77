"""JSON that writes decimals exactly: a ``Decimal`` becomes the number literal it holds.

The stdlib encoder can only write a Decimal as a float (15-17 significant digits) or as a
string. Usage quantities and totals are exact decimals and the API's contract has them as
JSON numbers, so the encoder writes each one as a marked string and ``encode`` turns the
marked strings back into bare number literals. The marker is random per process and never
leaves it, so no string a client sent can pose as a number.

The API's renderer writes with orjson (several times faster than the stdlib encoder on
every response) and the same exact decimals, inserted as pre-serialized fragments; whatever
orjson would write differently from DRF's encoder (dates and times, which DRF shortens to
milliseconds; lazy strings; querysets) goes through DRF's encoder, and whatever orjson
refuses (integers past 64 bits, non-string keys) is rendered by the stdlib path as before.
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from rest_framework.renderers import JSONRenderer as BaseJSONRenderer
from rest_framework.utils.encoders import JSONEncoder as DRFJSONEncoder

_MARK = f"dec{secrets.token_hex(12)}:"
_MARKED = re.compile(f'"{_MARK}(-?[0-9]+(?:\\.[0-9]+)?)"')


def _literal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number")
    # Fixed-point notation: never an exponent, every digit the decimal holds.
    return format(value, "f")


class ExactDecimalMixin:
    def default(self, o):
        if isinstance(o, Decimal):
            return _MARK + _literal(o)
        return super().default(o)

    def encode(self, o) -> str:
        text = super().encode(o)
        if _MARK not in text:
            return text
        return _MARKED.sub(r"\1", text)


class ExactJSONEncoder(ExactDecimalMixin, DRFJSONEncoder):
    """DRF's encoder, with decimals as exact number literals."""


class ExactDjangoJSONEncoder(ExactDecimalMixin, DjangoJSONEncoder):
    """Django's encoder (JsonResponse), with decimals as exact number literals."""


_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# Written escaped by DRF so that the JSON is also valid JavaScript.
_LINE_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


_FALLBACK_ENCODER = ExactJSONEncoder()


def _orjson_default(o):
    if isinstance(o, Decimal):
        return orjson.Fragment(_literal(o))
    return _FALLBACK_ENCODER.default(o)


class JSONRenderer(BaseJSONRenderer):
    encoder_class = ExactJSONEncoder

    def render(self, data, accepted_media_type=None, renderer_context=None):
        plain = (
            data is not None
            and self.compact
            and not self.ensure_ascii
            and ";" not in (accepted_media_type or "")
            and not (renderer_context or {}).get("indent")
        )
        if plain:
            try:
                text = orjson.dumps(data, default=_orjson_default, option=_ORJSON_OPTIONS)
            except orjson.JSONEncodeError:
                pass  # the stdlib encoder writes it, or raises what it always raised
            else:
                for raw, escaped in _LINE_SEPARATORS:
                    if raw in text:
                        text = text.replace(raw, escaped)
                return text
        return super().render(data, accepted_media_type, renderer_context)
