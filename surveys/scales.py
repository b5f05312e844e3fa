"""Scales, written once: each kind's answer categories (a code for exports and the API, a label
for people), the words at the ends of a scale and on its points, and the lead-in of statements.
Used by the emails, the answer page, the reports and the exports."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from .models import Kind, Survey

# The category of an answer (1 positive, 0 neutral, -1 negative) as a stable word per kind.
CATEGORY_CODES = {
    Kind.NPS: {1: "promoter", 0: "passive", -1: "detractor"},
    Kind.CSAT: {1: "satisfied", 0: "neutral", -1: "unsatisfied"},
    Kind.CES: {1: "easy", 0: "neutral", -1: "difficult"},
    Kind.CES1: {1: "easy", 0: "neutral", -1: "difficult"},
}


def category_code(kind: str, category: int) -> str:
    """The stable word of a category ("promoter", "satisfied", "easy", ...)."""
    return CATEGORY_CODES[kind][category]


# Translated when read: lists of answers show one per row, so only that one is looked up.
CATEGORY_LABELS = {
    Kind.NPS: {
        1: gettext_lazy("Promoter"),
        0: gettext_lazy("Passive"),
        -1: gettext_lazy("Detractor"),
    },
    Kind.CSAT: {
        1: gettext_lazy("Satisfied"),
        0: gettext_lazy("Neutral"),
        -1: gettext_lazy("Unsatisfied"),
    },
}
EFFORT_LABELS = {1: gettext_lazy("Easy"), 0: gettext_lazy("Neutral"), -1: gettext_lazy("Difficult")}


def category_label(kind: str, category: int) -> str:
    """The category as people read it, in the active language."""
    return str(CATEGORY_LABELS.get(kind, EFFORT_LABELS)[category])


def scale_anchors(kind: str) -> tuple[str, str]:
    if kind == Kind.NPS:
        return _("Not likely"), _("Extremely likely")
    if kind == Kind.CSAT:
        return _("Very unsatisfied"), _("Very satisfied")
    if kind == Kind.CES:
        return _("Strongly disagree"), _("Strongly agree")
    return _("Very low effort"), _("Very high effort")


def point_labels(survey: Survey) -> dict[int, str]:
    """A label for each point that has one: every point on short scales, the ends otherwise."""
    low, high = scale_anchors(survey.kind)
    if survey.kind == Kind.CES:
        words = [
            _("Strongly disagree"),
            _("Disagree"),
            _("Somewhat disagree"),
            pgettext("agreement", "Neither agree nor disagree"),
            _("Somewhat agree"),
            _("Agree"),
            _("Strongly agree"),
        ]
    elif survey.kind == Kind.CES1:
        words = [
            _("Very low effort"),
            _("Low effort"),
            _("Moderate effort"),
            _("High effort"),
            _("Very high effort"),
        ]
    elif survey.kind == Kind.CSAT and survey.scale_max == 5:
        words = [
            _("Very unsatisfied"),
            _("Unsatisfied"),
            pgettext("satisfaction", "Neutral"),
            _("Satisfied"),
            _("Very satisfied"),
        ]
    elif survey.kind == Kind.CSAT and survey.scale_max == 3:
        words = [_("Unsatisfied"), pgettext("satisfaction", "Neutral"), _("Satisfied")]
    elif survey.kind == Kind.CSAT and survey.scale_max == 7:
        return {1: low, 4: pgettext("satisfaction", "Neutral"), 7: high}
    else:
        return {survey.scale_min: low, survey.scale_max: high}
    return dict(zip(survey.scale, words, strict=True))


def scale_points(survey: Survey) -> list[tuple[int, str]]:
    labels = point_labels(survey)
    return [(score, labels.get(score, "")) for score in survey.scale]


def is_fully_labelled(survey: Survey) -> bool:
    """Short labelled scales are shown as a list of labelled buttons; long ones as a row."""
    return len(point_labels(survey)) == len(survey.scale)


def lead_in(survey: Survey) -> str:
    """A line above the question for statements people rate (CES 2.0)."""
    if survey.kind == Kind.CES:
        return _("How much do you agree with the following statement?")
    return ""
