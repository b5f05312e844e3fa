"""Writes for surveys: one path per entity. Reads shared by several places live in selectors."""

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Contact

from . import emails
from .models import Invitation, Referral, Response, Survey
from .signals import response_saved

logger = logging.getLogger(__name__)

Status = Invitation.Status


class TransientSendError(Exception):
    """A send that may succeed later (SMTP 4xx, connection trouble). The task retries it."""


def _suppression_reason(*, survey: Survey, contact: Contact) -> str:
    if not survey.active:
        return Invitation.Reason.INACTIVE_SURVEY
    if contact.unsubscribed_at:
        return Invitation.Reason.UNSUBSCRIBED
    if contact.bounced_at or contact.complained_at:
        return Invitation.Reason.BOUNCED
    return ""


def create_invitation(
    *,
    survey: Survey,
    contact: Contact,
    event_id: str | None = None,
    properties: dict | None = None,
) -> tuple[Invitation, bool]:
    """Create an invitation and queue its email after commit.

    Idempotent per (survey, event_id): a repeated event returns the existing invitation and
    (invitation, False), sending nothing. Suppressed invitations are kept with their reason.
    """
    if event_id:
        existing = Invitation.objects.filter(survey=survey, event_id=event_id).first()
        if existing:
            return existing, False
    reason = _suppression_reason(survey=survey, contact=contact)
    now = timezone.now()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                survey=survey,
                contact=contact,
                event_id=event_id or None,
                properties=properties or {},
                status=Status.SUPPRESSED if reason else Status.QUEUED,
                suppression_reason=reason,
                created_at=now,
                expires_at=now + timedelta(days=settings.INVITATION_EXPIRY_DAYS),
            )
    except IntegrityError:
        # A concurrent request with the same event won the race; return its invitation.
        return Invitation.objects.get(survey=survey, event_id=event_id), False
    if not reason:
        enqueue_send(invitation_id=invitation.pk)
    return invitation, True


def enqueue_send(*, invitation_id: int) -> None:
    """Hand the invitation to a worker once the surrounding transaction has committed."""
    from . import tasks

    transaction.on_commit(lambda: tasks.send_invitation.delay(invitation_id), robust=True)


def send_invitation(*, invitation_id: int) -> bool:
    """Email one invitation. Idempotent: returns False if another worker already claimed it.

    The conditional UPDATE is the claim: only one worker moves a row from queued to sending.
    A transient failure puts the row back to queued and raises TransientSendError for a retry;
    a permanent one marks it failed with the error.
    """
    now = timezone.now()
    claimed = Invitation.objects.filter(pk=invitation_id, status=Status.QUEUED).update(
        status=Status.SENDING, claimed_at=now
    )
    if not claimed:
        return False
    invitation = Invitation.objects.select_related("survey", "contact").get(pk=invitation_id)
    message = emails.invitation_message(invitation)
    try:
        message.send()
    except smtplib.SMTPResponseException as exc:
        error = f"{exc.smtp_code} {exc.smtp_error!r}"
        if 400 <= exc.smtp_code < 500:
            _release(invitation_id, error)
            raise TransientSendError(error) from exc
        _fail(invitation_id, error)
        return False
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
        _release(invitation_id, repr(exc))
        raise TransientSendError(repr(exc)) from exc
    except smtplib.SMTPException as exc:
        # Recipients refused, sender refused, data errors: permanent for this message.
        _fail(invitation_id, repr(exc))
        return False
    sent_at = timezone.now()
    Invitation.objects.filter(pk=invitation_id, status=Status.SENDING).update(
        status=Status.SENT, sent_at=sent_at, send_count=1, last_error=""
    )
    Contact.objects.filter(pk=invitation.contact_id).update(last_invited_at=sent_at)
    return True


def _release(invitation_id: int, error: str) -> None:
    Invitation.objects.filter(pk=invitation_id, status=Status.SENDING).update(
        status=Status.QUEUED, last_error=error[:2000]
    )


def _fail(invitation_id: int, error: str) -> None:
    logger.warning("invitation %s failed permanently: %s", invitation_id, error)
    Invitation.objects.filter(pk=invitation_id, status=Status.SENDING).update(
        status=Status.FAILED, last_error=error[:2000]
    )


def mark_failed(*, invitation_id: int, error: str) -> None:
    """Give up on a queued invitation after the last retry. Idempotent."""
    Invitation.objects.filter(pk=invitation_id, status__in=[Status.QUEUED, Status.SENDING]).update(
        status=Status.FAILED, last_error=error[:2000]
    )


