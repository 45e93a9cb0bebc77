"""config.csp: the settings' Content-Security-Policy built once, with the same headers as
django-csp's own middleware builds on every response."""

from __future__ import annotations

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY, NONCE
from csp.decorators import csp_exempt, csp_update
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from config.csp import CachedPolicyCSPMiddleware

REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'none'"], "report-uri": "/csp-reports"}}


def _through(middleware_class, view, path="/api/v1/users/me", *, use_nonce=False):
    request = RequestFactory().get(path)
    middleware = middleware_class(view)
    middleware.process_request(request)
    nonce = str(request.csp_nonce) if use_nonce else None
    return request, middleware.process_response(request, view(request)), nonce


def _plain(request):
    return HttpResponse("{}", content_type="application/json")


def _headers(response):
    return {name: response.get(name) for name in (HEADER, HEADER_REPORT_ONLY)}


@pytest.mark.parametrize("path", ["/api/v1/users/me", "/accounts/login/", "/api/docs/"])
@pytest.mark.parametrize("report_only", [None, REPORT_ONLY])
def test_csp_cached_headers_equal_django_csp_ones(path, report_only):
    with override_settings(CONTENT_SECURITY_POLICY_REPORT_ONLY=report_only):
        for _ in range(2):  # the first response builds the cache, the second reuses it
            _, ours, _ = _through(CachedPolicyCSPMiddleware, _plain, path)
            _, theirs, _ = _through(CSPMiddleware, _plain, path)
            assert _headers(ours) == _headers(theirs)
    # No path is left out (the API docs pages add to the policy per view, config.api_docs).
    assert "default-src 'self'" in ours[HEADER]
    assert (HEADER_REPORT_ONLY in ours) == (report_only is not None)


def test_csp_cached_headers_leave_out_excluded_prefixes_as_django_csp_does(settings):
    settings.CONTENT_SECURITY_POLICY = {
        **settings.CONTENT_SECURITY_POLICY,
        "EXCLUDE_URL_PREFIXES": ["/excluded/"],
    }
    for path in ("/excluded/page", "/api/v1/users/me"):
        for _ in range(2):
            _, ours, _ = _through(CachedPolicyCSPMiddleware, _plain, path)
            _, theirs, _ = _through(CSPMiddleware, _plain, path)
            assert _headers(ours) == _headers(theirs)
        assert (HEADER in ours) == (path != "/excluded/page")


def test_csp_cached_policy_follows_a_settings_change():
    _through(CachedPolicyCSPMiddleware, _plain)  # cached with the project's policy
    policy = {"DIRECTIVES": {"default-src": ["'none'"], "img-src": ["https://cdn.example"]}}
    with override_settings(CONTENT_SECURITY_POLICY=policy):
        _, response, _ = _through(CachedPolicyCSPMiddleware, _plain)
        assert "img-src https://cdn.example" in response[HEADER]
        assert "'self'" not in response[HEADER]
    _, response, _ = _through(CachedPolicyCSPMiddleware, _plain)
    assert "default-src 'self'" in response[HEADER]


@override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"script-src": ["'self'", NONCE]}})
def test_csp_nonce_still_lands_in_the_header():
    _through(CachedPolicyCSPMiddleware, _plain, "/")  # cached, without a nonce
    _, response, nonce = _through(CachedPolicyCSPMiddleware, _plain, "/", use_nonce=True)
    assert f"script-src 'self' 'nonce-{nonce}'" in response[HEADER]
    _, response, _ = _through(CachedPolicyCSPMiddleware, _plain, "/")
    assert "nonce-" not in response[HEADER]
    assert "script-src 'self'" in response[HEADER]


def test_csp_nonce_asked_after_the_header_is_written_is_an_error():
    request, _, _ = _through(CachedPolicyCSPMiddleware, _plain)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


def test_csp_per_view_policies_are_honoured():
    updated = csp_update({"img-src": ["https://images.example"]})(_plain)
    _, response, _ = _through(CachedPolicyCSPMiddleware, updated, "/")
    assert "https://images.example" in response[HEADER]
    _, response, _ = _through(CachedPolicyCSPMiddleware, csp_exempt()(_plain), "/")
    assert HEADER not in response


def test_csp_a_header_set_by_the_view_is_kept():
    def own_header(request):
        response = _plain(request)
        response[HEADER] = "default-src 'none'"
        return response

    _, response, _ = _through(CachedPolicyCSPMiddleware, own_header)
    assert response[HEADER] == "default-src 'none'"
