"""Invitations: one person asked one survey once (the outbox row)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Contact

from .survey import Campaign, Survey, new_token


class Invitation(models.Model):
    """One person asked one survey once. The outbox row: emailed at most once, reminders counted."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Suppressed")
        REVOKED = "revoked", _("Revoked")
        EXPIRED = "expired", _("Expired before sending")

    # Statuses that can no longer be answered (besides passing expires_at).
    CLOSED_STATUSES = (Status.REVOKED, Status.SUPPRESSED, Status.EXPIRED)

    class Reason(models.TextChoices):
        THROTTLED = "throttled", _("Throttled")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained (marked as spam)")
        DUPLICATE_EVENT = "duplicate_event", _("Duplicate event")
        INACTIVE_SURVEY = "inactive_survey", _("Survey inactive")
        ACCOUNT_CAP = "account_cap", _("Account cap reached")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No single-column indexes where a composite index below leads with the column: each index
    # costs every write (an answer updates the invitation row).
    survey = models.ForeignKey(
        Survey,
        verbose_name=_("survey"),
        on_delete=models.PROTECT,
        related_name="invitations",
        db_index=False,  # invitation_funnel
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        on_delete=models.CASCADE,
        related_name="invitations",
        db_index=False,  # invitation_contact_created
    )
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitations",
    )
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    status = models.CharField(
        # Indexed by invitation_status_created and invitation_status_next.
        _("status"),
        max_length=10,
        choices=Status.choices,
        default=Status.QUEUED,
    )
    suppression_reason = models.CharField(
        _("suppression reason"), max_length=20, choices=Reason.choices, blank=True
    )
    # NULL, not "", when absent: the per-survey unique constraint ignores NULLs.
    event_id = models.CharField(_("event id"), max_length=200, null=True, blank=True)  # noqa: DJ001
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    send_count = models.PositiveSmallIntegerField(_("sends"), default=0)
    attempts = models.PositiveSmallIntegerField(
        _("attempts"), default=0, help_text=_("Delivery attempts of the first email.")
    )
    next_attempt_at = models.DateTimeField(
        _("next attempt at"),
        null=True,
        blank=True,
        help_text=_("Queued rows are handed to a worker again from this time on."),
    )
    reminder_sent_at = models.DateTimeField(_("reminder sent at"), null=True, blank=True)
    clicked_at = models.DateTimeField(
        _("first opened by a person at"),
        null=True,
        blank=True,
        help_text=_(
            "The first human action in the answer page (a tap, a key, an answer); a fetch of the "
            "link alone, which mail scanners make, does not count."
        ),
    )
    link_fetches = models.JSONField(
        _("link fetches"),
        default=dict,
        blank=True,
        help_text=_("GET/HEAD counts and scores fetched: mail scanners fetch every link."),
    )
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    # What happened to this invitation's own message (the funnel counts these, not the
    # contact's current state): its delivery bounced, or the person unsubscribed through it.
    bounced_at = models.DateTimeField(_("delivery bounced at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed through it at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "event_id"],
                condition=Q(event_id__isnull=False),
                name="invitation_event_unique_per_survey",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="invitation_status_created"),
            models.Index(fields=["status", "next_attempt_at"], name="invitation_status_next"),
            models.Index(fields=["contact", "created_at"], name="invitation_contact_created"),
            # The reports' funnel: counts per survey over a creation window, index-only.
            models.Index(
                fields=[
                    "survey",
                    "created_at",
                    "sent_at",
                    "clicked_at",
                    "answered_at",
                    "bounced_at",
                    "unsubscribed_at",
                ],
                name="invitation_funnel_outcomes",
            ),
            # Link-fetch logs still kept, for the retention purge (config/retention.py).
            models.Index(
                fields=["answered_at", "expires_at"],
                condition=~Q(link_fetches={}),
                name="invitation_fetches_kept",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.contact}"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def is_open(self) -> bool:
        """Can still be answered: not revoked, not suppressed, not expired."""
        return self.status not in self.CLOSED_STATUSES and not self.is_expired

    @property
    def message_id(self) -> str:
        """Stable across retries so receivers can de-duplicate."""
        domain = settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        return f"<invitation-{self.public_id}@{domain or 'localhost'}>"

    @property
    def reminder_message_id(self) -> str:
        """A reminder is its own message; receivers drop a repeated Message-ID as a duplicate."""
        return self.message_id.replace("<invitation-", "<reminder-", 1)
