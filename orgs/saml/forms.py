"""Forms of the SAML pages: the sign-in page's "single sign-on" field and the organization's
SSO settings. They only shape input; orgs.saml.services checks every value."""

from __future__ import annotations

import json

from django import forms

from orgs.saml import services


class SsoSignInForm(forms.Form):
    email = forms.EmailField(
        label="Work address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text="Your organization's sign-in page opens if it uses single sign-on.",
    )


class SamlSettingsForm(forms.Form):
    idp_entity_id = forms.CharField(
        label="IdP entity ID", max_length=services.MAX_ENTITY_ID_LENGTH, strip=True
    )
    idp_sso_url = forms.CharField(
        label="IdP single sign-on URL",
        max_length=services.MAX_URL_LENGTH,
        widget=forms.URLInput,
        help_text="HTTP-Redirect binding; https.",
    )
    idp_x509_cert = forms.CharField(
        label="IdP signing certificate",
        max_length=services.MAX_CERT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="PEM (-----BEGIN CERTIFICATE----- ...), or its base64 body.",
    )
    attribute_mapping = forms.CharField(
        label="Attribute mapping (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='For example {"email": ["mail"], "first_name": ["givenName"]}. '
        "Empty: the usual claim names.",
    )
    domains = forms.MultipleChoiceField(
        label="Domains",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="People with an address at these verified domains sign in through the IdP.",
    )
    enabled = forms.BooleanField(label="Enabled", required=False)

    def __init__(self, *args, domain_choices: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["domains"].choices = [(d, d) for d in domain_choices]

    def clean_attribute_mapping(self):
        text = self.cleaned_data["attribute_mapping"].strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError:
            raise forms.ValidationError("Not valid JSON.") from None
