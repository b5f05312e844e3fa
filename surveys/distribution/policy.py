"""Who may be asked a survey now: the suppression rules, written once."""

from __future__ import annotations

import logging
from collections.abc import Callable
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


def first_reason(
    survey: Survey,
    *,
    unsubscribed: object,
    complained: object,
    bounced: object,
    throttled: bool | Callable[[], bool] = False,
    over_cap: bool | Callable[[], bool] = False,
) -> str:
    """The suppression policy, the one definition every path applies: the first rule that
    holds names the reason, "" when the contact may be asked. The throttle and the account cap
    may be given as functions, called only when the rules before them pass (they cost a query
    where one contact is checked)."""
    if not survey.active:
        return Reason.INACTIVE_SURVEY
    if unsubscribed:
        return Reason.UNSUBSCRIBED
    if complained:
        return Reason.COMPLAINED
    if bounced:
        return Reason.BOUNCED
    if throttled() if callable(throttled) else throttled:
        return Reason.THROTTLED
    if over_cap() if callable(over_cap) else over_cap:
        return Reason.ACCOUNT_CAP
    return ""


def contact_reason(survey: Survey, contact: Contact) -> str:
    """The reason checked again at send time: the survey or the contact may have changed since
    planning (the throttle and the cap were settled when the row was written)."""
    return first_reason(
        survey,
        unsubscribed=contact.unsubscribed_at,
        complained=contact.complained_at,
        bounced=contact.bounced_at,
    )


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
    return first_reason(
        survey,
        unsubscribed=contact.unsubscribed_at,
        complained=contact.complained_at,
        bounced=contact.bounced_at,
        throttled=lambda: _is_throttled(survey=survey, contact=contact, now=now),
        over_cap=lambda: _account_cap_reached(survey=survey, contact=contact, now=now),
    )
