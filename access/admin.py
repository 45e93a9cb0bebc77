"""Admin console for access. Requestable resources are described, changed and deleted
through ``access.services.resources`` (its rules, its audit events); requests and their
reviews are read-only (they are decided by their approvers); grants are read-only but for
one action, revoking, which runs ``grant_revoke`` as the API and the pages do."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q

from access.forms import words
from access.models import AccessRequest, Grant, RequestableResource, Review
from access.services import resources as resource_services
from access.services.requests import grant_revoke
from audit.admin_mixins import AuditedModelAdmin, ReadOnlyMixin
from config.errors import DomainError
from orgs.models import Membership, Team


class ReadOnlyAdmin(ReadOnlyMixin, AuditedModelAdmin):
    """Shown only; its actions (revoke) call the access services."""


def _any_email(emails: list[str]) -> Q:
    found = Q(pk__in=[])
    for email in emails:
        found |= Q(user__email__iexact=email)
    return found


class ResourceAdminForm(forms.ModelForm):
    """The resource's fields as the service takes them, typed as text (levels and role keys
    separated by commas, teams by name, approving members by email). None of them is a model
    field: the service writes the row in ``clean()``, inside the admin's transaction, so its
    refusal is the form's error and nothing is written."""

    resource_key = forms.CharField(label="Key", max_length=63)
    resource_name = forms.CharField(label="Name", max_length=100)
    about = forms.CharField(label="Description", required=False, widget=forms.Textarea)
    level_list = forms.CharField(label="Levels", help_text="Narrowest first, separated by commas.")
    approver_roles = forms.CharField(
        required=False, help_text="Role keys, separated by commas (owner, admin, ...)."
    )
    approver_teams = forms.CharField(
        required=False,
        help_text="Team names, one per line.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    approver_users = forms.CharField(
        required=False,
        label="Approving members",
        help_text="Email addresses of active members, separated by commas.",
    )
    approvals = forms.IntegerField(label="Approvals needed", initial=1)
    longest_days = forms.IntegerField(label="Longest duration (days)", initial=14)
    waits_days = forms.IntegerField(label="Days a request may wait", initial=7)
    auto_approve = forms.CharField(
        required=False, label="Levels approved at once", help_text="Separated by commas."
    )

    FIELD_FOR = {
        "key": "resource_key",
        "name": "resource_name",
        "description": "about",
        "levels": "level_list",
        "approvers.roles": "approver_roles",
        "approvers.teams": "approver_teams",
        "approvers.users": "approver_users",
        "approvers": "approver_users",
        "min_approvals": "approvals",
        "max_duration_days": "longest_days",
        "pending_days": "waits_days",
        "auto_approve_levels": "auto_approve",
    }

    class Meta:
        model = RequestableResource
        fields = ("organization",)

    request = None  # set by the admin's get_form

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        row = self.instance
        if not row._state.adding:
            self.initial.update(
                resource_key=row.key,
                resource_name=row.name,
                about=row.description,
                level_list=", ".join(row.levels),
                approver_roles=", ".join(row.approvers.get("roles", [])),
                approver_teams="\n".join(
                    Team.objects.filter(
                        organization_id=row.organization_id, pk__in=row.approvers.get("teams", [])
                    ).values_list("name", flat=True)
                ),
                approver_users=", ".join(
                    Membership.objects.filter(
                        organization_id=row.organization_id,
                        user_id__in=row.approvers.get("users", []),
                    ).values_list("user__email", flat=True)
                ),
                approvals=row.min_approvals,
                longest_days=row.max_duration_days,
                waits_days=row.pending_days,
                auto_approve=", ".join(row.auto_approve_levels),
            )
            self.fields["resource_key"].disabled = True

    def _ids(self, organization, field: str, names: list[str], lookup) -> list[str]:
        found = lookup(names)
        missing = [n for n in names if n.lower() not in found]
        if missing:
            self.add_error(field, f"Not in this organization: {', '.join(missing)[:200]}.")
        return [str(found[n.lower()]) for n in names if n.lower() in found]

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or self.instance.organization
        if self.errors or organization is None:
            return cleaned
        team_ids, user_ids = self._approver_ids(organization, cleaned)
        if self.errors:
            return cleaned
        data = {
            "name": cleaned["resource_name"],
            "description": cleaned["about"],
            "levels": words(cleaned["level_list"]),
            "approvers": {
                "roles": words(cleaned["approver_roles"]),
                "teams": team_ids,
                "users": user_ids,
            },
            "min_approvals": cleaned["approvals"],
            "max_duration_days": cleaned["longest_days"],
            "pending_days": cleaned["waits_days"],
            "auto_approve_levels": words(cleaned["auto_approve"]),
        }
        self._save(organization, cleaned, data)
        return cleaned

    def _approver_ids(self, organization, cleaned) -> tuple[list[str], list[str]]:
        """The approver teams (one name a line) and members (emails) as ids; a name or an
        email that is not the organization's is a field error."""
        teams = [t.strip() for t in cleaned["approver_teams"].splitlines() if t.strip()]
        emails = [e.strip() for e in cleaned["approver_users"].split(",") if e.strip()]
        team_ids = self._ids(
            organization,
            "approver_teams",
            teams,
            lambda names: {
                n.lower(): pk
                for n, pk in Team.objects.filter(
                    organization=organization, name__in=names
                ).values_list("name", "pk")
            },
        )
        user_ids = self._ids(
            organization,
            "approver_users",
            emails,
            lambda names: {
                e.lower(): pk
                for e, pk in Membership.objects.filter(
                    organization=organization, status=Membership.Status.ACTIVE
                )
                .filter(_any_email(names))
                .values_list("user__email", "user_id")
            },
        )
        return team_ids, user_ids

    def _save(self, organization, cleaned, data: dict) -> None:
        """The resource through its service (the admin's one write path); a refusal is shown
        next to the field it names."""
        actor = self.request.user
        try:
            if not self.instance._state.adding:
                self.saved = resource_services.resource_update(
                    resource=self.instance, actor=actor, request=self.request, **data
                )
            else:
                self.saved = resource_services.resource_create(
                    organization=organization,
                    actor=actor,
                    request=self.request,
                    key=cleaned["resource_key"],
                    **data,
                )
        except DomainError as exc:
            field = self.FIELD_FOR.get(exc.attr or "") or self.FIELD_FOR.get(
                (exc.attr or "").split(".")[0]
            )
            self.add_error(field if field in self.fields else None, exc.detail)


