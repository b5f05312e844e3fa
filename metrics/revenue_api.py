"""Revenue endpoints: `GET /api/v1/metrics/revenue` and `GET /api/v1/metrics/retention-by-score`.

Money is a decimal string, percentages numbers with 2 decimals, one object per currency (never
added together). Periods are [start, end) in the viewer's time zone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import VIEW_REPORTS
from surveys.models import Kind, Survey

from . import revenue_report, selectors
from . import revenue_scoring as rs
from . import revenue_selectors as sel
from .models import HealthSettings

MAX_DAYS = 366 * 10


class RevenueQuerySerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="Exclusive: the period is [start, end).")
    tz = serializers.CharField(required=False)
    interval = serializers.ChoiceField(required=False, choices=["month"])
    plan = serializers.CharField(required=False, max_length=100)
    segment = serializers.CharField(required=False, max_length=100)
    region = serializers.CharField(required=False, max_length=100)
    owner = serializers.IntegerField(required=False, min_value=1, max_value=2**62)

    def validate_tz(self, value: str) -> ZoneInfo:
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(_("Unknown time zone.")) from None

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": _("The end date must be after the start.")})
        if (attrs["end"] - attrs["start"]).days > MAX_DAYS:
            raise serializers.ValidationError({"end": _("The period is longer than ten years.")})
        return attrs

    def window(self) -> sel.Window:
        data = self.validated_data
        tz = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        return sel.Window(data["start"], data["end"], tz)

    def filters(self) -> sel.RevenueFilters:
        data = self.validated_data
        return sel.RevenueFilters(
            plan=data.get("plan", ""),
            segment=data.get("segment", ""),
            region=data.get("region", ""),
            owner=data.get("owner"),
        )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(rs.money(value))


def bridge_payload(bridge: rs.Bridge, ltv: tuple[Decimal | None, float | None]) -> dict:
    return {
        "currency": bridge.currency,
        "mrr_start": _money(bridge.mrr_start),
        "mrr_end": _money(bridge.mrr_end),
        "new": _money(bridge.new),
        "expansion": _money(bridge.expansion),
        "contraction": _money(bridge.contraction),
        "churn": _money(bridge.churn),
        "reactivation": _money(bridge.reactivation),
        "accounts_start": bridge.accounts_start,
        "accounts_churned": bridge.accounts_churned,
        "logo_churn_pct": bridge.logo_churn_pct,
        "grr_pct": bridge.grr_pct,
        "nrr_pct": bridge.nrr_pct,
        "arpa": _money(bridge.arpa),
        "ltv": _money(ltv[0]),
        "lifetime_months": ltv[1],
    }


def revenue_payload(report: revenue_report.RevenueReport) -> dict:
    renewals = report.renewals()
    currencies = []
    for currency in report.currencies():
        total = report.totals.get(currency) or rs.Bridge(currency)
        item = bridge_payload(total, report.ltv(currency))
        if report.months:
            item["months"] = [
                {
                    "start": a.isoformat(),
                    "end": b.isoformat(),
                    **bridge_payload(per.get(currency) or rs.Bridge(currency), (None, None)),
                }
                for a, b, per in report.months
            ]
            for month in item["months"]:
                del month["ltv"], month["lifetime_months"]
        renewal = renewals.get(currency) or rs.Renewal(currency)
        item["renewal"] = {
            "due": renewal.due,
            "renewed": renewal.renewed,
            "rate_pct": renewal.rate_pct,
            "arr_due": _money(renewal.mrr_due * 12),
            "gross_dollar_renewal_pct": renewal.gross_pct,
            "net_dollar_renewal_pct": renewal.net_pct,
        }
        since, trailing = report.trailing_12m
        cohort = trailing.get(currency) or rs.Bridge(currency)
        item["cohort_12m"] = {
            "start": since.isoformat(),
            "accounts": cohort.accounts_start,
            "mrr_start": _money(cohort.mrr_start),
            "nrr_pct": cohort.nrr_pct,
            "grr_pct": cohort.grr_pct,
        }
        item["churn_reasons"] = [
            {"reason": group["reason"], "accounts": group["accounts"], "mrr": _money(group["mrr"])}
            for group in report.churn_reasons()
            if group["currency"] == currency
        ]
        currencies.append(item)
    return {
        "start": report.window.start.isoformat(),
        "end": report.window.end.isoformat(),
        "tz": str(report.window.tz),
        "currencies": currencies,
    }


class RevenueView(APIView):
    """MRR bridge, churn, GRR/NRR, ARPA, LTV, renewals, 12-month cohort and churn reasons."""

    required_permissions = (VIEW_REPORTS,)

    @extend_schema(
        summary="Revenue: the MRR bridge, churn, GRR, NRR, ARPA and LTV per currency",
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, required=True),
            OpenApiParameter("end", OpenApiTypes.DATE, required=True, description="exclusive"),
            OpenApiParameter("tz", OpenApiTypes.STR),
            OpenApiParameter("interval", OpenApiTypes.STR, enum=["month"]),
            OpenApiParameter("plan", OpenApiTypes.STR),
            OpenApiParameter("segment", OpenApiTypes.STR),
            OpenApiParameter("region", OpenApiTypes.STR),
            OpenApiParameter("owner", OpenApiTypes.INT),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        query = RevenueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = revenue_report.revenue_report(
            window=query.window(),
            filters=query.filters(),
            monthly=query.validated_data.get("interval") == "month",
            now=timezone.now(),
            moves_limit=0,  # renewals and churn reasons only
        )
        return Response(revenue_payload(report))


# --- Retention by score category ----------------------------------------------------------------

NPS_CATEGORIES = {1: "promoters", 0: "passives", -1: "detractors", None: "no_answer"}
CSAT_CATEGORIES = {1: "satisfied", 0: "not_satisfied", -1: "not_satisfied", None: "no_answer"}
HEALTH_CATEGORIES = {1: "green", 0: "yellow", -1: "red", None: "no_data"}
HEALTH_CODES = {"green": 1, "yellow": 0, "red": -1}


class RetentionQuerySerializer(RevenueQuerySerializer):
    interval = None
    survey = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Survey.objects.all(),
        required=False,
        error_messages={"does_not_exist": _("No survey with slug {value}.")},
    )

    def validate_survey(self, survey: Survey) -> Survey:
        if survey.kind not in (Kind.NPS, Kind.CSAT):
            raise serializers.ValidationError(_("Choose an NPS or CSAT survey."))
        return survey


def category_rows(rows, names: dict) -> dict[str, rs.CategoryRetention]:
    out = {name: rs.CategoryRetention(name) for name in dict.fromkeys(names.values())}
    for category, currency, n, churned, s, e in rows:
        group = out[names[category]]
        group.accounts_start += n
        group.churned += churned
        bridge = group.revenue.setdefault(currency, rs.Bridge(currency))
        bridge.mrr_start += s
        bridge.mrr_end += e
        bridge.accounts_start += n
    return out


def retention_payload(groups: dict[str, rs.CategoryRetention]) -> list[dict]:
    out = []
    for group in groups.values():
        ci = group.ci95
        out.append(
            {
                "category": group.category,
                "accounts_start": group.accounts_start,
                "churned": group.churned,
                "logo_churn_pct": group.logo_churn_pct,
                "ci95": None if ci is None else [round(ci[0], 2), round(ci[1], 2)],
                "low_sample": group.low_sample,
                "revenue": [
                    {
                        "currency": bridge.currency,
                        "mrr_start": _money(bridge.mrr_start),
                        "mrr_end": _money(bridge.mrr_end),
                        "nrr_pct": rs.pct2(bridge.mrr_end, bridge.mrr_start),
                    }
                    for bridge in sorted(group.revenue.values(), key=lambda b: b.currency)
                ],
            }
        )
    return out


def retention_surveys(survey: Survey | None) -> tuple[dict[str, list[int]], dict[str, str]]:
    """({"nps": ids, "csat": ids}, {kind: slug of the chosen survey}): a chosen survey narrows
    its own kind; the other kind reads all its surveys."""
    ids: dict[str, list[int]] = {"nps": [], "csat": []}
    for pk, kind in Survey.objects.filter(kind__in=[Kind.NPS, Kind.CSAT]).values_list("pk", "kind"):
        ids[kind].append(pk)
    slugs = {}
    if survey is not None:
        ids[survey.kind] = [survey.pk]
        slugs[survey.kind] = survey.slug
    return ids, slugs


def retention_payloads(rows: dict[str, list[tuple]], slugs: dict[str, str]) -> dict:
    """NPS and CSAT (and, when computed, health) categories at period start vs churn and NRR
    by its end."""
    sections = {}
    kinds = (("nps", NPS_CATEGORIES), ("csat", CSAT_CATEGORIES), ("health", HEALTH_CATEGORIES))
    for key, names in kinds:
        if key not in rows:
            continue
        groups = category_rows(rows[key], names)
        section = {"survey": slugs.get(key), "categories": retention_payload(groups)}
        if key == "nps":
            section["detractor_promoter_churn_ratio"] = rs.churn_ratio(
                groups["detractors"], groups["promoters"]
            )
        if key == "health":
            del section["survey"]
        sections[key] = section
    return sections


def health_at(*, start: dt.datetime, filters: sel.RevenueFilters) -> dict[int, int | None]:
    """Each account's health colour as the accounts list scores it with `start` as its
    reference: answers in the health window before it, recency measured at it."""
    rows = selectors.account_scores(
        filters=selectors.AccountFilters(
            plan=filters.plan, segment=filters.segment, region=filters.region, owner=filters.owner
        ),
        reference=start,
        health_settings=HealthSettings.load(),
    )
    return {row.pk: HEALTH_CODES.get(row.health_colour) for row in rows}


def retention_sections(
    *, window: sel.Window, filters: sel.RevenueFilters, survey: Survey | None
) -> dict:
    ids, slugs = retention_surveys(survey)
    start, _end = window.bounds
    found = sel.sections(
        boundaries=[],
        pairs=[window.bounds],
        filters=filters,
        retention=ids,
        given={"health": health_at(start=start, filters=filters)},
    )
    return retention_payloads(found.retention, slugs)


class RetentionByScoreView(APIView):
    """Churn and NRR by NPS (and CSAT) category frozen at period start, with Wilson intervals."""

    required_permissions = (VIEW_REPORTS,)

    @extend_schema(
        summary="Churn and NRR by score category at the period start",
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, required=True),
            OpenApiParameter("end", OpenApiTypes.DATE, required=True, description="exclusive"),
            OpenApiParameter("tz", OpenApiTypes.STR),
            OpenApiParameter("survey", OpenApiTypes.STR),
            OpenApiParameter("plan", OpenApiTypes.STR),
            OpenApiParameter("segment", OpenApiTypes.STR),
            OpenApiParameter("region", OpenApiTypes.STR),
            OpenApiParameter("owner", OpenApiTypes.INT),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        query = RetentionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        window = query.window()
        return Response(
            {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "tz": str(window.tz),
                "rule": str(RULE),
                **retention_sections(
                    window=window,
                    filters=query.filters(),
                    survey=query.validated_data.get("survey"),
                ),
            }
        )


RULE = _(
    "An account's category is that of its most recent answer in the 365 days before the "
    'period start; accounts without one are "no answer".'
)
