from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Response, Survey

COMMENT_MAX = 5000
# How the page may say an answer was confirmed; API and import never come from the page.
# VISIBLE (a page left open) is taken from an old script but flags the answer as a suspected bot.
PAGE_CONFIRMATIONS = [
    Response.ConfirmedVia.SUBMIT,
    Response.ConfirmedVia.TAP,
    Response.ConfirmedVia.PAGE,
    Response.ConfirmedVia.TYPING,
    Response.ConfirmedVia.VISIBLE,
]


class AnswerForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("Your answer"),
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a score."),
            "invalid_choice": _("Choose a score from the scale."),
        },
    )
    reason = forms.ChoiceField(
        label=_("Main reason"),
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose one of the listed reasons.")},
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        strip=True,
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": COMMENT_MAX}),
        error_messages={
            "max_length": _(
                "Your comment is %(show_value)d characters long; please keep it under "
                "%(limit_value)d."
            )
        },
    )
    via = forms.ChoiceField(
        required=False, choices=[(value, value) for value in PAGE_CONFIRMATIONS]
    )

    def __init__(self, *args, survey: Survey, language: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.survey = survey
        self.fields["score"].choices = [(score, str(score)) for score in survey.scale]
        self.fields["score"].error_messages["invalid_choice"] = _(
            "Choose a score from %(min)s to %(max)s."
        ) % {"min": survey.scale_min, "max": survey.scale_max}
        self.fields["reason"].choices = survey.reason_labels(language)

    def clean_via(self) -> str:
        return self.cleaned_data.get("via") or Response.ConfirmedVia.SUBMIT


class ReferralForm(forms.Form):
    name = forms.CharField(
        label=_("Your colleague's name"),
        max_length=200,
        error_messages={"required": _("Enter your colleague's name.")},
    )
    email = forms.EmailField(
        label=_("Your colleague's email"),
        max_length=254,
        error_messages={
            "required": _("Enter your colleague's email address."),
            "invalid": _("Enter a valid email address, like name@example.com."),
        },
    )
