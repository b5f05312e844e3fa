"""What a report reads: the period, the filters, and the one queryset of counted answers."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils.translation import gettext_lazy as _

from surveys.models import Kind, Response, Survey

GRANULARITIES = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
# group_by dimension -> (Response lookup, label)
DIMENSIONS = {
    "plan": ("account__plan", _("Plan")),
    "segment": ("account__segment", _("Segment")),
    "region": ("account__region", _("Region")),
    "status": ("account__status", _("Account status")),
    "owner": ("account__owner__username", _("Owner")),
    "language": ("contact__language", _("Contact language")),
    "survey": ("survey__name", _("Survey")),
}


# Dates the reports and the API accept: far enough from the calendar's ends that a period, its
# comparison period and any time zone stay representable.
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2999, 12, 31)
DATE_RANGE_ERROR = _("Use a date from 1900-01-01 to 2999-12-31.")
COMPARE_RANGE_ERROR = _("The comparison period would start before 1900-01-01.")


def date_in_range(value: dt.date) -> bool:
    return MIN_DATE <= value <= MAX_DATE


@dataclass(frozen=True)
class Period:
    start: dt.date | None
    end: dt.date | None
    tz: ZoneInfo

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """[start 00:00, day after end 00:00) in the viewer's time zone."""
        lo = dt.datetime.combine(self.start, dt.time.min, self.tz) if self.start else None
        hi = (
            dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, self.tz)
            if self.end
            else None
        )
        return lo, hi

    def previous(self) -> Period | None:
        """The period of the same length just before this one; None if open-ended."""
        if self.start is None or self.end is None:
            return None
        days = (self.end - self.start).days + 1
        return Period(
            self.start - dt.timedelta(days=days), self.start - dt.timedelta(days=1), self.tz
        )


@dataclass(frozen=True)
class Filters:
    """What a report counts. Account filters apply to the account at answer time."""

    period: Period
    kind: str = Kind.NPS  # "" with no surveys: every kind (only for per-kind grouping)
    surveys: tuple[int, ...] = ()
    plan: str = ""
    segment: str = ""
    region: str = ""
    owner: int | None = None
    status: str = ""
    language: str = ""
    property_key: str = ""
    property_value: str = ""
    account: int | None = None

    def previous(self) -> Filters | None:
        period = self.period.previous()
        return None if period is None else replace(self, period=period)

    def with_period(self, period: Period) -> Filters:
        return replace(self, period=period)


def _account_q(filters: Filters, prefix: str) -> Q:
    q = Q()
    for name in ("plan", "segment", "region", "status"):
        value = getattr(filters, name)
        if value:
            q &= Q(**{f"{prefix}{name}": value})
    if filters.owner:
        q &= Q(**{f"{prefix}owner_id": filters.owner})
    return q


# No "__" in a key: the ORM would read `a__regex` as a lookup on key "a", not as a key.
PROPERTY_KEY = re.compile(r"^(account\.)?(?!.*__)[A-Za-z_][A-Za-z0-9_]{0,63}$")
PROPERTY_FILTER_ERROR = _(
    "Use key=value (account.key=value for an account property); the key has letters, "
    "digits and single underscores only."
)


def parse_property_filter(value: str) -> tuple[str, str] | None:
    """ "channel=chat" -> ("channel", "chat"); "account.tier=gold" filters on the account's
    properties. None when it is not key=value with a valid key."""
    key, sep, prop_value = value.partition("=")
    key = key.strip()
    if not sep or not PROPERTY_KEY.match(key):
        return None
    return key, prop_value.strip()


def _property_lookup(key: str, invitation_prefix: str, account_prefix: str) -> str:
    """`key` filters the invitation's properties (transactional context such as channel or
    agent); `account.key` filters the account's properties."""
    if key.startswith("account."):
        return f"{account_prefix}properties__{key.removeprefix('account.')}"
    return f"{invitation_prefix}properties__{key}"


def apply_filters(
    qs: QuerySet, filters: Filters, *, date_field: str, account_prefix: str, invitation_prefix: str
) -> QuerySet:
    """The report filters on responses or invitations; the prefixes say where the account and
    the invitation sit from the queried model."""
    lo, hi = filters.period.bounds()
    if lo:
        qs = qs.filter(**{f"{date_field}__gte": lo})
    if hi:
        qs = qs.filter(**{f"{date_field}__lt": hi})
    if filters.account:
        qs = qs.filter(**{f"{account_prefix}id": filters.account})
    qs = qs.filter(_account_q(filters, account_prefix))
    if filters.language:
        qs = qs.filter(contact__language=filters.language)
    if filters.property_key:
        lookup = _property_lookup(filters.property_key, invitation_prefix, account_prefix)
        qs = qs.filter(**{lookup: filters.property_value})
    return qs


def default_filters(*, survey: Survey | None, period: Period | None) -> Filters:
    """The filters of one survey (or every NPS survey) over a period (default: all time)."""
    return Filters(
        period=period or Period(None, None, ZoneInfo(settings.TIME_ZONE)),
        kind=survey.kind if survey else Kind.NPS,
        surveys=(survey.pk,) if survey else (),
    )


QUARANTINED_CHOICES = ("exclude", "include", "only")


def counted_responses(
    *,
    survey: Survey | None = None,
    period: Period | None = None,
    filters: Filters | None = None,
    quarantined: str = "exclude",
) -> QuerySet[Response]:
    """Responses that count in scores: not excluded (by staff, or quarantined as suspected
    bots), inside the period, matching the filters. Exports may ask for the quarantined ones
    too (`quarantined="include"`) or only them (`"only"`); scores never do."""
    filters = filters or default_filters(survey=survey, period=period)
    qs = Response.objects.using(settings.REPORTS_DATABASE)
    if quarantined == "only":
        qs = qs.filter(quarantined=True)
    elif quarantined == "include":
        qs = qs.filter(Q(excluded=False) | Q(quarantined=True))
    else:
        qs = qs.filter(excluded=False)
    if filters.surveys:
        qs = qs.filter(survey_id__in=filters.surveys)
    elif filters.kind:
        qs = qs.filter(survey__kind=filters.kind)
    qs = apply_filters(
        qs,
        filters,
        date_field="answered_at",
        account_prefix="account__",
        invitation_prefix="invitation__",
    )
    return qs
