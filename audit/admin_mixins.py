"""Every change made through the Django admin becomes an audit event.

Action names: ``admin.<app_label>.<model_name>.created | updated | deleted``
(e.g. ``admin.accounts.user.updated``, ``admin.slots.slot.deleted``). Each event carries the
admin user as actor, the object as target, ``changes = {field: [before, after]}`` for the
fields that changed (many-to-many fields as sorted lists of ids; secrets masked by
``audit.masking``), and ``metadata = {"door": "admin", "object_repr", "admin_message"}``
where ``admin_message`` is Django's own change message (it names changed inlines too).

Every file exported from the admin (users, audit events, usage) is recorded as
``admin.exported`` by ``record_admin_export``, with ``metadata = {"door": "admin", "model":
"<app_label>.<model_name>", "format", "rows"}`` plus what chose the rows (filters or the
selection). A streamed export goes through ``recorded_export_rows``, which records once the
download ends, with the number of rows actually sent (``complete: false`` if it stopped early).

Three layers, so that no admin change goes unrecorded:

1. ``AuditedModelAdmin`` (or ``AdminAuditMixin`` for admins with another base class):
   subclass it. Recording hooks the admin's ``log_addition`` / ``log_change`` /
   ``log_deletions``, which Django calls after the save (inside the admin's transaction)
   for the change form, ``list_editable`` and the bulk ``delete_selected`` action, even when
   the subclass overrides ``save_model`` to call a service.
2. ``audit_registered_admins(site)``, run from ``AuditConfig.ready()``: every ModelAdmin on
   the default site that does not use the mixin (allauth's, Django's Group admin...) gets it
   mixed in, so those admins record the same rich events.
3. ``record_log_entry`` (a ``post_save`` receiver on ``LogEntry``): a last safety net for
   admins registered elsewhere; it records the same action names from the LogEntry, without
   the field diff. It stays silent while layer 1 is recording, so nothing is recorded twice.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from django.contrib import admin
from django.db import models

# True while a mixin-audited admin writes its LogEntry rows: the receiver must not
# record them a second time.
_recording_admin_change: ContextVar[bool] = ContextVar("audit_admin_recording", default=False)

_SNAPSHOT_ATTR = "_audit_admin_before"


def admin_action(obj_or_model: Any, verb: str) -> str:
    opts = obj_or_model._meta
    return f"admin.{opts.app_label}.{opts.model_name}.{verb}"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal | datetime.timedelta):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The object's stored fields as JSON values: concrete fields, then m2m ids (sorted)."""
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        data[field.name] = _jsonable(getattr(obj, field.attname))
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            ids = getattr(obj, field.name).values_list("pk", flat=True)
            data[field.name] = sorted(str(pk) for pk in ids)
    return data


def _field_changes(before: dict | None, after: dict | None) -> dict[str, list]:
    before = before or {}
    after = after or {}
    keys = list(after) + [k for k in before if k not in after]
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


def _stored_copy(obj: models.Model) -> models.Model | None:
    if obj.pk is None:
        return None
    return type(obj)._base_manager.filter(pk=obj.pk).first()


def _record_admin_event(request, obj, verb: str, changes: dict, message: Any = "") -> None:
    from audit.services import record

    metadata = {"door": "admin", "object_repr": str(obj)[:200]}
    if message:
        metadata["admin_message"] = message
    record(
        action=admin_action(obj, verb),
        actor=getattr(request, "user", None),
        target=(obj._meta.model_name, str(obj.pk)),
        request=request,
        changes=changes,
        metadata=metadata,
    )


def record_admin_export(
    request, model: type[models.Model], *, file_format: str, rows: int, **details: Any
) -> None:
    """Record that ``rows`` rows of ``model`` left the system as a ``file_format`` file."""
    from audit.services import record

    record(
        action="admin.exported",
        actor=getattr(request, "user", None),
        request=request,
        metadata={
            "door": "admin",
            "model": model._meta.label_lower,
            "format": file_format,
            "rows": rows,
            **details,
        },
    )


