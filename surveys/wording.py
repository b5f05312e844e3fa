"""Words respondents read about their own answer (thank-you page, replies from staff)."""

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from . import emails
from .models import Kind, Survey


def score_words(survey: Survey, score: int) -> str:
    """A score in words: its point's label, else the end of the scale its category leans to
    ("2" on NPS reads "Not likely"). Never staff words such as "detractor"."""
    label = emails.point_labels(survey).get(score)
    if label:
        return label
    low, high = emails.scale_anchors(survey.kind)
    category = survey.category_of(score)
    if survey.kind == Kind.NPS:
        return {-1: low, 0: _("Somewhat likely"), 1: high}[category]
    if survey.kind == Kind.CES1:
        # Lower is better on CES 1.0: the low anchor is the good end.
        return {1: low, 0: _("Moderate effort"), -1: high}[category]
    return {-1: low, 0: pgettext("satisfaction", "Neutral"), 1: high}[category]
