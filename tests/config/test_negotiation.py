"""The API's content negotiation answers as DRF's does, whatever the Accept header."""

from __future__ import annotations

import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.api.negotiation import FirstRendererContentNegotiation
from config.api.renderers import JSONRenderer

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "text/html",
    "text/html,application/json;q=0.9",
    "application/*",
    "application/xml",
    "",
]


def _choice(negotiation, accept, renderers, query=""):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/users/me{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, [cls() for cls in renderers])
    except (NotAcceptable, Http404) as exc:
        return type(exc).__name__
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("renderers", [[JSONRenderer], [JSONRenderer, BrowsableAPIRenderer]])
@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", ["", "?format=json", "?format=api", "?format=xml"])
def test_negotiation_chooses_what_drf_chooses(accept, renderers, query):
    ours = _choice(FirstRendererContentNegotiation(), accept, renderers, query)
    assert ours == _choice(DefaultContentNegotiation(), accept, renderers, query)


def test_api_answers_json_to_a_client_without_accept_and_406_to_xml(client):
    assert client.get("/api/v1/users/me")["Content-Type"] == "application/json"
    assert client.get("/api/v1/users/me", HTTP_ACCEPT="application/xml").status_code == 406
