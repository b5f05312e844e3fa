"""Support tickets over the API: `POST /api/v1/tickets` (upsert one, or a batch of up to 1,000)
and `GET /api/v1/tickets` (list, filtered)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
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

from accounts.models import Account, validate_external_id
from surveys.serializers import no_nul

from . import tickets
from .models import Ticket, TicketSource

INT_MAX = 2**31 - 1


class LowerChoiceField(serializers.ChoiceField):
    """A choice whose value is matched regardless of case ("Solved" is "solved")."""

    def to_internal_value(self, data):
        return super().to_internal_value(data.lower() if isinstance(data, str) else data)


class TicketInSerializer(serializers.Serializer):
    """One ticket write. On an update, only the fields given change."""

    account = serializers.CharField(max_length=100, help_text="The account's external id.")
    external_id = serializers.CharField(max_length=255, help_text="Your id of the ticket.")
    status = LowerChoiceField(choices=Ticket.Status.choices, required=False)
    created_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601; without an offset, UTC. Required for a new ticket."
    )
    first_reply_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="The first public agent reply."
    )
    first_solved_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Defaults to solved_at."
    )
    solved_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="The final solve; required when solved or closed, null otherwise.",
    )
    agent_replies = serializers.IntegerField(
        required=False, min_value=0, max_value=INT_MAX, help_text="Public agent replies."
    )
    reopens = serializers.IntegerField(
        required=False, min_value=0, max_value=INT_MAX, help_text="Times solved -> unsolved."
    )
    subject = serializers.CharField(max_length=255, required=False, allow_blank=True)
    channel = serializers.CharField(
        max_length=50, required=False, allow_blank=True, help_text="email, chat, phone, web..."
    )
    requester_email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    assignee = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate(self, attrs):
        # The ticket is kept as sent (`raw`, jsonb): no NUL character, even in unknown keys.
        no_nul(self.initial_data)
        now = timezone.now()
        errors = {
            name: [_("The time is in the future.")]
            for name in ("created_at", *tickets.LATER_TIMES)
            if tickets.is_future(attrs.get(name), now)
        }
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def to_input(self) -> tickets.TicketInput:
        data = dict(self.validated_data)
        account = data.pop("account")
        external_id = data.pop("external_id")
        if "channel" in data:
            data["channel"] = data["channel"].strip().lower()
        raw = dict(self.initial_data) if isinstance(self.initial_data, dict) else {}
        return tickets.TicketInput(account=account, external_id=external_id, values=data, raw=raw)


class TicketSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.external_id", allow_null=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "account",
            "source",
            "external_id",
            "status",
            "created_at",
            "first_reply_at",
            "first_solved_at",
            "solved_at",
            "agent_replies",
            "reopens",
            "subject",
            "channel",
            "requester_email",
            "assignee",
            "recorded_at",
            "updated_at",
        ]


class TicketBatchSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    tickets = TicketSerializer(many=True)


# One object answers one object; a list answers a batch summary.
WRITE_RESULT = PolymorphicProxySerializer(
    component_name="TicketWriteResult",
    serializers=[TicketSerializer, TicketBatchSerializer],
    resource_type_field_name=None,
)


class TicketListQuerySerializer(serializers.Serializer):
    account = serializers.CharField(required=False, max_length=100)
    source = serializers.ChoiceField(required=False, choices=TicketSource.choices)
    status = LowerChoiceField(required=False, choices=Ticket.Status.choices)
    start = serializers.DateField(required=False, help_text="created_at >= this day")
    end = serializers.DateField(required=False, help_text="created_at < this day")
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


def unknown_account_errors(external_ids: list[str]) -> dict[int, dict]:
    """Per item: a new account's id must be usable in URLs (existing accounts are taken as
    they are, even one stored before ids were checked)."""
    known = set(
        Account.objects.filter(external_id__in=sorted(set(external_ids))).values_list(
            "external_id", flat=True
        )
    )
    errors = {}
    for index, external_id in enumerate(external_ids):
        if external_id in known:
            continue
        try:
            validate_external_id(external_id)
        except DjangoValidationError as exc:
            errors[index] = {"account": list(exc.messages)}
    return errors


def parse_items(data, *, max_items: int, not_objects: str):
    """(batch?, items, error body or None): one object or a JSON list of up to `max_items`."""
    batch = isinstance(data, list)
    items = data if batch else [data]
    if batch and not items:
        return batch, [], {"non_field_errors": [_("The list is empty.")]}
    if len(items) > max_items:
        return (
            batch,
            [],
            {"non_field_errors": [_("At most %(max)s items per request.") % {"max": max_items}]},
        )
    if not all(isinstance(item, dict) for item in items):
        return (
            batch,
            [],
            {"non_field_errors": [not_objects]},
        )
    return batch, items, None


def per_item(batch: bool, count: int, errors: dict[int, dict]):
    """The error body: the item's errors, or one entry per item (empty for good ones)."""
    if not batch:
        return errors[0]
    return [errors.get(index, {}) for index in range(count)]


