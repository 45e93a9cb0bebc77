"""Admin console: security policies (the platform's and organizations'; add one of another
type than ``password`` with ``?policy_type=lockout``, ``mfa`` or ``session``), edited through
``access.policies.services.policy_set`` with the API's rules (bounds, an organization's
only tighter than the platform's) and its audit event ``policy.<type>.updated``."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from access.forms import policy_form_field
from access.policies import selectors, services
from access.policies.models import SecurityPolicy
from access.policies.types import PASSWORD, POLICY_TYPES
from audit.admin_mixins import AuditedModelAdmin
from config.errors import DomainError


class _PolicyForm(forms.ModelForm):
    policy_type_name = PASSWORD  # each form class is for one type (see FORMS)

    class Meta:
        model = SecurityPolicy
        fields = ("organization", "policy_type")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "policy_type" in self.fields:  # on add only (read-only once stored)
            self.fields["policy_type"] = forms.ChoiceField(
                choices=[(t, t) for t in POLICY_TYPES], initial=self.policy_type_name
            )
        organization, policy_type = self.scope()
        current = selectors.policy_values(organization, policy_type)
        for f in POLICY_TYPES[policy_type]:
            self.initial.setdefault(f.name, current[f.name])

    def scope(self):
        """The policy's organization and type: chosen on add, fixed once stored."""
        if "organization" in self.fields and hasattr(self, "cleaned_data"):
            return self.cleaned_data.get("organization"), self.policy_type_name
        return self.instance.organization, self.instance.policy_type or self.policy_type_name

    def policy_values(self) -> dict:
        _, policy_type = self.scope()
        return {f.name: self.cleaned_data.get(f.name) for f in POLICY_TYPES[policy_type]}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        organization, policy_type = self.scope()
        try:
            services.policy_check(
                organization=organization, policy_type=policy_type, values=self.policy_values()
            )
        except DomainError as exc:
            self.add_error(exc.attr if exc.attr in self.fields else None, exc.detail)
        return cleaned


# Per policy type, one form field per field of the type (the stored JSON is not edited raw).
FORMS = {
    t: type(
        f"{t.title()}PolicyForm",
        (_PolicyForm,),
        {"policy_type_name": t, **{f.name: policy_form_field(f) for f in fields}},
    )
    for t, fields in POLICY_TYPES.items()
}


def _type_of(request, obj) -> str:
    """A stored policy's type; on add, the one asked for (``?policy_type=lockout``)."""
    if obj is not None:
        return obj.policy_type
    asked = request.POST.get("policy_type") or request.GET.get("policy_type")
    return asked if asked in POLICY_TYPES else PASSWORD


@admin.register(SecurityPolicy)
class SecurityPolicyAdmin(AuditedModelAdmin):
    form = FORMS[PASSWORD]
    list_display = ("policy_type", "organization", "updated_at", "updated_by")
    list_filter = ("policy_type",)
    list_select_related = ("organization", "updated_by")
    search_fields = ("organization__slug",)
    autocomplete_fields = ("organization",)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Policies change through policy_set only; the API has no deletion either.
        return False

    def get_readonly_fields(self, request, obj=None):
        # A stored policy keeps its scope and type.
        return ("organization", "policy_type") if obj is not None else ()

    def get_fields(self, request, obj=None):
        policy_type = _type_of(request, obj)
        return ["organization", "policy_type", *(f.name for f in POLICY_TYPES[policy_type])]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = FORMS[_type_of(request, obj)]
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        organization, policy_type = form.scope()
        row = services.policy_set(
            organization=organization,
            policy_type=policy_type,
            values=form.policy_values(),
            actor=request.user,
            request=request,
        )
        obj.pk, obj.values, obj.updated_at = row.pk, row.values, row.updated_at
        obj._state.adding = False
