"""Retention: what is deleted, and when (README, "Operations"). A beat task runs `purge` hourly.

Each period is a setting; 0 keeps those records forever. Deletes go in batches of BATCH rows, at
most MAX_BATCHES per kind and run, so a first run on a big backlog never holds long locks; the
next runs finish the work.

- Webhook deliveries that are finished (succeeded, failed, skipped), after
  WEBHOOK_DELIVERY_RETENTION_DAYS (30). A replay of the same event within that time is still
  recognised and not sent twice; events are replayed within minutes, not months.
- Alert deliveries that are finished (sent, failed), after ALERT_DELIVERY_RETENTION_DAYS (90),
  once the answer can no longer change (its invitation expired): the row is what stops a rule
  from firing twice for one answer.
- Link-fetch logs of invitations (counts of GET/HEAD by mail scanners), emptied
  LINK_FETCH_RETENTION_DAYS (30) after the answer, or after the invitation expired unanswered.
  They only inform the bot signals computed when the answer is saved, which stay on the answer.
- Finished export files, at their link's expiry (EXPORT_EXPIRY_HOURS, 72): the file is deleted,
  the job row stays as history.
- Finished import jobs (their result and any leftover upload), after IMPORT_JOB_RETENTION_DAYS
  (30).
- Stripe inbox rows that were applied (processed, superseded, ignored), after
  STRIPE_EVENT_RETENTION_DAYS (90): the ledger keeps their effect, and the subscription's newest
  state still marks a late redelivery of an old event as superseded. Pending, unmatched and
  failed rows are kept until they are applied.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ImportJob
from followups.models import AlertDelivery, WebhookDelivery
from metrics.exports import storage
from outcomes.models import StripeEvent
from surveys.models import Invitation

logger = logging.getLogger(__name__)

BATCH = 5000
MAX_BATCHES = 20


def _cutoff(days: int, now: datetime) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


def _delete_in_batches(queryset: QuerySet) -> int:
    total = 0
    for _batch in range(MAX_BATCHES):
        ids = list(queryset.order_by().values_list("pk", flat=True)[:BATCH])
        if not ids:
            break
        deleted, _per_model = queryset.model.objects.filter(pk__in=ids).delete()
        total += deleted
    return total


def purge_webhook_deliveries(now: datetime) -> int:
    cutoff = _cutoff(settings.WEBHOOK_DELIVERY_RETENTION_DAYS, now)
    if cutoff is None:
        return 0
    finished = [
        WebhookDelivery.Status.SUCCEEDED,
        WebhookDelivery.Status.FAILED,
        WebhookDelivery.Status.SKIPPED,
    ]
    return _delete_in_batches(
        WebhookDelivery.objects.filter(status__in=finished, created_at__lt=cutoff)
    )


def purge_alert_deliveries(now: datetime) -> int:
    cutoff = _cutoff(settings.ALERT_DELIVERY_RETENTION_DAYS, now)
    if cutoff is None:
        return 0
    settled = Q(response__invitation__isnull=True) | Q(response__invitation__expires_at__lt=now)
    return _delete_in_batches(
        AlertDelivery.objects.filter(
            settled,
            status__in=[AlertDelivery.Status.SENT, AlertDelivery.Status.FAILED],
            created_at__lt=cutoff,
        )
    )


def purge_link_fetches(now: datetime) -> int:
    cutoff = _cutoff(settings.LINK_FETCH_RETENTION_DAYS, now)
    if cutoff is None:
        return 0
    # The condition of the partial index invitation_fetches_kept, and no ordering, so the index
    # is what is read.
    kept = (
        Invitation.objects.filter(~Q(link_fetches={}))
        .filter(Q(answered_at__lt=cutoff) | Q(expires_at__lt=cutoff))
        .order_by()
    )
    total = 0
    for _batch in range(MAX_BATCHES):
        ids = list(kept.values_list("pk", flat=True)[:BATCH])
        if not ids:
            break
        total += Invitation.objects.filter(pk__in=ids).update(link_fetches={})
    return total


def purge_import_jobs(now: datetime) -> int:
    cutoff = _cutoff(settings.IMPORT_JOB_RETENTION_DAYS, now)
    if cutoff is None:
        return 0
    finished = ImportJob.objects.filter(
        status__in=[ImportJob.Status.DONE, ImportJob.Status.FAILED], finished_at__lt=cutoff
    )
    for upload in finished.exclude(upload="").values_list("upload", flat=True)[:BATCH]:
        # Normally deleted when the job ended; a worker lost mid-run may have left it.
        default_storage.delete(upload)
    return _delete_in_batches(finished)


def purge_stripe_events(now: datetime) -> int:
    cutoff = _cutoff(settings.STRIPE_EVENT_RETENTION_DAYS, now)
    if cutoff is None:
        return 0
    applied = [
        StripeEvent.Status.PROCESSED,
        StripeEvent.Status.SUPERSEDED,
        StripeEvent.Status.IGNORED,
    ]
    return _delete_in_batches(
        StripeEvent.objects.filter(status__in=applied, received_at__lt=cutoff).filter(
            Q(processed_at__lt=cutoff) | Q(processed_at__isnull=True)
        )
    )


def purge(*, now: datetime | None = None) -> dict[str, int]:
    """Delete (or empty) what is past its retention period. Idempotent."""
    now = now or timezone.now()
    counts = {
        "webhook_deliveries": purge_webhook_deliveries(now),
        "alert_deliveries": purge_alert_deliveries(now),
        "link_fetch_logs": purge_link_fetches(now),
        "export_files": storage.purge_expired_exports(),
        "import_jobs": purge_import_jobs(now),
        "stripe_events": purge_stripe_events(now),
    }
    if any(counts.values()):
        logger.info(
            "retention purge: %s", ", ".join(f"{name} {count}" for name, count in counts.items())
        )
    return counts
