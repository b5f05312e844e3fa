"""Rendering of survey emails: HTML + plain text, one link per score, unsubscribe headers."""

from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from .models import Invitation, Kind, Survey


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def answer_url(invitation: Invitation, score: int | None = None) -> str:
    url = absolute(reverse("public:answer", args=[invitation.token]))
    return f"{url}?score={score}" if score is not None else url


def unsubscribe_url(invitation: Invitation) -> str:
    return absolute(reverse("public:unsubscribe", args=[invitation.token]))


def one_click_unsubscribe_url(invitation: Invitation) -> str:
    return absolute(reverse("public:unsubscribe_one_click", args=[invitation.token]))


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


def sender(invitation: Invitation) -> str:
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((invitation.survey.sender_name or name, address))


def email_language(invitation: Invitation) -> str:
    return invitation.contact.language or settings.LANGUAGE_CODE


def invitation_message(invitation: Invitation, *, reminder: bool = False) -> EmailMultiAlternatives:
    survey = invitation.survey
    contact = invitation.contact
    language = email_language(invitation)
    with translation.override(language):
        low, high = scale_anchors(survey.kind)
        labels = point_labels(survey)
        question = survey.question_for(language)
        context = {
            "invitation": invitation,
            "survey": survey,
            "contact": contact,
            "question": question,
            "lead_in": lead_in(survey),
            "scores": [
                (score, answer_url(invitation, score), labels.get(score, ""))
                for score in survey.scale
            ],
            "stacked": is_fully_labelled(survey),
            "low_label": low,
            "high_label": high,
            "accent": survey.accent_color or "#0b3d91",
            "unsubscribe_url": unsubscribe_url(invitation),
            "answer_url": answer_url(invitation),
            "reminder": reminder,
            "language": language,
            "sender_name": survey.sender_name or survey.company_name,
            "intro_text": survey.text_for("intro_text", language),
        }
        if reminder:
            subject = _("Reminder: %(question)s") % {"question": question}
        else:
            subject = question
        text = render_to_string("surveys/email/invitation.txt", context)
        html = render_to_string("surveys/email/invitation.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split())[:200],
        body=text,
        from_email=sender(invitation),
        to=[contact.email],
        headers={
            # A reminder is a new message: receivers drop repeats of a Message-ID.
            "Message-ID": (
                invitation.message_id.replace("@", f"-r{invitation.send_count}@", 1)
                if reminder
                else invitation.message_id
            ),
            "List-Unsubscribe": f"<{one_click_unsubscribe_url(invitation)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "Content-Language": language,
            "X-Survey-Invitation": str(invitation.public_id),
        },
    )
    message.attach_alternative(html, "text/html")
    return message
