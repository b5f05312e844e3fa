"""One-pass SQL aggregates for reports. Scores are computed by metrics.scoring from counts.

Every read goes through `counted_responses`, which drops excluded (bot) responses, so no score
anywhere includes them. Queries group in SQL and return counts; Python only combines a bounded
number of aggregate rows (periods x segments x scale points), never individual responses.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Contact
from surveys.models import Invitation, Kind, Response, Survey

from . import scoring
from .health_inputs import NO_INPUTS, HealthInputs, health_inputs
from .models import HealthSettings

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


def _apply_filters(
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
    if filters is None:
        filters = Filters(
            period=period or Period(None, None, ZoneInfo(settings.TIME_ZONE)),
            kind=survey.kind if survey else Kind.NPS,
            surveys=(survey.pk,) if survey else (),
        )
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
    qs = _apply_filters(
        qs,
        filters,
        date_field="answered_at",
        account_prefix="account__",
        invitation_prefix="invitation__",
    )
    return qs


# --- Counts and results ---------------------------------------------------------------------


@dataclass
class Counts:
    """Additive sufficient statistics of a set of answers: merging groups is exact."""

    n: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, *, score: int, category: int, count: int) -> None:
        self.n += count
        if category == 1:
            self.positive += count
        elif category == 0:
            self.neutral += count
        else:
            self.negative += count
        self.total += score * count
        self.squares += score * score * count

    def result(self, kind: str) -> dict:
        return _result(
            kind,
            {
                "n": self.n,
                "positive": self.positive,
                "neutral": self.neutral,
                "negative": self.negative,
                "total": self.total,
                "total_squares": self.squares,
            },
        )


def _aggregates() -> dict:
    return {
        # Counting a column of the covering index (not the pk) keeps index-only scans possible.
        "n": Count("*"),
        "positive": Count("category", filter=Q(category=1)),
        "neutral": Count("category", filter=Q(category=0)),
        "negative": Count("category", filter=Q(category=-1)),
        "total": Sum("score"),
        "total_squares": Sum(F("score") * F("score")),
    }


def _result(kind: str, row: dict) -> dict:
    """Scores from one aggregate row. Empty sets give None scores ("no data"), never 0."""
    n = row["n"] or 0
    positive, neutral, negative = row["positive"] or 0, row["neutral"] or 0, row["negative"] or 0
    total, squares = float(row["total"] or 0), float(row["total_squares"] or 0)
    base = {"n": n, "low_sample": scoring.low_sample(n)}
    if kind == Kind.NPS:
        return {
            **base,
            "nps": scoring.nps(positive, neutral, negative),
            "mean": scoring.mean(n, total, squares),
        }
    return {
        **base,
        "mean": scoring.mean(n, total, squares),
        "share": scoring.proportion(positive, n),
        "positive": positive,
        "neutral": neutral,
        "negative": negative,
    }


def change(kind: str, previous: dict, current: dict) -> scoring.Change | None:
    """The headline change between two results: NPS points, or top-box/agree points."""
    if kind == Kind.NPS:
        return scoring.nps_change(previous["nps"], current["nps"])
    return scoring.proportion_change(previous["share"], current["share"])


# --- Scores ---------------------------------------------------------------------------------


def score_summary(*, filters: Filters) -> dict:
    row = counted_responses(filters=filters).aggregate(**_aggregates())
    return _result(filters.kind, row)


def kind_summaries(*, filters: Filters, kinds: dict[int, str] | None = None) -> dict[str, dict]:
    """Scores of every kind under the same filters, survey choice ignored. One query when the
    caller passes the survey kinds ({survey id: kind}), else two.

    Grouping by survey id (not joining surveys for the kind) and listing every survey id
    (so the partial index's leading column is used) keeps it an index-only scan; the
    per-survey sums are added per kind, which is exact.
    """
    if kinds is None:
        kinds = dict(
            Survey.objects.using(settings.REPORTS_DATABASE).values_list("pk", "kind").order_by()
        )
    everything = replace(filters, kind="", surveys=tuple(kinds))
    totals: dict[str, dict] = {}
    for row in (
        counted_responses(filters=everything)
        .values("survey_id")
        .annotate(**_aggregates())
        .order_by()
    ):
        kind = kinds.get(row.pop("survey_id"))
        total = totals.setdefault(kind, dict.fromkeys(_EMPTY, 0))
        for key in _EMPTY:
            total[key] += row[key] or 0
    return {kind: _result(kind, totals.get(kind, _EMPTY)) for kind in Kind.values}


_EMPTY = {"n": 0, "positive": 0, "neutral": 0, "negative": 0, "total": 0, "total_squares": 0}


def summary(*, survey: Survey, period: Period) -> dict:
    """One survey's score over a period (kept for callers that pass a survey)."""
    return score_summary(filters=Filters(period=period, kind=survey.kind, surveys=(survey.pk,)))


def trend(
    *, filters: Filters, granularity: str = "month", window_days: int | None = None
) -> list[dict]:
    """Scores per day, week or month in the viewer's time zone; empty buckets are omitted.

    With `window_days` (30 or 90), each point is the score of the `window_days` days ending
    with its bucket's last day (or the period's end), so that a month with a handful of answers
    does not swing the line; the counts of the days before the period's start are used.
    """
    if window_days:
        return _rolling_trend(filters=filters, granularity=granularity, window_days=window_days)
    trunc = GRANULARITIES[granularity]
    rows = (
        counted_responses(filters=filters)
        .annotate(bucket=trunc("answered_at", tzinfo=filters.period.tz))
        .values("bucket")
        .annotate(**_aggregates())
        .order_by("bucket")
    )
    return [{"bucket": _as_date(row["bucket"]), **_result(filters.kind, row)} for row in rows]


ROLLING_WINDOWS = (30, 90)


def bucket_start(day: dt.date, granularity: str) -> dt.date:
    """The first day of the day, week (Monday, as TruncWeek) or month holding `day`."""
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def buckets(period: Period, granularity: str) -> list[dt.date]:
    """Every bucket of the period, empty or not (charts draw the empty ones as gaps). An open
    end is today in the period's time zone."""
    if period.start is None:
        return []
    end = period.end or timezone.localtime(timezone.now(), period.tz).date()
    result = []
    current = bucket_start(period.start, granularity)
    while current <= end:
        result.append(current)
        if granularity == "month":
            current = (current + dt.timedelta(days=32)).replace(day=1)
        else:
            current += dt.timedelta(days=7 if granularity == "week" else 1)
    return result


def bucket_count(period: Period, granularity: str) -> int:
    """How many buckets `buckets` would list, without listing them."""
    if period.start is None:
        return 0
    end = period.end or timezone.localtime(timezone.now(), period.tz).date()
    first = bucket_start(period.start, granularity)
    if end < first:
        return 0
    if granularity == "month":
        return (end.year - first.year) * 12 + end.month - first.month + 1
    return (end - first).days // (7 if granularity == "week" else 1) + 1


def _rolling_trend(*, filters: Filters, granularity: str, window_days: int) -> list[dict]:
    period = filters.period
    extended = filters
    if period.start is not None:
        extended = filters.with_period(
            Period(period.start - dt.timedelta(days=window_days - 1), period.end, period.tz)
        )
    daily: dict[dt.date, dict] = {
        _as_date(row.pop("day")): row
        for row in counted_responses(filters=extended)
        .annotate(day=TruncDay("answered_at", tzinfo=period.tz))
        .values("day")
        .annotate(**_aggregates())
        .order_by()
    }
    if not daily:
        return []
    start = period.start or min(daily)
    end = period.end or max(daily)
    points = buckets(Period(start, end, period.tz), granularity)
    result = []
    for index, first in enumerate(points):
        last = (
            min(end, points[index + 1] - dt.timedelta(days=1)) if index + 1 < len(points) else end
        )
        total = dict.fromkeys(_EMPTY, 0)
        for offset in range(window_days):
            for key, value in daily.get(last - dt.timedelta(days=offset), {}).items():
                total[key] += value or 0
        if total["n"]:
            result.append({"bucket": first, "window_end": last, **_result(filters.kind, total)})
    return result


def monthly_trend(*, survey: Survey, period: Period) -> list[dict]:
    rows = trend(
        filters=Filters(period=period, kind=survey.kind, surveys=(survey.pk,)),
        granularity="month",
    )
    return [{"month": row["bucket"], **row} for row in rows]


def breakdown(*, filters: Filters, dimension: str) -> list[dict]:
    """Scores per value of a dimension (plan, segment, region, ...), largest groups first."""
    lookup, _label = DIMENSIONS[dimension]
    rows = (
        counted_responses(filters=filters)
        .values(group=F(lookup))
        .annotate(**_aggregates())
        .order_by("-n", "group")
    )
    return [{"group": row["group"], **_result(filters.kind, row)} for row in rows]


def distribution(
    *, survey: Survey | None = None, period: Period | None = None, filters: Filters | None = None
) -> list[tuple[int, int]]:
    """Answers per scale point (every point listed, zeros included)."""
    counts = dict(
        counted_responses(survey=survey, period=period, filters=filters)
        .order_by()
        .values("score")
        .annotate(c=Count("*"))
        .values_list("score", "c")
    )
    scale = survey.scale if survey else range(min(counts, default=0), max(counts, default=0) + 1)
    return [(score, counts.get(score, 0)) for score in scale]


def _as_date(value) -> dt.date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, dt.datetime) else value


