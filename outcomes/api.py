"""The subscription ledger API: `POST/GET /api/v1/subscription-events` and the Stripe customer
mapping `PUT /api/v1/accounts/{external_id}/stripe-customer`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as account_services
from accounts.models import CURRENCY_CODES, Account
from surveys.serializers import no_nul

from . import services
from .models import Source, SubscriptionEvent

CURRENCIES = sorted(code for code, _name in CURRENCY_CODES)
# Clocks differ a little; an event further ahead than this is refused as "in the future".
FUTURE_SKEW = dt.timedelta(minutes=5)


class CurrencyField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=CURRENCIES, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


class SubscriptionEventInSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=100, help_text="The account's external id.")
    external_id = serializers.CharField(max_length=255, help_text="Your id of this event.")
    effective_at = serializers.DateTimeField(help_text="ISO 8601; without an offset, UTC.")
    mrr = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0"),
        coerce_to_string=True,
        help_text="Monthly recurring revenue from effective_at, a decimal string, >= 0.",
    )
    currency = CurrencyField(help_text="ISO 4217 code.")
    plan = serializers.CharField(max_length=100, required=False, allow_blank=True)
    quantity = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, allow_null=True
    )
    renews_on = serializers.DateField(required=False, allow_null=True)

    def validate(self, attrs):
        # The event is kept as sent (`raw`, jsonb): no NUL character, even in unknown keys.
        no_nul(self.initial_data)
        return attrs

    def validate_effective_at(self, value: dt.datetime) -> dt.datetime:
        if value > timezone.now() + FUTURE_SKEW:
            raise serializers.ValidationError(_("The date is in the future."))
        return value

    def to_event(self, data: dict) -> services.EventInput:
        return services.EventInput(
            account=data["account"],
            external_id=data["external_id"],
            effective_at=data["effective_at"],
            mrr=data["mrr"],
            currency=data["currency"],
            plan=data.get("plan") or "",
            quantity=data.get("quantity"),
            renews_on=data.get("renews_on"),
            raw=dict(self.initial_data) if isinstance(self.initial_data, dict) else {},
        )


class SubscriptionEventSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.external_id")
    mrr = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)
    recorded_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = SubscriptionEvent
        fields = [
            "id",
            "account",
            "source",
            "external_id",
            "effective_at",
            "mrr",
            "currency",
            "plan",
            "quantity",
            "renews_on",
            "recorded_at",
        ]


class EventListQuerySerializer(serializers.Serializer):
    account = serializers.CharField(required=False, max_length=100)
    source = serializers.ChoiceField(required=False, choices=Source.choices)
    start = serializers.DateField(required=False, help_text="effective_at >= this day")
    end = serializers.DateField(required=False, help_text="effective_at < this day")
    tz = serializers.CharField(required=False)

    def validate_tz(self, value: str) -> ZoneInfo:
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(_("Unknown time zone.")) from None

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": _("The end date must be after the start.")})
        return attrs


def _batch_errors(items: list) -> tuple[list, list[services.EventInput]]:
    """Per-item errors (empty dicts for good items) and the events, all validated first."""
    errors: list = []
    events: list[services.EventInput] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        serializer = SubscriptionEventInSerializer(data=item)
        if not serializer.is_valid():
            errors.append(serializer.errors)
            continue
        data = serializer.validated_data
        if data["external_id"] in seen:
            errors.append(
                {
                    "external_id": [
                        _("Appears twice in the batch (item %(other)s).")
                        % {"other": seen[data["external_id"]]}
                    ]
                }
            )
            continue
        seen[data["external_id"]] = index
        errors.append({})
        events.append(serializer.to_event(data))
    return (errors if any(errors) else []), events


class SubscriptionEventListCreateView(ListAPIView):
    """List ledger events (filters: account, source, start, end, tz) or append some."""

    queryset = SubscriptionEvent.objects.select_related("account").order_by("-effective_at", "-pk")
    serializer_class = SubscriptionEventSerializer
    filter_backends: list = []

    def get_queryset(self):
        query = EventListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        queryset = super().get_queryset()
        tz = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        if data.get("account"):
            queryset = queryset.filter(account__external_id=data["account"])
        if data.get("source"):
            queryset = queryset.filter(source=data["source"])
        if data.get("start"):
            queryset = queryset.filter(
                effective_at__gte=dt.datetime.combine(data["start"], dt.time.min, tz)
            )
        if data.get("end"):
            queryset = queryset.filter(
                effective_at__lt=dt.datetime.combine(data["end"], dt.time.min, tz)
            )
        return queryset

    @extend_schema(
        summary="List subscription events",
        parameters=[
            OpenApiParameter("account", OpenApiTypes.STR),
            OpenApiParameter("source", OpenApiTypes.STR, enum=Source.values),
            OpenApiParameter("start", OpenApiTypes.DATE),
            OpenApiParameter("end", OpenApiTypes.DATE),
            OpenApiParameter("tz", OpenApiTypes.STR),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Record subscription events",
        request=SubscriptionEventInSerializer,
        responses={
            201: SubscriptionEventSerializer,
            200: OpenApiResponse(
                SubscriptionEventSerializer, description="Replayed external id; nothing added."
            ),
            400: OpenApiResponse(description="Per-field errors (per item for a batch)."),
        },
        description=(
            "One event, or a JSON list of up to 1,000 (all or nothing). Unknown accounts are "
            "created. A batch answers {created, replayed, events}."
        ),
    )
    def post(self, request: Request) -> Response:
        batch = isinstance(request.data, list)
        items = request.data if batch else [request.data]
        if batch and not items:
            return Response({"non_field_errors": [_("The list is empty.")]}, status=400)
        if len(items) > settings.SUBSCRIPTION_EVENTS_MAX_BATCH:
            return Response(
                {
                    "non_field_errors": [
                        _("At most %(max)s events per request.")
                        % {"max": settings.SUBSCRIPTION_EVENTS_MAX_BATCH}
                    ]
                },
                status=400,
            )
        if not all(isinstance(item, dict) for item in items):
            return Response(
                {"non_field_errors": [_("Send an event object or a list of them.")]}, status=400
            )
        errors, events = _batch_errors(items)
        if errors:
            return Response(errors if batch else errors[0], status=400)
        result = services.record_events(events=events, source=Source.API)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        if not batch:
            event = (result.created or result.replayed)[0]
            return Response(SubscriptionEventSerializer(event).data, status=code)
        return Response(
            {
                "created": len(result.created),
                "replayed": len(result.replayed),
                "events": SubscriptionEventSerializer(
                    [*result.created, *result.replayed], many=True
                ).data,
            },
            status=code,
        )


class StripeCustomerSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=255, help_text="The Stripe customer id, cus_...")


class StripeCustomerView(APIView):
    """Map a Stripe customer to an account; events that waited for it are then applied."""

    required_permissions = ("accounts.change_account",)

    @extend_schema(
        summary="Map a Stripe customer to an account",
        request=StripeCustomerSerializer,
        responses={200: StripeCustomerSerializer},
    )
    def put(self, request: Request, external_id: str) -> Response:
        account = get_object_or_404(Account, external_id=external_id)
        serializer = StripeCustomerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = serializer.validated_data["customer"]
        holder = Account.objects.filter(stripe_customer_id=customer).exclude(pk=account.pk)
        if holder.exists():
            return Response(
                {"customer": [_("This Stripe customer belongs to another account.")]}, status=400
            )
        with transaction.atomic():
            account_services.set_stripe_customer(account=account, customer_id=customer)
        return Response({"account": account.external_id, "customer": customer})
