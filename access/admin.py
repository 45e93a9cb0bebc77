"""Admin console for access: resources, requests, reviews and grants are shown read-only
(they change through the services, with their rules and audit events); the one action,
revoking grants, runs ``grant_revoke`` as the API does."""

from __future__ import annotations

from django.contrib import admin, messages

from access.models import AccessRequest, Grant, RequestableResource, Review
from access.services.requests import grant_revoke
from audit.admin_mixins import AuditedModelAdmin
from config.errors import DomainError


class ReadOnlyAdmin(AuditedModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RequestableResource)
class RequestableResourceAdmin(ReadOnlyAdmin):
    list_display = ("key", "name", "organization", "min_approvals", "max_duration_days")
    search_fields = ("key", "name", "organization__slug")
    list_select_related = ("organization",)


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0
    can_delete = False
    fields = ("reviewer", "action", "comment", "conditions", "delegate_to", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "resource_key",
        "access_level",
        "requester",
        "organization",
        "status",
        "created_at",
        "decide_by",
    )
    list_filter = ("status",)
    search_fields = ("resource_key", "requester__email", "organization__slug", "=id")
    list_select_related = ("requester", "organization")
    inlines = (ReviewInline,)


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin):
    list_display = (
        "resource_key",
        "access_level",
        "user",
        "organization",
        "status",
        "starts_at",
        "expires_at",
    )
    list_filter = ("status",)
    search_fields = ("resource_key", "user__email", "organization__slug", "=id")
    list_select_related = ("user", "organization")
    actions = ("revoke_grants",)

    @admin.action(description="Revoke selected grants", permissions=["view"])
    def revoke_grants(self, request, queryset):
        done, refused = 0, []
        for grant in queryset.select_related("organization", "request"):
            try:
                grant_revoke(grant=grant, actor=request.user, request=request)
                done += 1
            except DomainError as exc:
                refused.append(f"{grant}: {exc.detail}")
        if done:
            self.message_user(request, f"{done} grant(s) revoked.", messages.SUCCESS)
        if refused:
            self.message_user(
                request, f"{len(refused)} refused: " + "; ".join(refused[:10]), messages.WARNING
            )