@dataclass
class Dashboard:
    kind: str
    summary: dict
    trend: list[dict]
    breakdown: list[dict]
    distribution: dict[int, int]
    # Answers per score of each survey: surveys on different scales are never merged.
    survey_distributions: dict[int, dict[int, int]] = field(default_factory=dict)


def dashboard(
    *, filters: Filters, granularity: str = "month", dimension: str = "plan"
) -> Dashboard:
    """Summary, trend, breakdown and distribution from ONE grouped query.

    SQL groups at the (period bucket, dimension value, survey, score, category) grain; the
    marginals are sums of those few rows (at most buckets x groups x surveys x scale points),
    which is exact because counts, sums and sums of squares add up.
    """
    trunc = GRANULARITIES[granularity]
    lookup, _label = DIMENSIONS[dimension]
    rows = (
        counted_responses(filters=filters)
        .annotate(bucket=trunc("answered_at", tzinfo=filters.period.tz), group=F(lookup))
        .values("bucket", "group", "survey_id", "score", "category")
        .annotate(c=Count("*"))
        .order_by()
    )
    overall = Counts()
    by_bucket: dict[dt.date, Counts] = defaultdict(Counts)
    by_group: dict[str | None, Counts] = defaultdict(Counts)
    histogram: dict[int, int] = defaultdict(int)
    by_survey: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        score, category, count = row["score"], row["category"], row["c"]
        overall.add(score=score, category=category, count=count)
        by_bucket[_as_date(row["bucket"])].add(score=score, category=category, count=count)
        by_group[row["group"]].add(score=score, category=category, count=count)
        histogram[score] += count
        by_survey[row["survey_id"]][score] += count
    kind = filters.kind
    return Dashboard(
        kind=kind,
        summary=overall.result(kind),
        trend=[
            {"bucket": bucket, **counts.result(kind)}
            for bucket, counts in sorted(by_bucket.items())
        ],
        breakdown=[
            {"group": group, **counts.result(kind)}
            for group, counts in sorted(
                by_group.items(), key=lambda item: (-item[1].n, str(item[0] or ""))
            )
        ],
        distribution=dict(histogram),
        survey_distributions={pk: dict(counts) for pk, counts in by_survey.items()},
    )


