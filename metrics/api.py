from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from surveys.models import Kind, Survey

from . import scoring, selectors


class SummaryQuerySerializer(serializers.Serializer):
    survey = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Survey.objects.all(),
        error_messages={"does_not_exist": _("No survey with slug {value}.")},
    )
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    tz = serializers.CharField(required=False)

    def validate_tz(self, value: str) -> ZoneInfo:
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(_("Unknown time zone.")) from None

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": _("The end date is before the start date.")})
        return attrs


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _interval(ci: tuple[float, float] | None, digits: int = 1) -> list[float] | None:
    return None if ci is None else [round(ci[0], digits), round(ci[1], digits)]


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
        return {"score": _round(share.pct), "ci95": _interval(share.ci95), **base,
                "satisfied": result["positive"], "unsatisfied": result["negative"]}
    if kind == Kind.CES:
        return {**base, "agree_pct": _round(share.pct), "agree_ci95": _interval(share.ci95),
                "agree": result["positive"], "disagree": result["negative"]}
    return {**base, "low_effort_pct": _round(share.pct), "low_effort_ci95": _interval(share.ci95)}


class SummaryView(APIView):
    """Score of one survey over a date range (dates inclusive, in `tz`, default the site's)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("survey", OpenApiTypes.STR, required=True),
            OpenApiParameter("start", OpenApiTypes.DATE),
            OpenApiParameter("end", OpenApiTypes.DATE),
            OpenApiParameter("tz", OpenApiTypes.STR, description="IANA time zone"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        query = SummaryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        survey: Survey = query.validated_data["survey"]
        period = selectors.Period(
            start=query.validated_data.get("start"),
            end=query.validated_data.get("end"),
            tz=query.validated_data.get("tz") or ZoneInfo(settings.TIME_ZONE),
        )
        result = selectors.summary(survey=survey, period=period)
        payload = {
            "survey": survey.slug,
            "kind": survey.kind,
            "start": period.start,
            "end": period.end,
            "responses": result["n"],
        }
        if survey.kind == Kind.NPS:
            payload["nps"] = nps_payload(result["nps"])
        else:
            payload[survey.kind] = scale_payload(survey.kind, result)
        return Response(payload)