@admin.register(RequestableResource)
class RequestableResourceAdmin(AuditedModelAdmin):
    form = ResourceAdminForm
    list_display = ("key", "name", "organization", "min_approvals", "max_duration_days")
    search_fields = ("key", "name", "organization__slug")
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    fields = (
        "organization",
        "resource_key",
        "resource_name",
        "about",
        "level_list",
        "approver_roles",
        "approver_teams",
        "approver_users",
        "approvals",
        "longest_days",
        "waits_days",
        "auto_approve",
    )

    def get_readonly_fields(self, request, obj=None):
        return ("organization",) if obj is not None else ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def get_actions(self, request):
        # One at a time, through the service (its refusals are shown on the page).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change) -> None:
        # The service wrote the row in form.clean(); the admin's log reads it back.
        row = form.saved
        for f in RequestableResource._meta.concrete_fields:
            setattr(obj, f.attname, getattr(row, f.attname))
        obj._state.adding = False

    def delete_model(self, request, obj) -> None:
        try:
            resource_services.resource_delete(resource=obj, actor=request.user, request=request)
        except DomainError as exc:
            # Raised inside the admin's transaction: its log rows go too.
            raise PermissionDenied(exc.detail) from exc


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

    def has_revoke_permission(self, request) -> bool:
        # Who may revoke a given grant is the service's answer (may_revoke); the action is
        # offered to those who may change grants.
        return request.user.has_perm("access.change_grant")

    @admin.action(description="Revoke selected grants", permissions=["revoke"])
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
