"""Staff members' own settings: the time zone their pages show times in."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .models import StaffProfile

SESSION_KEY = "staff_time_zone"


def time_zone_of(user) -> str:
    """The user's chosen zone, else the site's TIME_ZONE."""
    chosen = StaffProfile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return chosen or settings.TIME_ZONE


def set_time_zone(*, user, time_zone: str) -> StaffProfile:
    """Save the user's zone ("" for the site's). Raises ValidationError naming the field for an
    unknown zone, and saves nothing. Idempotent."""
    time_zone = (time_zone or "").strip()
    if time_zone and time_zone not in zoneinfo.available_timezones():
        raise ValidationError(
            {
                "time_zone": _("Unknown time zone %(value)s: choose one from the list.")
                % {"value": time_zone}
            }
        )
    profile, _created = StaffProfile.objects.update_or_create(
        user=user, defaults={"time_zone": time_zone}
    )
    return profile
