"""The "Send a notification" form: the page's door to ``notifications_send``."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from notifications.audience import Choices
from notifications.models import MESSAGE_MAX_LENGTH, TITLE_MAX_LENGTH, Notification


class SendForm(forms.Form):
    """To a team or to one person, among those the organizations' rule lets the sender
    reach (``notifications.audience.choices``); the service checks the rule again."""

    recipient = forms.ChoiceField(
        label=_("To"),
        help_text=_("A team (its members) or one person."),
    )
    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX_LENGTH, strip=False)
    message = forms.CharField(
        label=_("Message"), max_length=MESSAGE_MAX_LENGTH, strip=False, widget=forms.Textarea
    )
    priority = forms.ChoiceField(
        label=_("Priority"),
        choices=Notification.Priority.choices,
        initial=Notification.Priority.MEDIUM,
        required=False,
        help_text=_("Medium unless you choose."),
    )

    def __init__(self, *args, choices: Choices, **kwargs):
        super().__init__(*args, **kwargs)
        groups = []
        if choices.teams:
            groups.append((_("Teams"), [(f"team:{pk}", label) for pk, label in choices.teams]))
        if choices.users:
            groups.append((_("People"), [(f"user:{pk}", label) for pk, label in choices.users]))
        self.fields["recipient"].choices = [("", _("Choose…")), *groups]

    def target(self) -> dict[str, str]:
        """``{"team_id": …}`` or ``{"target_user_id": …}`` for the service."""
        kind, _sep, pk = self.cleaned_data["recipient"].partition(":")
        return {"team_id": pk} if kind == "team" else {"target_user_id": pk}
