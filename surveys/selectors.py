"""Reads used by several places: distribution counts for the staff view, admin and API."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import Campaign, Invitation, Survey

Status = Invitation.Status
Reason = Invitation.Reason


@dataclass
class DistributionCounts:
    total: int
    scheduled: int
    queued: int
    sending: int
    sent: int
    failed: int
    suppressed: int
    revoked: int
    expired: int
    answered: int
    reminded: int
    by_reason: dict[str, int]
    # The statuses add up to the total: expired_unsent is a status (never sent before expiry);
    # expired_unanswered is a part of sent, as answered and reminded are.
    expired_unsent: int = 0
    expired_unanswered: int = 0

    @property
    def pending(self) -> int:
        return self.scheduled + self.queued + self.sending

    @property
    def done(self) -> int:
        return self.total - self.pending

    @property
    def percent_done(self) -> int:
        return 100 * self.done // self.total if self.total else 100

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "scheduled": self.scheduled,
            "queued": self.queued,
            "sending": self.sending,
            "sent": self.sent,
            "failed": self.failed,
            "suppressed": self.suppressed,
            "suppressed_by_reason": self.by_reason,
            "revoked": self.revoked,
            "expired": self.expired,
            "answered": self.answered,
            "reminded": self.reminded,
            "expired_unsent": self.expired_unsent,
            "expired_unanswered": self.expired_unanswered,
            "pending": self.pending,
            "percent_done": self.percent_done,
        }


def distribution_counts(
    *, survey: Survey | None = None, campaign: Campaign | None = None
) -> DistributionCounts:
    """Invitations by status, suppression reason, answered and expired, in one query.

    Expired counts invitations never sent before expiry plus sent ones that expired unanswered.
    """
    invitations: QuerySet[Invitation] = Invitation.objects.all()
    if survey is not None:
        invitations = invitations.filter(survey=survey)
    if campaign is not None:
        invitations = invitations.filter(campaign=campaign)
    now = timezone.now()
    statuses = [
        Status.SCHEDULED,
        Status.QUEUED,
        Status.SENDING,
        Status.SENT,
        Status.FAILED,
        Status.SUPPRESSED,
        Status.REVOKED,
    ]
    aggregates = {
        "total": Count("pk"),
        **{str(status): Count("pk", filter=Q(status=status)) for status in statuses},
        "expired": Count(
            "pk",
            filter=Q(status=Status.EXPIRED)
            | Q(status=Status.SENT, answered_at__isnull=True, expires_at__lte=now),
        ),
        "expired_unsent": Count("pk", filter=Q(status=Status.EXPIRED)),
        "expired_unanswered": Count(
            "pk", filter=Q(status=Status.SENT, answered_at__isnull=True, expires_at__lte=now)
        ),
        "answered": Count("pk", filter=Q(answered_at__isnull=False)),
        "reminded": Count("pk", filter=Q(reminder_sent_at__isnull=False, send_count__gte=2)),
        **{
            f"reason_{reason}": Count(
                "pk", filter=Q(status=Status.SUPPRESSED, suppression_reason=reason)
            )
            for reason in Reason.values
        },
    }
    row = invitations.aggregate(**aggregates)
    return DistributionCounts(
        total=row["total"],
        scheduled=row[Status.SCHEDULED],
        queued=row[Status.QUEUED],
        sending=row[Status.SENDING],
        sent=row[Status.SENT],
        failed=row[Status.FAILED],
        suppressed=row[Status.SUPPRESSED],
        revoked=row[Status.REVOKED],
        expired=row["expired"],
        answered=row["answered"],
        reminded=row["reminded"],
        by_reason={reason: row[f"reason_{reason}"] for reason in Reason.values},
        expired_unsent=row["expired_unsent"],
        expired_unanswered=row["expired_unanswered"],
    )
