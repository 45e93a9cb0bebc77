"""The audit log in the admin: read-only list, filters, search, the changes diff, CSV export.

Nobody edits or deletes an event here (not even a superuser); the export carries ``seq``,
``seal`` and ``prev_seal`` so that a file can be checked later with
``manage.py audit_verify --csv <file>``. Every export is itself recorded (``admin.exported``).

Who sees which events is the API's rule (``selectors.events_visible_to``): admins every
event, anyone else (a manager) the events where they are the actor or the target. The list,
the detail pages, the search and both exports start from that queryset.

Personal values are stored encrypted (``audit.personal``): the pages (title and breadcrumb
included) and the export show them decrypted, or ``[erased]``. The export's ``*_sealed``
columns keep the stored form, from which the seals are recomputed.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import re
import uuid
from functools import cached_property

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from audit import selectors
from audit.admin_mixins import ReadOnlyModelAdmin, recorded_export_rows
from audit.models import AuditChain, AuditEvent
from audit.personal import attach_revealed, revealed_of

ACTION_FAMILIES = (
    ("auth.", "auth.* (sign-in, passwords, MFA)"),
    ("auth.login.", "auth.login.*"),
    ("user.", "user.*"),
    ("apikey.", "apikey.*"),
    ("session.", "session.*"),
    ("slot.", "slot.*"),
    ("usage.", "usage.*"),
    ("admin.", "admin.* (admin changes)"),
    ("audit.", "audit.*"),
)
_ACTION_TERM = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_*]*)+$")


class ActionFamilyFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action_prefix"

    def lookups(self, request, model_admin):
        return ACTION_FAMILIES

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(action__startswith=value) if value else queryset


class EstimatedCountPaginator(Paginator):
    """The unfiltered list of millions of events is counted from PostgreSQL's statistics."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [AuditEvent._meta.db_table],
                )
                estimate = cursor.fetchone()[0]
            if estimate and estimate > 100_000:
                return int(estimate)
        return super().count


