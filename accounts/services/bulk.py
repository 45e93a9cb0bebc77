"""Bulk administration: one action on up to 500 users, all or nothing, each change audited
as if made one by one."""

from __future__ import annotations

import uuid

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User
from accounts.services.erasure import user_request_erasure
from accounts.services.fields import field_error
from accounts.services.users import user_admin_update, user_create, user_deactivate
from accounts.sessions import resync_revocation_cache
from config.errors import Conflict, DomainError, NotFound

BULK_MAX_ITEMS = 500
BULK_ACTIONS = ("create", "update", "deactivate", "delete")


class BulkConflict(Exception):
    """A bulk request whose every failing item conflicts with the current state (409):
    an address or username taken, the last admin, an erased account."""

    def __init__(self, errors: dict[str, list[tuple[str, str]]]):
        self.errors = errors  # {"users.<index>.<field>": [(code, detail), ...]}
        super().__init__("Some users conflict with the current state.")


def _errors_of(exc: Exception) -> list[tuple[str | None, str, str]]:
    """(attr, code, detail) triples from a domain or validation error."""
    if isinstance(exc, DomainError):
        return [(exc.attr, exc.code, exc.detail)]
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return [
                (field, e.code or "invalid", m)
                for field, errs in exc.error_dict.items()
                for e in errs
                for m in e.messages
            ]
        return [(None, e.code or "invalid", m) for e in exc.error_list for m in e.messages]
    raise exc


def users_bulk(*, action: str, items: list[dict], actor, request=None) -> list[dict]:
    """Apply one action to up to 500 users, all or nothing.

    Items: ``create`` → ``{email, password?, roles?, slot_limit?, <profile fields>}``;
    ``update`` → ``{id, status?, roles?, slot_limit?}``; ``deactivate`` / ``delete`` →
    ``{id}`` (``delete`` deactivates now and erases after the grace period, as when users
    delete their own account). Each change is audited as if made one by one. Any failing
    item rolls everything back and raises a ValidationError whose keys are
    ``users.<index>.<field>`` (:class:`BulkConflict` when every failure is a conflict).
    """
    if action not in BULK_ACTIONS:
        raise field_error("action", f"Unknown action {action!r}.", "invalid_choice")
    if not items:
        raise field_error("users", "Give at least one user.", "empty")
    if len(items) > BULK_MAX_ITEMS:
        raise field_error("users", f"At most {BULK_MAX_ITEMS} users per request.", "max_length")

    errors = _ItemErrors()
    prepared = _prepare(action, items, errors)
    if errors:
        raise ValidationError(errors.by_key)
    results: list[dict] = []
    try:
        with transaction.atomic():
            for index, item in enumerate(prepared):
                try:
                    with transaction.atomic():
                        outcome = _bulk_one(action, item, actor=actor, request=request)
                    results.append({"index": index, **outcome})
                except (DomainError, ValidationError) as exc:
                    errors.add(index, exc)
            if errors:
                raise _Rollback
    except _Rollback:
        # Nothing changed, so nobody may stay signed out by an item that rolled back.
        touched = [r["id"] for r in results] + [item.get("id") for item in prepared]
        resync_revocation_cache(user_ids=[u for u in touched if _is_uuid(u)])
        raise errors.as_exception() from None
    return results


class _Rollback(Exception):
    pass


class _ItemErrors:
    """The failures of one bulk request, keyed ``users.<index>.<field>``."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[ValidationError]] = {}
        self.failures: list[Exception] = []

    def __bool__(self) -> bool:
        return bool(self.by_key)

    def add(self, index: int, exc: Exception) -> None:
        self.failures.append(exc)
        for attr, code, detail in _errors_of(exc):
            key = f"users.{index}.{attr}" if attr else f"users.{index}"
            self.by_key.setdefault(key, []).append(ValidationError(detail, code=code))

    def as_exception(self) -> Exception:
        if all(isinstance(exc, Conflict) for exc in self.failures):
            return BulkConflict(
                {key: [(e.code, e.messages[0]) for e in errs] for key, errs in self.by_key.items()}
            )
        return ValidationError(self.by_key)


def _prepare(action: str, items: list[dict], errors: _ItemErrors) -> list[dict]:
    """Copies of the items; passwords checked and hashed (slow by design: before the
    transaction holds any lock)."""
    prepared: list[dict] = []
    for index, item in enumerate(items):
        item = dict(item)
        if action == "create" and item.get("password") is not None:
            try:
                validate_password(item["password"])
                item["password_hash"] = make_password(item.pop("password"))
            except ValidationError as exc:
                errors.add(index, ValidationError({"password": exc.error_list}))
        prepared.append(item)
    return prepared


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _bulk_target(item: dict) -> User:
    try:
        return User.objects.get(pk=item.get("id"))
    except (User.DoesNotExist, ValidationError, ValueError) as exc:
        raise NotFound(detail="No such user.", attr="id") from exc


def _bulk_one(action: str, item: dict, *, actor, request) -> dict:
    if action == "create":
        fields = dict(item)
        user = user_create(
            email=fields.pop("email", ""),
            actor=actor,
            request=request,
            password_hash=fields.pop("password_hash", None),
            roles=fields.pop("roles", None) or ("member",),
            slot_limit=fields.pop("slot_limit", None),
            **fields,
        )
        return {"id": str(user.pk), "result": "created"}
    user = _bulk_target(item)
    if action == "update":
        changes = {k: item[k] for k in ("status", "roles", "slot_limit") if k in item}
        user_admin_update(user=user, actor=actor, request=request, **changes)
        return {"id": str(user.pk), "result": "updated"}
    if action == "deactivate":
        user_deactivate(user=user, actor=actor, request=request)
        return {"id": str(user.pk), "result": "deactivated"}
    user_request_erasure(user=user, actor=actor, request=request)
    return {"id": str(user.pk), "result": "deletion_scheduled"}
