"""The API's content negotiation: DRF's, with its most common answer found without parsing.

The API writes JSON (config.api.renderers.JSONRenderer comes first; the browsable API is
added only under DEBUG). A request whose ``Accept`` is absent, ``*/*`` or exactly the first
renderer's media type, and that asks for no format (no ``?format=`` and no suffix), gets
the first renderer and its media type, as DRF's negotiation would give it after parsing
the header; any other request goes through DRF's negotiation unchanged (406 included).
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class FirstRendererContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if format_suffix is None and renderers:
            first = renderers[0]
            accept = request.META.get("HTTP_ACCEPT", "*/*")
            override = self.settings.URL_FORMAT_OVERRIDE
            if (accept == "*/*" or accept == first.media_type) and (
                not override or override not in request.query_params
            ):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
