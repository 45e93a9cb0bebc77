"""Forms of the account pages. They only shape input; the services enforce the rules."""

from __future__ import annotations

import datetime as dt
import json

from allauth.account.forms import ChangePasswordForm, ResetPasswordKeyForm
from django import forms
from django.utils.html import escape
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.credentials import API_KEYS_ALL, API_KEYS_FIELD, API_KEYS_NONE, API_KEYS_RECENT
from config.api.permissions import API_KEY_SCOPES

SCOPE_LABELS = {
    "profile:read": _("Read your profile"),
    "profile:write": _("Change your profile"),
    "slots:read": _("Read your slots"),
    "slots:write": _("Create and change your slots"),
    "usage:read": _("Read your usage"),
    "usage:write": _("Report usage events"),
    "orgs:read": _("Read your organizations"),
    "orgs:write": _("Manage your organizations (as far as your roles allow)"),
    "tenants:write": _("Onboard tenants (platform admins)"),
    "notifications:read": _("Read your notifications"),
    "notifications:write": _("Mark your notifications read and send notifications"),
    "access:check": _("Ask whether a member holds access (organization access managers)"),
}


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100, label=_("Name"), help_text=_("So you can tell your keys apart.")
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=[(s, format_lazy("{} — {}", s, SCOPE_LABELS.get(s, s))) for s in API_KEY_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("A key can never do more than you, and never manage keys or sessions."),
    )
    expires_on = forms.DateField(
        required=False,
        label=_("Expires on"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty for a key that does not expire. Expiry is at 00:00 UTC."),
    )

    def expires_at(self) -> dt.datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


class ProfileForm(forms.Form):
    """The writable fields of the user object. Shapes only: accounts.services.fields.clean_profile
    checks every value (the API's serializer calls the same function)."""

    display_name = forms.CharField(
        required=False, max_length=150, strip=False, label=_("Display name")
    )
    username = forms.CharField(required=False, max_length=150, strip=False, label=_("Username"))
    first_name = forms.CharField(required=False, max_length=150, strip=False, label=_("First name"))
    last_name = forms.CharField(required=False, max_length=150, strip=False, label=_("Last name"))
    phone = forms.CharField(
        required=False,
        label=_("Phone"),
        max_length=40,
        strip=False,
        help_text=_("International format, e.g. +41 44 668 18 00."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    department = forms.CharField(required=False, max_length=150, strip=False, label=_("Department"))
    timezone = forms.CharField(label=_("Time zone"), max_length=64)
    locale = forms.CharField(label=_("Language"), max_length=16)

    def __init__(self, *args, timezones=(), locales=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Plain text fields with a list of options: unknown values reach the service, which
        # answers with the same message as the API.
        self.fields["timezone"].widget = forms.Select(choices=[(z, z) for z in timezones])
        self.fields["locale"].widget = forms.Select(choices=list(locales))


class JSONSettingField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def to_python(self, value):
        value = super().to_python(value)
        if value in ("", None):
            return None
        try:
            return json.loads(value)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise forms.ValidationError(_("Enter valid JSON."), code="invalid_json") from exc

    def prepare_value(self, value):
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return value


def setting_field_name(key: str) -> str:
    return "setting__" + key.replace(".", "__")


class SettingsForm(forms.Form):
    """One field per setting definition. Form fields only parse the input type (text to
    integer, JSON); the registry (accounts.settings_registry, via settings_update) decides
    whether a value is allowed, exactly as for PATCH /api/v1/users/me/settings."""

    def __init__(self, *args, definitions=(), current=None, **kwargs):
        super().__init__(*args, **kwargs)
        current = current or {}
        self.keys: dict[str, str] = {}
        self.groups: dict[str, list[str]] = {}
        for d in definitions:
            name = setting_field_name(d.key)
            label = d.key.split(".")[-1].replace("_", " ").capitalize()
            # Descriptions are admin-entered data: escaped, never trusted as HTML.
            common = {"label": label, "required": False, "help_text": escape(d.description)}
            if d.type == "boolean":
                field = forms.BooleanField(**common)
            elif d.type == "integer":
                attrs = {}
                if d.min_value is not None:
                    attrs["min"] = d.min_value
                if d.max_value is not None:
                    attrs["max"] = d.max_value
                field = forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **common)
            elif d.type == "choice" or (d.type == "string" and d.choices):
                field = forms.CharField(
                    widget=forms.Select(choices=[(c, c) for c in d.choices]), **common
                )
            elif d.type == "json":
                field = JSONSettingField(**common)
            else:
                field = forms.CharField(strip=False, **common)
            field.initial = current.get(d.key)
            self.fields[name] = field
            self.keys[name] = d.key
            self.groups.setdefault(d.category, []).append(name)

    def changed_values(self, current: dict) -> dict:
        """``{key: value}`` of the settings the user changed (the others are not sent)."""
        out = {}
        for name, key in self.keys.items():
            value = self.cleaned_data.get(name)
            if isinstance(self.fields[name], forms.BooleanField):
                value = bool(value)
            if value != current.get(key):
                out[key] = value
        return out

    def grouped(self):
        return [(category, [self[n] for n in names]) for category, names in self.groups.items()]


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        required=False,
        strip=False,
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Your current password."),
    )
    confirm_email = forms.CharField(
        required=False, label=_("Type your email address to confirm"), strip=True
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if user.has_usable_password():
            del self.fields["confirm_email"]
            self.fields["password"].required = True
        else:
            del self.fields["password"]
            self.fields["confirm_email"].required = True

    def clean(self):
        data = super().clean()
        if "password" in self.fields:
            password = data.get("password") or ""
            if password and not self.user.check_password(password):
                self.add_error(
                    "password",
                    forms.ValidationError(
                        _("The password is not correct."), code="invalid_password"
                    ),
                )
        elif "confirm_email" in self.fields:
            typed = (data.get("confirm_email") or "").lower()
            if typed and typed != self.user.email.lower():
                self.add_error("confirm_email", _("This is not your email address."))
        return data


# --- password pages (allauth's forms, with the owner's choice for API keys) ----------------


def _api_keys_choice_field(*, reset: bool) -> forms.ChoiceField:
    help_text = _(
        "Every other browser and API session is signed out. Unless you choose otherwise, "
        "API keys created in the last 24 hours are revoked and older keys keep working."
    )
    if reset:
        help_text = format_lazy(
            "{} {}",
            help_text,
            _(
                "If your email address was not verified yet, every session, API key and linked "
                "social account is removed, whatever you choose: they may not have been yours."
            ),
        )
    return forms.ChoiceField(
        label=_("API keys"),
        choices=[
            (API_KEYS_RECENT, _("Revoke keys created in the last 24 hours, keep older ones")),
            (API_KEYS_ALL, _("Revoke all my API keys")),
            (API_KEYS_NONE, _("Keep all my API keys")),
        ],
        initial=API_KEYS_RECENT,
        # Left out (an older form, a script): the default, as the help text says.
        required=False,
        widget=forms.RadioSelect,
        help_text=help_text,
    )


class PasswordChangeForm(ChangePasswordForm):
    """allauth's change form; accounts.credentials reads the API key choice it posts."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[API_KEYS_FIELD] = _api_keys_choice_field(reset=False)


class PasswordResetKeyForm(ResetPasswordKeyForm):
    """allauth's reset-from-key form, with the same API key choice."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[API_KEYS_FIELD] = _api_keys_choice_field(reset=True)
