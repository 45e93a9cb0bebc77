"""Times in the admin as on the pages: the signed-in admin's zone, date format and clock.

Every date and date-time model field an admin page shows (change list columns, read-only
fields of a change page, rows of an inline) goes through the one formatter of the pages,
``accounts.preferences`` (what the ``user_time`` filter uses), instead of the language's
``DATETIME_FORMAT``. Django's admin formats a model field itself, and a model field's
name always wins over an admin attribute of that name, so the mixin swaps the field's name
for a column: a callable carrying the field's label, help text, ordering and CSS name.

``console.admin_site.RosterAdminSite`` mixes :class:`UserTimeAdminMixin` into every
ModelAdmin registered with it; the mixin mixes itself into that admin's inlines.
Editable date fields keep Django's widgets: only what is shown, not typed, is formatted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.admin.options import InlineModelAdmin
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from accounts import preferences

_mixed_classes: dict[type, type] = {}


def _time_field(model: type[models.Model], name: Any) -> models.DateField | None:
    """The date or date-time field ``name`` of ``model`` (DateTimeField is a DateField)."""
    if not isinstance(name, str):
        return None
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.DateField) else None


def _column(field: models.DateField, empty: str) -> Callable[[models.Model], str]:
    mode = "datetime" if isinstance(field, models.DateTimeField) else "date"

    def column(obj: models.Model) -> str:
        value = getattr(obj, field.attname)
        return empty if value is None else preferences.current().format(value, mode=mode)

    # What Django's admin reads from a column: its CSS name and help text come from
    # __name__, its header from short_description, its sorting from admin_order_field.
    column.__name__ = field.name
    column.short_description = field.verbose_name  # type: ignore[attr-defined]
    column.admin_order_field = field.name  # type: ignore[attr-defined]
    return column


class UserTimeAdminMixin:
    """Shows a ModelAdmin's (or an inline's) date fields in the signed-in admin's format."""

    def _time_columns(self) -> dict[str, Callable]:
        # One callable per field and admin instance: Django matches fieldsets against
        # readonly fields (and list_display against its links) by equality.
        columns = self.__dict__.get("_roster_time_columns")
        if columns is None:
            columns = self.__dict__["_roster_time_columns"] = {}
        return columns

    def _as_column(self, name: Any) -> Any:
        field = _time_field(self.model, name)
        if field is None:
            return name
        columns = self._time_columns()
        if name not in columns:
            columns[name] = _column(field, self.get_empty_value_display())
        return columns[name]

    def _as_columns(self, names: Iterable[Any], *, keep: Iterable[str] = ()) -> list[Any]:
        kept = set(keep)
        return [name if name in kept else self._as_column(name) for name in names]

    # --- change list --------------------------------------------------------------------

    def get_list_display(self, request):
        # list_editable columns stay fields: their cell is a form input.
        return self._as_columns(super().get_list_display(request), keep=self.list_editable)

    def get_list_display_links(self, request, list_display):
        links = super().get_list_display_links(request, list_display)
        return links if links is None else self._as_columns(links)

    def get_sortable_by(self, request):
        return self._as_columns(super().get_sortable_by(request))

    # --- change page and inlines ---------------------------------------------------------

    def _shown_not_typed(self, request, obj) -> set[str]:
        """Names of the date fields shown read-only on this page."""
        readonly = {name for name in super().get_readonly_fields(request, obj) if name}
        changing = obj is not None or isinstance(self, InlineModelAdmin)
        if changing and not self.has_change_permission(request, obj):
            # A view-only page shows every field read-only (Django's own rule).
            fields = self.model._meta.get_fields()
            return {f.name for f in fields if _time_field(self.model, f.name)}
        return {name for name in readonly if isinstance(name, str)}

    def get_readonly_fields(self, request, obj=None):
        return self._as_columns(super().get_readonly_fields(request, obj))

    def get_fieldsets(self, request, obj=None):
        shown = self._shown_not_typed(request, obj)

        def swap(names):
            return [
                swap(name)
                if isinstance(name, list | tuple)
                else (self._as_column(name) if name in shown else name)
                for name in names
            ]

        return [
            (title, {**options, "fields": swap(options.get("fields", ()))})
            for title, options in super().get_fieldsets(request, obj)
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if kwargs.get("fields") is not None:
            kwargs["fields"] = [name for name in kwargs["fields"] if not callable(name)]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        if "fields" not in kwargs:
            kwargs["fields"] = [
                name
                for options in (o for _, o in self.get_fieldsets(request, obj))
                for name in _flatten(options.get("fields", ()))
                if not callable(name)
            ]
        return super().get_formset(request, obj, **kwargs)

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        for inline in inlines:
            if not isinstance(inline, UserTimeAdminMixin):
                inline.__class__ = user_time_admin(type(inline))
        return inlines


def _flatten(names: Iterable[Any]) -> list[Any]:
    flat: list[Any] = []
    for name in names:
        flat.extend(name) if isinstance(name, list | tuple) else flat.append(name)
    return flat


def user_time_admin(admin_class: type) -> type:
    """``admin_class`` with :class:`UserTimeAdminMixin` mixed in (itself if it has it)."""
    if issubclass(admin_class, UserTimeAdminMixin):
        return admin_class
    mixed = _mixed_classes.get(admin_class)
    if mixed is None:
        mixed = type(
            admin_class.__name__,
            (UserTimeAdminMixin, admin_class),
            {"__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__},
        )
        _mixed_classes[admin_class] = mixed
    return mixed
