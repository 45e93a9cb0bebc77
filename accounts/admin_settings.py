"""Admin for the typed settings registry.

Definitions are data: admins add and change them here. A definition must be coherent to be
saved (its default obeys its own rules, its pattern compiles, its JSON Schema is a schema);
the same check is ``accounts.settings_registry.definition_problems``. Changing a definition
never rewrites stored values: values the new rules refuse read back as the default, and the
change page lists them (the "Clear invalid stored values" action removes them, audited).
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from accounts import selectors, settings_registry
from accounts.models import SettingDefinition
from accounts.services.settings import settings_clear_invalid
from audit.admin_mixins import AuditedModelAdmin

INVALID_SAMPLE = 20


class SettingDefinitionForm(forms.ModelForm):
    class Meta:
        model = SettingDefinition
        fields = (
            "key",
            "type",
            "category",
            "description",
            "default",
            "choices",
            "min_value",
            "max_value",
            "max_length",
            "pattern",
            "json_schema",
            "is_public",
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = SettingDefinition(
            **{f: cleaned.get(f) for f in self.Meta.fields if f in cleaned}
        )
        if candidate.choices is None:
            candidate.choices = []
        if candidate.pattern is None:
            candidate.pattern = ""
        for problem in settings_registry.definition_problems(candidate):
            self.add_error(problem.field, forms.ValidationError(problem.detail, code=problem.code))
        return cleaned


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "…"


@admin.register(SettingDefinition)
class SettingDefinitionAdmin(AuditedModelAdmin):
    form = SettingDefinitionForm
    list_display = ("key", "type", "category", "default_shown", "is_public", "updated_at")
    list_filter = ("category", "type", "is_public")
    search_fields = ("key", "description")
    ordering = ("category", "key")
    readonly_fields = ("stored_values", "invalid_stored_values", "created_at", "updated_at")
    actions = ("report_invalid_values", "clear_invalid_values")
    fieldsets = (
        (None, {"fields": ("key", "type", "category", "description", "is_public")}),
        (
            "Value rules",
            {
                "fields": (
                    "default",
                    "choices",
                    ("min_value", "max_value"),
                    "max_length",
                    "pattern",
                    "json_schema",
                ),
                "description": "choices: allowed values (required for choice, optional for "
                "string and integer); min/max: integers; max_length and pattern: strings "
                "(the pattern must match the whole value); json_schema: json settings.",
            },
        ),
        ("Stored values", {"fields": ("stored_values", "invalid_stored_values")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="default")
    def default_shown(self, obj: SettingDefinition) -> str:
        return _short(obj.default)

    @admin.display(description="stored values")
    def stored_values(self, obj: SettingDefinition) -> int:
        return obj.values.count() if obj.pk else 0

    @admin.display(description="invalid under this definition")
    def invalid_stored_values(self, obj: SettingDefinition) -> str:
        if obj.pk is None:
            return "—"
        count, examples = selectors.setting_invalid_values(definition=obj, sample=INVALID_SAMPLE)
        if not count:
            return "None: every stored value fits the current definition."
        rows = format_html_join(
            "", "<li>{}: <code>{}</code></li>", ((email, _short(v)) for email, v in examples)
        )
        more = f" (first {INVALID_SAMPLE} shown)" if count > len(examples) else ""
        return format_html(
            "{} stored value(s) read back as the default{}:<ul>{}</ul>", count, more, rows
        )

    @admin.action(description="Report stored values invalid under the definition")
    def report_invalid_values(self, request, queryset) -> None:
        for definition in queryset:
            count, _ = selectors.setting_invalid_values(definition=definition, sample=0)
            level = messages.WARNING if count else messages.SUCCESS
            self.message_user(
                request,
                ngettext(
                    "%(key)s: %(count)d invalid stored value.",
                    "%(key)s: %(count)d invalid stored values.",
                    count,
                )
                % {"key": definition.key, "count": count},
                level,
            )

    @admin.action(description="Clear invalid stored values (users get the default)")
    def clear_invalid_values(self, request, queryset) -> None:
        for definition in queryset:
            removed = settings_clear_invalid(
                definition=definition, actor=request.user, request=request
            )
            self.message_user(
                request,
                ngettext(
                    "%(key)s: %(count)d invalid stored value removed.",
                    "%(key)s: %(count)d invalid stored values removed.",
                    removed,
                )
                % {"key": definition.key, "count": removed},
            )
