"""Forms of the Access pages and of the security policy admin.

They only shape the input (lists typed as text, ids chosen from lists); every rule (levels
offered, durations, who may approve, conditions only narrower, policies only tighter than the
platform's) lives in ``access.services`` / ``access.policies.services`` and comes back as a
``DomainError`` shown next to the field it names.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from access.models import Review
from access.services.checks import COMMENT_MAX, JUSTIFICATION_MAX


def words(value: str) -> list[str]:
    """``"read, write admin"`` → ``["read", "write", "admin"]``."""
    return [w for w in value.replace(",", " ").split() if w]


# --- security policies --------------------------------------------------------------------


def policy_form_field(f: Any) -> forms.Field:
    """The form field of one field of a policy type (``access.policies.types``): a list of
    choices when the type gives one, else by its kind (bool, int, text). Bounds are shown;
    the service checks them."""
    choices = getattr(f, "choices", None)
    label = getattr(f, "label", None) or f.name.replace("_", " ").capitalize()
    if choices:
        pairs = [(c, c) if not isinstance(c, tuple | list) else tuple(c) for c in choices]
        return forms.ChoiceField(choices=pairs, label=label, help_text=f.help)
    if f.kind is bool:
        return forms.BooleanField(required=False, label=label, help_text=f.help)
    if f.kind is int:
        low, high = getattr(f, "minimum", None), getattr(f, "maximum", None)
        bounds = {"min_value": low, "max_value": high} if high is not None and high > 0 else {}
        return forms.IntegerField(label=label, help_text=f.help, **bounds)
    return forms.CharField(label=label, help_text=f.help, max_length=200)


class PolicyForm(forms.Form):
    """One policy type's fields, built from its definition: a new type or field needs no
    change here."""

    def __init__(self, *args, policy_fields, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy_fields = tuple(policy_fields)
        for f in self.policy_fields:
            self.fields[f.name] = policy_form_field(f)

    def values(self) -> dict[str, Any]:
        return {f.name: self.cleaned_data.get(f.name) for f in self.policy_fields}


# --- requests -----------------------------------------------------------------------------


class OrganizationChoiceForm(forms.Form):
    """Which organization's resources to ask for (a GET form: the page reloads with them)."""

    organization = forms.ChoiceField(label=_("Organization"))

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = [(str(o.pk), o.name) for o in organizations]


class AccessRequestForm(forms.Form):
    resource = forms.ChoiceField(label=_("Resource"))
    access_level = forms.ChoiceField(
        label=_("Access level"), help_text=_("Each resource offers its own levels (listed above).")
    )
    duration_days = forms.IntegerField(label=_("Duration (days)"), min_value=1)
    justification = forms.CharField(
        max_length=JUSTIFICATION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Justification"),
        help_text=_("Why you need it; the approvers read this."),
    )

    def __init__(self, *args, resources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resource"].choices = [(r.key, f"{r.name} ({r.key})") for r in resources]
        levels = dict.fromkeys(level for r in resources for level in r.levels)
        self.fields["access_level"].choices = [(lv, lv) for lv in levels]


class ReviewForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            (Review.Action.APPROVE, _("Approve")),
            (Review.Action.DENY, _("Deny")),
            (Review.Action.DELEGATE, _("Delegate")),
        ],
        widget=forms.RadioSelect,
        label=_("Decision"),
    )
    comments = forms.CharField(
        max_length=COMMENT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Comment"),
    )
    duration_days = forms.IntegerField(
        min_value=1,
        required=False,
        label=_("Shorter duration (days)"),
        help_text=_("Approve for fewer days than asked."),
    )
    access_level = forms.ChoiceField(
        required=False,
        label=_("Narrower level"),
        help_text=_("Approve a level listed before the one asked for."),
    )
    delegate_to = forms.ChoiceField(
        required=False,
        label=_("Delegate to"),
        help_text=_("With a delegation: who decides instead."),
    )

    def __init__(self, *args, access_request, members, **kwargs):
        super().__init__(*args, **kwargs)
        levels = list(access_request.levels) or [access_request.access_level]
        asked = (
            levels.index(access_request.access_level)
            if access_request.access_level in levels
            else 0
        )
        self.fields["access_level"].choices = [("", _("As asked"))] + [
            (lv, lv) for lv in levels[: asked + 1]
        ]
        self.fields["delegate_to"].choices = [("", _("Nobody"))] + [
            (str(m.user_id), m.user.email) for m in members
        ]

    def service_arguments(self) -> dict[str, Any]:
        """``request_review``'s arguments: conditions and a delegate only when given (the
        service refuses them with any other decision)."""
        data = self.cleaned_data
        conditions = {}
        if data.get("duration_days") is not None:
            conditions["duration_days"] = data["duration_days"]
        if data.get("access_level"):
            conditions["access_level"] = data["access_level"]
        return {
            "action": data["action"],
            "comments": data.get("comments") or "",
            "conditions": conditions or None,
            "delegate_to": data.get("delegate_to") or None,
        }


