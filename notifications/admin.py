from django.contrib import admin

from audit.admin_mixins import ReadOnlyModelAdmin
from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyModelAdmin):
    """Read-only: notifications are written by ``notifications.services`` only."""

    list_display = ("created_at", "user", "kind", "priority", "title", "read_at")
    list_filter = ("kind", "priority", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("title", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user", "from_user")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]
