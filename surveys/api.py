import uuid

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from accounts import services as account_services

from . import services
from .models import Invitation, Survey
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
            invitation, created = services.create_invitation(
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
