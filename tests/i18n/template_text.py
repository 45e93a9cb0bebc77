"""The words of Roster's own templates that a reader sees, outside the translation tags.

A template is read with Django's own lexer: the text inside ``{% translate %}`` and
``{% blocktranslate %}…{% endblocktranslate %}`` is marked, variables and tags are not
words, and what is left is parsed as HTML for its text and the attributes people read
(labels, titles, confirmations). Contents of ``<code>``, ``<pre>``, ``<script>`` and
``<style>`` are program text, not prose.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from django.template.base import Lexer, TokenType

ROOT = Path(__file__).resolve().parents[2]

# Where Roster's own templates live: the project's directory and the apps' templates.
TEMPLATE_DIRS = [ROOT / "templates", *sorted(ROOT.glob("*/templates"))]

# Attributes whose values are read (or heard) by people.
READ_ATTRIBUTES = {"aria-label", "title", "placeholder", "alt", "data-confirm", "label"}
PROGRAM_TEXT = {"code", "pre", "script", "style", "kbd", "samp"}

# Words that are the same in every language Roster speaks.
ALLOWED = {"Roster", "ReDoc", "Swagger", "UI", "UTC"}

EDGES = " ·—–-,.:;()/"
LETTER = re.compile(r"[^\W\d_]")
PLACEHOLDER = "\x00"


def _readable(text: str) -> bool:
    """Whether ``text`` has a word to translate (names in ALLOWED and punctuation do not)."""
    words = re.split(r"[\s·—–/]+", text)
    return any(LETTER.search(w) and w.strip(EDGES) not in ALLOWED for w in words)


def template_files() -> list[Path]:
    files: list[Path] = []
    for directory in TEMPLATE_DIRS:
        if directory.is_dir():
            files += sorted(p for p in directory.rglob("*") if p.suffix in (".html", ".txt"))
    return files


def _outside_translation(source: str) -> str:
    """The template with its marked text, tags and variables replaced by placeholders."""
    parts: list[str] = []
    in_block = 0  # inside blocktranslate
    in_comment = False
    for token in Lexer(source).tokenize():
        content = token.contents.strip()
        name = content.split(" ", 1)[0] if token.token_type == TokenType.BLOCK else ""
        if in_comment:
            in_comment = name != "endcomment"
            continue
        if name == "comment":
            in_comment = True
            continue
        if name in ("blocktranslate", "blocktrans"):
            in_block += 1
            parts.append(PLACEHOLDER)
            continue
        if name in ("endblocktranslate", "endblocktrans"):
            in_block -= 1
            continue
        if in_block:
            continue
        if token.token_type == TokenType.TEXT:
            parts.append(token.contents)
        elif token.token_type == TokenType.VAR or name in ("translate", "trans"):
            parts.append(PLACEHOLDER)
    return "".join(parts)


class _Reader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._program = 0

    def handle_starttag(self, tag, attrs):
        if tag in PROGRAM_TEXT:
            self._program += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self._text(value)

    def handle_endtag(self, tag):
        if tag in PROGRAM_TEXT and self._program:
            self._program -= 1

    def handle_data(self, data):
        if not self._program:
            self._text(data)

    def _text(self, text: str) -> None:
        for piece in text.split(PLACEHOLDER):
            piece = " ".join(piece.split())
            if _readable(piece):
                self.found.append(piece)


def unmarked_text(path: Path) -> list[str]:
    """The pieces of ``path`` a reader sees that are not marked for translation."""
    source = _outside_translation(path.read_text(encoding="utf-8"))
    if path.suffix == ".txt":
        return [" ".join(p.split()) for p in source.split(PLACEHOLDER) if _readable(p)]
    reader = _Reader()
    reader.feed(source)
    reader.close()
    return reader.found
