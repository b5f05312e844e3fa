"""Rendering of survey emails: HTML + plain text, one link per score, unsubscribe headers."""

import re
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from .branding import logo_src
from .models import Invitation, Kind, Survey
from .scales import is_fully_labelled, lead_in, point_labels, scale_anchors


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def answer_url(invitation: Invitation, score: int | None = None) -> str:
    url = absolute(reverse("public:answer", args=[invitation.token]))
    return f"{url}?score={score}" if score is not None else url


def email_logo_url(survey: Survey) -> str:
    """The logo's absolute URL on this site (a stored copy of an external logo), or "": an
    external URL in an email would tell its host who opened the message, and when."""
    src = logo_src(survey)
    if src.startswith("/"):
        return absolute(src)
    return src


def unsubscribe_url(invitation: Invitation) -> str:
    return absolute(reverse("public:unsubscribe", args=[invitation.token]))


def one_click_unsubscribe_url(invitation: Invitation) -> str:
    return absolute(reverse("public:unsubscribe_one_click", args=[invitation.token]))


def subject_line(survey: Survey, question: str) -> str:
    """The invitation's subject: its question, except CES 2.0, whose question is a statement
    to agree with; its subject asks ("How easy was it to ...?")."""
    if survey.kind == Kind.CES:
        return _("How easy was it to handle your issue with %(subject)s?") % {
            "subject": survey.subject
        }
    return question


def survey_sender(survey: Survey) -> str:
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((survey.sender_name or name, address))


def email_language(invitation: Invitation) -> str:
    return invitation.contact.language or settings.LANGUAGE_CODE


def _message_id(invitation: Invitation, *, reminder: bool) -> str:
    # A reminder is a new message: receivers drop repeats of a Message-ID.
    if reminder:
        return invitation.message_id.replace("@", f"-r{invitation.send_count}@", 1)
    return invitation.message_id