# --- Funnel ---------------------------------------------------------------------------------


def funnel(*, filters: Filters, surveys: list[Survey] | None = None) -> list[dict]:
    """Per survey, invitations created in the period: invited, sent, clicked (a person opened
    the page: a human action in it, or an answer that counts; never a link fetch alone, which
    scanners make), answered (answers that count: not quarantined or excluded), bounced (this
    invitation's own delivery bounced), unsubscribed (through this invitation, before any
    answer to it), and the response rate (answered / sent).

    One pass over the period's invitations, an index-only scan of `invitation_funnel_outcomes`
    (the survey ids are always listed so the index's leading column is used), with an outer join
    to only the few excluded answers (the partial index `response_excluded`).
    `surveys`: every survey ordered by name, when the caller has them (saves a query).
    """
    if surveys is None:
        surveys = list(Survey.objects.using(settings.REPORTS_DATABASE).order_by("name", "pk"))
    known = {survey.pk for survey in surveys}
    if filters.surveys:
        survey_ids = [pk for pk in filters.surveys if pk in known]
    elif filters.kind:
        survey_ids = [survey.pk for survey in surveys if survey.kind == filters.kind]
    else:
        survey_ids = list(known)
    if not survey_ids:
        return []
    qs = Invitation.objects.using(settings.REPORTS_DATABASE).filter(survey_id__in=survey_ids)
    qs = _apply_filters(
        qs,
        filters,
        date_field="created_at",
        account_prefix="contact__account__",
        invitation_prefix="",
    )
    inner, params = (
        qs.order_by()
        .values(
            i_id=F("pk"),
            i_survey=F("survey_id"),
            i_sent=F("sent_at"),
            i_clicked=F("clicked_at"),
            i_answered=F("answered_at"),
            i_bounced=F("bounced_at"),
            i_unsubscribed=F("unsubscribed_at"),
        )
        .query.sql_with_params()
    )
    connection = connections[settings.REPORTS_DATABASE]
    response_table = connection.ops.quote_name(Response._meta.db_table)
    counted_answer = "i.i_answered IS NOT NULL AND x.invitation_id IS NULL"
    # Only the ORM's compiled SQL and a table name go in; values stay parameters.
    sql = f"""
        SELECT i.i_survey, COUNT(*), COUNT(i.i_sent),
               SUM(CASE WHEN i.i_clicked IS NOT NULL OR ({counted_answer}) THEN 1 ELSE 0 END),
               SUM(CASE WHEN {counted_answer} THEN 1 ELSE 0 END),
               COUNT(i.i_bounced),
               SUM(CASE WHEN i.i_unsubscribed IS NOT NULL
                        AND (i.i_answered IS NULL OR i.i_unsubscribed < i.i_answered)
                   THEN 1 ELSE 0 END)
        FROM ({inner}) i
        LEFT JOIN {response_table} x ON x.invitation_id = i.i_id AND x.excluded
        GROUP BY i.i_survey
    """  # noqa: S608
    columns = ("survey_id", "invited", "sent", "clicked", "answered", "bounced", "unsubscribed")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        by_survey = {values[0]: dict(zip(columns, values, strict=True)) for values in cursor}
    # In the order of `surveys` (by name, in the database's collation).
    return [
        {
            **row,
            "name": survey.name,
            "response_rate": scoring.proportion(row["answered"], row["sent"])
            if row["sent"]
            else None,
        }
        for survey in surveys
        if (row := by_survey.get(survey.pk)) is not None
    ]


