"""Who may be asked a survey now: the suppression rules, written once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import Contact
from surveys.models import Invitation, Survey

logger = logging.getLogger(__name__)

Status = Invitation.Status
Reason = Invitation.Reason


# Invitations that count as "asked" for throttling and the account cap.
ASKED = (Status.SCHEDULED, Status.QUEUED, Status.SENDING, Status.SENT)


def throttle_days_for(survey: Survey) -> int:
    """The survey's throttle window: its override, or the site default; 0 opts out."""
    return settings.THROTTLE_DAYS if survey.throttle_days is None else survey.throttle_days


def expiry_days_for(survey: Survey) -> int:
    return survey.expiry_days or settings.INVITATION_EXPIRY_DAYS


def contact_reason(contact: Contact) -> str:
    if contact.unsubscribed_at:
        return Reason.UNSUBSCRIBED
    if contact.complained_at:
        return Reason.COMPLAINED
    if contact.bounced_at:
        return Reason.BOUNCED
    return ""


def _is_throttled(*, survey: Survey, contact: Contact, now: datetime) -> bool:
    days = throttle_days_for(survey)
    if not days:
        return False
    return Invitation.objects.filter(
        contact=contact, status__in=ASKED, created_at__gt=now - timedelta(days=days)
    ).exists()


def _account_cap_reached(*, survey: Survey, contact: Contact, now: datetime) -> bool:
    if not survey.account_cap or not contact.account_id:
        return False
    asked = (
        Invitation.objects.filter(
            contact__account_id=contact.account_id,
            status__in=ASKED,
            created_at__gt=now - timedelta(days=survey.account_cap_days),
        )
        .exclude(contact=contact)
        .values("contact_id")
        .distinct()
        .count()
    )
    return asked >= survey.account_cap


def suppression_reason(*, survey: Survey, contact: Contact, now: datetime | None = None) -> str:
    """Why this contact must not be asked this survey now, or "" if they may be."""
    now = now or timezone.now()
    if not survey.active:
        return Reason.INACTIVE_SURVEY
    if reason := contact_reason(contact):
        return reason
    if _is_throttled(survey=survey, contact=contact, now=now):
        return Reason.THROTTLED
    if _account_cap_reached(survey=survey, contact=contact, now=now):
        return Reason.ACCOUNT_CAP
    return ""
