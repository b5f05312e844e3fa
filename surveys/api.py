import uuid

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from accounts import services as account_services

from . import services
from .distribution import planning
from .models import Invitation, Response, Survey
from .serializers import InvitationCreateSerializer, InvitationSerializer, SurveySerializer


@extend_schema_view(
    list=extend_schema(summary="List surveys"),
    create=extend_schema(summary="Create a survey"),
    retrieve=extend_schema(summary="A survey"),
    update=extend_schema(summary="Replace a survey's settings"),
    partial_update=extend_schema(summary="Change a survey's settings"),
)
class SurveyViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Surveys, addressed by slug. `question` defaults to the standard wording per kind."""

    queryset = Survey.objects.order_by("name")
    serializer_class = SurveySerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    filterset_fields = ["kind", "active"]


@extend_schema_view(
    list=extend_schema(summary="List invitations, newest first"),
    retrieve=extend_schema(summary="An invitation"),
)
class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Trigger a survey for a contact (transactional) and read invitations back."""

    queryset = Invitation.objects.select_related("survey", "contact__account").order_by(
        "-created_at"
    )
    serializer_class = InvitationSerializer
    lookup_field = "public_id"
    lookup_value_regex = r"[0-9a-fA-F-]{32,36}"
    filterset_fields = ["status", "event_id"]

    def get_object(self):
        try:
            uuid.UUID(self.kwargs["public_id"])
        except ValueError:
            raise serializers.ValidationError({"id": [_("Not a valid id (a UUID).")]}) from None
        return super().get_object()

    @extend_schema(
        summary="Trigger a survey for a contact",
        request=InvitationCreateSerializer,
        responses={
            201: InvitationSerializer,
            200: OpenApiResponse(
                InvitationSerializer,
                description="Same (survey, event_id) seen before; nothing sent.",
            ),
            400: OpenApiResponse(description="Per-field errors."),
        },
    )
    def create(self, request: Request) -> ApiResponse:
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            account = None
            if data.get("account"):
                account = account_services.upsert_account(**data["account"])
            contact_data = data["contact"]
            contact = account_services.upsert_contact(
                email=contact_data["email"],
                name=contact_data.get("name", ""),
                language=contact_data.get("language") or None,
                account=account,
                properties=contact_data.get("properties") or None,
            )
            invitation, created = planning.create_invitation(
                survey=data["survey"],
                contact=contact,
                event_id=data.get("event_id") or None,
                properties=data.get("properties") or {},
            )
        invitation = self.get_queryset().get(pk=invitation.pk)
        return ApiResponse(
            InvitationSerializer(invitation).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ReleasedResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    released = serializers.BooleanField(help_text="False when it was not quarantined.")
    suspected_bot = serializers.BooleanField()
    quarantined = serializers.BooleanField()
    excluded = serializers.BooleanField()
    released_at = serializers.DateTimeField(allow_null=True)
    released_by = serializers.CharField(allow_null=True)


class ResponseReleaseView(APIView):
    """Release a quarantined answer (a suspected bot that staff judged to be a person): it
    counts from now on and gets its alerts, follow-up and webhooks. Idempotent: the answer's
    quarantine state is returned either way."""

    required_permissions = ("surveys.change_response",)

    @extend_schema(
        summary="Release a quarantined answer",
        request=None,
        responses={
            200: ReleasedResponseSerializer,
            404: OpenApiResponse(description="No such answer."),
        },
    )
    def post(self, request: Request, public_id) -> ApiResponse:
        try:
            uuid.UUID(public_id)
        except ValueError:
            raise serializers.ValidationError({"id": [_("Not a valid id (a UUID).")]}) from None
        response = Response.objects.filter(public_id=public_id).only("pk").first()
        if response is None:
            raise NotFound("No response with this id.")
        released = services.release_responses(response_ids=[response.pk], actor=request.user)
        response = Response.objects.select_related("released_by").get(pk=response.pk)
        body = {
            "id": response.public_id,
            "released": bool(released),
            "suspected_bot": response.suspected_bot,
            "quarantined": response.quarantined,
            "excluded": response.excluded,
            "released_at": response.released_at,
            "released_by": response.released_by.get_username() if response.released_by else None,
        }
        return ApiResponse(ReleasedResponseSerializer(body).data)
