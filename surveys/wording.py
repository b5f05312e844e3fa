"""Words respondents read about their own answer (thank-you page, replies from staff)."""

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from . import scales
from .models import Kind, Survey


def score_words(survey: Survey, score: int) -> str:
    """A score in words: its point's label, else the end of the scale its category leans to
    ("2" on NPS reads "Not likely"). Never staff words such as "detractor"."""
    label = scales.point_labels(survey).get(score)
    if label:
        return label
    low, high = scales.scale_anchors(survey.kind)
    category = survey.category_of(score)
    if survey.kind == Kind.NPS:
        return {-1: low, 0: _("Somewhat likely"), 1: high}[category]
    if survey.kind == Kind.CES1:
        # Lower is better on CES 1.0: the low anchor is the good end.
        return {1: low, 0: _("Moderate effort"), -1: high}[category]
    return {-1: low, 0: pgettext("satisfaction", "Neutral"), 1: high}[category]


def missing_translations(survey: Survey) -> dict[str, list[str]]:
    """Per language other than the site's, the texts staff wrote (question, intro, follow-ups,
    reasons, next step) that have no translation there: respondents would read them as
    written. Empty when every written text is translated (standard wordings always are)."""
    written = [field for field in survey.TRANSLATABLE_TEXTS if getattr(survey, field)]
    if survey.question:
        written.insert(0, "question")
    missing: dict[str, list[str]] = {}
    base = settings.LANGUAGE_CODE
    for code, _name in settings.LANGUAGES:
        if code == base:
            continue
        texts = (survey.text_translations or {}).get(code) or {}
        lacking = [
            str(Survey._meta.get_field(field).verbose_name)
            for field in written
            if not (
                (survey.question_translations or {}).get(code)
                if field == "question"
                else isinstance(texts, dict) and texts.get(field)
            )
        ]
        if lacking:
            missing[code] = lacking
    return missing