# --- Accounts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountFilters:
    plan: str = ""
    segment: str = ""
    region: str = ""
    status: str = ""
    owner: int | None = None
    currency: str = ""
    search: str = ""
    renewing_within_days: int | None = None
    external_id: str = ""


@dataclass
class AccountRow:
    account: Account
    nps: scoring.Nps
    category: int | None  # of the account's most recent NPS answer in the category window
    csat: scoring.Proportion
    ces: scoring.Proportion
    ces_mean: float | None
    last_answered_at: dt.datetime | None
    health: scoring.Health
    arr: Decimal = field(init=False)

    def __post_init__(self) -> None:
        self.arr = self.account.arr

    @property
    def at_risk(self) -> bool:
        return self.category == -1 or self.health.colour == "red"

    @property
    def status(self) -> str:
        return self.account.status

    @property
    def currency(self) -> str:
        return self.account.currency


def filtered_accounts(*, filters: AccountFilters) -> QuerySet[Account]:
    qs = Account.objects.using(settings.REPORTS_DATABASE).select_related("owner")
    for name in ("plan", "segment", "region", "status", "currency", "external_id"):
        value = getattr(filters, name)
        if value:
            qs = qs.filter(**{name: value})
    if filters.owner:
        qs = qs.filter(owner_id=filters.owner)
    if filters.search:
        qs = qs.filter(Q(name__icontains=filters.search) | Q(external_id__icontains=filters.search))
    if filters.renewing_within_days is not None:
        today = timezone.localdate()
        qs = qs.filter(
            renewal_date__gte=today,
            renewal_date__lte=today + dt.timedelta(days=filters.renewing_within_days),
        )
    return qs


