"""The API docs pages are self-contained: Swagger UI and ReDoc load from Roster's own static
files under a CSP, and no request leaves the host (ReDoc's CDN logo included)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "path, rendered",
    [
        ("/api/docs/", ".swagger-ui .opblock"),
        ("/api/redoc/", ".menu-content li"),
    ],
)
def test_api_docs_load_with_no_request_leaving_the_host(page, site, path, rendered):
    host = urlsplit(site.url).netloc
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    response = page.goto(f"{site.url}{path}")
    assert response.status == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    expect(page.locator(rendered).first).to_be_visible(timeout=90_000)
    page.wait_for_load_state("networkidle")

    elsewhere = [
        url
        for url in requests
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != host
    ]
    assert not elsewhere, elsewhere
    assert any("/static/drf_spectacular_sidecar/" in url for url in requests)
    assert any("/api/schema/" in url for url in requests)
