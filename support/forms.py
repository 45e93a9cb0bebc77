"""Support pages' forms: the page door to ``support.services`` (which check everything
again; these only shape the input)."""

from __future__ import annotations

from django import forms

from support.models import SUBJECT_MAX_LENGTH, TEXT_MAX_LENGTH, Ticket

FILE_HELP = "Optional: a PNG or JPEG screenshot, a PDF or a text file, at most 5 MB."


class TicketOpenForm(forms.Form):
    category = forms.ChoiceField(choices=Ticket.Category.choices)
    priority = forms.ChoiceField(choices=Ticket.Priority.choices, initial=Ticket.Priority.MEDIUM)
    subject = forms.CharField(max_length=SUBJECT_MAX_LENGTH, strip=False)
    description = forms.CharField(
        max_length=TEXT_MAX_LENGTH, strip=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    file = forms.FileField(required=False, label="Attachment", help_text=FILE_HELP)


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Message",
        required=False,
        max_length=TEXT_MAX_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    file = forms.FileField(required=False, label="Attachment", help_text=FILE_HELP)
    internal = forms.BooleanField(
        required=False, label="Internal note", help_text="Staff only; the requester never sees it."
    )

    def __init__(self, *args, staff: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not staff:
            del self.fields["internal"]

    def clean(self):
        data = super().clean()
        if not (data.get("body") or "").strip() and not data.get("file"):
            raise forms.ValidationError("Write a message or attach a file.", code="blank")
        return data