_ACCOUNT_ZERO = {
    "nps_n": 0,
    "nps_promoters": 0,
    "nps_detractors": 0,
    "csat_n": 0,
    "csat_satisfied": 0,
    "ces_n": 0,
    "ces_agree": 0,
    "ces_total": 0,
    "last_answered_at": None,
    "nps_last_detractor": None,
    "nps_last_passive": None,
    "nps_last_promoter": None,
}


def account_counts(
    *,
    accounts: QuerySet[Account] | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    last_answer_since: dt.datetime | None,
    category_since: dt.datetime | None = None,
) -> dict[int, dict]:
    """Per account id: counted answers per kind in [since, until), the last answer time
    (looked for back to `last_answer_since`) and, per NPS category, the time of the latest
    NPS answer of that category since `category_since` (`latest_category` reads the account's
    category from them). One query grouped by account over responses."""
    kinds = dict(
        Survey.objects.using(settings.REPORTS_DATABASE).values_list("pk", "kind").order_by()
    )

    def of_kind(kind: str) -> list[int]:
        return [pk for pk, survey_kind in kinds.items() if survey_kind == kind]

    # Every response has a survey: listing them all is no filter, but lets the partial index
    # `response_counted` (survey, answered_at, category, score, account) serve the whole
    # query as an index-only scan instead of reading the table.
    qs = Response.objects.using(settings.REPORTS_DATABASE).filter(
        excluded=False, account_id__isnull=False, survey_id__in=list(kinds)
    )
    if accounts is not None:
        qs = qs.filter(account_id__in=accounts.order_by().values("pk"))
    window = Q()
    if since is not None:
        window = Q(answered_at__gte=since)
        lower = min(
            bound for bound in (since, last_answer_since, category_since) if bound is not None
        )
        qs = qs.filter(answered_at__gte=lower)
    if until is not None:
        qs = qs.filter(answered_at__lt=until)
    any_nps = Q(survey_id__in=of_kind(Kind.NPS))
    if category_since is not None:
        any_nps &= Q(answered_at__gte=category_since)
    nps = window & Q(survey_id__in=of_kind(Kind.NPS))
    csat = window & Q(survey_id__in=of_kind(Kind.CSAT))
    ces = window & Q(survey_id__in=of_kind(Kind.CES))
    rows = (
        qs.values("account_id")
        .annotate(
            nps_n=Count("category", filter=nps),
            nps_promoters=Count("category", filter=nps & Q(category=1)),
            nps_detractors=Count("category", filter=nps & Q(category=-1)),
            csat_n=Count("category", filter=csat),
            csat_satisfied=Count("category", filter=csat & Q(category=1)),
            ces_n=Count("category", filter=ces),
            ces_agree=Count("category", filter=ces & Q(category=1)),
            ces_total=Sum("score", filter=ces),
            last_answered_at=Max("answered_at"),
            **{
                key: Max("answered_at", filter=any_nps & Q(category=code))
                for code, key in LATEST_BY_CATEGORY
            },
        )
        .order_by()
    )
    return {row.pop("account_id"): row for row in rows}


# The time of an account's latest NPS answer of each category, detractor first: should two
# answers share one instant, the more cautious category wins.
LATEST_BY_CATEGORY = ((-1, "nps_last_detractor"), (0, "nps_last_passive"), (1, "nps_last_promoter"))


def latest_category(counts: dict) -> int | None:
    """The account's NPS category: that of its most recent counted NPS answer in the category
    window (the one rule for the revenue table, ARR at risk and at-risk lists); None for no
    answer. Read from three per-category maxima of the grouped query, so no query per account."""
    category, latest = None, None
    for code, key in LATEST_BY_CATEGORY:
        when = counts.get(key)
        if when is not None and (latest is None or when > latest):
            category, latest = code, when
    return category


