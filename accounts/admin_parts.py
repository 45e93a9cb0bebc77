"""The parts of the User admin (accounts.admin): the MFA annotation, list filters, the
read-only inlines of a user's page and the forms of its actions."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from accounts.models import (
    API_KEY_METADATA_FIELDS,
    PROFILE_FIELDS,
    ROLE_NAMES,
    ApiKey,
    ApiSession,
    User,
    UserSetting,
)
from accounts.selectors import mfa_enabled_expression
from accounts.services.fields import clean_profile
from audit.admin_mixins import ReadOnlyMixin


def with_mfa(queryset):
    """Annotate ``mfa_enabled`` with a correlated subquery (no GROUP BY)."""
    return queryset.annotate(
        mfa_enabled=mfa_enabled_expression(),
    )


# --- list filters ------------------------------------------------------------------------


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [(name, name.capitalize()) for name in ROLE_NAMES]

    def queryset(self, request, queryset):
        if self.value() in ROLE_NAMES:
            return queryset.filter(groups__name=self.value())
        return queryset


class MfaFilter(admin.SimpleListFilter):
    title = "MFA"
    parameter_name = "mfa"

    def lookups(self, request, model_admin):
        return [("on", "On"), ("off", "Off")]

    def queryset(self, request, queryset):
        if self.value() == "on":
            return queryset.filter(mfa_enabled=True)
        if self.value() == "off":
            return queryset.filter(mfa_enabled=False)
        return queryset


# --- read-only inlines ---------------------------------------------------------------------


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    """Metadata shown on the user's page; changes go through the actions and services."""

    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_view_permission(self, request, obj=None):
        # allauth's models carry no Roster role permissions: seeing a user's page is enough.
        return request.user.has_perm("accounts.view_user")


class SettingInline(ReadOnlyInline):
    model = UserSetting
    fields = ("definition", "value", "updated_at")
    verbose_name_plural = "settings"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("definition")


class WebSessionInline(ReadOnlyInline):
    model = UserSession
    fields = ("created_at", "last_seen_at", "ip", "user_agent")  # never the session key
    verbose_name_plural = "web sessions"
    ordering = ("-last_seen_at",)


class ApiSessionInline(ReadOnlyInline):
    model = ApiSession
    fields = ("created_at", "last_seen_at", "expires_at", "ip", "user_agent", "revoked_at")
    verbose_name_plural = "API sessions"


class ApiKeyInline(ReadOnlyInline):
    model = ApiKey
    # Metadata only: the digest is never shown.
    fields = API_KEY_METADATA_FIELDS
    verbose_name_plural = "API keys"


class AuthenticatorInline(ReadOnlyInline):
    model = Authenticator
    fields = ("type", "created_at", "last_used_at")  # never the secret data
    verbose_name_plural = "MFA authenticators"


# --- action forms --------------------------------------------------------------------------


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        choices=[(name, name.capitalize()) for name in ROLE_NAMES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="No role at all means member.",
    )


class UserChangeForm(forms.ModelForm):
    """Profile fields are checked by the users service's own rules before anything is saved.

    ``groups`` is offered as the three roles only; saving it calls ``user_set_roles``.
    """

    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.filter(name__in=ROLE_NAMES).order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Roles",
        help_text="No role at all means member. Managers and admins get admin access.",
    )

    class Meta:
        model = User
        fields = (*PROFILE_FIELDS, "slot_limit", "groups")

    def clean(self):
        cleaned = super().clean()
        changed = {f: cleaned.get(f) for f in PROFILE_FIELDS if f in self.changed_data}
        try:
            clean_profile(
                {k: "" if v is None and k != "username" else v for k, v in changed.items()}
            )
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


class UserAddForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(
        choices=[(name, name.capitalize()) for name in ROLE_NAMES],
        widget=forms.CheckboxSelectMultiple,
        initial=["member"],
        required=False,
    )

    class Meta:
        model = User
        fields = ("email", "username", "display_name", "first_name", "last_name")
