"""Read-only metrics endpoints: summary (with group_by and compare), trend, account scores."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Account
from surveys import scales
from surveys.models import Kind, Survey
from surveys.serializers import SlugField

from . import api_serializers, scoring, selectors
from .models import HealthSettings

GROUP_BY = [*selectors.GRANULARITIES, *selectors.DIMENSIONS]
COMPARE = ["previous", "previous_year"]


class TimeZoneField(serializers.CharField):
    def to_internal_value(self, data) -> ZoneInfo:
        value = super().to_internal_value(data)
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(_("Unknown time zone.")) from None


def _date_in_range(value: dt.date) -> dt.date:
    if not selectors.date_in_range(value):
        raise serializers.ValidationError(selectors.DATE_RANGE_ERROR)
    return value


class SummaryQuerySerializer(serializers.Serializer):
    survey = SlugField(
        slug_field="slug",
        queryset=Survey.objects.all(),
        error_messages={"does_not_exist": _("No survey with slug {value}.")},
    )
    start = serializers.DateField(required=False, help_text="First day, in `tz` (1900-2999).")
    end = serializers.DateField(required=False, help_text="Last day (inclusive), in `tz`.")
    tz = TimeZoneField(required=False)
    plan = serializers.CharField(required=False, max_length=100)
    segment = serializers.CharField(required=False, max_length=100)
    region = serializers.CharField(required=False, max_length=100)
    owner = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(required=False, choices=Account.Status.choices)
    language = serializers.ChoiceField(required=False, choices=settings.LANGUAGES)
    property = serializers.CharField(
        required=False,
        max_length=200,
        help_text="key=value (invitation property) or account.key=value (account property).",
    )

    def validate_property(self, value: str) -> tuple[str, str]:
        parsed = selectors.parse_property_filter(value)
        if parsed is None:
            raise serializers.ValidationError(selectors.PROPERTY_FILTER_ERROR)
        return parsed

    def validate_start(self, value):
        return _date_in_range(value)

    def validate_end(self, value):
        return _date_in_range(value)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": _("The end date is before the start date.")})
        return attrs

    def filters(self) -> selectors.Filters:
        data = self.validated_data
        survey: Survey = data["survey"]
        prop = data.get("property") or ("", "")
        return selectors.Filters(
            period=selectors.Period(
                data.get("start"), data.get("end"), data.get("tz") or ZoneInfo(settings.TIME_ZONE)
            ),
            kind=survey.kind,
            surveys=(survey.pk,),
            plan=data.get("plan", ""),
            segment=data.get("segment", ""),
            region=data.get("region", ""),
            owner=data.get("owner"),
            status=data.get("status", ""),
            language=data.get("language", ""),
            property_key=prop[0],
            property_value=prop[1],
        )


class SummaryGroupSerializer(SummaryQuerySerializer):
    group_by = serializers.ChoiceField(required=False, choices=GROUP_BY)
    compare = serializers.ChoiceField(required=False, choices=COMPARE)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        compare = attrs.get("compare")
        if compare and not (attrs.get("start") and attrs.get("end")):
            raise serializers.ValidationError({"compare": _("Comparing needs both start and end.")})
        if compare:
            other = _other_period(compare, selectors.Period(attrs["start"], attrs["end"], dt.UTC))
            if other.start < selectors.MIN_DATE:
                raise serializers.ValidationError({"compare": selectors.COMPARE_RANGE_ERROR})
        return attrs


class TrendQuerySerializer(SummaryQuerySerializer):
    granularity = serializers.ChoiceField(
        required=False, choices=list(selectors.GRANULARITIES), default="month"
    )
    window = serializers.ChoiceField(
        required=False,
        choices=[str(days) for days in selectors.ROLLING_WINDOWS],
        help_text="Rolling window in days: each point scores the days up to its period's end.",
    )


def _round(value: float | None, digits: int = 1) -> float | None:
    """The pages' rounding (half up on the decimal value), so the API and the UI agree."""
    return scoring.rounded(value, digits)


def _interval(ci: tuple[float, float] | None, digits: int = 1) -> list[float] | None:
    return None if ci is None else [_round(ci[0], digits), _round(ci[1], digits)]


def nps_payload(result: scoring.Nps) -> dict:
    return {
        "score": _round(result.score),
        "promoters": result.promoters,
        "passives": result.passives,
        "detractors": result.detractors,
        "ci95": _interval(result.ci95),
        "margin": _round(result.margin),
        "band": result.band,
        "low_sample": result.low_sample,
    }


