"""Field rules of the user's profile, shared by the API serializers, the pages, the admin
and the services: one error per bad field, with a stable code."""

from __future__ import annotations

import functools
import unicodedata
import zoneinfo
from collections.abc import Mapping
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.i18n import supported_language
from accounts.models import PROFILE_FIELDS, username_validator

TEXT_FIELDS = ("display_name", "first_name", "last_name", "department")
TEXT_MAX_LENGTH = 150


# The codes a profile field can be refused with by the cleaners below.
PROFILE_ERROR_CODES = [
    "invalid_characters",
    "invalid_phone",
    "invalid_timezone",
    "invalid_locale",
    "invalid_username",
]


def field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def clean_text(value: Any, *, field: str, max_length: int = TEXT_MAX_LENGTH) -> str:
    """Names and labels: trimmed, bounded, printable (emoji and right-to-left text welcome)."""
    if not isinstance(value, str):
        raise field_error(field, "Expected a string.", "invalid")
    value = value.strip()
    if len(value) > max_length:
        raise field_error(
            field, f"Ensure this field has no more than {max_length} characters.", "max_length"
        )
    # Cc: control characters (NUL, newlines, escapes); Cs: lone surrogates, which no
    # database encoding accepts; Zl/Zp: line and paragraph separators.
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in value):
        raise field_error(field, "Control characters are not allowed.", "invalid_characters")
    return value


def clean_username(value: Any) -> str | None:
    if value is None:
        return None
    value = clean_text(value, field="username")
    if not value:
        return None
    try:
        username_validator(value)
    except ValidationError as exc:
        raise field_error("username", exc.messages[0], "invalid_username") from exc
    return value


def clean_phone(value: Any) -> str:
    """An E.164 number (``+`` and the country code); stored in canonical E.164 form."""
    value = clean_text(value, field="phone", max_length=32)
    if not value:
        return ""
    if not value.startswith("+"):
        raise field_error(
            "phone", "Use the international format, e.g. +41446681800.", "invalid_phone"
        )
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise field_error("phone", "This is not a phone number.", "invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise field_error("phone", "This is not a valid phone number.", "invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# In the tz database's file list but not zones a person lives in: ``Factory`` is a placeholder
# zone ("-00") and ``localtime`` is the server's own zone, whatever that is.
NOT_ZONES = frozenset({"Factory", "localtime"})


@functools.cache
def timezones() -> frozenset[str]:
    """The time zones a profile may hold: the one list for the pages, the API and checks."""
    return frozenset(zoneinfo.available_timezones()) - NOT_ZONES


def clean_timezone(value: Any) -> str:
    value = clean_text(value, field="timezone", max_length=64)
    if value not in timezones():
        raise field_error(
            "timezone", "Use an IANA time zone name, e.g. Europe/Zurich.", "invalid_timezone"
        )
    return value


def known_locales() -> dict[str, str]:
    return {code.lower(): code for code, _name in settings.LANGUAGES}


def clean_locale(value: Any) -> str:
    """One of ``settings.LANGUAGES``; a regional variant reads as its language (de-CH: de)."""
    value = clean_text(value, field="locale", max_length=16)
    code = supported_language(value)
    if code is None:
        raise field_error(
            "locale",
            "Use a language code Roster is translated into: "
            + ", ".join(sorted(known_locales()))
            + ".",
            "invalid_locale",
        )
    return code


CLEANERS = {
    "username": clean_username,
    "phone": clean_phone,
    "timezone": clean_timezone,
    "locale": clean_locale,
    **{f: functools.partial(clean_text, field=f) for f in TEXT_FIELDS},
}


def clean_profile(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every given profile field; one error per bad field, all reported at once."""
    unknown = set(data) - set(PROFILE_FIELDS)
    errors: dict[str, list[ValidationError]] = {
        f: [ValidationError("Unknown field.", code="unknown_field")] for f in sorted(unknown)
    }
    cleaned: dict[str, Any] = {}
    for field in PROFILE_FIELDS:
        if field not in data:
            continue
        try:
            cleaned[field] = CLEANERS[field](data[field])
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    return cleaned
