"""allauth's models in the admin: records to read, never secrets, never a way around the flows.

allauth's stock admins show an authenticator's ``data`` (the TOTP secret, the recovery-code
seed, passkey credentials), list social access tokens, and let anyone with change permission
move a social account, an authenticator or a browser session to another user (a permanent
way into that user's account). They are replaced here:

- MFA authenticators, social accounts and browser sessions are read-only, with no secret
  field (no ``data``, ``extra_data``, ``session_key``). Their changes go through the flows
  and the user admin's actions (MFA reset, sign out everywhere), which audit them.
- Social tokens are not in the admin at all.
- Social apps stay editable (an admin configures a provider here), with the client secret
  write-only: it is never rendered, and a blank field keeps the stored one.
"""

from __future__ import annotations

import allauth.mfa.admin  # noqa: F401  (registers the stock admins this module replaces)
import allauth.socialaccount.admin  # noqa: F401
import allauth.usersessions.admin  # noqa: F401
from allauth.mfa.models import Authenticator
from allauth.socialaccount import providers
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from allauth.usersessions.models import UserSession
from django import forms
from django.contrib import admin

from audit.admin_mixins import AuditedModelAdmin, ReadOnlyModelAdmin

for _model in (Authenticator, SocialAccount, SocialApp, SocialToken, UserSession):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(Authenticator)
class AuthenticatorAdmin(ReadOnlyModelAdmin):
    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type",)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    fields = ("user", "type", "created_at", "last_used_at")  # never ``data``


@admin.register(SocialAccount)
class SocialAccountAdmin(ReadOnlyModelAdmin):
    list_display = ("user", "provider", "uid", "last_login", "date_joined")
    list_filter = ("provider",)
    list_select_related = ("user",)
    search_fields = ("uid", "user__email")
    # Not ``extra_data``: what the provider sent, tokens and ID tokens included.
    fields = ("user", "provider", "uid", "last_login", "date_joined")


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyModelAdmin):
    list_display = ("user", "created_at", "last_seen_at", "ip", "user_agent")
    list_select_related = ("user",)
    search_fields = ("user__email", "=ip")
    fields = ("user", "created_at", "last_seen_at", "ip", "user_agent")  # never the session key


class SocialAppForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"size": "100"}),
        help_text="Write-only: never shown again. Leave blank to keep the current secret.",
    )

    class Meta:
        model = SocialApp
        fields = ("provider", "provider_id", "name", "client_id", "secret", "key", "settings")
        widgets = {
            "client_id": forms.TextInput(attrs={"size": "100"}),
            "key": forms.TextInput(attrs={"size": "100"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"] = forms.ChoiceField(choices=providers.registry.as_choices())

    def clean_secret(self) -> str:
        return self.cleaned_data.get("secret") or (self.instance.secret if self.instance else "")


@admin.register(SocialApp)
class SocialAppAdmin(AuditedModelAdmin):
    form = SocialAppForm
    list_display = ("name", "provider", "client_id")