def scale_payload(kind: str, result: dict) -> dict:
    mean, share = result["mean"], result["share"]
    base = {
        "mean": _round(mean.mean, 2),
        "mean_ci95": _interval(mean.ci95, 2),
        "low_sample": result["n"] < scoring.LOW_SAMPLE,
    }
    if kind == Kind.CSAT:
        return {
            "score": _round(share.pct),
            "ci95": _interval(share.ci95),
            **base,
            "satisfied": result["positive"],
            "unsatisfied": result["negative"],
        }
    if kind == Kind.CES:
        return {
            **base,
            "agree_pct": _round(share.pct),
            "agree_ci95": _interval(share.ci95),
            "agree": result["positive"],
            "disagree": result["negative"],
        }
    return {**base, "low_effort_pct": _round(share.pct), "low_effort_ci95": _interval(share.ci95)}


def kind_payload(kind: str, result: dict) -> dict:
    """{"nps": {...}} or {"csat"|"ces"|"ces1": {...}}, the summary's per-kind block."""
    if kind == Kind.NPS:
        return {"nps": nps_payload(result["nps"])}
    return {kind: scale_payload(kind, result)}


def change_payload(value: scoring.Change | None) -> dict | None:
    """The change and whether it is significant; with fewer than 30 answers on either side it
    is not tested: `comparable` is false and `message` says so, with both sample sizes."""
    if value is None:
        return None
    payload = {
        "delta": _round(value.delta),
        "se": _round(value.se, 2),
        "significant": value.significant,
        "comparable": value.comparable,
        "responses": [value.n_before, value.n_after],
    }
    if not value.comparable:
        payload["message"] = _(
            "Too few answers to compare (%(before)s and %(after)s; %(needed)s needed on each side)."
        ) % {"before": value.n_before, "after": value.n_after, "needed": scoring.LOW_SAMPLE}
    return payload


def _shift_year(period: selectors.Period) -> selectors.Period:
    def back(day: dt.date) -> dt.date:
        try:
            return day.replace(year=day.year - 1)
        except ValueError:  # 29 February
            return day.replace(year=day.year - 1, day=28)

    return selectors.Period(back(period.start), back(period.end), period.tz)


def _other_period(compare: str, period: selectors.Period) -> selectors.Period:
    return period.previous() if compare == "previous" else _shift_year(period)


# The account and contact filters every metrics endpoint accepts.
FILTER_PARAMETERS = [
    OpenApiParameter("plan", OpenApiTypes.STR),
    OpenApiParameter("segment", OpenApiTypes.STR),
    OpenApiParameter("region", OpenApiTypes.STR),
    OpenApiParameter("owner", OpenApiTypes.INT),
    OpenApiParameter("status", OpenApiTypes.STR),
    OpenApiParameter("language", OpenApiTypes.STR),
    OpenApiParameter("property", OpenApiTypes.STR, description="key=value"),
]


class SummaryView(APIView):
    """Score of one survey over a date range (dates inclusive, in `tz`, default the site's).

    `group_by` adds `groups` (by day/week/month or by plan, segment, region, status, owner,
    language, survey); `compare=previous` (the same number of days just before) or
    `previous_year` adds `compare` with the other period's score and the change, its standard
    error and whether it is significant at 95%.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("survey", OpenApiTypes.STR, required=True),
            OpenApiParameter("start", OpenApiTypes.DATE),
            OpenApiParameter("end", OpenApiTypes.DATE),
            OpenApiParameter("tz", OpenApiTypes.STR, description="IANA time zone"),
            *FILTER_PARAMETERS,
            OpenApiParameter("group_by", OpenApiTypes.STR, enum=GROUP_BY),
            OpenApiParameter("compare", OpenApiTypes.STR, enum=COMPARE),
        ],
        summary="A survey's score over a period",
        responses={200: api_serializers.SummarySerializer},
    )
    def get(self, request: Request) -> Response:
        query = SummaryGroupSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        survey: Survey = query.validated_data["survey"]
        filters = query.filters()
        period = filters.period
        result = selectors.score_summary(filters=filters)
        payload = {
            "survey": survey.slug,
            "kind": survey.kind,
            "start": period.start,
            "end": period.end,
            "responses": result["n"],
            **kind_payload(survey.kind, result),
        }
        group_by = query.validated_data.get("group_by")
        if group_by in selectors.GRANULARITIES:
            rows = selectors.trend(filters=filters, granularity=group_by)
            payload["groups"] = [
                {"key": row["bucket"], "responses": row["n"], **kind_payload(survey.kind, row)}
                for row in rows
            ]
        elif group_by:
            rows = selectors.breakdown(filters=filters, dimension=group_by)
            payload["groups"] = [
                {"key": row["group"], "responses": row["n"], **kind_payload(survey.kind, row)}
                for row in rows
            ]
        compare = query.validated_data.get("compare")
        if compare:
            other = _other_period(compare, period)
            before = selectors.score_summary(filters=filters.with_period(other))
            payload["compare"] = {
                "mode": compare,
                "start": other.start,
                "end": other.end,
                "responses": before["n"],
                **kind_payload(survey.kind, before),
                "change": change_payload(selectors.change(survey.kind, before, result)),
            }
        return Response(payload)


class TrendView(APIView):
    """Score of one survey per day, week or month (periods without answers are omitted);
    `window=30|90` makes each point the score of the days up to its period's end."""

    @extend_schema(
        parameters=[
            OpenApiParameter("survey", OpenApiTypes.STR, required=True),
            OpenApiParameter("start", OpenApiTypes.DATE),
            OpenApiParameter("end", OpenApiTypes.DATE),
            OpenApiParameter("tz", OpenApiTypes.STR, description="IANA time zone"),
            OpenApiParameter("granularity", OpenApiTypes.STR, enum=list(selectors.GRANULARITIES)),
            OpenApiParameter(
                "window",
                OpenApiTypes.INT,
                enum=list(selectors.ROLLING_WINDOWS),
                description="Rolling window in days (each point: the days up to its end).",
            ),
            *FILTER_PARAMETERS,
        ],
        summary="A survey's score per day, week or month",
        responses={200: api_serializers.TrendSerializer},
    )
    def get(self, request: Request) -> Response:
        query = TrendQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        survey: Survey = query.validated_data["survey"]
        filters = query.filters()
        granularity = query.validated_data["granularity"]
        window = int(query.validated_data.get("window") or 0) or None
        rows = selectors.trend(filters=filters, granularity=granularity, window_days=window)
        return Response(
            {
                "survey": survey.slug,
                "kind": survey.kind,
                "granularity": granularity,
                "window": window,
                "tz": str(filters.period.tz),
                "start": filters.period.start,
                "end": filters.period.end,
                "points": [
                    {
                        "period": row["bucket"],
                        "responses": row["n"],
                        **kind_payload(survey.kind, row),
                    }
                    for row in rows
                ],
            }
        )


