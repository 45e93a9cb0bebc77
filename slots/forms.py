"""Slot page forms. The config form is built from the slot type's JSON Schema; the service
validates the result against the same schema, so the page and the API share one rule."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from slots.models import CREDENTIAL_KINDS, SLOT_NAME_MAX_LENGTH

CONFIG_PREFIX = "config__"

CREDENTIAL_KIND_LABELS = {
    "api_key": _("API key"),
    "basic": _("Username and password"),
    "oauth": _("OAuth client"),
}
# Which inputs each kind uses; the service (slots.services) decides which are required.
CREDENTIAL_INPUTS = {
    "api_key": ("api_key",),
    "basic": ("username", "password"),
    "oauth": ("client_id", "client_secret", "access_token", "refresh_token"),
}
SECRET_INPUTS = {"api_key", "password", "client_secret", "access_token", "refresh_token"}


class JSONValueField(forms.CharField):
    """A nested part of the config (object or array), typed as JSON."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if value in ("", None):
            return None
        try:
            return json.loads(value)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise ValidationError("Enter valid JSON.", code="invalid_json") from exc

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return value


def _field_for(prop: str, spec: dict, *, required: bool) -> forms.Field:
    label = spec.get("title") or prop.replace("_", " ").capitalize()
    # Django renders help text unescaped; a schema description is data an admin typed.
    help_text = escape(str(spec.get("description", "")))
    common: dict[str, Any] = {"label": label, "required": required, "help_text": help_text}
    if "default" in spec:
        common["initial"] = spec["default"]
    kind = spec.get("type")
    if "enum" in spec and all(isinstance(v, str | int) for v in spec["enum"]):
        choices = [(str(v), str(v)) for v in spec["enum"]]
        if not required:
            choices = [("", "—"), *choices]
        return forms.TypedChoiceField(
            choices=choices,
            coerce=(lambda v, _e=spec["enum"]: next((e for e in _e if str(e) == v), v)),
            empty_value=None,
            **common,
        )
    if kind == "integer":
        return forms.IntegerField(
            min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common
        )
    if kind == "number":
        return forms.FloatField(
            min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common
        )
    if kind == "boolean":
        common["required"] = False
        return forms.BooleanField(**common)
    if kind == "string":
        return forms.CharField(
            max_length=spec.get("maxLength"),
            min_length=spec.get("minLength"),
            empty_value=None,
            **common,
        )
    common["help_text"] = (help_text + " " if help_text else "") + "JSON."
    return JSONValueField(**common)


class SlotConfigForm(forms.Form):
    """Top-level properties of the type's schema as fields named ``config__<property>``."""

    def __init__(self, *args, schema: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        schema = schema or {}
        required = set(schema.get("required") or [])
        properties = schema.get("properties") or {}
        # Required first, then by name: a stable order whatever the database keeps of the
        # schema's key order (PostgreSQL's jsonb does not keep it).
        for prop in sorted(properties, key=lambda p: (p not in required, p)):
            spec = properties[prop]
            if isinstance(spec, dict):
                self.fields[CONFIG_PREFIX + prop] = _field_for(
                    prop, spec, required=prop in required
                )

    def config(self) -> dict:
        """The config object; properties left empty are omitted (the schema default applies)."""
        out = {}
        for name, value in self.cleaned_data.items():
            if name.startswith(CONFIG_PREFIX) and value is not None and value != "":
                out[name[len(CONFIG_PREFIX) :]] = value
        return out

    @staticmethod
    def initial_from(config: dict) -> dict:
        return {CONFIG_PREFIX + k: v for k, v in (config or {}).items()}


class SlotCreateForm(SlotConfigForm):
    name = forms.CharField(max_length=SLOT_NAME_MAX_LENGTH, strip=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Name first, then the config fields.
        self.order_fields(["name"])


class SlotRenameForm(forms.Form):
    name = forms.CharField(max_length=SLOT_NAME_MAX_LENGTH, strip=True, label="New name")


class SlotCredentialsForm(forms.Form):
    """One form for every kind; only the chosen kind's inputs reach the service."""

    kind = forms.ChoiceField(label="Kind", widget=forms.RadioSelect)
    api_key = forms.CharField(required=False, label="API key", strip=False)
    username = forms.CharField(required=False, label="Username")
    password = forms.CharField(required=False, label="Password", strip=False)
    client_id = forms.CharField(required=False, label="Client ID")
    client_secret = forms.CharField(required=False, label="Client secret", strip=False)
    access_token = forms.CharField(required=False, label="Access token", strip=False)
    refresh_token = forms.CharField(required=False, label="Refresh token", strip=False)

    def __init__(self, *args, kinds: list[str] | tuple[str, ...] = CREDENTIAL_KINDS, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, CREDENTIAL_KIND_LABELS.get(k, k)) for k in kinds]
        for name in SECRET_INPUTS:
            # Secrets are write-only: never rendered back, not even after an error.
            self.fields[name].widget = forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "off"}
            )

    def fieldsets(self):
        kinds = [k for k, _ in self.fields["kind"].choices]
        return [
            (CREDENTIAL_KIND_LABELS.get(k, k), [self[name] for name in CREDENTIAL_INPUTS[k]])
            for k in kinds
        ]

    def credentials(self) -> dict:
        kind = self.cleaned_data["kind"]
        out: dict[str, str] = {"kind": kind}
        for name in CREDENTIAL_INPUTS.get(kind, ()):
            value = self.cleaned_data.get(name)
            if value:
                out[name] = value
        return out
