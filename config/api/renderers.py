"""JSON that writes decimals exactly: a ``Decimal`` becomes the number literal it holds.

The stdlib encoder can only write a Decimal as a float (15-17 significant digits) or as a
string. Usage quantities and totals are exact decimals and the API's contract has them as
JSON numbers, so the encoder writes each one as a marked string and ``encode`` turns the
marked strings back into bare number literals. The marker is random per process and never
leaves it, so no string a client sent can pose as a number.
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal

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


class JSONRenderer(BaseJSONRenderer):
    encoder_class = ExactJSONEncoder
