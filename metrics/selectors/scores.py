"""Scores: counts per kind, trends, breakdowns, the score distribution and the dashboard."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from metrics import scoring
from surveys.models import Kind, Survey

from . import rollups
from .filters import (
    DIMENSIONS,
    GRANULARITIES,
    Filters,
    Period,
    counted_responses,
    default_filters,
)

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

    def add_tally(self, tally: rollups.Tally) -> None:
        self.n += tally.n
        self.positive += tally.categories[1]
        self.neutral += tally.categories[0]
        self.negative += tally.categories[-1]
        for score, count in tally.scores.items():
            self.total += score * count
            self.squares += score * score * count

    def add_counts(self, other: Counts) -> None:
        self.n += other.n
        self.positive += other.positive
        self.neutral += other.neutral
        self.negative += other.negative
        self.total += other.total
        self.squares += other.squares

    def as_row(self) -> dict:
        return {
            "n": self.n,
            "positive": self.positive,
            "neutral": self.neutral,
            "negative": self.negative,
            "total": self.total,
            "total_squares": self.squares,
        }

    def result(self, kind: str) -> dict:
        return score_result(kind, self.as_row())


def score_aggregates() -> dict:
    return {
        # Counting a column of the covering index (not the pk) keeps index-only scans possible.
        "n": Count("*"),
        "positive": Count("category", filter=Q(category=1)),
        "neutral": Count("category", filter=Q(category=0)),
        "negative": Count("category", filter=Q(category=-1)),
        "total": Sum("score"),
        "total_squares": Sum(F("score") * F("score")),
    }


def score_result(kind: str, row: dict) -> dict:
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


# --- Rollups or rows -------------------------------------------------------------------------


def survey_ids(filters: Filters) -> list[int]:
    """The surveys the filters count: the chosen ones, else every survey of the kind (every
    survey when no kind), as `counted_responses` selects them."""
    if filters.surveys:
        return list(filters.surveys)
    qs = Survey.objects.using(settings.REPORTS_DATABASE)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    return list(qs.values_list("pk", flat=True).order_by())


def rolled(
    filters: Filters, *, granularity: str | None = None, group: str | None = None
) -> dict[tuple, rollups.Tally] | None:
    """The counted answers from the rollups per (bucket, group, survey), or None when the
    filters need the answers themselves (then the caller reads them, `counted_responses`).
    Trends need a closed period: an open one's buckets are those of the answers found."""
    if not rollups.usable(filters, group):
        return None
    starts = None
    if granularity is not None:
        if filters.period.start is None or filters.period.end is None:
            return None
        starts = buckets(filters.period, granularity)
    return rollups.tallies(filters, survey_ids(filters), buckets=starts, group=group)


def _merged(tallies: dict[tuple, rollups.Tally], part) -> dict:
    """Counts summed per `part(bucket, group, survey id)`."""
    merged: dict = defaultdict(Counts)
    for (bucket, group, survey), tally in tallies.items():
        merged[part(bucket, group, survey)].add_tally(tally)
    return merged


def _group_names(dimension: str, merged: dict) -> dict:
    """Survey ids as names for the survey dimension (surveys sharing a name are one group)."""
    if dimension != "survey":
        return merged
    names = dict(
        Survey.objects.using(settings.REPORTS_DATABASE)
        .filter(pk__in=list(merged))
        .values_list("pk", "name")
        .order_by()
    )
    by_name: dict = defaultdict(Counts)
    for pk, counts in merged.items():
        by_name[names.get(pk)].add_counts(counts)
    return by_name


# --- Scores ---------------------------------------------------------------------------------


def score_summary(*, filters: Filters) -> dict:
    tallies = rolled(filters)
    if tallies is not None:
        return _merged(tallies, lambda *_key: None).get(None, Counts()).result(filters.kind)
    row = counted_responses(filters=filters).aggregate(**score_aggregates())
    return score_result(filters.kind, row)


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
    tallies = rolled(everything) if kinds else None
    if tallies is not None:
        per_kind = _merged(tallies, lambda _bucket, _group, survey: kinds.get(survey))
        return {kind: per_kind.get(kind, Counts()).result(kind) for kind in Kind.values}
    totals: dict[str, dict] = {}
    for row in (
        counted_responses(filters=everything)
        .values("survey_id")
        .annotate(**score_aggregates())
        .order_by()
    ):
        kind = kinds.get(row.pop("survey_id"))
        total = totals.setdefault(kind, dict.fromkeys(NO_ANSWERS, 0))
        for key in NO_ANSWERS:
            total[key] += row[key] or 0
    return {kind: score_result(kind, totals.get(kind, NO_ANSWERS)) for kind in Kind.values}