class _Recipient:
    """What the templates see of the contact: only the name (the rest is per message)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _render(
    survey: Survey,
    *,
    language: str,
    token: str,
    text_name: str,
    html_name: str,
    reminder: bool,
) -> tuple[str, str, str]:
    """Subject, plain text and HTML of an invitation; nothing in them but these arguments."""
    links = Invitation(token=token)
    with translation.override(language):
        low, high = scale_anchors(survey.kind)
        labels = point_labels(survey)
        question = survey.question_for(language)
        context = {
            "survey": survey,
            "question": question,
            "lead_in": lead_in(survey),
            "scores": [
                (score, answer_url(links, score), labels.get(score, "")) for score in survey.scale
            ],
            "stacked": is_fully_labelled(survey),
            "low_label": low,
            "high_label": high,
            "accent": survey.accent_color or "#0b3d91",
            "logo_url": email_logo_url(survey),
            "unsubscribe_url": unsubscribe_url(links),
            "answer_url": answer_url(links),
            "reminder": reminder,
            "language": language,
            # The footer names the company the respondent is a customer of.
            "sender_name": survey.company_name or survey.sender_name,
            "intro_text": survey.text_for("intro_text", language),
        }
        if reminder:
            subject = _("Reminder: %(question)s") % {"question": subject_line(survey, question)}
        else:
            subject = subject_line(survey, question)
        text = render_to_string(
            "surveys/email/invitation.txt", {**context, "contact": _Recipient(text_name)}
        )
        html = render_to_string(
            "surveys/email/invitation.html", {**context, "contact": _Recipient(html_name)}
        )
    return " ".join(subject.split())[:200], text, html


def _build(
    survey: Survey,
    *,
    subject: str,
    text: str,
    html: str,
    to: str,
    message_id: str,
    token: str,
    language: str,
    public_id: str,
) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=survey_sender(survey),
        to=[to],
        headers={
            "Message-ID": message_id,
            "List-Unsubscribe": f"<{one_click_unsubscribe_url(Invitation(token=token))}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "Content-Language": language,
            "X-Survey-Invitation": public_id,
        },
    )
    message.attach_alternative(html, "text/html")
    return message


def invitation_message(invitation: Invitation, *, reminder: bool = False) -> EmailMultiAlternatives:
    survey = invitation.survey
    contact = invitation.contact
    language = email_language(invitation)
    subject, text, html = _render(
        survey,
        language=language,
        token=invitation.token,
        text_name=contact.name,
        html_name=contact.name,
        reminder=reminder,
    )
    return _build(
        survey,
        subject=subject,
        text=text,
        html=html,
        to=contact.email,
        message_id=_message_id(invitation, reminder=reminder),
        token=invitation.token,
        language=language,
        public_id=str(invitation.public_id),
    )


# --- Batch rendering -----------------------------------------------------------------------
# A batch renders each variant (survey, language, reminder, named or not) once, with
# placeholders where the per-invitation values go, and substitutes them into the text and HTML
# for each message before the message is built. Placeholders are plain letters and digits:
# escaping, translation and URL reversing leave them as they are. Values that could render
# differently from a placeholder (a token of another form, line breaks, the marker itself) take
# the normal path, so every message is the one invitation_message() would give.

_MARK = "Qz9"
_TOKEN = f"{_MARK}token".ljust(43, "0")  # secrets.token_urlsafe(32) is 43 characters
_TEXT_NAME = f"{_MARK}textname{_MARK}"
_HTML_NAME = f"{_MARK}htmlname{_MARK}"
_PUBLIC_ID = f"{_MARK}publicid".ljust(36, "0")  # str(uuid) is 36 characters
_URLSAFE = re.compile(r"[A-Za-z0-9_-]{43}\Z")


class _Variant:
    """One rendering of the templates, with placeholders for the per-invitation values."""

    def __init__(self, survey: Survey, *, language: str, reminder: bool, named: bool, sample):
        self.language = language
        self.subject, self.text, self.html = _render(
            survey,
            language=language,
            token=_TOKEN,
            text_name=_TEXT_NAME if named else "",
            html_name=_HTML_NAME if named else "",
            reminder=reminder,
        )
        self.message_id = _message_id(sample, reminder=reminder).replace(
            str(sample.public_id), _PUBLIC_ID
        )


class BatchRenderer:
    """Messages for many invitations of a batch, each variant rendered once."""

    def __init__(self) -> None:
        self._variants: dict[tuple, _Variant] = {}

    def _variant(self, invitation: Invitation, *, reminder: bool) -> tuple[_Variant, bool]:
        survey, name = invitation.survey, invitation.contact.name
        language = email_language(invitation)
        key = (survey.pk, language, reminder, bool(name), reminder and invitation.send_count)
        variant = self._variants.get(key)
        if variant is None:
            variant = _Variant(
                survey, language=language, reminder=reminder, named=bool(name), sample=invitation
            )
            self._variants[key] = variant
        usable = (
            _URLSAFE.match(invitation.token) is not None
            and _MARK not in invitation.token
            and _MARK not in name
            and "\r" not in name
            and "\n" not in name
        )
        return variant, usable

    def message(self, invitation: Invitation, *, reminder: bool = False) -> EmailMultiAlternatives:
        """The message invitation_message() would build, from the variant's rendering."""
        variant, usable = self._variant(invitation, reminder=reminder)
        if not usable:
            return invitation_message(invitation, reminder=reminder)
        token, name = invitation.token, invitation.contact.name
        return _build(
            invitation.survey,
            subject=variant.subject,
            text=variant.text.replace(_TOKEN, token).replace(_TEXT_NAME, name),
            html=variant.html.replace(_TOKEN, token).replace(_HTML_NAME, escape(name)),
            to=invitation.contact.email,
            message_id=variant.message_id.replace(_PUBLIC_ID, str(invitation.public_id)),
            token=token,
            language=variant.language,
            public_id=str(invitation.public_id),
        )
