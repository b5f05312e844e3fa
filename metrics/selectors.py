"""One-pass SQL aggregates for reports. Scores are computed by metrics.scoring from counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from surveys.models import Kind, Response, Survey

from . import scoring


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


def counted_responses(*, survey: Survey, period: Period) -> QuerySet[Response]:
    """Responses that count in scores: not excluded, inside the period."""
    qs = Response.objects.using(settings.REPORTS_DATABASE).filter(survey=survey, excluded=False)
    lo, hi = period.bounds()
    if lo:
        qs = qs.filter(answered_at__gte=lo)
    if hi:
        qs = qs.filter(answered_at__lt=hi)
    return qs


def _aggregates() -> dict:
    return {
        "n": Count("pk"),
        "positive": Count("pk", filter=Q(category=1)),
        "neutral": Count("pk", filter=Q(category=0)),
        "negative": Count("pk", filter=Q(category=-1)),
        "total": Sum("score"),
        "total_squares": Sum(F("score") * F("score")),
    }


def _result(kind: str, row: dict) -> dict:
    n = row["n"] or 0
    positive, neutral, negative = row["positive"] or 0, row["neutral"] or 0, row["negative"] or 0
    total, squares = float(row["total"] or 0), float(row["total_squares"] or 0)
    if kind == Kind.NPS:
        return {"n": n, "nps": scoring.nps(positive, neutral, negative)}
    return {
        "n": n,
        "mean": scoring.mean(n, total, squares),
        "share": scoring.proportion(positive, n),
        "positive": positive,
        "neutral": neutral,
        "negative": negative,
    }


def summary(*, survey: Survey, period: Period) -> dict:
    row = counted_responses(survey=survey, period=period).aggregate(**_aggregates())
    return _result(survey.kind, row)


def monthly_trend(*, survey: Survey, period: Period) -> list[dict]:
    rows = (
        counted_responses(survey=survey, period=period)
        .annotate(month=TruncMonth("answered_at", tzinfo=period.tz))
        .values("month")
        .annotate(**_aggregates())
        .order_by("month")
    )
    return [{"month": row["month"], **_result(survey.kind, row)} for row in rows]


def distribution(*, survey: Survey, period: Period) -> list[tuple[int, int]]:
    counts = dict(
        counted_responses(survey=survey, period=period)
        .order_by()
        .values("score")
        .annotate(c=Count("pk"))
        .values_list("score", "c")
    )
    return [(score, counts.get(score, 0)) for score in survey.scale]