def _health_values(
    counts: dict,
    *,
    inputs: HealthInputs,
    health_settings: HealthSettings,
    now: dt.datetime,
) -> dict[str, float | None]:
    """The health components' inputs (0..100 or None) from an account's answer counts and its
    outcome inputs (tickets, usage, ledger: `health_inputs`)."""
    n = counts["nps_n"]
    promoters, detractors = counts["nps_promoters"], counts["nps_detractors"]
    last = counts["last_answered_at"]
    days_since = None if last is None else (now - last).total_seconds() / 86400
    return {
        "nps": scoring.nps_points(promoters, n - promoters - detractors, detractors),
        "csat": scoring.pct(counts["csat_satisfied"], counts["csat_n"]),
        "ces": scoring.pct(counts["ces_agree"], counts["ces_n"]),
        "recency": scoring.recency_points(
            days_since, health_settings.recency_full_days, health_settings.recency_zero_days
        ),
        "support": scoring.support_points(inputs.open_tickets, health_settings.tickets_at_zero),
        "adoption": scoring.adoption_points(inputs.adoption_pct),
        "revenue": scoring.revenue_points(
            inputs.mrr_now, inputs.mrr_before, health_settings.revenue_drop_at_zero
        ),
    }


def _row(
    account: Account,
    counts: dict,
    health_settings: HealthSettings,
    now: dt.datetime,
    inputs: HealthInputs = NO_INPUTS,
) -> AccountRow:
    n = counts["nps_n"]
    promoters, detractors = counts["nps_promoters"], counts["nps_detractors"]
    passives = n - promoters - detractors
    nps_result = scoring.nps(promoters, passives, detractors)
    csat = scoring.proportion(counts["csat_satisfied"], counts["csat_n"])
    ces = scoring.proportion(counts["ces_agree"], counts["ces_n"])
    last = counts["last_answered_at"]
    values = _health_values(counts, inputs=inputs, health_settings=health_settings, now=now)
    return AccountRow(
        account=account,
        nps=nps_result,
        category=latest_category(counts),
        csat=csat,
        ces=ces,
        ces_mean=scoring.mean_score(counts["ces_n"], float(counts["ces_total"] or 0)),
        last_answered_at=last,
        health=scoring.health(
            values,
            health_settings.weights_for(account.segment),
            red_below=health_settings.red_below,
            green_from=health_settings.green_from,
        ),
    )


@dataclass(frozen=True)
class AccountWindows:
    """The windows an account list is computed over, all ending at `reference` (exclusive):
    scores and health over the health settings' window; the NPS category from the most recent
    NPS answer in ACCOUNT_CATEGORY_DAYS (DESIGN.md). Shown next to the numbers."""

    reference: dt.datetime
    health_since: dt.datetime
    category_since: dt.datetime

    @classmethod
    def ending(cls, reference: dt.datetime, health_settings: HealthSettings) -> AccountWindows:
        return cls(
            reference=reference,
            health_since=reference - dt.timedelta(days=health_settings.window_days),
            category_since=reference - dt.timedelta(days=settings.ACCOUNT_CATEGORY_DAYS),
        )


def account_windows(
    *, reference: dt.datetime | None = None, health_settings: HealthSettings | None = None
) -> AccountWindows:
    """The windows of an account list as of `reference` (default now; never in the future)."""
    now = timezone.now()
    return AccountWindows.ending(
        min(reference or now, now), health_settings or HealthSettings.load()
    )


def _window_counts(
    *,
    filters: AccountFilters | None,
    reference: dt.datetime | None,
    health_settings: HealthSettings | None,
) -> tuple[
    QuerySet[Account], dict[int, dict], HealthSettings, AccountWindows, dict[int, HealthInputs]
]:
    """The matching accounts and their counts (with what their NPS category is read from), with
    the health settings and the windows they were computed for, ending at `reference` (default
    now). The last answer (for recency) is looked for as far back as recency can still score."""
    filters = filters or AccountFilters()
    health_settings = health_settings or HealthSettings.load()
    windows = account_windows(reference=reference, health_settings=health_settings)
    accounts = filtered_accounts(filters=filters)
    counts = account_counts(
        accounts=accounts if filters != AccountFilters() else None,
        since=windows.health_since,
        until=windows.reference,
        last_answer_since=windows.reference - dt.timedelta(days=health_settings.recency_zero_days),
        category_since=windows.category_since,
    )
    inputs = health_inputs(
        reference=windows.reference,
        revenue_days=health_settings.revenue_days,
        account_ids=(
            None
            if filters == AccountFilters()
            else list(accounts.order_by().values_list("pk", flat=True))
        ),
    )
    return accounts, counts, health_settings, windows, inputs


