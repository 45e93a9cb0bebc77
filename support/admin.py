"""The agents' console: support tickets in the Django admin.

Queues by status, priority, category and assignee (urgent first, then oldest); a ticket's
page changes status, priority and assignee, and writes a reply or an internal note, all
through ``support.services`` (the same rules, audit events and notifications as the API).
Attachments download through the permission-checked view of this admin. Tickets are opened
by their requesters and never deleted here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404
from django.urls import path
from django.utils.html import format_html

from audit.admin_mixins import AuditedModelAdmin
from config.errors import DomainError
from support import selectors, services
from support.downloads import attachment_response
from support.models import TEXT_MAX_LENGTH, Attachment, Message, Ticket

PRIORITY_RANK = Case(
    *[
        When(priority=value, then=Value(rank))
        for rank, value in enumerate(["urgent", "high", "medium", "low"])
    ],
    output_field=IntegerField(),
)


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("me", "Assigned to me"), ("none", "Unassigned")]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assignee_id=request.user.pk)
        if self.value() == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset


class TicketConsoleForm(forms.ModelForm):
    reply = forms.CharField(
        required=False,
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="A reply the requester sees (and is notified of), or an internal note.",
    )
    internal = forms.BooleanField(
        required=False, label="Internal note", help_text="Staff only; the requester never sees it."
    )

    class Meta:
        model = Ticket
        fields = ("status", "priority", "assignee")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.support_staff_users()

    def clean_status(self):
        status = self.cleaned_data["status"]
        current = Ticket.objects.filter(pk=self.instance.pk).values_list("status", flat=True)
        current = current.first()
        if current is not None and status != current:
            try:
                services.check_status_move(current, status, staff=True)
            except DomainError as exc:
                raise forms.ValidationError(exc.detail, code=exc.code) from None
        return status


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("created_at", "author", "internal", "body")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    can_delete = False
    fields = ("download", "content_type", "size", "uploaded_by", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="file")
    def download(self, row: Attachment):
        return format_html('<a href="../attachments/{}/" download>{}</a>', row.pk, row.filename)


@admin.register(Ticket)
class TicketAdmin(AuditedModelAdmin):
    form = TicketConsoleForm
    list_display = (
        "number",
        "subject",
        "requester",
        "category",
        "status",
        "priority_label",
        "assignee",
        "updated_at",
    )
    list_display_links = ("number", "subject")
    list_filter = ("status", "priority", "category", AssigneeFilter)
    search_fields = ("=number", "subject", "requester__email")
    list_select_related = ("requester", "assignee")
    readonly_fields = (
        "number",
        "requester",
        "category",
        "subject",
        "description",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("number", "requester", "category", "subject", "description")}),
        ("Handling", {"fields": ("status", "priority", "assignee")}),
        ("Write", {"fields": ("reply", "internal")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )
    inlines = (MessageInline, AttachmentInline)
    actions = ("assign_to_me", "mark_pending", "mark_resolved", "mark_closed", "reopen")

    def get_queryset(self, request):
        # The queue: urgent first, then the oldest (ModelAdmin's own would order before the
        # rank exists).
        rows = Ticket.objects.annotate(priority_rank=PRIORITY_RANK)
        return rows.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return ("priority_rank", "created_at")

    @admin.display(description="priority", ordering="priority_rank")
    def priority_label(self, ticket: Ticket) -> str:
        return ticket.get_priority_display()

    def has_module_permission(self, request):
        return selectors.is_support_staff(request.user)

    def has_view_permission(self, request, obj=None):
        return selectors.is_support_staff(request.user)

    def has_change_permission(self, request, obj=None):
        return selectors.is_support_staff(request.user)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        ticket = Ticket.objects.get(pk=obj.pk)
        data = form.cleaned_data
        try:
            services.ticket_update(
                ticket=ticket,
                actor=request.user,
                status=data["status"],
                priority=data["priority"],
                assignee=data["assignee"],
                request=request,
            )
            if data.get("reply"):
                services.message_create(
                    ticket=ticket,
                    author=request.user,
                    body=data["reply"],
                    internal=bool(data.get("internal")),
                    request=request,
                )
        except DomainError as exc:
            self.message_user(request, exc.detail, level=messages.ERROR)
        obj.refresh_from_db()

    def get_urls(self):
        return [
            path(
                "<uuid:ticket_id>/attachments/<uuid:attachment_id>/",
                self.admin_site.admin_view(self.attachment_download),
                name="support_ticket_attachment",
            ),
            *super().get_urls(),
        ]

    def attachment_download(self, request, ticket_id, attachment_id):
        if not selectors.is_support_staff(request.user):
            raise Http404()
        try:
            ticket = selectors.ticket_for(request.user, ticket_id)
            row = selectors.attachment_for(request.user, ticket, attachment_id)
        except DomainError:
            raise Http404() from None
        return attachment_response(row)

    def _each(self, request, queryset, **changes) -> None:
        done = 0
        for ticket in queryset:
            try:
                services.ticket_update(
                    ticket=ticket, actor=request.user, request=request, **changes
                )
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{ticket.number}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"{done} ticket(s) updated.", messages.SUCCESS)

    @admin.action(description="Assign to me")
    def assign_to_me(self, request, queryset):
        self._each(request, queryset, assignee=request.user)

    @admin.action(description="Mark pending (waiting on the requester)")
    def mark_pending(self, request, queryset):
        self._each(request, queryset, status=Ticket.Status.PENDING)

    @admin.action(description="Mark resolved")
    def mark_resolved(self, request, queryset):
        self._each(request, queryset, status=Ticket.Status.RESOLVED)

    @admin.action(description="Close")
    def mark_closed(self, request, queryset):
        self._each(request, queryset, status=Ticket.Status.CLOSED)

    @admin.action(description="Reopen")
    def reopen(self, request, queryset):
        self._each(request, queryset, status=Ticket.Status.OPEN)
