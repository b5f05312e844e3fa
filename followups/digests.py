"""Digest emails: the answers and open follow-ups of a period, per user."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from . import emails, selectors
from .models import (
    DigestPreference,
)

logger = logging.getLogger(__name__)


def digest_period_start(*, frequency: str, now: datetime) -> datetime:
    """The latest scheduled send time at or before `now` (UTC): daily, or Mondays."""
    start = now.replace(hour=settings.DIGEST_HOUR_UTC, minute=0, second=0, microsecond=0)
    if frequency == DigestPreference.Frequency.WEEKLY:
        start -= timedelta(days=start.weekday())
    if start > now:
        start -= timedelta(days=7 if frequency == DigestPreference.Frequency.WEEKLY else 1)
    return start


def set_digest_frequency(*, user, frequency: str) -> DigestPreference:
    """Choose a user's digest frequency. Idempotent."""
    if frequency not in DigestPreference.Frequency.values:
        raise ValidationError(_("Choose off, daily or weekly."))
    preference, _created = DigestPreference.objects.update_or_create(
        user=user, defaults={"frequency": frequency}
    )
    return preference


def send_due_digests(*, now: datetime | None = None) -> int:
    """Email each opted-in staff user their digest once per period. Idempotent per period:
    the period is claimed by a conditional UPDATE of last_sent_at before anything is sent."""
    now = now or timezone.now()
    sent = 0
    preferences = (
        DigestPreference.objects.exclude(frequency=DigestPreference.Frequency.OFF)
        .filter(user__is_active=True, user__is_staff=True)
        .exclude(user__email="")
        .select_related("user")
    )
    for preference in preferences:
        start = digest_period_start(frequency=preference.frequency, now=now)
        claimed = (
            DigestPreference.objects.filter(pk=preference.pk)
            .filter(Q(last_sent_at__isnull=True) | Q(last_sent_at__lt=start))
            .update(last_sent_at=now)
        )
        if not claimed:
            continue
        length = timedelta(
            days=7 if preference.frequency == DigestPreference.Frequency.WEEKLY else 1
        )
        since = preference.last_sent_at or (now - length)
        rows = selectors.unhappy_responses_for(user=preference.user, since=since)
        open_count = selectors.queue(user=preference.user).count()
        if not rows and not open_count:
            continue
        emails.digest_message(preference.user, rows, open_count, since).send()
        sent += 1
    return sent