class TicketListCreateView(ListAPIView):
    """List tickets (filters: account, source, status, start, end, tz) or upsert some."""

    queryset = Ticket.objects.select_related("account").order_by("-created_at", "-pk")
    serializer_class = TicketSerializer
    filter_backends: list = []
    required_permissions = {
        "GET": ("outcomes.view_ticket",),
        "HEAD": ("outcomes.view_ticket",),
        "OPTIONS": ("outcomes.view_ticket",),
        "POST": ("outcomes.add_ticket", "outcomes.change_ticket"),
    }

    def get_queryset(self):
        query = TicketListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        queryset = super().get_queryset()
        tz = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        if data.get("account"):
            queryset = queryset.filter(account__external_id=data["account"])
        for name in ("source", "status"):
            if data.get(name):
                queryset = queryset.filter(**{name: data[name]})
        if data.get("start"):
            queryset = queryset.filter(
                created_at__gte=dt.datetime.combine(data["start"], dt.time.min, tz)
            )
        if data.get("end"):
            queryset = queryset.filter(
                created_at__lt=dt.datetime.combine(data["end"], dt.time.min, tz)
            )
        return queryset

    @extend_schema(
        summary="List support tickets",
        parameters=[
            OpenApiParameter("account", OpenApiTypes.STR),
            OpenApiParameter("source", OpenApiTypes.STR, enum=TicketSource.values),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Ticket.Status.values),
            OpenApiParameter("start", OpenApiTypes.DATE),
            OpenApiParameter("end", OpenApiTypes.DATE, description="exclusive"),
            OpenApiParameter("tz", OpenApiTypes.STR),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Record support tickets (upsert by external id)",
        request=TicketInSerializer,
        responses={
            201: OpenApiResponse(WRITE_RESULT, description="A ticket was created."),
            200: OpenApiResponse(WRITE_RESULT, description="Only updates, or nothing new."),
            400: OpenApiResponse(description="Per-field errors (per item for a batch)."),
        },
        description=(
            "One ticket, or a JSON list of up to 1,000 (all or nothing). Upsert by external id: "
            "the fields given replace the stored ones. Times may not precede created_at; a "
            "solved or closed ticket needs solved_at. Unknown accounts are created. A batch "
            "answers {created, updated, unchanged, tickets} (201 when any was created)."
        ),
    )
    def post(self, request: Request) -> Response:
        batch, items, problem = parse_items(
            request.data,
            max_items=settings.TICKETS_MAX_BATCH,
            not_objects=_("Send a ticket object or a list of them."),
        )
        if problem:
            return Response(problem, status=400)
        errors: dict[int, dict] = {}
        inputs: list[tickets.TicketInput] = []
        positions: list[int] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            serializer = TicketInSerializer(data=item)
            if not serializer.is_valid():
                errors[index] = serializer.errors
                continue
            value = serializer.to_input()
            if value.external_id in seen:
                errors[index] = {
                    "external_id": [
                        _("Appears twice in the batch (item %(other)s).")
                        % {"other": seen[value.external_id]}
                    ]
                }
                continue
            seen[value.external_id] = index
            inputs.append(value)
            positions.append(index)
        # Every item is checked, so one answer names every problem.
        for checks in (
            unknown_account_errors([value.account for value in inputs]),
            tickets.check_tickets(tickets=inputs, source=TicketSource.API),
        ):
            for position, problems in checks.items():
                errors.setdefault(positions[position], {}).update(problems)
        if errors:
            return Response(per_item(batch, len(items), errors), status=400)
        try:
            result = tickets.record_tickets(tickets=inputs, source=TicketSource.API)
        except tickets.TicketErrors as exc:
            return Response(per_item(batch, len(items), exc.errors), status=400)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        if not batch:
            ticket = (result.created or result.updated or result.unchanged)[0]
            return Response(TicketSerializer(ticket).data, status=code)
        by_id = {t.external_id: t for t in (*result.created, *result.updated, *result.unchanged)}
        return Response(
            {
                "created": len(result.created),
                "updated": len(result.updated),
                "unchanged": len(result.unchanged),
                "tickets": TicketSerializer(
                    [by_id[value.external_id] for value in inputs], many=True
                ).data,
            },
            status=code,
        )
