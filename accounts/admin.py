"""The User admin: Roster's console for day-to-day user administration.

Every state change goes through the same services as the API (status, roles, sessions,
API keys, MFA, emails); the admin only chooses users and confirms. Status and roles are
read-only on the form for that reason: they change through the actions, which audit.
Managers (staff with ``view_*`` permissions only) get the same pages read-only and no
actions. Users are never hard-deleted here: deactivation is the deletion. The bulk actions
are in accounts/admin_actions.py, the forms, inlines and filters in accounts/admin_parts.py.

What other apps hold of a user (live slots, usage totals) is added by the console, which
registers a subclass of this admin (console/admin.py): accounts does not import them.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from accounts import impersonation, preferences
from accounts.admin_actions import UserActionsMixin
from accounts.admin_import import UserExportResource, UserImportResource, user_create_invited
from accounts.admin_parts import (
    ApiKeyInline,
    ApiSessionInline,
    AuthenticatorInline,
    MfaFilter,
    RoleFilter,
    SettingInline,
    UserAddForm,
    UserChangeForm,
    WebSessionInline,
    with_mfa,
)
from accounts.models import PROFILE_FIELDS, User
from accounts.selectors import has_mfa
from accounts.services.users import (
    user_admin_update,
    user_set_roles,
    user_update_profile,
)
from audit.admin_mixins import AdminAuditMixin, record_admin_export
from audit.personal import attach_revealed
from audit.selectors import NEWEST_FIRST, events_of, events_visible_to
from config.errors import DomainError

RECENT_AUDIT_EVENTS = 20


# --- the admin -------------------------------------------------------------------------------


@admin.register(User)
class UserAdmin(UserActionsMixin, AdminAuditMixin, ImportExportMixin, admin.ModelAdmin):
    list_display = (
        "email",
        "name",
        "status",
        "roles_display",
        "mfa_display",
        "last_login",
        "date_joined",
    )
    list_filter = (
        "status",
        RoleFilter,
        MfaFilter,
        ("date_joined", admin.DateFieldListFilter),
        ("last_login", admin.DateFieldListFilter),
    )
    search_fields = ("email", "username", "display_name", "first_name", "last_name")
    search_help_text = "Email, username or name"
    ordering = ("-date_joined",)
    list_per_page = 50
    # No COUNT(*) of the whole table on every filtered page.
    show_full_result_count = False
    date_hierarchy = None
    change_form_template = "admin/accounts/user/change_form.html"
    form = UserChangeForm
    add_form = UserAddForm
    inlines = (
        SettingInline,
        WebSessionInline,
        ApiSessionInline,
        ApiKeyInline,
        AuthenticatorInline,
    )
    fieldsets = (
        (None, {"fields": ("id", "email", "username")}),
        (
            "Profile",
            {"fields": tuple(f for f in PROFILE_FIELDS if f != "username")},
        ),
        (
            "Status and roles",
            {
                "fields": (
                    "status",
                    "groups",
                    "is_staff",
                    "slot_limit",
                    "deactivated_at",
                )
            },
        ),
        ("Security", {"fields": ("mfa_display", "last_login", "date_joined")}),
        ("Recent audit events", {"fields": ("recent_audit_events",)}),
    )
    add_fieldsets = (
        (
            None,
            {
                "fields": ("email", "username", "display_name", "first_name", "last_name", "roles"),
                "description": (
                    "The new user gets no password: Roster emails them a link to set one."
                ),
            },
        ),
    )
    readonly_fields = (
        "id",
        "email",
        "status",
        "is_staff",
        "deactivated_at",
        "mfa_display",
        "last_login",
        "date_joined",
        "recent_audit_events",
    )
    actions = (
        "suspend_users",
        "reactivate_users",
        "deactivate_users",
        "sign_out_everywhere",
        "reset_mfa",
        "resend_verification_email",
        "send_password_reset",
        "revoke_api_keys",
        "change_roles",
    )

    # import / export (django-import-export)
    resource_classes = (UserExportResource,)
    import_formats = (CSV,)
    export_formats = (CSV, XLSX)

    # --- queryset and columns ----------------------------------------------------------------

    def get_queryset(self, request):
        return with_mfa(super().get_queryset(request).prefetch_related("groups"))

    @admin.display(description="name", ordering="display_name")
    def name(self, obj: User) -> str:
        return obj.display_name or obj.get_full_name()

    @admin.display(description="roles")
    def roles_display(self, obj: User) -> str:
        return ", ".join(obj.roles) or "—"

    @admin.display(description="MFA", boolean=True, ordering="mfa_enabled")
    def mfa_display(self, obj: User) -> bool:
        enabled = getattr(obj, "mfa_enabled", None)
        return has_mfa(obj) if enabled is None else enabled

    @admin.display(description="recent audit events")
    def recent_audit_events(self, obj: User) -> str:
        if obj.pk is None:
            return "—"
        # The audit log's one visibility rule: a manager sees only the events they took part in.
        visible = events_of(obj) & events_visible_to(getattr(obj, "_audit_viewer", None))
        events = attach_revealed(visible.order_by(*NEWEST_FIRST)[:RECENT_AUDIT_EVENTS])
        if not events:
            return "No events."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    preferences.current().format(e.occurred_at, mode="seconds"),
                    e.action,
                    e.revealed.actor_display or e.actor_type,
                    f"{e.target_type} {e.target_id}".strip(),
                    e.ip or "",
                )
                for e in events
            ),
        )
        return format_html(
            "<table class='roster-audit-events'><thead><tr><th>when</th><th>action</th>"
            "<th>actor</th><th>target</th><th>ip</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    # --- forms: add through the service, profile edits audited --------------------------------

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        # The inlines are read-only: nothing of theirs is posted back or saved.
        if obj is None or request.method == "POST":
            return ()
        return self.inlines

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            # A service refused (e.g. removing the last admin): the admin's transaction has
            # rolled back as a whole; show why on the same page.
            self.message_user(request, error.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        if change:
            return self._save_changes(request, obj, form)
        created = user_create_invited(
            email=form.cleaned_data["email"],
            profile={
                k: form.cleaned_data.get(k) or ""
                for k in ("username", "display_name", "first_name", "last_name")
            },
            roles=form.cleaned_data.get("roles") or ["member"],
            actor=request.user,
            request=request,
        )
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db

    def _save_changes(self, request, obj: User, form) -> None:
        profile = {f: getattr(obj, f) for f in PROFILE_FIELDS if f in form.changed_data}
        if profile:
            user_update_profile(user=obj, data=profile, actor=request.user, request=request)
        if "slot_limit" in form.changed_data:
            user_admin_update(
                user=obj, slot_limit=obj.slot_limit, actor=request.user, request=request
            )
        if "groups" in form.changed_data:
            roles = [group.name for group in form.cleaned_data["groups"]]
            user_set_roles(user=obj, roles=roles, actor=request.user, request=request)

    def save_related(self, request, form, formsets, change):
        # Roles were set by the users service in save_model; the inlines are read-only.
        return None

    def has_delete_permission(self, request, obj=None):
        # Deactivation is the deletion (history and audit stay attached to the user).
        return False

    def lookup_allowed(self, lookup, value, request=None):
        if lookup.startswith("password"):
            return False
        return super().lookup_allowed(lookup, value, request)

    # --- import / export permissions -------------------------------------------------------

    def has_import_permission(self, request):
        return request.user.has_perm("accounts.add_user")

    def has_export_permission(self, request):
        return request.user.has_perm("accounts.view_user")

    def get_import_resource_classes(self, request):
        return [UserImportResource]

    def get_export_data(self, file_format, request, queryset, **kwargs):
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        record_admin_export(
            request,
            User,
            file_format=file_format.get_extension(),
            rows=queryset.count(),
            filters=dict(request.GET.items()),
        )
        return data

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"actor": request.user, "request": request}

    # --- extra URLs: impersonation -----------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/impersonate/",
                self.admin_site.admin_view(self.impersonate_view),
                name="accounts_user_impersonate",
            ),
            *super().get_urls(),
        ]

    def impersonate_view(self, request: HttpRequest, object_id: str):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[object_id]))
        user = self.get_object(request, object_id)
        if user is None:
            return HttpResponseRedirect(reverse("admin:accounts_user_changelist"))
        try:
            impersonation.impersonation_start(actor=request.user, user=user, request=request)
        except DomainError as error:
            self.message_user(request, error.detail, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[object_id]))
        return HttpResponseRedirect(reverse("account-overview"))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            obj._audit_viewer = request.user  # read by recent_audit_events
        context["can_impersonate"] = obj is not None and impersonation.may_impersonate(
            actor=request.user, user=obj
        )
        return super().render_change_form(request, context, add, change, form_url, obj)


from accounts import (  # noqa: E402,F401  (register their models)
    admin_access,
    admin_allauth,
    admin_settings,
    oidc_provider_admin,
)
