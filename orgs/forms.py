"""Forms of the organization pages and of the onboarding page of the admin console.

They only shape the input: every rule (slugs, seats, who may grant what, last owner, last
lead) lives in ``orgs.services`` and comes back as a ``DomainError`` shown next to the field.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from orgs.catalogue import PERMISSIONS
from orgs.models import Membership, OrganizationDomain, Plan, TeamMembership
from orgs.services.invitations import MAX_DAYS


def _role_choices(roles) -> list[tuple[str, str]]:
    return [(r.key, r.name) for r in roles]


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    slug = forms.CharField(
        max_length=50,
        label=_("Slug"),
        required=False,
        help_text=_("Lower-case letters, digits and dashes; made from the name when left empty."),
    )
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea, label=_("Description")
    )


class MemberAddForm(forms.Form):
    email = forms.EmailField(
        max_length=254, label=_("Email"), help_text=_("Someone who already has an account.")
    )
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, roles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(roles)
        self.fields["role"].initial = "member"


class MemberForm(forms.Form):
    roles = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label=_("Roles"))
    status = forms.ChoiceField(
        choices=Membership.Status.choices,
        label=_("Status"),
        help_text=_("A suspended member keeps their seat but holds no permission."),
    )

    def __init__(self, *args, roles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = _role_choices(roles)


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    team_type = forms.CharField(max_length=50, required=False, label=_("Kind of team"))
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea, label=_("Description")
    )


class TeamMemberAddForm(forms.Form):
    user_email = forms.EmailField(
        max_length=254, label=_("Email"), help_text=_("A member of the organization.")
    )
    role = forms.ChoiceField(choices=TeamMembership.Role.choices, initial="member", label=_("Role"))
    title = forms.CharField(max_length=100, required=False, label=_("Title"))


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254, label=_("Email"))
    role = forms.ChoiceField(label=_("Role"))
    team = forms.ChoiceField(
        required=False, label=_("Team"), help_text=_("The invitee joins this team too.")
    )
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=MAX_DAYS, required=False, label=_("Valid for (days)")
    )

    def __init__(self, *args, roles, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(roles)
        self.fields["role"].initial = "member"
        self.fields["team"].choices = [("", _("No team"))] + [(str(t.pk), t.name) for t in teams]


class RoleCreateForm(forms.Form):
    key = forms.CharField(
        max_length=40,
        label=_("Key"),
        help_text=_("Lower-case letters, digits, dashes and underscores."),
    )
    name = forms.CharField(max_length=100, label=_("Name"))
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea, label=_("Description")
    )
    permissions = forms.MultipleChoiceField(
        choices=[(k, f"{k} — {text}") for k, text in PERMISSIONS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("Permissions"),
    )


class DomainAddForm(forms.Form):
    domain = forms.CharField(
        max_length=253, label=_("Domain"), help_text=_("For example example.com.")
    )
    join_mode = forms.ChoiceField(
        choices=OrganizationDomain.JoinMode.choices,
        initial=OrganizationDomain.JoinMode.OFF,
        label=_("People with a verified address there"),
        help_text=_("off: nothing; suggest: offered to join; auto: join at once."),
    )


class TenantOnboardForm(forms.Form):
    company_name = forms.CharField(max_length=100)
    company_domain = forms.CharField(max_length=253)
    admin_email = forms.EmailField(max_length=254, help_text="The first owner.")
    subscription_plan = forms.ModelChoiceField(
        queryset=Plan.objects.filter(is_active=True), to_field_name="key"
    )
    initial_user_count = forms.IntegerField(min_value=1)
    features = forms.CharField(
        required=False,
        help_text="Feature keys separated by commas; all of the plan's when left empty.",
    )
    idempotency_key = forms.CharField(max_length=200, required=False)
    dry_run = forms.BooleanField(required=False, help_text="Check everything, create nothing.")

    def service_data(self) -> dict:
        data = self.cleaned_data
        features = [f.strip() for f in data["features"].split(",") if f.strip()]
        return {
            "company_name": data["company_name"],
            "company_domain": data["company_domain"],
            "admin_email": data["admin_email"],
            "subscription_plan": data["subscription_plan"].key,
            "initial_user_count": data["initial_user_count"],
            "features": features,
        }
