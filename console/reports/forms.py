from __future__ import annotations

from typing import Any

from django import forms

from console.reports import periods
from console.reports.models import Report


class ReportRequestForm(forms.Form):
    scope = forms.ChoiceField(label="Organization or team")
    report_type = forms.ChoiceField(label="Report", choices=Report.Type.choices)
    period = forms.ChoiceField(
        choices=[(p, p.capitalize()) for p in periods.PERIODS],
        help_text="Whole UTC days ending today: daily (today), weekly (7 days), monthly "
        "(30 days), or custom.",
    )
    since = forms.DateField(required=False, help_text="Custom period: the first day.")
    until = forms.DateField(required=False, help_text="Custom period: the last day.")
    format = forms.ChoiceField(choices=Report.Format.choices, initial=Report.Format.JSON)
    include_trends = forms.BooleanField(required=False, label="Compare with the previous period")

    def __init__(self, *args: Any, scopes: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = scopes
        for name in ("since", "until"):
            self.fields[name].widget = forms.DateInput(attrs={"type": "date"})

    def scope_ids(self) -> tuple[str, str | None]:
        """``(organization id, team id or None)`` of the chosen scope."""
        organization, _, team = self.cleaned_data["scope"].partition(":")
        return organization, team or None
