"""Usage, seats and onboarding over the API: `POST/GET /api/v1/usage`,
`PUT /api/v1/accounts/{external_id}/seats` and `GET/PUT /api/v1/accounts/{external_id}/onboarding`.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Account

from . import usage
from .api_tickets import parse_items, per_item, unknown_account_errors
from .models import Onboarding, UsageRecord, validate_metric_name

EARLIEST_DAY = dt.date(2000, 1, 1)
MAX_VALUE = 1e15


class UsageInSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=100, help_text="The account's external id.")
    day = serializers.DateField(help_text="YYYY-MM-DD, the day the value is for.")
    metric = serializers.CharField(
        max_length=64,
        validators=[validate_metric_name],
        help_text=(
            "e.g. active_users (distinct users active in the 30 days ending `day`), events. "
            "Lower-case letters, digits and _."
        ),
    )
    value = serializers.FloatField(min_value=0, max_value=MAX_VALUE)

    def validate_day(self, value: dt.date) -> dt.date:
        # A day ahead of UTC's date exists somewhere on Earth; two days ahead nowhere.
        if value > timezone.now().date() + dt.timedelta(days=1):
            raise serializers.ValidationError(_("The day is in the future."))
        if value < EARLIEST_DAY:
            raise serializers.ValidationError(_("The day is before 2000."))
        return value

    def validate_value(self, value: float) -> float:
        if not math.isfinite(value):
            raise serializers.ValidationError(_("A finite number, please."))
        return value

    def to_input(self) -> usage.UsageInput:
        data = self.validated_data
        return usage.UsageInput(
            account=data["account"], day=data["day"], metric=data["metric"], value=data["value"]
        )


class UsageRecordSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.external_id")

    class Meta:
        model = UsageRecord
        fields = ["account", "day", "metric", "value", "updated_at"]


class UsageBatchSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


USAGE_RESULT = PolymorphicProxySerializer(
    component_name="UsageWriteResult",
    serializers=[UsageRecordSerializer, UsageBatchSerializer],
    resource_type_field_name=None,
)


class UsageListQuerySerializer(serializers.Serializer):
    account = serializers.CharField(required=False, max_length=100)
    metric = serializers.CharField(required=False, max_length=64)
    start = serializers.DateField(required=False, help_text="day >= this")
    end = serializers.DateField(required=False, help_text="day < this")

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": _("The end date must be after the start.")})
        return attrs


class UsageView(ListAPIView):
    """List daily usage values (filters: account, metric, start, end) or upsert some."""

    queryset = UsageRecord.objects.select_related("account").order_by(
        "-day", "account_id", "metric"
    )
    serializer_class = UsageRecordSerializer
    filter_backends: list = []
    required_permissions = {
        "GET": ("outcomes.view_usagerecord",),
        "HEAD": ("outcomes.view_usagerecord",),
        "OPTIONS": ("outcomes.view_usagerecord",),
        "POST": ("outcomes.add_usagerecord", "outcomes.change_usagerecord"),
    }

    def get_queryset(self):
        query = UsageListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        queryset = super().get_queryset()
        if data.get("account"):
            queryset = queryset.filter(account__external_id=data["account"])
        if data.get("metric"):
            queryset = queryset.filter(metric=data["metric"])
        if data.get("start"):
            queryset = queryset.filter(day__gte=data["start"])
        if data.get("end"):
            queryset = queryset.filter(day__lt=data["end"])
        return queryset

    @extend_schema(
        summary="List daily usage",
        parameters=[
            OpenApiParameter("account", OpenApiTypes.STR),
            OpenApiParameter("metric", OpenApiTypes.STR),
            OpenApiParameter("start", OpenApiTypes.DATE),
            OpenApiParameter("end", OpenApiTypes.DATE, description="exclusive"),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Record daily usage (upsert per account, metric and day)",
        request=UsageInSerializer,
        responses={
            201: OpenApiResponse(USAGE_RESULT, description="A value was created."),
            200: OpenApiResponse(USAGE_RESULT, description="Only updates, or nothing new."),
            400: OpenApiResponse(description="Per-field errors (per item for a batch)."),
        },
        description=(
            "One value, or a JSON list of up to 10,000 (all or nothing). The same account, "
            "metric and day again replaces the value. Unknown accounts are created. One "
            "object answers the stored value; a list answers {created, updated, unchanged}."
        ),
    )
    def post(self, request: Request) -> Response:
        batch, items, problem = parse_items(
            request.data,
            max_items=settings.USAGE_MAX_BATCH,
            not_objects=_("Send a usage object or a list of them."),
        )
        if problem:
            return Response(problem, status=400)
        errors: dict[int, dict] = {}
        inputs: list[usage.UsageInput] = []
        positions: list[int] = []
        seen: dict[tuple, int] = {}
        for index, item in enumerate(items):
            serializer = UsageInSerializer(data=item)
            if not serializer.is_valid():
                errors[index] = serializer.errors
                continue
            value = serializer.to_input()
            key = (value.account, value.metric, value.day)
            if key in seen:
                errors[index] = {
                    "day": [
                        _("This account, metric and day appear twice (item %(other)s).")
                        % {"other": seen[key]}
                    ]
                }
                continue
            seen[key] = index
            inputs.append(value)
            positions.append(index)
        for position, problems in unknown_account_errors([v.account for v in inputs]).items():
            errors.setdefault(positions[position], {}).update(problems)
        if errors:
            return Response(per_item(batch, len(items), errors), status=400)
        result = usage.record_usage(records=inputs)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        if not batch:
            value = inputs[0]
            record = UsageRecord.objects.select_related("account").get(
                account__external_id=value.account, metric=value.metric, day=value.day
            )
            return Response(UsageRecordSerializer(record).data, status=code)
        return Response(
            {"created": result.created, "updated": result.updated, "unchanged": result.unchanged},
            status=code,
        )


class SeatsSerializer(serializers.Serializer):
    seats = serializers.IntegerField(
        min_value=0,
        max_value=2**31 - 1,
        allow_null=True,
        help_text="Licensed seats; null: unknown.",
    )


class SeatsResultSerializer(SeatsSerializer):
    account = serializers.CharField()


class SeatsView(APIView):
    """An account's licensed seats (adoption % = 30-day active users / seats)."""

    required_permissions = ("accounts.change_account",)

    @extend_schema(
        summary="Set an account's licensed seats",
        request=SeatsSerializer,
        responses={200: SeatsResultSerializer},
    )
    def put(self, request: Request, external_id: str) -> Response:
        account = get_object_or_404(Account, external_id=external_id)
        serializer = SeatsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        usage.set_seats(account=account, seats=serializer.validated_data["seats"])
        return Response({"account": account.external_id, "seats": account.seats})