NO_ANSWERS = {"n": 0, "positive": 0, "neutral": 0, "negative": 0, "total": 0, "total_squares": 0}


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
    tallies = rolled(filters, granularity=granularity)
    if tallies is not None:
        per_bucket = _merged(tallies, lambda bucket, _group, _survey: bucket)
        return [
            {"bucket": bucket, **counts.result(filters.kind)}
            for bucket, counts in sorted(per_bucket.items())
        ]
    trunc = GRANULARITIES[granularity]
    rows = (
        counted_responses(filters=filters)
        .annotate(bucket=trunc("answered_at", tzinfo=filters.period.tz))
        .values("bucket")
        .annotate(**score_aggregates())
        .order_by("bucket")
    )
    return [{"bucket": _as_date(row["bucket"]), **score_result(filters.kind, row)} for row in rows]


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
    tallies = rolled(extended, granularity="day")
    daily: dict[dt.date, dict] = (
        {
            day: counts.as_row()
            for day, counts in _merged(tallies, lambda bucket, _g, _s: bucket).items()
        }
        if tallies is not None
        else _daily_rows(extended)
    )
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
        total = dict.fromkeys(NO_ANSWERS, 0)
        for offset in range(window_days):
            for key, value in daily.get(last - dt.timedelta(days=offset), {}).items():
                total[key] += value or 0
        if total["n"]:
            result.append(
                {"bucket": first, "window_end": last, **score_result(filters.kind, total)}
            )
    return result


def _daily_rows(filters: Filters) -> dict[dt.date, dict]:
    """Aggregate rows per day in the viewer's time zone, read from the answers."""
    return {
        _as_date(row.pop("day")): row
        for row in counted_responses(filters=filters)
        .annotate(day=TruncDay("answered_at", tzinfo=filters.period.tz))
        .values("day")
        .annotate(**score_aggregates())
        .order_by()
    }


def monthly_trend(*, survey: Survey, period: Period) -> list[dict]:
    rows = trend(
        filters=Filters(period=period, kind=survey.kind, surveys=(survey.pk,)),
        granularity="month",
    )
    return [{"month": row["bucket"], **row} for row in rows]


def breakdown(*, filters: Filters, dimension: str) -> list[dict]:
    """Scores per value of a dimension (plan, segment, region, ...), largest groups first."""
    tallies = rolled(filters, group=dimension)
    if tallies is not None:
        per_group = _group_names(dimension, _merged(tallies, lambda _bucket, group, _survey: group))
        return [
            {"group": group, **counts.result(filters.kind)}
            for group, counts in sorted(
                per_group.items(), key=lambda item: (-item[1].n, str(item[0] or ""))
            )
        ]
    lookup, _label = DIMENSIONS[dimension]
    rows = (
        counted_responses(filters=filters)
        .values(group=F(lookup))
        .annotate(**score_aggregates())
        .order_by("-n", "group")
    )
    return [{"group": row["group"], **score_result(filters.kind, row)} for row in rows]


def distribution(
    *, survey: Survey | None = None, period: Period | None = None, filters: Filters | None = None
) -> list[tuple[int, int]]:
    """Answers per scale point (every point listed, zeros included)."""
    filters = filters or default_filters(survey=survey, period=period)
    tallies = rolled(filters)
    if tallies is not None:
        counts: dict[int, int] = defaultdict(int)
        for tally in tallies.values():
            for score, count in tally.scores.items():
                counts[score] += count
        scale = (
            survey.scale if survey else range(min(counts, default=0), max(counts, default=0) + 1)
        )
        return [(score, counts.get(score, 0)) for score in scale]
    counts = dict(
        counted_responses(filters=filters)
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


def _dashboard_rows(filters: Filters, granularity: str, dimension: str):
    """Counts at the (bucket, group, survey, score, category) grain, read from the answers."""
    trunc = GRANULARITIES[granularity]
    lookup, _label = DIMENSIONS[dimension]
    return (
        counted_responses(filters=filters)
        .annotate(bucket=trunc("answered_at", tzinfo=filters.period.tz), group=F(lookup))
        .values("bucket", "group", "survey_id", "score", "category")
        .annotate(c=Count("*"))
        .order_by()
    )


def dashboard(
    *, filters: Filters, granularity: str = "month", dimension: str = "plan"
) -> Dashboard:
    """Summary, trend, breakdown and distribution from ONE grouped read.

    The rollups (or, for filters they cannot answer, the answers) are grouped at the (period
    bucket, dimension value, survey, score, category) grain; the marginals are sums of those
    few rows (at most buckets x groups x surveys x scale points), which is exact because
    counts, sums and sums of squares add up.
    """
    overall = Counts()
    by_bucket: dict[dt.date, Counts] = defaultdict(Counts)
    by_group: dict[str | None, Counts] = defaultdict(Counts)
    histogram: dict[int, int] = defaultdict(int)
    by_survey: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    tallies = rolled(filters, granularity=granularity, group=dimension)
    if tallies is not None:
        for (bucket, group, survey_id), tally in tallies.items():
            overall.add_tally(tally)
            by_bucket[bucket].add_tally(tally)
            by_group[group].add_tally(tally)
            for score, count in tally.scores.items():
                histogram[score] += count
                by_survey[survey_id][score] += count
        by_group = _group_names(dimension, by_group)
    else:
        for row in _dashboard_rows(filters, granularity, dimension):
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
