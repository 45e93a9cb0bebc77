"""Django's error report (the DEBUG page, a mail to ADMINS) without the secrets a URL carries.

Set as ``DEFAULT_EXCEPTION_REPORTER``. The report shows the request's path and URL, its
query, its META (``PATH_INFO``, ``RAW_URI``, ``HTTP_REFERER``...) and the repr of every local
variable (a request's repr holds its path): all go through ``config.logging.redact_path``,
as the log lines do, and the query values are dropped.
"""

from __future__ import annotations

from typing import Any

from django.views.debug import ExceptionReporter

from config.logging import REDACTED, redact_path


class _RedactedRequest:
    """The request as the report's templates read it, its path redacted."""

    def __init__(self, request) -> None:
        self._request = request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)

    @property
    def path_info(self) -> str:
        return redact_path(self._request.path_info)

    @property
    def path(self) -> str:
        return redact_path(self._request.path)


def _redact_meta(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name == "QUERY_STRING":
        return redact_path("?" + value)[1:] if value else value
    return redact_path(value)


class RedactingExceptionReporter(ExceptionReporter):
    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        for frame in data["frames"]:
            if "vars" in frame:
                frame["vars"] = [(name, redact_path(value)) for name, value in frame["vars"]]
        if "exception_value" in data:
            data["exception_value"] = redact_path(data["exception_value"])
        if self.request is not None:
            data["request"] = _RedactedRequest(self.request)
            data["request_insecure_uri"] = redact_path(data["request_insecure_uri"])
            data["request_GET_items"] = [(name, REDACTED) for name in self.request.GET]
            data["request_meta"] = {
                name: _redact_meta(name, value) for name, value in data["request_meta"].items()
            }
        return data