class OnboardingSerializer(serializers.Serializer):
    kickoff = serializers.DateField(source="kickoff_on", required=False, allow_null=True)
    go_live = serializers.DateField(source="go_live_on", required=False, allow_null=True)
    first_value = serializers.DateField(source="first_value_on", required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    def validate(self, attrs):
        for name, value in attrs.items():
            if isinstance(value, dt.date) and value < EARLIEST_DAY:
                key = {"kickoff_on": "kickoff", "go_live_on": "go_live"}.get(name, "first_value")
                raise serializers.ValidationError({key: [_("The day is before 2000.")]})
        return attrs


class OnboardingResultSerializer(serializers.Serializer):
    account = serializers.CharField(source="account.external_id")
    kickoff = serializers.DateField(source="kickoff_on", allow_null=True)
    go_live = serializers.DateField(source="go_live_on", allow_null=True)
    first_value = serializers.DateField(source="first_value_on", allow_null=True)
    note = serializers.CharField()
    implementation_days = serializers.IntegerField(
        allow_null=True, help_text="go_live - kickoff, in days."
    )
    time_to_value_days = serializers.IntegerField(
        allow_null=True, help_text="first_value - kickoff, in days."
    )


class OnboardingView(APIView):
    """An account's onboarding milestones: kickoff, go-live and first value."""

    required_permissions = {
        "GET": ("outcomes.view_onboarding",),
        "HEAD": ("outcomes.view_onboarding",),
        "OPTIONS": ("outcomes.view_onboarding",),
        "PUT": ("outcomes.add_onboarding", "outcomes.change_onboarding"),
    }

    @staticmethod
    def _payload(account: Account, onboarding: Onboarding | None) -> dict:
        onboarding = onboarding or Onboarding(account=account)
        first_value = (
            None
            if onboarding.kickoff_on is None or onboarding.first_value_on is None
            else (onboarding.first_value_on - onboarding.kickoff_on).days
        )
        onboarding.time_to_value_days = first_value
        return OnboardingResultSerializer(onboarding).data

    @extend_schema(
        summary="An account's onboarding milestones", responses={200: OnboardingResultSerializer}
    )
    def get(self, request: Request, external_id: str) -> Response:
        account = get_object_or_404(Account, external_id=external_id)
        return Response(self._payload(account, Onboarding.objects.filter(account=account).first()))

    @extend_schema(
        summary="Set an account's onboarding milestones (the fields given)",
        request=OnboardingSerializer,
        responses={200: OnboardingResultSerializer},
    )
    def put(self, request: Request, external_id: str) -> Response:
        account = get_object_or_404(Account, external_id=external_id)
        serializer = OnboardingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            onboarding = usage.set_onboarding(account=account, values=serializer.validated_data)
        except usage.OnboardingError as exc:
            return Response(exc.errors, status=400)
        return Response(self._payload(account, onboarding))
