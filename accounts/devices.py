"""A device summary of a User-Agent header ("Chrome on Linux"), for the sessions pages.

Only the browser family and the operating system, read from the well-known product tokens;
the full header stays available beside it (the sessions page shows it on hover). Programs
(curl, python-requests, ...) are named by their first product token.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR", "Opera"),
    ("SamsungBrowser", "Samsung Internet"),
    ("Firefox", "Firefox"),
    ("FxiOS", "Firefox"),
    ("CriOS", "Chrome"),
    ("HeadlessChrome", "Chrome"),
    ("Chromium", "Chromium"),
    ("Chrome", "Chrome"),
    ("Safari", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)
_PRODUCT = re.compile(r"^([A-Za-z][\w.-]{0,40})/")


def _token(agent: str, name: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(name)}(?:/|\b)", agent) is not None


def device_summary(user_agent: str | None) -> str:
    """ "Chrome on Linux", "Firefox", "curl", or "" for an empty header."""
    agent = (user_agent or "").strip()
    if not agent:
        return ""
    browser = next((label for token, label in _BROWSERS if _token(agent, token + "/")), "")
    system = next((label for token, label in _SYSTEMS if token in agent), "")
    if agent.startswith("Mozilla/") and browser:
        if system:
            return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
        return browser
    if agent.startswith("Mozilla/") and system:
        return _("A browser on %(system)s") % {"system": system}
    product = _PRODUCT.match(agent)
    return product.group(1) if product else agent[:40]
