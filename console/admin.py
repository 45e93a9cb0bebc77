"""The User admin page as the console shows it: accounts' ``UserAdmin`` and, next to it,
what the other apps hold of the user — live slots (a sortable list column, also in the CSV
export, and a read-only inline) and usage totals per period.

accounts sits below slots and usage in the layer order (docs/architecture.md) and cannot
import them; the console may import every app, so it composes the page: it registers this
subclass in place of accounts' admin for ``User``. URLs, permissions, actions, forms and
the audit trail stay accounts' own.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.admin import UserAdmin
from accounts.admin_parts import ReadOnlyInline
from accounts.models import User
from config.errors import DomainError
from console.backups import services as backups_services
from console.dashboard import USAGE_PERIODS
from console.models import Backup
from slots.lifecycle import LIVE_STATUSES
from slots.models import Slot
from usage import selectors as usage_selectors


def with_live_slot_count(queryset):
    """Annotate ``live_slot_count`` with a correlated subquery (no GROUP BY)."""
    live_slots = (
        Slot.objects.filter(owner=OuterRef("pk"), status__in=LIVE_STATUSES)
        .order_by()
        .values("owner")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(
        live_slot_count=Coalesce(Subquery(live_slots, output_field=IntegerField()), Value(0)),
    )


def _inserted(items: tuple, item, *, before=None, after=None) -> tuple:
    index = items.index(before) if before is not None else items.index(after) + 1
    return (*items[:index], item, *items[index:])


class SlotInline(ReadOnlyInline):
    model = Slot
    fk_name = "owner"
    fields = ("name", "type", "status", "created_at", "last_active_at", "released_at")
    verbose_name_plural = "slots"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("type")


class ConsoleUserAdmin(UserAdmin):
    list_display = _inserted(UserAdmin.list_display, "slot_count", after="last_login")
    inlines = (*UserAdmin.inlines, SlotInline)
    fieldsets = _inserted(
        UserAdmin.fieldsets,
        ("Usage", {"fields": ("usage_totals",)}),
        before=next(f for f in UserAdmin.fieldsets if f[0] == "Recent audit events"),
    )
    readonly_fields = _inserted(
        UserAdmin.readonly_fields, "usage_totals", before="recent_audit_events"
    )

    def get_queryset(self, request):
        return with_live_slot_count(super().get_queryset(request))

    @admin.display(description="slots", ordering="live_slot_count")
    def slot_count(self, obj: User) -> int:
        return getattr(obj, "live_slot_count", 0)

    @admin.display(description="usage totals")
    def usage_totals(self, obj: User) -> str:
        if obj.pk is None:
            return "—"
        per_period = {p: usage_selectors.usage_totals(user=obj, period=p) for p in USAGE_PERIODS}
        meters = sorted({m for totals in per_period.values() for m in totals})
        if not meters:
            return "No usage in the last 30 days."
        header = format_html_join("", "<th scope='col'>{}</th>", ((p,) for p in USAGE_PERIODS))
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th>{}</tr>",
            (
                (
                    meter,
                    format_html_join(
                        "",
                        "<td class='num'>{}</td>",
                        ((per_period[p].get(meter, 0),) for p in USAGE_PERIODS),
                    ),
                )
                for meter in meters
            ),
        )
        return format_html(
            "<table class='roster-usage-totals'><thead><tr><th>meter</th>{}</tr></thead>"
            "<tbody>{}</tbody></table>",
            header,
            rows,
        )


admin.site.unregister(User)
admin.site.register(User, ConsoleUserAdmin)


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    """Backups as the console shows them: read-only, with the proof; deletions go through
    the backups service (audited there, and refused while increments build on a backup).
    New backups come from the API or ``manage.py backup``."""

    audit_enabled = False  # backups.services records every deletion itself
    list_display = (
        "id",
        "backup_type",
        "status",
        "size",
        "encrypted",
        "verified_ok",
        "verified_at",
        "created_at",
        "expires_at",
    )
    list_filter = ("backup_type", "status", "verified_ok", "encrypted")
    readonly_fields = (*(f.name for f in Backup._meta.fields), "download")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="file")
    def download(self, obj: Backup) -> str:
        if obj.status != Backup.Status.READY:
            return "—"
        url = reverse("backup-download", args=[obj.pk])
        return format_html("<a href='{}'>Download (audited)</a>", url)

    def log_deletions(self, request, queryset) -> None:
        """No LogEntry (and so no second audit event, nor one for a refused deletion): the
        service records each deletion that happens."""

    def delete_model(self, request, obj: Backup) -> None:
        self.delete_queryset(request, Backup.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        for backup in queryset.order_by("-created_at"):
            try:
                backups_services.backup_delete(backup=backup, actor=request.user, request=request)
            except DomainError as exc:
                self.message_user(request, f"{backup.pk}: {exc.detail}", messages.ERROR)


from console.reports import admin as reports_admin  # noqa: E402, F401  (registers ReportAdmin)
