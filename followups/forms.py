from django import forms
from django.utils.translation import gettext_lazy as _

from .models import DigestPreference, FollowUp
from .selectors import Scope, staff_users


class QueueFilterForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("Whose"),
        required=False,
        choices=[
            (Scope.MINE, _("My accounts")),
            (Scope.ASSIGNED, _("Assigned to me")),
            (Scope.ALL, _("Everyone's")),
        ],
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("open", _("Open")), ("closed", _("Closed")), ("any", _("Any"))]
        + list(FollowUp.Status.choices),
    )
    tag = forms.CharField(label=_("Tag"), required=False, max_length=50)


class FollowUpForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=FollowUp.Status.choices)
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=staff_users(), required=False, empty_label=_("Nobody")
    )
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=1100,
        help_text=_("Comma-separated, e.g. pricing, onboarding."),
    )


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Internal note"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Only staff see notes."),
    )


class DigestForm(forms.Form):
    frequency = forms.ChoiceField(
        label=_("Email me a digest"), choices=DigestPreference.Frequency.choices
    )


class ReplyForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(
        label=_("Message to the respondent"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Emailed from the survey's sender, with their score and comment quoted."),
    )