def account_rows(
    *,
    filters: AccountFilters | None = None,
    reference: dt.datetime | None = None,
    health_settings: HealthSettings | None = None,
) -> list[AccountRow]:
    """Each matching account with rolling scores and health as of `reference` (default now).
    Four queries, whatever the size.

    For many accounts, `account_scores` (no models, no health components) is much cheaper.
    """
    accounts, counts, health_settings, windows, inputs = _window_counts(
        filters=filters, reference=reference, health_settings=health_settings
    )
    return [
        _row(
            account,
            counts.get(account.pk, _ACCOUNT_ZERO),
            health_settings,
            windows.reference,
            inputs.get(account.pk, NO_INPUTS),
        )
        for account in accounts
    ]


@dataclass(slots=True)
class AccountScore:
    """An account's NPS, category and health from its counts, without the model or the health
    components: what lists filter, sort and sum over. `account_rows_of` gives full `AccountRow`s."""

    pk: int
    name: str
    status: str
    currency: str
    arr: Decimal
    renewal_date: dt.date | None
    owner_name: str | None
    nps: scoring.Nps
    category: int | None
    health_score: float | None
    health_colour: str | None
    last_answered_at: dt.datetime | None
    counts: dict
    now: dt.datetime
    inputs: HealthInputs = NO_INPUTS

    @property
    def at_risk(self) -> bool:
        return self.category == -1 or self.health_colour == "red"


def account_scores(
    *,
    filters: AccountFilters | None = None,
    reference: dt.datetime | None = None,
    health_settings: HealthSettings | None = None,
) -> list[AccountScore]:
    """The same scores as `account_rows` (same window rules, same arithmetic) for every
    matching account, in the accounts' order: one grouped query for the counts, one for the
    account columns and categories, then a few arithmetic steps per account."""
    accounts, counts, health_settings, windows, inputs = _window_counts(
        filters=filters, reference=reference, health_settings=health_settings
    )
    now = windows.reference
    red_below, green_from = health_settings.red_below, health_settings.green_from
    result = []
    for (
        pk,
        name,
        status,
        currency,
        mrr,
        renewal_date,
        owner_name,
        segment,
    ) in accounts.order_by(*Account._meta.ordering, "pk").values_list(
        "pk",
        "name",
        "status",
        "currency",
        "mrr",
        "renewal_date",
        f"owner__{get_user_model().USERNAME_FIELD}",  # what get_username() gives
        "segment",
    ):
        own = counts.get(pk, _ACCOUNT_ZERO)
        outcome = inputs.get(pk, NO_INPUTS)
        n = own["nps_n"]
        promoters, detractors = own["nps_promoters"], own["nps_detractors"]
        score = scoring.health_score(
            _health_values(own, inputs=outcome, health_settings=health_settings, now=now),
            health_settings.weights_for(segment),
        )
        result.append(
            AccountScore(
                pk=pk,
                name=name,
                status=status,
                currency=currency,
                arr=mrr * 12,  # Account.arr
                renewal_date=renewal_date,
                owner_name=owner_name,
                nps=scoring.nps(promoters, n - promoters - detractors, detractors),
                category=latest_category(own),
                health_score=score,
                health_colour=scoring.health_colour(score, red_below, green_from),
                last_answered_at=own["last_answered_at"],
                counts=own,
                now=now,
                inputs=outcome,
            )
        )
    return result


def account_row(*, external_id: str, health_settings: HealthSettings) -> AccountRow | None:
    """One account's row (scores, health) by its external id; None when there is none."""
    if "\x00" in external_id:
        return None  # no id holds one, and PostgreSQL refuses it in a query
    rows = account_rows(
        filters=AccountFilters(external_id=external_id), health_settings=health_settings
    )
    return rows[0] if rows else None


