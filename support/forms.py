"""Support pages' forms: the page door to ``support.services`` (which check everything
again; these only shape the input)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from support.models import SUBJECT_MAX_LENGTH, TEXT_MAX_LENGTH, Ticket

FILE_HELP = _("Optional: a PNG or JPEG screenshot, a PDF or a text file, at most 5 MB.")


class TicketOpenForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), choices=Ticket.Category.choices)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=Ticket.Priority.choices, initial=Ticket.Priority.MEDIUM
    )
    subject = forms.CharField(label=_("Subject"), max_length=SUBJECT_MAX_LENGTH, strip=False)
    description = forms.CharField(
        label=_("Description"),
        max_length=TEXT_MAX_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    file = forms.FileField(required=False, label=_("Attachment"), help_text=FILE_HELP)


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Message"),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    file = forms.FileField(required=False, label=_("Attachment"), help_text=FILE_HELP)
    internal = forms.BooleanField(
        required=False,
        label=_("Internal note"),
        help_text=_("Staff only; the requester never sees it."),
    )

    def __init__(self, *args, staff: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not staff:
            del self.fields["internal"]

    def clean(self):
        data = super().clean()
        if not (data.get("body") or "").strip() and not data.get("file"):
            raise forms.ValidationError(_("Write a message or attach a file."), code="blank")
        return data
