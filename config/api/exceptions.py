"""The one exception handler of the API: every 4xx/5xx gets the envelope of docs/api.md."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_standardized_errors.formatter import ExceptionFormatter as BaseFormatter
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions

from config import outages
from config.api.parsers import PayloadTooLarge
from config.errors import DomainError


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_code = outages.OUTAGE_CODE
    default_detail = outages.OUTAGE_DETAIL


class DomainAPIException(exceptions.APIException):
    def __init__(self, error: DomainError):
        self.status_code = error.status_code
        self.attr = error.attr
        self.wait = getattr(error, "wait", None)
        if error.status_code == 401:
            self.auth_header = 'Bearer realm="api"'
        super().__init__(detail=error.detail, code=error.code)


class RosterExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, DomainError):
            if exc.status_code == 400 and exc.attr:
                return exceptions.ValidationError(
                    {exc.attr: [exceptions.ErrorDetail(exc.detail, exc.code)]}
                )
            return DomainAPIException(exc)
        if isinstance(exc, RequestDataTooBig):
            return PayloadTooLarge()
        if isinstance(exc, DjangoValidationError):
            return exceptions.ValidationError(_django_error_detail(exc))
        if outages.is_outage(exc):
            return ServiceUnavailable()
        return super().convert_known_exceptions(exc)

    def should_not_handle(self, exc: Exception) -> bool:
        # Never hand an /api/ error to Django's HTML debug page, even with DEBUG on.
        return False

    def get_headers(self, exc: exceptions.APIException) -> dict:
        headers = super().get_headers(exc)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
        if isinstance(exc, ServiceUnavailable):
            headers["Retry-After"] = str(outages.RETRY_AFTER_SECONDS)
        return headers


def _django_error_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {
            field: [exceptions.ErrorDetail(str(m), e.code or "invalid") for e in errs for m in e]
            for field, errs in exc.error_dict.items()
        }
    return [exceptions.ErrorDetail(str(m), e.code or "invalid") for e in exc.error_list for m in e]


class ExceptionFormatter(BaseFormatter):
    def get_errors(self):
        errors = super().get_errors()
        attr = getattr(self.exc, "attr", None)
        if attr and len(errors) == 1 and errors[0].attr is None:
            errors[0].attr = attr
        return errors


def exception_handler(exc, context):
    return RosterExceptionHandler(exc, context).run()


def envelope(error_type: str, code: str, detail: str, attr: str | None = None) -> dict:
    """The same envelope for responses produced outside DRF (404 routes, 500, 413)."""
    return {"type": error_type, "errors": [{"code": code, "detail": detail, "attr": attr}]}
