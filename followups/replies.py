"""Replying to a respondent from a follow-up: compose, queue, send (closing the loop by email).

A reply goes out through the same path as the surveys' email: a row first, a Celery task after
commit, a claim by conditional UPDATE, retries with backoff, the survey's sender. It answers
the invitation's thread (In-Reply-To/References), so the respondent's mail client shows it
under the survey they answered. Unsubscribed, bounced, complained and erased contacts get
nothing (checked when queued and again when sent); the survey throttle does not apply, since
this is a person answering a person.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from accounts.jobs import backoff
from surveys import emails as survey_emails
from surveys import wording
from surveys.models import Response

from .models import FollowUp, Reply
from .queue import RetryLater, enqueue_on_commit
from .services import ensure_followup

logger = logging.getLogger(__name__)

MAX_BODY = 5000


def reply_language(response: Response) -> str:
    """The language the respondent was asked in: the contact's, else the site default."""
    contact = response.contact
    return (contact.language if contact else "") or settings.LANGUAGE_CODE


def default_subject(response: Response, language: str) -> str:
    """The invitation's subject with "Re:", so the reply sits in the survey's thread."""
    with translation.override(language):
        question = response.survey.question_for(language)
        return (_("Re: %(subject)s") % {"subject": " ".join(question.split())})[:200]


def default_greeting(response: Response, language: str) -> str:
    name = response.contact.name if response.contact else ""
    with translation.override(language):
        if name:
            return _("Hi %(name)s,") % {"name": name} + "\n\n"
        return _("Hello,") + "\n\n"


def quote_context(response: Response, language: str) -> dict:
    """What the reply quotes: the score in words, the date, the question and the comment."""
    survey = response.survey
    with translation.override(language):
        return {
            "score": response.score,
            "score_label": wording.score_words(survey, response.score),
            "scale_max": survey.scale_max,
            "question": survey.question_for(language),
            "comment": response.comment,
            "answered_on": formats.date_format(
                timezone.localtime(response.answered_at), "DATE_FORMAT"
            ),
        }


def cannot_reply_reason(response: Response) -> str:
    """Why this respondent cannot be emailed, in words; "" when a reply can be sent."""
    contact = response.contact
    if contact is None or contact.erased_at:
        return _("The contact was erased or the answer is anonymous: there is nobody to reply to.")
    if contact.unsubscribed_at:
        return _("The contact unsubscribed: replies are not sent to them.")
    if contact.bounced_at or contact.complained_at:
        return _("The contact's address bounced or complained: replies are not sent to it.")
    return ""


def queue_reply(*, response: Response, author, subject: str, body: str) -> Reply:
    """Write a reply and hand it to a worker after commit. Raises ValidationError (nothing
    written) when the contact cannot be mailed or a field is empty. Not idempotent: each call
    is one more email."""
    reason = cannot_reply_reason(response)
    if reason:
        raise ValidationError(reason)
    subject = " ".join((subject or "").split())[:200]
    body = (body or "").strip()
    errors = {}
    if not subject:
        errors["subject"] = _("Write a subject.")
    if not body:
        errors["body"] = _("Write a message.")
    elif len(body) > MAX_BODY:
        errors["body"] = _("At most %(count)s characters.") % {"count": MAX_BODY}
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        followup = ensure_followup(response=response)
        reply = Reply.objects.create(
            followup=followup,
            author=author,
            subject=subject,
            body=body,
            language=reply_language(response),
            created_at=now,
        )
        # Replying is acting on the follow-up: the clock of "time to first action" stops, and a
        # new follow-up moves to in progress.
        FollowUp.objects.filter(pk=followup.pk, first_action_at__isnull=True).update(
            first_action_at=now
        )
        FollowUp.objects.filter(pk=followup.pk, status=FollowUp.Status.NEW).update(
            status=FollowUp.Status.IN_PROGRESS
        )
        _enqueue(reply.pk)
    return reply


def _enqueue(reply_id: int) -> None:
    enqueue_on_commit("followups.tasks.send_reply", reply_id)


def reply_to_address(reply: Reply) -> str:
    """The configured inbox, else the author's address, else none (replies go to From)."""
    if settings.REPLY_TO_EMAIL:
        return settings.REPLY_TO_EMAIL
    if reply.author and reply.author.email:
        return reply.author.email
    return ""


