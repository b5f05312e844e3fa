"""Writes for surveys: one path per entity. Reads shared by several places live in selectors."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Contact

from . import announcements, answering, scanners
from .models import Invitation, Referral, Response, Survey
from .signals import response_saved

logger = logging.getLogger(__name__)

Status = Invitation.Status


def record_click(
    *, invitation: Invitation, method: str = "GET", score: int | None = None, link: str = "answer"
) -> None:
    """Note a fetch of an emailed link (for the bot signals). Never records an answer, nor a
    person's visit: mail scanners fetch every link (`record_view` counts a person).

    Counts GETs and HEADs and which score links were fetched: scanners fetch them all.
    """
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().only("link_fetches").get(pk=invitation.pk)
        fetches = dict(locked.link_fetches or {})
        key = "head" if method == "HEAD" else "get"
        fetches[key] = fetches.get(key, 0) + 1
        fetches.setdefault("first", method)
        fetches.setdefault("first_at", timezone.now().isoformat())
        if link != "answer":
            fetches[link] = fetches.get(link, 0) + 1
        if score is not None and score not in fetches.get("scores", []):
            fetches["scores"] = [*fetches.get("scores", []), score]
        Invitation.objects.filter(pk=invitation.pk).update(link_fetches=fetches)
    invitation.link_fetches = fetches


def record_view(*, invitation: Invitation, user_agent: str) -> bool:
    """Note that a person opened the answer page: the page reports its first human action (a
    tap or a key). The funnel's "clicked". Idempotent: keeps the first time; a known scanner's
    user agent is ignored. Returns True when this call recorded it."""
    if scanners.is_scanner_user_agent(user_agent):
        return False
    now = timezone.now()
    updated = Invitation.objects.filter(pk=invitation.pk, clicked_at__isnull=True).update(
        clicked_at=now
    )
    if updated:
        invitation.clicked_at = now
    return bool(updated)


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
    score: int | str,
    comment: str = "",
    confirmed_via: str = Response.ConfirmedVia.SUBMIT,
    reason: str = "",
    bot_signals: dict | None = None,
) -> Response:
    """Record or update the one response of an invitation. Safe under concurrent POSTs.

    Raises ValidationError for an out-of-range score, an unknown reason or a closed invitation;
    writes nothing then. An automatic confirmation (tap, visible) keeps an earlier comment.
    The answer is announced (`response_saved`) by a worker shortly after it is committed.
    """
    survey = invitation.survey
    score = validate_score(survey=survey, score=score)
    comment = (comment or "").strip()
    if len(comment) > 5000:
        raise ValidationError(_("Keep the comment under 5,000 characters."))
    if "\x00" in comment:
        raise ValidationError(_("Remove the NUL characters from the comment."))
    reason = (reason or "").strip()
    if reason and reason not in survey.reason_choices:
        raise ValidationError(_("Choose one of the listed reasons."))
    signals = bot_signals or {}
    # A suspected bot's answer is quarantined: kept, but excluded from every score, alert,
    # follow-up, webhook and default export, and not announced, until staff release it.
    suspect = bool(signals.get("reasons"))
    now = timezone.now()
    response = answering.upsert_response(
        invitation=invitation,
        values={
            "survey_id": survey.pk,
            "contact_id": invitation.contact_id,
            "account_id": invitation.contact.account_id,
            "score": score,
            "category": survey.category_of(score),
            "comment": comment,
            "answered_at": now,
            "confirmed_via": confirmed_via,
            "reason": reason,
            "bot_signals": signals,
            "suspected_bot": suspect,
            "quarantined": suspect,
            "excluded": suspect,
            "announce_pending": not suspect,
        },
        now=now,
    )
    if response is None:
        raise ValidationError(_("This survey has closed."))
    transaction.on_commit(announcements.wake_announcer, robust=True)
    return response


def announce_saved_responses(*, batch: int = 500) -> int:
    """Send `response_saved` for every answer saved since its last announcement; returns how
    many. Safe to run in several workers at once: each claims its rows with SKIP LOCKED.

    A claimed batch is marked announced before its signals go out, so a worker killed in between
    loses those announcements (the follow-ups sweeper still opens follow-ups and alerts for them);
    a re-answer saved meanwhile is pending again and announced on the next run.
    """
    announced = 0
    while True:
        with transaction.atomic():
            claimed = list(
                Response.objects.select_for_update(skip_locked=True)
                .filter(announce_pending=True)
                .order_by("pk")
                .values_list("pk", "announced_at")[:batch]
            )
            Response.objects.filter(pk__in=[pk for pk, _ in claimed]).update(
                announce_pending=False, announced_at=timezone.now()
            )
        for pk, announced_at in claimed:
            # A failing receiver is logged (django.dispatch) and does not stop the others.
            response_saved.send_robust(
                sender=Response, response_id=pk, created=announced_at is None
            )
        announced += len(claimed)
        if len(claimed) < batch:
            return announced


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


def set_excluded(*, response_ids: list[int], excluded: bool, actor=None) -> int:
    """Exclude responses from every score (staff's decision, which also ends a quarantine), or
    restore them; restoring a quarantined answer releases it (`release_responses`).
    Idempotent; returns rows changed."""
    if excluded:
        return (
            Response.objects.filter(pk__in=response_ids)
            .filter(Q(excluded=False) | Q(quarantined=True))
            .update(excluded=True, quarantined=False)
        )
    released = release_responses(response_ids=response_ids, actor=actor)
    restored = Response.objects.filter(
        pk__in=response_ids, excluded=True, quarantined=False
    ).update(excluded=False)
    return released + restored


def release_responses(*, response_ids: list[int], actor=None) -> int:
    """Release quarantined answers (suspected bots that staff judged to be people): they count
    from now on and are announced, so their alerts, follow-ups and webhooks happen then.
    Idempotent: only quarantined rows change; returns how many."""
    released = Response.objects.filter(pk__in=response_ids, quarantined=True).update(
        quarantined=False,
        excluded=False,
        released_at=timezone.now(),
        released_by=actor,
        announce_pending=True,
    )
    if released:
        transaction.on_commit(announcements.wake_announcer, robust=True)
    return released


def import_response(
    *, survey: Survey, contact: Contact, score: int, comment: str, answered_at
) -> tuple[Response, str]:
    """Store one historical answer brought from another tool; returns (response, outcome) with
    outcome "created", "updated" or "unchanged".

    Idempotent: the same (survey, contact, answered_at) updates the earlier import instead of
    adding a second answer. No invitation, no throttling, and no `response_saved` signal:
    history must not raise alerts or follow-ups today.
    """
    score = validate_score(survey=survey, score=score)
    comment = (comment or "").strip()
    if len(comment) > 5000:
        raise ValidationError(_("Keep the comment under 5,000 characters."))
    category = survey.category_of(score)
    existing = Response.objects.filter(
        survey=survey,
        contact=contact,
        answered_at=answered_at,
        confirmed_via=Response.ConfirmedVia.IMPORT,
    ).first()
    if existing is None:
        response = Response.objects.create(
            survey=survey,
            contact=contact,
            account_id=contact.account_id,
            score=score,
            category=category,
            comment=comment,
            answered_at=answered_at,
            confirmed_via=Response.ConfirmedVia.IMPORT,
        )
        return response, "created"
    if (existing.score, existing.comment) == (score, comment):
        return existing, "unchanged"
    existing.score, existing.category, existing.comment = score, category, comment
    existing.save(update_fields=["score", "category", "comment", "updated_at"])
    return existing, "updated"
