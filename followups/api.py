"""API: read and update the follow-up of a response (status, assignee, tags) and its notes."""

import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from accounts.roles import RolePermission
from surveys.models import Response
from surveys.serializers import SlugField

from . import selectors, services
from .models import FollowUp, Note

VIEW = "followups.view_followup"
CHANGE = "followups.change_followup"
ADD_NOTE = "followups.add_note"


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True, default=None)

    class Meta:
        model = Note
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class FollowUpSerializer(serializers.Serializer):
    response = serializers.UUIDField(source="response.public_id")
    status = serializers.ChoiceField(choices=FollowUp.Status.choices)
    assignee = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    notes = NoteSerializer(many=True)
    created_at = serializers.DateTimeField(allow_null=True)
    first_action_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    seconds_to_first_action = serializers.IntegerField(allow_null=True)
    seconds_to_close = serializers.IntegerField(allow_null=True)


class FollowUpUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=FollowUp.Status.choices, required=False)
    assignee = SlugField(
        slug_field="username",
        queryset=selectors.staff_users(),
        required=False,
        allow_null=True,
        help_text="A staff username, or null to unassign.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50, allow_blank=True),
        required=False,
        max_length=services.MAX_TAGS,
        help_text="Replaces the tags; names are matched ignoring case.",
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send at least one of status, assignee, tags.")
        return attrs


class NoteCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=5000, trim_whitespace=True)


def _seconds(start, end) -> int | None:
    return int((end - start).total_seconds()) if start and end else None


def _representation(response: Response, followup: FollowUp | None) -> dict:
    if followup is None:
        # Not opened yet: what it would be. A read never writes.
        owner = response.account.owner if response.account else None
        return {
            "response": response,
            "status": FollowUp.Status.NEW,
            "assignee": owner.username if owner else None,
            "tags": [],
            "notes": [],
            "created_at": None,
            "first_action_at": None,
            "closed_at": None,
            "seconds_to_first_action": None,
            "seconds_to_close": None,
        }
    return {
        "response": response,
        "status": followup.status,
        "assignee": followup.assignee.username if followup.assignee else None,
        "tags": [t.name for t in followup.tags.all()],
        "notes": list(followup.notes.all()),
        "created_at": followup.created_at,
        "first_action_at": followup.first_action_at,
        "closed_at": followup.closed_at,
        "seconds_to_first_action": _seconds(response.answered_at, followup.first_action_at),
        "seconds_to_close": _seconds(response.answered_at, followup.closed_at),
    }


def parse_id(value: str) -> uuid.UUID:
    """A path id as a UUID, or a 400 naming it (the URL pattern only checks its shape)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise serializers.ValidationError({"id": [_("Not a valid id (a UUID).")]}) from None


def _response_or_404(public_id) -> Response:
    response = selectors.response_by_public_id(parse_id(public_id))
    if response is None:
        raise Http404
    return response


class FollowUpView(APIView):
    """The follow-up of one response, addressed by the response's id."""

    permission_classes = [RolePermission]
    required_permissions = {"GET": (VIEW,), "HEAD": (VIEW,), "OPTIONS": (VIEW,), "PATCH": (CHANGE,)}

    @extend_schema(summary="A response's follow-up", responses={200: FollowUpSerializer})
    def get(self, request: Request, public_id) -> ApiResponse:
        response = _response_or_404(public_id)
        followup = selectors.followup_detail(response=response)
        return ApiResponse(FollowUpSerializer(_representation(response, followup)).data)

    @extend_schema(
        summary="Update a response's follow-up",
        request=FollowUpUpdateSerializer,
        responses={200: FollowUpSerializer, 400: OpenApiResponse(description="Per-field errors.")},
    )
    def patch(self, request: Request, public_id) -> ApiResponse:
        response = _response_or_404(public_id)
        serializer = FollowUpUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = {k: data[k] for k in ("status", "assignee") if k in data}
        try:
            services.clean_tag_names(data.get("tags") or [])
        except DjangoValidationError as exc:
            return ApiResponse({"tags": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
        followup = services.ensure_followup(response=response)
        try:
            services.update_followup(
                followup=followup, actor=request.user, tags=data.get("tags"), **changes
            )
        except DjangoValidationError as exc:
            return ApiResponse({"detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
        followup = selectors.followup_detail(response=response)
        return ApiResponse(FollowUpSerializer(_representation(response, followup)).data)


class FollowUpNotesView(APIView):
    """Internal notes on a response's follow-up, oldest first."""

    permission_classes = [RolePermission]
    required_permissions = {
        "GET": (VIEW,),
        "HEAD": (VIEW,),
        "OPTIONS": (VIEW,),
        "POST": (ADD_NOTE,),
    }

    @extend_schema(
        summary="Notes on a response's follow-up", responses={200: NoteSerializer(many=True)}
    )
    def get(self, request: Request, public_id) -> ApiResponse:
        response = _response_or_404(public_id)
        notes = Note.objects.filter(followup__response=response).select_related("author")
        return ApiResponse(NoteSerializer(notes, many=True).data)

    @extend_schema(
        summary="Add a note to a response's follow-up",
        request=NoteCreateSerializer,
        responses={201: NoteSerializer, 400: OpenApiResponse(description="Per-field errors.")},
    )
    def post(self, request: Request, public_id) -> ApiResponse:
        response = _response_or_404(public_id)
        serializer = NoteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        followup = services.ensure_followup(response=response)
        note = services.add_note(
            followup=followup, author=request.user, body=serializer.validated_data["body"]
        )
        return ApiResponse(NoteSerializer(note).data, status=status.HTTP_201_CREATED)
