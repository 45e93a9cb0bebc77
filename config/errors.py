"""Domain errors: raised by services, mapped once to the API error envelope.

A service raises ``Conflict("name_taken", "A slot with this name exists.", attr="name")``;
the API answers 409 with that code, the pages show the detail next to the field.
"""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    default_code = "invalid"
    default_detail = "The request is invalid."

    def __init__(self, code: str | None = None, detail: str | None = None, attr: str | None = None):
        self.code = code or self.default_code
        self.detail = detail or self.default_detail
        self.attr = attr
        super().__init__(self.detail)


class Invalid(DomainError):
    status_code = 400


class Forbidden(DomainError):
    status_code = 403
    default_code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class NotFound(DomainError):
    status_code = 404
    default_code = "not_found"
    default_detail = "Not found."


class Conflict(DomainError):
    status_code = 409
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class Unauthenticated(DomainError):
    status_code = 401
    default_code = "not_authenticated"
    default_detail = "Authentication credentials were not provided or are not valid."


class TooManyRequests(DomainError):
    status_code = 429
    default_code = "too_many_attempts"
    default_detail = "Too many attempts. Try again later."

    def __init__(self, wait: int, code: str | None = None, detail: str | None = None):
        self.wait = max(1, int(wait))
        super().__init__(code=code, detail=detail)