def account_rows_of(
    scores: list[AccountScore], *, health_settings: HealthSettings
) -> list[AccountRow]:
    """Full rows (models, health components) for a few scored accounts, e.g. one page:
    one query, and the very counts and clock the scores were computed from."""
    accounts = (
        Account.objects.using(settings.REPORTS_DATABASE)
        .select_related("owner")
        .in_bulk([score.pk for score in scores])
    )
    return [
        _row(accounts[score.pk], score.counts, health_settings, score.now, score.inputs)
        for score in scores
        if score.pk in accounts
    ]


@dataclass
class CurrencyRevenue:
    currency: str
    accounts: int = 0
    arr: Decimal = Decimal("0")
    arr_promoter: Decimal = Decimal("0")
    arr_passive: Decimal = Decimal("0")
    arr_detractor: Decimal = Decimal("0")
    arr_no_answer: Decimal = Decimal("0")
    arr_at_risk: Decimal = Decimal("0")
    weighted_pairs: list[tuple[float, float]] = field(default_factory=list)

    @property
    def revenue_weighted_nps(self) -> float | None:
        return scoring.weighted_nps(self.weighted_pairs)


def revenue(rows: list[AccountRow] | list[AccountScore]) -> list[CurrencyRevenue]:
    """ARR by account NPS category, ARR at risk and revenue-weighted NPS, per currency.

    Currencies are never added together (no exchange rates): one line per currency, the
    largest ARR first. Churned accounts hold no ARR. An account's category is that of its most
    recent NPS answer in the category window (`latest_category`; none: "no answer").
    Revenue-weighted NPS is the mean of the accounts' own NPS (health window) weighted by their
    ARR, so an account counts once however many of its contacts answer. ARR at risk: detractor
    accounts (by that category) and accounts whose health is red, as of the same date.
    """
    by_currency: dict[str, CurrencyRevenue] = {}
    for row in rows:
        if row.status == Account.Status.CHURNED:
            continue
        line = by_currency.setdefault(row.currency, CurrencyRevenue(row.currency))
        line.accounts += 1
        line.arr += row.arr
        if row.category == 1:
            line.arr_promoter += row.arr
        elif row.category == 0:
            line.arr_passive += row.arr
        elif row.category == -1:
            line.arr_detractor += row.arr
        else:
            line.arr_no_answer += row.arr
        if row.at_risk:
            line.arr_at_risk += row.arr
        if row.nps.score is not None and row.arr > 0:
            line.weighted_pairs.append((row.nps.score, float(row.arr)))
    return sorted(by_currency.values(), key=lambda line: (-line.arr, line.currency))


# --- One account ----------------------------------------------------------------------------


def account_kind_summaries(*, account: Account, since: dt.datetime | None) -> dict[str, dict]:
    """The account's score per kind (NPS, CSAT, CES 2.0, CES 1.0) since a date: one query."""
    qs = Response.objects.using(settings.REPORTS_DATABASE).filter(account=account, excluded=False)
    if since:
        qs = qs.filter(answered_at__gte=since)
    rows = {
        row["survey__kind"]: row
        for row in qs.values("survey__kind").annotate(**_aggregates()).order_by()
    }
    return {kind: _result(kind, rows.get(kind, _EMPTY)) for kind in Kind.values}


def account_contacts(*, account: Account) -> QuerySet[Contact]:
    """The account's contacts with their counted answers and last answer time (erased contacts,
    kept only as anonymous rows for the counts, are not listed)."""
    counted = Q(responses__excluded=False)
    return (
        Contact.objects.using(settings.REPORTS_DATABASE)
        .filter(account=account, erased_at__isnull=True)
        .annotate(
            answers=Count("responses", filter=counted),
            last_answered_at=Max("responses__answered_at", filter=counted),
        )
        .order_by("email")
    )


def account_timeline(*, account: Account) -> QuerySet[Response]:
    """Every answer of the account's contacts, newest first (quarantined and excluded ones
    too, marked)."""
    return (
        Response.objects.using(settings.REPORTS_DATABASE)
        .filter(account=account)
        .select_related("survey", "contact")
        .order_by("-answered_at", "-pk")
    )
