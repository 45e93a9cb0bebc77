from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from console.reports import periods
from console.reports.models import Report

# How each of ``periods.PERIODS`` reads on the page.
PERIOD_LABELS = {
    "daily": _("Daily"),
    "weekly": _("Weekly"),
    "monthly": _("Monthly"),
    "custom": _("Custom"),
}


class ReportRequestForm(forms.Form):
    scope = forms.ChoiceField(label=_("Organization or team"))
    report_type = forms.ChoiceField(label=_("Report"), choices=Report.Type.choices)
    period = forms.ChoiceField(
        label=_("Period"),
        choices=[(p, PERIOD_LABELS.get(p, p.capitalize())) for p in periods.PERIODS],
        help_text=_(
            "Whole UTC days ending today: daily (today), weekly (7 days), monthly "
            "(30 days), or custom."
        ),
    )
    since = forms.DateField(
        label=_("Since"), required=False, help_text=_("Custom period: the first day.")
    )
    until = forms.DateField(
        label=_("Until"), required=False, help_text=_("Custom period: the last day.")
    )
    format = forms.ChoiceField(
        label=_("Format"), choices=Report.Format.choices, initial=Report.Format.JSON
    )
    include_trends = forms.BooleanField(required=False, label=_("Compare with the previous period"))

    def __init__(self, *args: Any, scopes: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = scopes
        for name in ("since", "until"):
            self.fields[name].widget = forms.DateInput(attrs={"type": "date"})

    def scope_ids(self) -> tuple[str, str | None]:
        """``(organization id, team id or None)`` of the chosen scope."""
        organization, _sep, team = self.cleaned_data["scope"].partition(":")
        return organization, team or None
