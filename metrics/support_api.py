"""`GET /api/v1/metrics/support`: the support figures of the tickets created in a period.

Periods are [start, end) in the viewer's time zone (`tz`, default TIME_ZONE), as for the revenue
endpoints. Percentages are numbers with 2 decimals; times are minutes with 2 decimals; an
empty set gives null, never 0.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Account
from accounts.roles import VIEW_REPORTS

from . import support_selectors

MAX_DAYS = 366 * 10


class SupportQuerySerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day, in `tz`.")
    end = serializers.DateField(help_text="Exclusive: the period is [start, end).")
    tz = serializers.CharField(required=False, max_length=64)
    account = serializers.CharField(required=False, max_length=100, help_text="External id.")
    plan = serializers.CharField(required=False, max_length=100)
    channel = serializers.CharField(required=False, max_length=50)

    def validate_tz(self, value: str) -> ZoneInfo:
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(_("Unknown time zone.")) from None

    def validate_account(self, value: str) -> Account:
        account = Account.objects.filter(external_id=value).first() if "\x00" not in value else None
        if account is None:
            raise serializers.ValidationError(_("No account with this external id."))
        return account

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": _("The end date must be after the start.")})
        if (attrs["end"] - attrs["start"]).days > MAX_DAYS:
            raise serializers.ValidationError({"end": _("The period is longer than ten years.")})
        return attrs

    def filters(self) -> support_selectors.SupportFilters:
        data = self.validated_data
        account = data.get("account")
        return support_selectors.SupportFilters(
            start=data["start"],
            end=data["end"],
            tz=data.get("tz") or ZoneInfo(settings.TIME_ZONE),
            account=account.pk if account else None,
            plan=data.get("plan", ""),
            channel=(data.get("channel") or "").strip().lower(),
        )


class MinutesSerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True, help_text="90th percentile (continuous).")


class SupportMetricsSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="Exclusive.")
    tz = serializers.CharField()
    tickets_created = serializers.IntegerField(help_text="Tickets created in the period.")
    tickets_solved = serializers.IntegerField(help_text="Of those, solved or closed now.")
    solve_rate_pct = serializers.FloatField(allow_null=True, help_text="solved / created, %.")
    fcr_pct = serializers.FloatField(
        allow_null=True,
        help_text="Solved with at most one agent reply and no reopen / solved, %.",
    )
    reopen_pct = serializers.FloatField(
        allow_null=True, help_text="Reopened at least once / solved at least once, %."
    )
    first_reply_minutes = MinutesSerializer(
        help_text="First public agent reply - created, tickets with a reply."
    )
    resolution_minutes = MinutesSerializer(help_text="Final solve - created, solved tickets.")


class SupportMetricsView(APIView):
    """Tickets, solve rate, FCR, reopens, first reply and resolution times."""

    required_permissions = (VIEW_REPORTS,)

    @extend_schema(
        summary="Support: tickets, solve rate, FCR, first reply and resolution times",
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, required=True),
            OpenApiParameter("end", OpenApiTypes.DATE, required=True, description="exclusive"),
            OpenApiParameter("tz", OpenApiTypes.STR, description="IANA time zone"),
            OpenApiParameter("account", OpenApiTypes.STR, description="external id"),
            OpenApiParameter("plan", OpenApiTypes.STR),
            OpenApiParameter("channel", OpenApiTypes.STR),
        ],
        responses={200: SupportMetricsSerializer},
    )
    def get(self, request: Request) -> Response:
        query = SupportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.filters()
        summary = support_selectors.support_summary(filters=filters)
        return Response(
            SupportMetricsSerializer(
                {
                    "start": filters.start,
                    "end": filters.end,
                    "tz": str(filters.tz),
                    **summary.payload(),
                }
            ).data
        )
