from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Survey


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
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 5000}),
        error_messages={"max_length": _("Keep the comment under 5,000 characters.")},
    )

    def __init__(self, *args, survey: Survey, **kwargs):
        super().__init__(*args, **kwargs)
        self.survey = survey
        self.fields["score"].choices = [(score, str(score)) for score in survey.scale]
        self.fields["score"].error_messages["invalid_choice"] = _(
            "Choose a score from %(min)s to %(max)s."
        ) % {"min": survey.scale_min, "max": survey.scale_max}
