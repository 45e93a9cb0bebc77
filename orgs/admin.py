"""Admin console for organizations. Plans are editable data; organizations, members,
teams, roles and invitations are shown read-only, and what changes them (archive, verify a
domain, cancel an invitation) runs the same services as the API, with the same rules and
audit events."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.views import add_domain_error
from audit.admin_mixins import AuditedModelAdmin
from config.errors import DomainError
from orgs import selectors
from orgs.forms import TenantOnboardForm
from orgs.models import (
    Invitation,
    Membership,
    Organization,
    OrganizationDomain,
    Plan,
    Role,
    Team,
    TeamMembership,
)
from orgs.permissions import is_platform_admin
from orgs.services import domains, invitations, organizations, tenants


def _run(modeladmin, request, items, work, past: str) -> None:
    done, refused = 0, []
    for item in items:
        try:
            work(item)
            done += 1
        except DomainError as exc:
            refused.append(f"{item}: {exc.detail}")
    if done:
        modeladmin.message_user(request, f"{done} {past}.", messages.SUCCESS)
    if refused:
        modeladmin.message_user(
            request, f"{len(refused)} refused: " + "; ".join(refused[:10]), messages.WARNING
        )


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(ReadOnlyInline):
    model = Membership
    fields = ("user", "role_keys", "permissions", "status", "joined_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").prefetch_related("roles")

    @admin.display(description="roles")
    def role_keys(self, obj: Membership) -> str:
        return ", ".join(sorted(r.key for r in obj.roles.all()))


class TeamInline(ReadOnlyInline):
    model = Team
    fields = ("name", "team_type", "created_at")
    readonly_fields = fields
    show_change_link = True


class DomainInline(ReadOnlyInline):
    model = OrganizationDomain
    fields = ("domain", "verified", "join_mode", "verified_at")
    readonly_fields = fields


class InvitationInline(ReadOnlyInline):
    model = Invitation
    fields = ("email", "status", "invited_by", "created_at", "expires_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invited_by")


@admin.register(Plan)
class PlanAdmin(AuditedModelAdmin):
    list_display = ("key", "name", "seat_limit", "features", "is_active", "tenant_count")
    list_filter = ("is_active",)
    search_fields = ("key", "name")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(org_count=Count("organizations"))

    @admin.display(description="tenants", ordering="org_count")
    def tenant_count(self, obj: Plan) -> int:
        return obj.org_count

    def has_delete_permission(self, request, obj=None) -> bool:
        # A plan tenants subscribe to is history: take it off sale (is_active) instead.
        if obj is not None and obj.organizations.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Organization)
class OrganizationAdmin(AuditedModelAdmin):
    list_display = (
        "slug",
        "name",
        "status",
        "plan",
        "seats",
        "member_count",
        "team_count",
        "created_at",
    )
    list_filter = ("status", "plan")
    search_fields = ("slug", "name", "=id", "domains__domain")
    fields = (
        "id",
        "slug",
        "name",
        "description",
        "status",
        "plan",
        "features",
        "seat_limit",
        "created_by",
        "created_at",
        "archived_at",
    )
    readonly_fields = fields
    inlines = (MembershipInline, TeamInline, InvitationInline, DomainInline)
    actions = ("archive_organizations",)

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("plan")
        return selectors.with_seats(qs).annotate(team_total=Count("teams", distinct=True))

    # Organizations are created through the API or tenant onboarding, archived, never deleted.
    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="seats used / limit")
    def seats(self, obj: Organization) -> str:
        used = obj.member_total + obj.pending_total
        return f"{used} / {obj.seat_limit if obj.seat_limit is not None else '∞'}"

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj: Organization) -> int:
        return obj.member_total

    @admin.display(description="teams", ordering="team_total")
    def team_count(self, obj: Organization) -> int:
        return obj.team_total

    def get_urls(self):
        onboard = self.admin_site.admin_view(self.onboard_view)
        return [path("onboard/", onboard, name="orgs_organization_onboard"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra = {"may_onboard": is_platform_admin(request.user), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def onboard_view(self, request):
        """Tenant onboarding (``POST /admin/tenants`` as a page): the same service, so the
        same rules, idempotency key, dry run and ``tenant.onboarded`` audit event."""
        if not is_platform_admin(request.user):
            raise PermissionDenied
        form = TenantOnboardForm(request.POST if request.method == "POST" else None)
        result, status = None, 200
        if request.method == "POST":
            status = 400
            if form.is_valid():
                dry_run = form.cleaned_data["dry_run"]
                try:
                    result, created = tenants.tenant_onboard(
                        data=form.service_data(),
                        actor=request.user,
                        idempotency_key=form.cleaned_data["idempotency_key"] or None,
                        dry_run=dry_run,
                        request=request,
                    )
                except DomainError as exc:
                    add_domain_error(form, exc)
                    status = exc.status_code
                else:
                    if not dry_run:
                        org_id = result["organization"]["id"]
                        name = result["organization"]["name"]
                        done = "onboarded" if created else "was already onboarded with this key"
                        self.message_user(request, f"{name} {done}.", messages.SUCCESS)
                        return redirect(reverse("admin:orgs_organization_change", args=[org_id]))
                    status = 200
        context = {
            **self.admin_site.each_context(request),
            "title": "Onboard a tenant",
            "opts": self.model._meta,
            "form": form,
            "result": result,
        }
        return TemplateResponse(
            request, "admin/orgs/organization/onboard.html", context, status=status
        )

    @admin.action(description="Archive selected organizations", permissions=["change"])
    def archive_organizations(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda org: organizations.org_archive(
                organization=org, actor=request.user, request=request
            ),
            "organization(s) archived",
        )


@admin.register(OrganizationDomain)
class OrganizationDomainAdmin(AuditedModelAdmin):
    list_display = ("domain", "organization", "verified", "join_mode", "verified_at")
    list_filter = ("verified", "join_mode")
    search_fields = ("domain", "organization__slug")
    list_select_related = ("organization",)
    readonly_fields = (
        "organization",
        "domain",
        "verified",
        "join_mode",
        "verified_at",
        "created_at",
    )
    actions = ("verify_domains",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Verify selected domains", permissions=["change"])
    def verify_domains(self, request, queryset):
        _run(
            self,
            request,
            queryset.select_related("organization"),
            lambda row: domains.domain_verify(
                organization=row.organization,
                domain=row.domain,
                actor=request.user,
                request=request,
            ),
            "domain(s) verified",
        )


@admin.register(Invitation)
class InvitationAdmin(AuditedModelAdmin):
    list_display = ("email", "organization", "status", "invited_by", "created_at", "expires_at")
    list_filter = ("status",)
    search_fields = ("email", "organization__slug")
    list_select_related = ("organization", "invited_by")
    fields = (
        "id",
        "organization",
        "email",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "decided_at",
        "accepted_by",
    )
    readonly_fields = fields
    actions = ("cancel_invitations",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Cancel selected invitations", permissions=["change"])
    def cancel_invitations(self, request, queryset):
        _run(
            self,
            request,
            queryset.select_related("organization"),
            lambda inv: invitations.invitation_cancel(
                organization=inv.organization,
                invitation_id=inv.pk,
                actor=request.user,
                request=request,
            ),
            "invitation(s) canceled",
        )


class TeamMembershipInline(ReadOnlyInline):
    model = TeamMembership
    fields = ("user", "role", "title", "permissions", "joined_at")
    readonly_fields = fields


@admin.register(Team)
class TeamAdmin(AuditedModelAdmin):
    list_display = ("name", "organization", "team_type", "member_total", "created_at")
    search_fields = ("name", "organization__slug")
    list_select_related = ("organization",)
    fields = ("id", "organization", "name", "description", "team_type", "goals", "created_at")
    readonly_fields = fields
    inlines = (TeamMembershipInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members=Count("team_memberships"))

    @admin.display(description="members", ordering="members")
    def member_total(self, obj: Team) -> int:
        return obj.members

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Role)
class RoleAdmin(AuditedModelAdmin):
    list_display = ("key", "name", "organization", "builtin")
    list_filter = ("builtin",)
    search_fields = ("key", "name", "organization__slug")
    list_select_related = ("organization",)
    fields = ("organization", "key", "name", "description", "permissions", "builtin")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# SAML connections (read-only) live with the rest of SAML per organization.
import orgs.saml.admin  # noqa: E402, F401
