"""Roster's own German catalogue, read with the gettext module (msgid -> msgstr)."""

from __future__ import annotations

import gettext
import re
from functools import cache

from tests.i18n.template_text import ROOT

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@cache
def catalogue(language: str) -> dict[str, str]:
    mo = ROOT / "locale" / language / "LC_MESSAGES" / "django.mo"
    with mo.open("rb") as f:
        translations = gettext.GNUTranslations(f)
    return {
        k: v
        for k, v in translations._catalog.items()  # the parsed .mo: {msgid: msgstr}
        if isinstance(k, str) and k
    }


@cache
def english_only(language: str) -> tuple[set[str], list[re.Pattern]]:
    """The msgids whose translation differs from the English: as plain texts, and as
    patterns for those with named values (``%(name)s`` matches any text)."""
    plain: set[str] = set()
    patterns: list[re.Pattern] = []
    for msgid, msgstr in catalogue(language).items():
        if msgid == msgstr or "<" in msgid:
            continue
        if PLACEHOLDER.search(msgid):
            parts = PLACEHOLDER.split(msgid)[::2]
            patterns.append(re.compile(".+?".join(re.escape(p) for p in parts) + r"\Z"))
        else:
            plain.add(msgid)
    return plain, patterns