def requeue_unsent(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Re-enqueue invitations committed but never handed to a worker. Safe to run any time.

    Rows still queued after `older_than` were lost between commit and enqueue (or their task
    was lost); the claim in send_invitation makes a duplicate enqueue harmless.
    """
    cutoff = timezone.now() - older_than
    ids = list(
        Invitation.objects.filter(status=Status.QUEUED, created_at__lt=cutoff)
        .filter(expires_at__gt=timezone.now())
        .values_list("pk", flat=True)[:5000]
    )
    from . import tasks

    for invitation_id in ids:
        tasks.send_invitation.delay(invitation_id)
    return len(ids)


def record_click(
    *, invitation: Invitation, method: str = "GET", score: int | None = None, link: str = "answer"
) -> None:
    """Note a fetch of an emailed link (for the funnel and bot signals). Never records an answer.

    Counts GETs and HEADs and which score links were fetched: scanners fetch them all.
    """
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().only("clicked_at", "link_fetches").get(
            pk=invitation.pk
        )
        fetches = dict(locked.link_fetches or {})
        key = "head" if method == "HEAD" else "get"
        fetches[key] = fetches.get(key, 0) + 1
        fetches.setdefault("first", method)
        if link != "answer":
            fetches[link] = fetches.get(link, 0) + 1
        if score is not None and score not in fetches.get("scores", []):
            fetches["scores"] = [*fetches.get("scores", []), score]
        updates = {"link_fetches": fetches}
        if locked.clicked_at is None and method != "HEAD" and link == "answer":
            updates["clicked_at"] = timezone.now()
        Invitation.objects.filter(pk=invitation.pk).update(**updates)
    invitation.link_fetches = fetches
    if "clicked_at" in updates:
        invitation.clicked_at = updates["clicked_at"]


def validate_score(*, survey: Survey, score: int | str | None) -> int:
    try:
        value = int(score)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(_("Choose a score.")) from None
    if not survey.scale_min <= value <= survey.scale_max:
        raise ValidationError(
            _("Choose a score from %(min)s to %(max)s.")
            % {"min": survey.scale_min, "max": survey.scale_max}
        )
    return value


def record_answer(
    *,
    invitation: Invitation,
    score: int,
    comment: str = "",
    confirmed_via: str = Response.ConfirmedVia.SUBMIT,
    reason: str = "",
    bot_signals: dict | None = None,
) -> Response:
    """Record or update the one response of an invitation. Safe under concurrent POSTs.

    Raises ValidationError for an out-of-range score, an unknown reason or a closed invitation;
    writes nothing then. An automatic confirmation (tap, visible) keeps an earlier comment.
    """
    survey = invitation.survey
    score = validate_score(survey=survey, score=score)
    comment = (comment or "").strip()
    if len(comment) > 5000:
        raise ValidationError(_("Keep the comment under 5,000 characters."))
    reason = (reason or "").strip()
    if reason and reason not in survey.reason_choices:
        raise ValidationError(_("Choose one of the listed reasons."))
    signals = bot_signals or {}
    suspected = bool(signals.get("reasons"))
    with transaction.atomic():
        # Lock the invitation row: concurrent answers for one token serialize here.
        locked = Invitation.objects.select_for_update().select_related("contact").get(
            pk=invitation.pk
        )
        if not locked.is_open:
            raise ValidationError(_("This survey has closed."))
        now = timezone.now()
        response = Response.objects.filter(invitation=locked).first()
        if response is None:
            response = Response.objects.create(
                invitation=locked,
                survey=survey,
                contact=locked.contact,
                account_id=locked.contact.account_id,
                score=score,
                category=survey.category_of(score),
                comment=comment,
                answered_at=now,
                confirmed_via=confirmed_via,
                reason=reason,
                bot_signals=signals,
                suspected_bot=suspected,
            )
        else:
            response.score = score
            response.category = survey.category_of(score)
            if comment or confirmed_via == Response.ConfirmedVia.SUBMIT:
                response.comment = comment
            if reason or confirmed_via == Response.ConfirmedVia.SUBMIT:
                response.reason = reason
            response.confirmed_via = confirmed_via
            response.bot_signals = signals
            response.suspected_bot = suspected
            response.save(
                update_fields=[
                    "score", "category", "comment", "reason", "confirmed_via", "bot_signals",
                    "suspected_bot", "updated_at",
                ]
            )
        if locked.answered_at is None:
            Invitation.objects.filter(pk=locked.pk).update(answered_at=now)
        created = locked.answered_at is None
        # Higher apps (alerts, webhooks) hear about it only once the answer is committed.
        transaction.on_commit(
            lambda: response_saved.send(sender=Response, response_id=response.pk, created=created),
            robust=True,
        )
    return response


def record_referral(*, response: Response, name: str, email: str) -> Referral:
    """Store a colleague a promoter suggested. Idempotent per (response, email)."""
    survey = response.survey
    if not survey.referral_enabled or response.category != 1:
        raise ValidationError(_("This survey does not take referrals."))
    email = email.strip()
    referral, created = Referral.objects.get_or_create(
        response=response, email__iexact=email, defaults={"name": name.strip(), "email": email}
    )
    if not created and referral.name != name.strip():
        referral.name = name.strip()
        referral.save(update_fields=["name"])
    return referral


def set_excluded(*, response_ids: list[int], excluded: bool) -> int:
    """Exclude responses from every score, or restore them. Idempotent; returns rows changed."""
    return Response.objects.filter(pk__in=response_ids).exclude(excluded=excluded).update(
        excluded=excluded
    )