def thread_references(reply: Reply) -> list[str]:
    """The invitation's Message-ID, then the earlier replies on the same answer, oldest first."""
    response = reply.followup.response
    earlier = Reply.objects.filter(
        followup_id=reply.followup_id, status=Reply.Status.SENT, created_at__lt=reply.created_at
    ).order_by("created_at", "pk")
    return [response.invitation.message_id, *(r.message_id for r in earlier)]


def reply_message(reply: Reply) -> EmailMultiAlternatives:
    response = reply.followup.response
    survey = response.survey
    language = reply.language
    references = thread_references(reply)
    context = {
        "reply": reply,
        "survey": survey,
        "contact": response.contact,
        "company": survey.company_name or survey.sender_name,
        "accent": survey.accent_color or "#0b3d91",
        "author_name": (reply.author.get_full_name() or "") if reply.author else "",
        "language": language,
        **quote_context(response, language),
    }
    with translation.override(language):
        text = render_to_string("followups/email/reply.txt", context)
        html = render_to_string("followups/email/reply.html", context)
    headers = {
        "Message-ID": reply.message_id,
        "In-Reply-To": references[-1],
        "References": " ".join(references),
        "Content-Language": language,
        "X-Survey-Reply": str(reply.public_id),
    }
    reply_to = reply_to_address(reply)
    message = EmailMultiAlternatives(
        subject=reply.subject,
        body=text,
        from_email=survey_emails.survey_sender(survey),
        to=[response.contact.email],
        reply_to=[reply_to] if reply_to else None,
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    return message


def send_reply(*, reply_id: int) -> bool:
    """Email one queued reply. Idempotent: claims the row, so a duplicate task sends nothing.
    Raises RetryLater on a transient failure while attempts remain, then marks it failed."""
    claimed = Reply.objects.filter(pk=reply_id, status=Reply.Status.PENDING).update(
        status=Reply.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    reply = Reply.objects.select_related(
        "author",
        "followup__response__survey",
        "followup__response__contact",
        "followup__response__invitation",
    ).get(pk=reply_id)
    response = reply.followup.response
    if cannot_reply_reason(response):
        # Unsubscribed (or bounced, erased) after the reply was written: nothing goes out.
        Reply.objects.filter(pk=reply_id).update(status=Reply.Status.SUPPRESSED)
        return False
    try:
        reply_message(reply).send()
    except (smtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        if reply.attempts >= settings.SEND_MAX_ATTEMPTS:
            logger.warning("reply %s failed after %s attempts: %s", reply_id, reply.attempts, error)
            Reply.objects.filter(pk=reply_id).update(status=Reply.Status.FAILED, last_error=error)
            return False
        Reply.objects.filter(pk=reply_id).update(status=Reply.Status.PENDING, last_error=error)
        raise RetryLater(
            error,
            backoff(
                attempt=reply.attempts,
                base=settings.SEND_RETRY_BASE_SECONDS,
                cap=settings.SEND_RETRY_MAX_SECONDS,
            ),
        ) from exc
    Reply.objects.filter(pk=reply_id).update(
        status=Reply.Status.SENT,
        sent_at=timezone.now(),
        recipient=response.contact.email,
        last_error="",
    )
    return True


def sweep(*, now=None) -> dict:
    """Hand again replies whose task was lost (crash between commit and enqueue, dead worker).
    Safe any time: the send claims the row."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.SENDING_STALE_SECONDS)
    Reply.objects.filter(status=Reply.Status.SENDING, claimed_at__lt=stale).update(
        status=Reply.Status.PENDING
    )
    lease = now - timedelta(seconds=settings.DISPATCH_LEASE_SECONDS)
    ids = list(
        Reply.objects.filter(status=Reply.Status.PENDING, created_at__lt=lease)
        .filter(claimed_at__isnull=True)
        .values_list("pk", flat=True)[:1000]
    ) + list(
        Reply.objects.filter(status=Reply.Status.PENDING, claimed_at__lt=lease).values_list(
            "pk", flat=True
        )[:1000]
    )
    for reply_id in ids:
        _enqueue(reply_id)
    return {"replies": len(ids)}
