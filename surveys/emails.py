"""Rendering of survey emails: HTML + plain text, one link per score, unsubscribe headers."""

from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from .models import Invitation, Kind


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


def sender(invitation: Invitation) -> str:
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((invitation.survey.sender_name or name, address))


def invitation_message(invitation: Invitation, *, reminder: bool = False) -> EmailMultiAlternatives:
    survey = invitation.survey
    contact = invitation.contact
    language = contact.language or settings.LANGUAGE_CODE
    with translation.override(language):
        low, high = scale_anchors(survey.kind)
        context = {
            "invitation": invitation,
            "survey": survey,
            "contact": contact,
            "question": survey.question_for(language),
            "scores": [(score, answer_url(invitation, score)) for score in survey.scale],
            "low_label": low,
            "high_label": high,
            "unsubscribe_url": unsubscribe_url(invitation),
            "reminder": reminder,
            "language": language,
        }
        subject = (
            _("Reminder: %(question)s") if reminder else "%(question)s"
        ) % {"question": context["question"]}
        text = render_to_string("surveys/email/invitation.txt", context)
        html = render_to_string("surveys/email/invitation.html", context)
    message = EmailMultiAlternatives(
        subject=subject[:200],
        body=text,
        from_email=sender(invitation),
        to=[contact.email],
        headers={
            "Message-ID": invitation.message_id,
            "List-Unsubscribe": f"<{one_click_unsubscribe_url(invitation)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-Survey-Invitation": str(invitation.public_id),
        },
    )
    message.attach_alternative(html, "text/html")
    return message
