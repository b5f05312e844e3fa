"""Staff actions on sending: pause, resume, resend."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from surveys.models import Invitation, Survey

from .dispatch import enqueue_send, lease

logger = logging.getLogger(__name__)

Status = Invitation.Status
Reason = Invitation.Reason


def pause_survey(*, survey: Survey) -> bool:
    """Hold all sending of a survey. Idempotent: False if it was already paused."""
    return bool(Survey.objects.filter(pk=survey.pk, paused=False).update(paused=True))


def resume_survey(*, survey: Survey) -> int:
    """Resume a paused survey and dispatch its queued invitations now. Idempotent."""
    with transaction.atomic():
        Survey.objects.filter(pk=survey.pk).update(paused=False)
        queued = Invitation.objects.filter(survey=survey, status=Status.QUEUED)
        ids = list(queued.values_list("pk", flat=True))
        queued.update(next_attempt_at=timezone.now() + lease())
        enqueue_send(invitation_ids=ids)
    return len(ids)


def resend_failed(*, invitation_ids: Iterable[int]) -> int:
    """Queue failed invitations again with fresh attempts. Only failed rows change."""
    with transaction.atomic():
        failed = Invitation.objects.filter(pk__in=list(invitation_ids), status=Status.FAILED)
        ids = list(failed.values_list("pk", flat=True))
        failed.update(
            status=Status.QUEUED,
            attempts=0,
            claimed_at=None,
            next_attempt_at=timezone.now() + lease(),
        )
        enqueue_send(invitation_ids=ids)
    return len(ids)
