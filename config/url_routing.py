"""Includes that are skipped at once when a path cannot match anything inside them.

Most of Roster's URL modules are included with an empty prefix (``path("", include(...))``):
each app owns its own top-level words (``slots``, ``usage``, ``audit``, ...). Django tries
such includes one after the other, walking every pattern of each one that fails and
collecting what it tried, so a path served by the eighth include paid for the seven before
it: resolving ``/api/v1/audit/events`` took about 300 µs, a fifth of the CPU of the whole
request.

``routed(include(...))`` is the same include behind a guard: its empty route matches only
paths that start with the literal text of one of its patterns, derived from the patterns
themselves (a route's text before its first ``<converter>``, an anchored regular
expression's text before its first special, optional or repeated character; through nested
includes). The guard consumes nothing, so the included patterns see the path exactly as
before and are tried in the same order; an include is skipped only when none of its
patterns could match. When a pattern inside may start with anything (an unanchored regular
expression, an empty route), the include is left unguarded.
"""

from __future__ import annotations

from django.urls import URLResolver, path
from django.urls.resolvers import RegexPattern, RoutePattern, URLPattern

_REGEX_SPECIAL = set(".^$*+?{}[]|()")
_QUANTIFIERS = set("?*+{")


def _regex_literal(regex: str) -> str:
    """The literal text a match of ``regex`` starts with: the characters after a leading
    ``^`` up to the first one that is special, optional or repeated (``^slots/?$`` gives
    ``slots``); empty when the regex is not anchored at the start."""
    if not regex.startswith("^"):
        return ""
    literal, i = [], 1
    while i < len(regex):
        char, step = regex[i], 1
        if char == "\\":
            if i + 1 >= len(regex) or regex[i + 1].isalnum():
                break  # a class such as \d, or a trailing backslash
            char, step = regex[i + 1], 2
        elif char in _REGEX_SPECIAL:
            break
        if i + step < len(regex) and regex[i + step] in _QUANTIFIERS:
            break
        literal.append(char)
        i += step
    return "".join(literal)


def _literal(pattern) -> str:
    if isinstance(pattern, RoutePattern):
        return str(pattern).split("<", 1)[0]
    if isinstance(pattern, RegexPattern):
        return _regex_literal(pattern.regex.pattern)
    return ""


def _literal_prefixes(patterns) -> set[str] | None:
    """The literal text every path served by ``patterns`` starts with, one string per
    pattern; None when some pattern may match a path starting with anything."""
    prefixes: set[str] = set()
    for entry in patterns:
        literal = _literal(entry.pattern)
        if literal:
            prefixes.add(literal)
            continue
        if isinstance(entry, URLPattern):
            return None  # an empty or parameter-first route: it may match anything
        inner = _literal_prefixes(entry.url_patterns)
        if inner is None:
            return None
        prefixes |= inner
    return prefixes


class _Guard(RoutePattern):
    """The empty route of ``path("", include(...))`` that matches only paths starting with
    one of ``prefixes``. It reads as the empty route everywhere else (reversing, the OpenAPI
    schema, the list of patterns tried on a 404)."""

    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__("", is_endpoint=False)
        self.prefixes = prefixes

    def match(self, path):
        if not path.startswith(self.prefixes):
            return None
        return path, (), {}


def routed(included):
    """``path("", included)`` where ``included`` is ``include(...)``'s result, guarded by
    the literal prefixes of its patterns (see the module's docstring)."""
    urlconf_module, app_name, namespace = included
    prefixes = _literal_prefixes(getattr(urlconf_module, "urlpatterns", urlconf_module))
    if not prefixes:
        return path("", included)
    # A prefix that starts with another adds nothing ("slots/" beside "slots").
    shortest = sorted(prefixes, key=len)
    kept = [p for i, p in enumerate(shortest) if not any(p.startswith(q) for q in shortest[:i])]
    return URLResolver(
        _Guard(tuple(sorted(kept))), urlconf_module, app_name=app_name, namespace=namespace
    )