def recorded_export_rows(
    request, model: type[models.Model], rows: Iterable, *, file_format: str, **details: Any
) -> Iterator:
    """``rows`` as they are streamed; the export is recorded when the download ends."""
    sent = 0
    complete = False
    try:
        for row in rows:
            yield row
            sent += 1
        complete = True
    finally:
        record_admin_export(
            request,
            model,
            file_format=file_format,
            rows=sent,
            **details,
            **({} if complete else {"complete": False}),
        )


class AdminAuditMixin:
    """Mix into any ``ModelAdmin`` subclass to record its adds, changes and deletions."""

    audit_enabled = True

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and request.method == "POST":
            # The change form mutates this very instance before save_model runs.
            setattr(obj, _SNAPSHOT_ATTR, snapshot(obj))
        return obj

    def save_model(self, request, obj, form, change):
        if change and not hasattr(obj, _SNAPSHOT_ATTR):
            # list_editable does not go through get_object: read the stored row instead.
            stored = _stored_copy(obj)
            setattr(obj, _SNAPSHOT_ATTR, snapshot(stored) if stored is not None else {})
        return super().save_model(request, obj, form, change)

    def log_addition(self, request, obj, message):
        _record_admin_event(request, obj, "created", _field_changes({}, snapshot(obj)), message)
        return self._log_without_receiver(super().log_addition, request, obj, message)

    def log_change(self, request, obj, message):
        before = getattr(obj, _SNAPSHOT_ATTR, None)
        if before is None:
            stored = _stored_copy(obj)
            before = snapshot(stored) if stored is not None else {}
        after = snapshot(obj)
        _record_admin_event(request, obj, "updated", _field_changes(before, after), message)
        setattr(obj, _SNAPSHOT_ATTR, after)
        return self._log_without_receiver(super().log_change, request, obj, message)

    def log_deletions(self, request, queryset):
        # Called before the deletion, so every row can still be read.
        for obj in queryset:
            _record_admin_event(request, obj, "deleted", _field_changes(snapshot(obj), {}))
        return self._log_without_receiver(super().log_deletions, request, queryset)

    @staticmethod
    def _log_without_receiver(method, *args):
        token = _recording_admin_change.set(True)
        try:
            return method(*args)
        finally:
            _recording_admin_change.reset(token)


class AuditedModelAdmin(AdminAuditMixin, admin.ModelAdmin):
    """Records every add/change/delete made through this admin (see the module docstring)."""


class ReadOnlyMixin:
    """Mix into a ``ModelAdmin`` (or an inline) whose rows are shown, never added, changed or
    deleted through the admin: they are written by their app's services (whose actions on the
    page, e.g. "revoke", call those services and are audited there)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyModelAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """A read-only admin page: nothing on it can change, so nothing to audit."""

    audit_enabled = False


def audit_registered_admins(site: admin.AdminSite) -> list[str]:
    """Give every registered ModelAdmin without the mixin the mixin; returns their names."""
    upgraded = []
    for model_admin in site._registry.values():
        cls = type(model_admin)
        if isinstance(model_admin, AdminAuditMixin) or not getattr(cls, "audit_enabled", True):
            continue
        model_admin.__class__ = type(f"Audited{cls.__name__}", (AdminAuditMixin, cls), {})
        upgraded.append(cls.__name__)
    return upgraded


def record_log_entry(sender, instance, created: bool, **kwargs) -> None:
    """Safety net: a LogEntry written outside a mixin-audited admin still becomes an event."""
    from django.contrib.admin.models import ADDITION, CHANGE, DELETION

    from audit.services import record

    if not created or _recording_admin_change.get():
        return
    verb = {ADDITION: "created", CHANGE: "updated", DELETION: "deleted"}.get(instance.action_flag)
    content_type = instance.content_type
    if verb is None or content_type is None:
        return
    record(
        action=f"admin.{content_type.app_label}.{content_type.model}.{verb}",
        actor=instance.user,
        target=(content_type.model, instance.object_id or ""),
        metadata={
            "door": "admin",
            "object_repr": instance.object_repr,
            "admin_message": instance.get_change_message(),
            "source": "log_entry",
        },
    )
