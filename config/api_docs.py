"""The API docs pages (Swagger UI and ReDoc), served from Roster's static files under a CSP.

Both load only their sidecar bundles from ``/static/`` and the schema from ``/api/schema/``;
Swagger UI's start script is a separate same-origin request (the split view), so no inline
script runs. What they need beyond the account pages' policy: inline styles (both libraries
write their styles at run time) and ``blob:`` workers (ReDoc's search). Images stay ``self``
and ``data:``, so ReDoc's footer logo on its CDN is never fetched.
"""

from __future__ import annotations

from csp.decorators import csp_replace
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

DOCS_POLICY = {
    "style-src": ["'self'", "'unsafe-inline'"],
    "worker-src": ["'self'", "blob:"],
}

swagger_ui = csp_replace(DOCS_POLICY)(SpectacularSwaggerSplitView.as_view(url_name="schema"))
redoc = csp_replace(DOCS_POLICY)(SpectacularRedocView.as_view(url_name="schema"))