class AccountScoresQuerySerializer(serializers.Serializer):
    months = serializers.IntegerField(required=False, min_value=1, max_value=60, default=12)
    tz = TimeZoneField(required=False)


CATEGORY_NAMES = {**scales.CATEGORY_CODES[Kind.NPS], None: None}


class AccountScoresView(APIView):
    """One account: scores per kind over the health window, health with its components, and
    the monthly NPS of the last `months` months. Money is a decimal string with its currency."""

    @extend_schema(
        parameters=[
            OpenApiParameter("months", OpenApiTypes.INT, description="1-60, default 12"),
            OpenApiParameter("tz", OpenApiTypes.STR, description="IANA time zone"),
        ],
        summary="An account's scores, health and monthly NPS",
        responses={200: api_serializers.AccountScoresSerializer},
    )
    def get(self, request: Request, external_id: str) -> Response:
        query = AccountScoresQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        health_settings = HealthSettings.load()
        row = selectors.account_row(external_id=external_id, health_settings=health_settings)
        if row is None:
            raise Http404(_("No account with this id."))
        account = row.account
        tz = query.validated_data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        today = timezone.localtime(timezone.now(), tz).date()
        first = today.replace(day=1)
        for _i in range(query.validated_data["months"] - 1):
            first = (first - dt.timedelta(days=1)).replace(day=1)
        trend = selectors.trend(
            filters=selectors.Filters(
                period=selectors.Period(first, today, tz), kind=Kind.NPS, account=account.pk
            ),
            granularity="month",
        )
        since = timezone.now() - dt.timedelta(days=health_settings.window_days)
        by_kind = selectors.account_kind_summaries(account=account, since=since)
        health = row.health
        return Response(
            {
                "account": {
                    "external_id": account.external_id,
                    "name": account.name,
                    "plan": account.plan,
                    "segment": account.segment,
                    "region": account.region,
                    "status": account.status,
                    "owner": account.owner.get_username() if account.owner else None,
                    "mrr": str(account.mrr),
                    "arr": str(account.arr),
                    "currency": account.currency,
                    "renewal_date": account.renewal_date,
                },
                "window_days": health_settings.window_days,
                "scores": {
                    kind: {"responses": result["n"], **kind_payload(kind, result)[kind]}
                    for kind, result in by_kind.items()
                },
                "category": CATEGORY_NAMES[row.category],
                # The category rule: the most recent NPS answer in these days (DESIGN.md).
                "category_window_days": settings.ACCOUNT_CATEGORY_DAYS,
                "last_answered_at": row.last_answered_at,
                "health": {
                    "score": _round(health.score),
                    "colour": health.colour,
                    "red_below": health_settings.red_below,
                    "green_from": health_settings.green_from,
                    "components": [
                        {
                            "name": component.name,
                            "value": _round(component.value),
                            "weight": component.weight,
                            "share": round(component.share, 4),
                            "contribution": _round(component.contribution, 2),
                        }
                        for component in health.components
                    ],
                },
                "trend": [
                    {
                        "period": point["bucket"],
                        "responses": point["n"],
                        **kind_payload(Kind.NPS, point),
                    }
                    for point in trend
                ],
            }
        )