# --- resources ----------------------------------------------------------------------------


class ResourceForm(forms.Form):
    key = forms.CharField(
        max_length=63,
        label=_("Key"),
        help_text=_(
            "Lower-case letters, digits, dots, dashes and underscores, starting with a "
            "letter; fixed once created."
        ),
    )
    name = forms.CharField(max_length=100, label=_("Name"))
    description = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Description"),
    )
    levels = forms.CharField(
        max_length=1000,
        label=_("Levels"),
        help_text=_("Narrowest first, separated by commas: read, write, admin."),
    )
    approver_roles = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label=_("Approving roles")
    )
    approver_teams = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label=_("Approving teams")
    )
    approver_users = forms.MultipleChoiceField(
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        label=_("Approving members"),
        help_text=_("Choose several with Ctrl or Shift."),
    )
    min_approvals = forms.IntegerField(label=_("Approvals needed"), initial=1)
    max_duration_days = forms.IntegerField(label=_("Longest duration (days)"), initial=14)
    pending_days = forms.IntegerField(
        label=_("Days a request may wait"), initial=7, help_text=_("Then it lapses.")
    )
    auto_approve_levels = forms.CharField(
        max_length=1000,
        required=False,
        label=_("Levels approved at once"),
        help_text=_("Among the levels, separated by commas."),
    )

    # The service's attribute names → this form's fields.
    FIELD_FOR = {
        "approvers.roles": "approver_roles",
        "approvers.teams": "approver_teams",
        "approvers.users": "approver_users",
        "approvers": "approver_users",
    }

    def __init__(self, *args, roles, teams, members, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["approver_roles"].choices = [(r.key, r.name) for r in roles]
        self.fields["approver_teams"].choices = [(str(t.pk), t.name) for t in teams]
        self.fields["approver_users"].choices = [(str(m.user_id), m.user.email) for m in members]
        if editing:
            del self.fields["key"]

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        out = {
            "name": data["name"],
            "description": data.get("description") or "",
            "levels": words(data["levels"]),
            "approvers": {
                "roles": list(data.get("approver_roles") or []),
                "teams": list(data.get("approver_teams") or []),
                "users": list(data.get("approver_users") or []),
            },
            "min_approvals": data["min_approvals"],
            "max_duration_days": data["max_duration_days"],
            "pending_days": data["pending_days"],
            "auto_approve_levels": words(data.get("auto_approve_levels") or ""),
        }
        if "key" in data:
            out["key"] = data["key"]
        return out

    def field_for(self, attr: str | None) -> str | None:
        """The field a service error names (``levels.2`` → ``levels``), or None."""
        if not attr:
            return None
        for name in (self.FIELD_FOR.get(attr), attr, attr.split(".")[0]):
            if name and name in self.fields:
                return name
        return None
