"""The language a page, an API error or an email is written in.

One setting decides it: the profile's ``locale`` (one of ``settings.LANGUAGES``). A signed-in
user's pages follow it; an anonymous request, or an API request authenticated by a token
(authenticated inside the view, after the middleware has run), follows ``Accept-Language``
as Django's :class:`~django.middleware.locale.LocaleMiddleware` reads it. Emails to a user are
written in that user's language whoever triggered them (:func:`language_of`).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.cache import patch_vary_headers

from config.middleware import is_token_api_request


def supported_language(code: str | None) -> str | None:
    """``code`` as one of ``settings.LANGUAGES`` (``de-CH`` and ``de_ch`` read as ``de``),
    or None when Roster has no catalogue for it."""
    if not code or not isinstance(code, str):
        return None
    try:
        return translation.get_supported_language_variant(code.replace("_", "-").lower())
    except LookupError:
        return None


def language_of(user) -> str:
    """The language to write to ``user`` in: their profile locale, else Roster's default."""
    return supported_language(getattr(user, "locale", None)) or settings.LANGUAGE_CODE


class UserLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware (``Accept-Language``, ``Vary``, ``Content-Language``), with
    the signed-in user's profile locale taking precedence over the browser's languages.

    A token API request (config.middleware.is_token_api_request) has no signed-in user here
    (its credential is checked inside the view) and /api/ has no language prefix, so what
    Django's middleware would decide reduces to ``Accept-Language`` (or the language
    cookie): that is read directly, with the same ``Vary`` and ``Content-Language``, and
    without the path and URLconf checks of every page request."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_token_api_request(request):
            return super().__call__(request)
        meta = request.META
        if "HTTP_ACCEPT_LANGUAGE" in meta or "HTTP_COOKIE" in meta:
            language = translation.get_language_from_request(request)
        else:
            language = translation.get_supported_language_variant(settings.LANGUAGE_CODE)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", translation.get_language())
        return response

    def process_request(self, request: HttpRequest) -> None:
        user = getattr(request, "user", None)
        code = supported_language(user.locale) if user and user.is_authenticated else None
        if code is None:
            super().process_request(request)
            return
        translation.activate(code)
        request.LANGUAGE_CODE = translation.get_language()
