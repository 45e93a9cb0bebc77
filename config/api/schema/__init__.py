"""The OpenAPI contract, made uniform for every operation in one place.

``AutoSchema`` (``DEFAULT_SCHEMA_CLASS``) gives each operation, from what the view declares:

- a readable operation id (``slots_list``, ``slots_suspend``, ``auth_token``) and a tag;
- every error status it can answer, each with the one error envelope of docs/api.md and the
  machine codes it can carry (``x-error-codes`` and the description): 400 for bodies,
  filters and query parameters, 401/403 for authenticated operations, 404 for path
  parameters and pages, 409 where a rule can conflict, 413/415 for bodies, 429 everywhere;
- the security schemes that may call it (API keys are left out where ``NotApiKey`` refuses
  them), the API-key scope it needs (``x-required-scopes``) and the rate limit in force
  (``x-rate-limit``).

Request strings follow DRF's CharField: no NUL, and not only whitespace where blank values
are refused (a ``pattern`` each), so a generated client or a fuzzer knows what is refused.

``postprocess_schema`` (a ``POSTPROCESSING_HOOK``) then applies the rules that hold for the
whole API: request bodies refuse unknown fields (``additionalProperties: false``), other
request strings and query parameters refuse NUL, every response carries ``X-Request-ID``
and the ``X-RateLimit-*`` headers, 429s ``Retry-After``, 401s ``WWW-Authenticate``, every
GET an ``ETag`` (304 on ``If-None-Match``); request examples and the access rules in words
are added, and the rate limits of the deployment go into the API description.

One module per part: ``operations`` (``AutoSchema`` and the serializer extensions), ``errors``
(the envelope, the words per status, the codes), ``request_rules`` (strings and objects of
requests), ``headers``, ``examples``, ``description`` (the API description's text) and
``hooks`` (``postprocess_schema``). Settings name ``config.api.schema.AutoSchema`` and
``config.api.schema.postprocess_schema``.
"""

from config.api.schema.errors import (
    AUTH_FAILURE_CODES,
    STATUS_TEXT,
    ErrorResponseSerializer,
    ErrorSerializer,
    declared_errors,
)
from config.api.schema.hooks import postprocess_schema
from config.api.schema.operations import AutoSchema, TokenRequestExtension
from config.api.schema.request_rules import NO_NUL_PATTERN, NON_BLANK_PATTERN

__all__ = [
    "AUTH_FAILURE_CODES",
    "NON_BLANK_PATTERN",
    "NO_NUL_PATTERN",
    "STATUS_TEXT",
    "AutoSchema",
    "ErrorResponseSerializer",
    "ErrorSerializer",
    "TokenRequestExtension",
    "declared_errors",
    "postprocess_schema",
]
