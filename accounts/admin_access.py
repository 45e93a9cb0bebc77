"""Admin for API sessions and API keys (metadata only; digests are never shown).

Both are read-only: keys are created by their owners (the secret is shown to them once) and
sessions by sign-ins. Admins can revoke, through the same services as everyone else.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import ngettext

from accounts import apikeys, sessions
from accounts.models import API_KEY_METADATA_FIELDS, ApiKey, ApiSession
from audit.admin_mixins import AuditedModelAdmin, ReadOnlyMixin


class _ReadOnlyAdmin(ReadOnlyMixin, AuditedModelAdmin):
    # Viewing only; revocation goes through the actions (which need "change" below).

    def has_revoke_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


class LiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(_ReadOnlyAdmin):
    list_display = (
        "name",
        "shown_prefix",
        "user",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    )
    list_filter = (LiveFilter,)
    search_fields = ("name", "prefix", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    # Never the digest: the fields are listed explicitly.
    fields = ("id", "user", *API_KEY_METADATA_FIELDS)
    readonly_fields = fields
    actions = ["revoke_keys"]

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_keys(self, request, queryset):
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            count += apikeys.api_key_revoke(
                key=key, actor=request.user, request=request, reason="admin_revoked"
            )
        self.message_user(
            request,
            ngettext("Revoked %(count)d API key.", "Revoked %(count)d API keys.", count)
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(ApiSession)
class ApiSessionAdmin(_ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "created_at",
        "last_seen_at",
        "expires_at",
        "ip",
        "user_agent",
        "revoked_at",
        "revoke_reason",
    )
    list_filter = (LiveFilter,)
    search_fields = ("user__email", "ip")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    # Never the refresh token's jti.
    fields = (
        "id",
        "user",
        "created_at",
        "last_seen_at",
        "expires_at",
        "ip",
        "user_agent",
        "revoked_at",
        "revoke_reason",
    )
    readonly_fields = fields
    actions = ["revoke_sessions"]

    @admin.action(description="Revoke selected API sessions", permissions=["revoke"])
    def revoke_sessions(self, request, queryset):
        count = 0
        for session in queryset.filter(revoked_at__isnull=True):
            count += sessions.api_session_revoke(
                session=session, actor=request.user, request=request, reason="admin_revoked"
            )
        self.message_user(
            request,
            ngettext("Revoked %(count)d API session.", "Revoked %(count)d API sessions.", count)
            % {"count": count},
            messages.SUCCESS,
        )
