"""Beat jobs: the sweeper (scheduled, lost and due rows), expiry and reminders."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Q,
)
from django.utils import timezone

from surveys.models import Invitation, Survey

from .dispatch import enqueue_send, lease

logger = logging.getLogger(__name__)

Status = Invitation.Status
Reason = Invitation.Reason


LOST_IN_SENDING = (
    "Worker lost while sending; delivery unknown. Not retried automatically so that nobody "
    "gets it twice; use “Resend failed” to send it again."
)


# --- Beat: sweeper, reminders, expiry ------------------------------------------------------


@dataclass
class Sweep:
    released: int = 0
    dispatched: int = 0
    lost: int = 0
    expired: int = 0


def dispatch_due(*, now: datetime | None = None, limit: int = 20000) -> Sweep:
    """The beat sweeper. Safe to run any time, from several places at once.

    Releases scheduled invitations whose send time has come, re-dispatches queued rows whose
    lease or retry time has passed (lost between commit and enqueue, lost task, or retry due),
    and settles rows left in `sending` by a dead worker as failed (the at-most-once policy).
    """
    now = now or timezone.now()
    sweep = Sweep()
    sweep.expired = expire_invitations(now=now)
    sweep.released = Invitation.objects.filter(status=Status.SCHEDULED, send_at__lte=now).update(
        status=Status.QUEUED, next_attempt_at=now
    )
    stale = now - timedelta(seconds=settings.SENDING_STALE_SECONDS)
    sweep.lost = Invitation.objects.filter(status=Status.SENDING, claimed_at__lt=stale).update(
        status=Status.FAILED, last_error=LOST_IN_SENDING, next_attempt_at=None
    )
    if sweep.lost:
        logger.warning("%s invitations were left in sending by a lost worker", sweep.lost)
    due = Invitation.objects.filter(status=Status.QUEUED, survey__paused=False).filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=now - lease())
    )
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    if ids:
        with transaction.atomic():
            Invitation.objects.filter(pk__in=ids, status=Status.QUEUED).update(
                next_attempt_at=now + lease()
            )
            enqueue_send(invitation_ids=ids)
    sweep.dispatched = len(ids)
    return sweep


def expire_invitations(*, now: datetime | None = None) -> int:
    """Invitations never sent before their expiry become expired. Idempotent."""
    now = now or timezone.now()
    return Invitation.objects.filter(
        status__in=[Status.SCHEDULED, Status.QUEUED], expires_at__lte=now
    ).update(status=Status.EXPIRED, next_attempt_at=None)


def send_reminders(*, now: datetime | None = None) -> int:
    """Queue the one reminder of each sent, unanswered invitation whose reminder is due.

    A reminder is a counted send of the same invitation (send_count 2), claimed through
    reminder_sent_at, so it goes at most once.
    """
    now = now or timezone.now()
    ids: list[int] = []
    surveys = Survey.objects.filter(active=True, paused=False, reminder_days__isnull=False)
    for survey in surveys.exclude(reminder_days=0):
        ids += list(
            Invitation.objects.filter(
                survey=survey,
                status=Status.SENT,
                answered_at__isnull=True,
                reminder_sent_at__isnull=True,
                sent_at__lte=now - timedelta(days=survey.reminder_days),
                expires_at__gt=now,
                contact__unsubscribed_at__isnull=True,
                contact__bounced_at__isnull=True,
                contact__complained_at__isnull=True,
            ).values_list("pk", flat=True)
        )
    if ids:
        enqueue_send(invitation_ids=ids, reminder=True)
    return len(ids)
