"""The API description's text: the conventions every operation follows and the rate limits
of the deployment."""

from __future__ import annotations

from django.conf import settings


def rate_limit_text() -> str:
    roles = settings.API_RATE_LIMITS
    sensitive = settings.API_SENSITIVE_RATE_LIMITS
    rows = "\n".join(f"| {role} | {rate} |" for role, rate in roles.items())
    scoped = "\n".join(
        f"| {scope.replace('_', ' ')} | {rate} per IP |" for scope, rate in sensitive.items()
    )
    return (
        "\n\n## Rate limits\n\n"
        "Every caller has a budget per fixed window, shared by all Roster processes (Redis). "
        "Signed-in callers are counted per user by their highest role; API keys count as "
        "their owner; anonymous callers per IP:\n\n"
        f"| caller | limit |\n|---|---|\n{rows}\n\n"
        "Sign-in endpoints have stricter per-IP buckets on top (and the account lockout "
        "after repeated failures):\n\n"
        f"| endpoint | limit |\n|---|---|\n{scoped}\n\n"
        "Responses carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` "
        "(the tightest limit in force); a refused request is 429 with `Retry-After`."
    )


API_DESCRIPTION_RULES = """

## Conventions

- JSON in and out (`application/json`, UTF-8). Both `/api/v1/x` and `/api/v1/x/` work.
- Request bodies accept only the fields documented for them: any other key is 400
  `unknown_field` (`attr` names the key), a read-only one 400 `read_only_field`. Strings
  may not contain NUL (`\\u0000`); arrays and objects nest at most 64 levels (deeper is
  400 `parse_error`: no document of the API needs more, and it keeps decoding cheap);
  bodies above 2 MB are 413, `Content-Length` or `Transfer-Encoding: chunked` alike.
- Errors: every 4xx/5xx body is `{type, errors: [{code, detail, attr}]}`. Each operation
  lists the `code`s it can return per status (also as `x-error-codes`).
- Lists: page-number pagination (`page`, `page_size` ≤ 200) returning `{count, next,
  previous, results}`; audit and usage events use cursor pagination (`cursor`,
  `page_size`) returning `{next, previous, results}`. `ordering` takes a field name,
  `-` for descending.
- Authentication: `Authorization: Bearer <JWT>` (RS256; verify with
  `/.well-known/jwks.json`), an API key as `Authorization: Bearer rst_…` or
  `X-API-Key: rst_…`, or the browser session cookie with CSRF. API keys carry scopes
  (`x-required-scopes` on each operation); some operations refuse API keys altogether.
- Every response carries `X-Request-ID`. `GET /users/me` and `GET /slots/{id}` send an
  `ETag`; repeat with `If-None-Match` to get 304 when nothing changed.
"""
