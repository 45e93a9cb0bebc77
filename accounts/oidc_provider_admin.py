"""The clients of Roster's OpenID Connect provider in the admin (platform admins only).

Replaces allauth's stock admins of ``allauth.idp.oidc``:

- **Clients**: a form that accepts what Roster's provider serves: scopes among
  ``openid profile email orgs`` (``openid`` required), the authorization-code grant (with
  refresh tokens if asked), the ``code`` response type, redirect and post-logout redirect
  URIs that are absolute ``https`` URLs (``http`` only on a loopback host, for development)
  without a fragment. The client secret is generated, shown once after saving, stored hashed,
  and never rendered again; the "Issue a new client secret" action replaces it. Every change
  is audited (``admin.allauth_idp_oidc.client.*``; the hash is masked).
- **Tokens**: read-only records (client, user, type, scopes, times), never their hashes;
  deleting one revokes it.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import allauth.idp.oidc.admin  # noqa: F401  (registers the stock admins this module replaces)
from allauth.idp.oidc.adapter import get_adapter
from allauth.idp.oidc.models import Client, Token
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import format_html

from audit.admin_mixins import AuditedModelAdmin
from audit.services import record

for _model in (Client, Token):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)

GRANT_TYPES = (Client.GrantType.AUTHORIZATION_CODE.value, Client.GrantType.REFRESH_TOKEN.value)
RESPONSE_TYPES = (Client.ResponseType.CODE.value,)


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(f"{uri}: not an absolute http(s) URL.", code="invalid_uri")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValidationError(
            f"{uri}: plain http is only allowed on a loopback host.", code="insecure_uri"
        )
    if parts.fragment or "#" in uri:
        raise ValidationError(f"{uri}: a redirect URI has no fragment.", code="invalid_uri")
    if "*" in uri:
        raise ValidationError(f"{uri}: wildcards are not allowed.", code="invalid_uri")


class ClientForm(forms.ModelForm):
    post_logout_redirect_uris = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Where RP-initiated logout may send the user back, one URL per line.",
    )

    class Meta:
        model = Client
        fields = (
            "name",
            "type",
            "scopes",
            "default_scopes",
            "grant_types",
            "response_types",
            "redirect_uris",
            "post_logout_redirect_uris",
            "cors_origins",
            "skip_consent",
            "owner",
        )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        supported = " ".join(get_adapter().supported_scopes())
        self.fields["scopes"].help_text = f"One per line, among: {supported}. openid is required."
        self.fields["grant_types"].help_text = "One per line: " + ", ".join(GRANT_TYPES) + "."
        self.fields["redirect_uris"].required = True
        self.fields[
            "skip_consent"
        ].help_text = "Only for Roster's own applications: the user is not asked to consent."
        if self.instance.pk:
            self.initial["post_logout_redirect_uris"] = "\n".join(
                self.instance.get_post_logout_redirect_uris()
            )
        else:
            self.initial.setdefault("scopes", "openid\nprofile\nemail")
            self.initial.setdefault("grant_types", "\n".join(GRANT_TYPES))

    def _only(self, name: str, allowed, *, required: bool = True) -> str:
        values = _lines(self.cleaned_data.get(name, ""))
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ValidationError(
                f"Not supported: {', '.join(unknown)} (allowed: {', '.join(allowed)}).",
                code="unsupported",
            )
        if required and not values:
            raise ValidationError("At least one value is required.", code="required")
        if len(set(values)) != len(values):
            raise ValidationError("A value is listed twice.", code="duplicate")
        return "\n".join(values)

    def clean_scopes(self) -> str:
        value = self._only("scopes", get_adapter().supported_scopes())
        if "openid" not in _lines(value):
            raise ValidationError("openid is required.", code="openid_required")
        return value

    def clean_grant_types(self) -> str:
        value = self._only("grant_types", GRANT_TYPES)
        if Client.GrantType.AUTHORIZATION_CODE not in _lines(value):
            raise ValidationError("authorization_code is required.", code="code_required")
        return value

    def clean_response_types(self) -> str:
        return self._only("response_types", RESPONSE_TYPES)

    def clean_redirect_uris(self) -> str:
        uris = _lines(self.cleaned_data.get("redirect_uris", ""))
        for uri in uris:
            _check_uri(uri)
        return "\n".join(uris)

    def clean_post_logout_redirect_uris(self) -> list[str]:
        uris = _lines(self.cleaned_data.get("post_logout_redirect_uris", ""))
        for uri in uris:
            _check_uri(uri)
        return uris

    def clean_cors_origins(self) -> str:
        origins = _lines(self.cleaned_data.get("cors_origins", ""))
        for origin in origins:
            _check_uri(origin)
            if urlsplit(origin).path not in ("", "/"):
                raise ValidationError(f"{origin}: an origin has no path.", code="invalid_uri")
        return "\n".join(origins)

    def clean(self):
        cleaned = super().clean()
        scopes = _lines(cleaned.get("scopes") or "")
        defaults = _lines(cleaned.get("default_scopes") or "")
        if scopes and any(s not in scopes for s in defaults):
            self.add_error("default_scopes", "Default scopes must be among the client's scopes.")
        return cleaned

    def save(self, commit: bool = True):
        self.instance.set_post_logout_redirect_uris(
            self.cleaned_data.get("post_logout_redirect_uris") or []
        )
        return super().save(commit=commit)


def _show_secret_once(modeladmin, request, client: Client, secret: str) -> None:
    modeladmin.message_user(
        request,
        format_html(
            "The client secret of {} is shown only once: "
            '<input readonly size="{}" type="text" value="{}">',
            client.name,
            len(secret),
            secret,
        ),
        level=messages.WARNING,
    )


@admin.register(Client)
class OIDCClientAdmin(AuditedModelAdmin):
    form = ClientForm
    list_display = ("name", "id", "type", "skip_consent", "created_at")
    list_filter = ("type", "skip_consent")
    search_fields = ("id", "name")
    raw_id_fields = ("owner",)
    readonly_fields = ("id", "created_at")
    actions = ["issue_new_secret"]

    def get_fields(self, request, obj=None):
        fields = list(ClientForm.Meta.fields)
        return ["id", *fields, "created_at"] if obj else fields

    def save_model(self, request, obj, form, change) -> None:
        secret = None
        if not change and obj.type == Client.Type.CONFIDENTIAL:
            secret = get_adapter().generate_client_secret()
            obj.set_secret(secret)
        super().save_model(request, obj, form, change)
        if secret:
            _show_secret_once(self, request, obj, secret)

    @admin.action(description="Issue a new client secret (the old one stops working)")
    def issue_new_secret(self, request, queryset) -> None:
        for client in queryset.filter(type=Client.Type.CONFIDENTIAL):
            secret = get_adapter().generate_client_secret()
            with transaction.atomic():
                client.set_secret(secret)
                client.save(update_fields=["secret"])
                record(
                    action="admin.allauth_idp_oidc.client.secret_rotated",
                    actor=request.user,
                    target=client,
                    request=request,
                    metadata={"door": "admin"},
                )
            _show_secret_once(self, request, client, secret)


@admin.register(Token)
class OIDCTokenAdmin(AuditedModelAdmin):
    list_display = ("client", "type", "user", "created_at", "expires_at")
    list_filter = ("type",)
    list_select_related = ("client", "user")
    search_fields = ("user__email", "client__name", "client__id")
    fields = ("client", "type", "user", "scopes", "created_at", "expires_at")  # never ``hash``
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
