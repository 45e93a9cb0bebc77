"""Admin for usage: meters and per-user limits are editable data; events, rollups and
quota crossings are read-only records; a streamed CSV export gives usage for a period."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from audit.admin_mixins import AuditedModelAdmin, ReadOnlyModelAdmin, recorded_export_rows
from config.exports import spreadsheet_cell
from usage import selectors
from usage.models import (
    DailyRollup,
    HourlyRollup,
    Meter,
    MeterLimitOverride,
    QuotaCrossing,
    UsageEvent,
)

EXPORT_MAX_DAYS = 400


class MeterLimitOverrideInline(admin.TabularInline):
    model = MeterLimitOverride
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "limit", "note")


@admin.register(Meter)
class MeterAdmin(AuditedModelAdmin):
    list_display = ("key", "name", "unit", "aggregation", "limit", "limit_window", "is_active")
    list_filter = ("aggregation", "is_active", "limit_window")
    search_fields = ("key", "name")
    readonly_fields = ("created_at", "updated_at")
    inlines = [MeterLimitOverrideInline]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # Clients send the key, and buckets were built with the aggregation: changing
            # either under existing data would silently change what the numbers mean.
            fields.append("key")
            if UsageEvent.objects.filter(meter=obj).exists() or (
                DailyRollup.objects.filter(meter=obj).exists()
            ):
                fields.append("aggregation")
        return fields

    def has_delete_permission(self, request, obj=None):
        # Meters with history are kept (events protect them); retire them with is_active.
        if obj is not None and DailyRollup.objects.filter(meter=obj).exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(MeterLimitOverride)
class MeterLimitOverrideAdmin(AuditedModelAdmin):
    list_display = ("meter", "user", "limit", "note", "updated_at")
    list_filter = ("meter",)
    search_fields = ("user__email", "meter__key")
    autocomplete_fields = ("user",)
    list_select_related = ("meter", "user")


class ReadOnlyAdmin(ReadOnlyModelAdmin):
    # Large tables: never COUNT(*) all rows for the changelist.
    show_full_result_count = False


class UsageExportForm(forms.Form):
    user = forms.CharField(
        required=False, help_text="Email or id of one user; leave empty for everyone."
    )
    start = forms.DateField(help_text="First day (UTC), inclusive.")
    end = forms.DateField(help_text="Last day (UTC), inclusive.")
    granularity = forms.ChoiceField(choices=[("day", "day"), ("hour", "hour")], initial="day")

    def clean_user(self):
        value = (self.cleaned_data.get("user") or "").strip()
        if not value:
            return None
        users = get_user_model().objects
        found = users.filter(email__iexact=value).first()
        if found is None:
            try:
                found = users.filter(pk=value).first()
            except (ValueError, forms.ValidationError):
                found = None
        if found is None:
            raise forms.ValidationError("No user with this email or id.")
        return found

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError("The last day is before the first day.")
            if (end - start).days >= EXPORT_MAX_DAYS:
                raise forms.ValidationError(f"Export at most {EXPORT_MAX_DAYS} days at a time.")
        return data


class _Echo:
    def write(self, value):
        return value


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "user", "meter", "quantity", "slot_id", "rolled_at")
    list_filter = ("meter",)
    search_fields = ("user__email", "=idempotency_key")
    list_select_related = ("meter", "user")
    date_hierarchy = None
    ordering = ("-id",)
    raw_id_fields = ("user",)
    change_list_template = "admin/usage/usageevent/change_list.html"

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="usage_usageevent_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "export_url": reverse("admin:usage_usageevent_export"),
        }
        return super().changelist_view(request, extra_context)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.now().astimezone(UTC).date()
        form = UsageExportForm(
            request.GET or None,
            initial={"start": today - timedelta(days=29), "end": today, "granularity": "day"},
        )
        if request.GET and form.is_valid():
            return self._stream_csv(request, form.cleaned_data)
        context = {
            **self.admin_site.each_context(request),
            "title": "Export usage (CSV)",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/usage/export.html", context)

    def _stream_csv(self, request, data):
        start = datetime.combine(data["start"], time.min, tzinfo=UTC)
        end = datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=UTC)
        rows = recorded_export_rows(
            request,
            UsageEvent,
            selectors.usage_export_rows(
                user=data["user"], start=start, end=end, granularity=data["granularity"]
            ),
            file_format="csv",
            user_id=str(data["user"].pk) if data["user"] else None,
            start=data["start"].isoformat(),
            end=data["end"].isoformat(),
            granularity=data["granularity"],
        )
        writer = csv.writer(_Echo())
        header = ["bucket_start", "user_id", "email", "meter", "slot_id", "value", "events"]

        def lines():
            yield writer.writerow(header)
            for row in rows:
                yield writer.writerow(
                    [
                        row["bucket_start"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                        row["user_id"],
                        spreadsheet_cell(row["email"]),
                        spreadsheet_cell(row["meter"]),
                        row["slot_id"] or "",
                        row["value"],
                        row["events"],
                    ]
                )

        who = data["user"].pk if data["user"] else "all"
        name = f"usage-{who}-{data['start']:%Y%m%d}-{data['end']:%Y%m%d}.csv"
        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class RollupAdmin(ReadOnlyAdmin):
    list_display = ("bucket_start", "user", "meter", "slot_label", "value", "event_count")
    list_filter = ("meter",)
    search_fields = ("user__email",)
    list_select_related = ("meter", "user")
    ordering = ("-bucket_start",)

    @admin.display(description="slot")
    def slot_label(self, obj) -> str:
        return "" if obj.slot_id.int == 0 else str(obj.slot_id)


admin.site.register(HourlyRollup, RollupAdmin)
admin.site.register(DailyRollup, RollupAdmin)


@admin.register(QuotaCrossing)
class QuotaCrossingAdmin(ReadOnlyAdmin):
    list_display = ("crossed_at", "user", "meter", "limit", "used", "window_start", "user_link")
    list_filter = ("meter",)
    search_fields = ("user__email",)
    list_select_related = ("meter", "user")

    @admin.display(description="user page")
    def user_link(self, obj) -> str:
        opts = obj.user._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.user_id])
        return format_html('<a href="{}">open</a>', url)