class RevealingChangeList(ChangeList):
    """Decrypts the personal values of a page of events with one query for their keys."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = attach_revealed(self.result_list)


def _export_response(request, queryset, filename: str, what: dict) -> StreamingHttpResponse:
    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())
    events = recorded_export_rows(
        request,
        AuditEvent,
        selectors.export_rows(queryset, revealed=True),
        file_format="csv",
        **what,
    )

    def rows():
        yield writer.writerow((*selectors.EXPORT_COLUMNS, *selectors.SEALED_COPY_COLUMNS))
        for row in events:
            yield writer.writerow(row)

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    # Nothing here changes data; exports are recorded explicitly.
    list_display = (
        "occurred_at",
        "action",
        "actor_column",
        "target_column",
        "ip",
        "request_id",
        "seq",
    )
    list_filter = (
        ActionFamilyFilter,
        "actor_type",
        ("occurred_at", admin.DateFieldListFilter),
    )
    search_fields = ("action",)  # shows the box; the search itself is get_search_results
    search_help_text = (
        "An action or action prefix (auth.login.), a user's current email, a user/object/event "
        "id, a request id, or an IP address. Personal values inside events are encrypted, "
        "so an old email (or an erased user's) is not searchable: search by the user's id."
    )
    ordering = ("-id",)
    list_per_page = 100
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["export_selected"]
    change_list_template = "admin/audit/auditevent/change_list.html"
    fieldsets = (
        (None, {"fields": ("uuid", "occurred_at", "action")}),
        ("Who", {"fields": ("actor_type", "actor_id", "actor_display_shown")}),
        ("What", {"fields": ("target_type", "target_id", "changes_table", "metadata_pretty")}),
        ("Request", {"fields": ("ip", "user_agent", "request_id")}),
        ("Chain", {"fields": ("seq", "seal")}),
    )
    readonly_fields = (
        "uuid",
        "occurred_at",
        "action",
        "actor_type",
        "actor_id",
        "actor_display_shown",
        "target_type",
        "target_id",
        "changes_table",
        "metadata_pretty",
        "ip",
        "user_agent",
        "request_id",
        "seq",
        "seal",
    )

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # Links from an event to "everything this actor / request did".
        if lookup in ("actor_id", "target_id", "target_type", "request_id", "action"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def get_changelist(self, request, **kwargs):
        return RevealingChangeList

    def get_queryset(self, request):
        # The API's rule, so that the admin never shows a manager more than the API does.
        return selectors.events_visible_to(request.user)

    def get_object(self, request, object_id, from_field=None):
        event = super().get_object(request, object_id, from_field)
        if event is not None:
            revealed_of(event)  # the title and breadcrumb (str(event)) show the readable name
        return event

    # --- columns and detail ----------------------------------------------------------------

    # Not sortable: the stored value of a user's display is ciphertext.
    @admin.display(description="actor")
    def actor_column(self, event: AuditEvent) -> str:
        if not event.actor_id:
            return event.actor_type
        return format_html(
            '<a href="?actor_id={}" title="{}">{}</a>',
            event.actor_id,
            event.actor_type,
            revealed_of(event).actor_display or event.actor_id,
        )

    @admin.display(description="actor display")
    def actor_display_shown(self, event: AuditEvent) -> str:
        return revealed_of(event).actor_display

    @admin.display(description="target")
    def target_column(self, event: AuditEvent) -> str:
        if not event.target_id:
            return "—"
        return format_html(
            '<a href="?target_id={}">{} {}</a>', event.target_id, event.target_type, event.target_id
        )

    @admin.display(description="changes")
    def changes_table(self, event: AuditEvent) -> str:
        changes = revealed_of(event).changes
        if not changes:
            return "—"
        rows = []
        for name, value in sorted(changes.items()):
            if isinstance(value, list) and len(value) == 2:
                before, after = value
            else:
                before, after = None, value
            rows.append((name, _show(before), _show(after)))
        return format_html(
            '<table class="audit-diff"><thead><tr><th>field</th><th>before</th>'
            "<th>after</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td><del>{}</del></td><td><ins>{}</ins></td></tr>",
                rows,
            ),
        )

    @admin.display(description="metadata")
    def metadata_pretty(self, event: AuditEvent) -> str:
        return format_html(
            "<pre>{}</pre>",
            json.dumps(revealed_of(event).metadata, indent=2, sort_keys=True, default=str),
        )

    # --- search ----------------------------------------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        """Exact, indexed matches only: the log may hold millions of events."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            ipaddress.ip_address(term)
        except ValueError:
            pass
        else:
            return queryset.filter(ip=term), False
        ids = {term}
        if "@" in term:
            users = get_user_model()._default_manager.filter(email__iexact=term)
            ids.update(str(pk) for pk in users.values_list("pk", flat=True)[:5])
        condition = Q(actor_id__in=ids) | Q(target_id__in=ids) | Q(request_id=term) | Q(action=term)
        try:
            condition |= Q(uuid=uuid.UUID(term))
        except ValueError:
            pass
        if _ACTION_TERM.match(term):
            condition |= Q(action__startswith=term.rstrip("*"))
        return queryset.filter(condition), False

    # --- CSV export ------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="audit_auditevent_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The changelist's current filters and search, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
            queryset = changelist.get_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Unknown filter.")
        return self._export(request, queryset, {"filters": dict(request.GET.items())})

    @admin.action(description="Export selected events as CSV (with seals)")
    def export_selected(self, request, queryset):
        return self._export(request, queryset, {"selected": True})

    def _export(self, request, queryset, what: dict):
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return _export_response(request, queryset, f"audit-events-{stamp}.csv", what)

    def changelist_view(self, request, extra_context=None):
        chain = AuditChain.objects.filter(pk=1).first()
        context = {
            "audit_chain": chain,
            "audit_export_query": request.GET.urlencode(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)


def _show(value) -> str:
    if value is None:
        return "∅"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)
