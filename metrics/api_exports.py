"""API: responses with the export filters (cursor pagination) and export jobs."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import FileResponse
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from accounts.models import Account
from accounts.roles import EXPORT_RESPONSES, is_administrator
from followups.api import parse_id
from surveys import scales
from surveys.models import Kind, Response, Survey
from surveys.serializers import SlugField

from . import selectors
from .exports import background, columns, storage
from .models import ExportJob

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class FilterSerializer(serializers.Serializer):
    """The report and export filters. Without survey or kind, every kind is included."""

    survey = SlugField(slug_field="slug", queryset=Survey.objects.all(), required=False)
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    start = serializers.DateField(required=False, help_text="First day, in `tz`.")
    end = serializers.DateField(required=False, help_text="Last day (inclusive), in `tz`.")
    tz = serializers.CharField(required=False, help_text="IANA time zone; default the site's.")
    plan = serializers.CharField(required=False, allow_blank=True)
    segment = serializers.CharField(required=False, allow_blank=True)
    region = serializers.CharField(required=False, allow_blank=True)
    owner = SlugField(
        slug_field="username",
        queryset=get_user_model().objects.all(),
        required=False,
        help_text="The account owner's username.",
    )
    status = serializers.ChoiceField(choices=Account.Status.choices, required=False)
    language = serializers.ChoiceField(choices=LANGUAGE_CODES, required=False)
    quarantined = serializers.ChoiceField(
        choices=selectors.QUARANTINED_CHOICES,
        default="exclude",
        help_text="Answers quarantined as suspected bots: left out as in the reports (exclude), "
        "added (include) or alone (only).",
    )

    def validate_start(self, value):
        if not selectors.date_in_range(value):
            raise serializers.ValidationError(selectors.DATE_RANGE_ERROR)
        return value

    def validate_end(self, value):
        return self.validate_start(value)

    def validate_tz(self, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(_("Unknown time zone.")) from None
        return value

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": _("The end date is before the start date.")})
        survey = attrs.get("survey")
        if survey and attrs.get("kind") and attrs["kind"] != survey.kind:
            raise serializers.ValidationError({"survey": _("This survey is not of that kind.")})
        return attrs

    def filters(self) -> selectors.Filters:
        data = self.validated_data
        survey = data.get("survey")
        owner = data.get("owner")
        return selectors.Filters(
            period=selectors.Period(
                data.get("start"), data.get("end"), ZoneInfo(data.get("tz") or settings.TIME_ZONE)
            ),
            kind=survey.kind if survey else data.get("kind", ""),
            surveys=(survey.pk,) if survey else (),
            plan=data.get("plan", ""),
            segment=data.get("segment", ""),
            region=data.get("region", ""),
            owner=owner.pk if owner else None,
            status=data.get("status", ""),
            language=data.get("language", ""),
        )


FILTER_PARAMETERS = [
    OpenApiParameter(name, OpenApiTypes.STR if name not in ("start", "end") else OpenApiTypes.DATE)
    for name in (
        "survey",
        "kind",
        "start",
        "end",
        "tz",
        "plan",
        "segment",
        "region",
        "owner",
        "status",
        "language",
        "quarantined",
    )
]


class ResponseContactSerializer(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField(allow_blank=True)
    language = serializers.CharField(allow_blank=True)


class ResponseAccountSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    name = serializers.CharField()
    plan = serializers.CharField(allow_blank=True)
    segment = serializers.CharField(allow_blank=True)
    region = serializers.CharField(allow_blank=True)
    owner = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    mrr = serializers.DecimalField(max_digits=14, decimal_places=2)
    arr = serializers.DecimalField(max_digits=15, decimal_places=2)
    currency = serializers.CharField()


class ResponseSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    survey = serializers.CharField(source="survey.slug")
    kind = serializers.CharField(source="survey.kind")
    category = serializers.SerializerMethodField()
    contact = serializers.SerializerMethodField()
    account = serializers.SerializerMethodField()
    properties = serializers.SerializerMethodField()

    class Meta:
        model = Response
        fields = [
            "id",
            "survey",
            "kind",
            "score",
            "category",
            "comment",
            "reason",
            "confirmed_via",
            "answered_at",
            "suspected_bot",
            "quarantined",
            "contact",
            "account",
            "properties",
        ]

    def get_category(self, obj: Response) -> str:
        return scales.category_code(obj.survey.kind, obj.category)

    @extend_schema_field(ResponseContactSerializer(allow_null=True))
    def get_contact(self, obj: Response) -> dict | None:
        contact = obj.contact
        if contact is None or contact.erased_at is not None:
            return None
        return {"email": contact.email, "name": contact.name, "language": contact.language}

    @extend_schema_field(ResponseAccountSerializer(allow_null=True))
    def get_account(self, obj: Response) -> dict | None:
        account = obj.account
        if account is None:
            return None
        return {
            "external_id": account.external_id,
            "name": account.name,
            "plan": account.plan,
            "segment": account.segment,
            "region": account.region,
            "owner": account.owner.get_username() if account.owner else None,
            "status": account.status,
            "mrr": str(account.mrr),
            "arr": str(account.arr),
            "currency": account.currency,
        }

    def get_properties(self, obj: Response) -> dict:
        return obj.invitation.properties if obj.invitation else {}


class ResponseCursorPagination(CursorPagination):
    ordering = ("-answered_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        # A hand-made cursor must not reach the database with a position that is not a time.
        if cursor is not None and cursor.position is not None:
            if parse_datetime(cursor.position) is None:
                raise NotFound(self.invalid_cursor_message)
        return cursor


class ResponseListView(generics.ListAPIView):
    """Responses, newest first, with the export filters; follow `next` to page (cursor)."""

    serializer_class = ResponseSerializer
    pagination_class = ResponseCursorPagination
    filter_backends: list = []
    queryset = Response.objects.none()  # permissions: surveys.view_response

    @extend_schema(
        summary="Responses with account data, newest first", parameters=FILTER_PARAMETERS
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = FilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return (
            columns.export_queryset(query.filters(), query.validated_data["quarantined"])
            .order_by()
            .select_related("survey", "contact", "account__owner", "invitation")
        )


class ExportRequestSerializer(FilterSerializer):
    format = serializers.ChoiceField(choices=ExportJob.Format.choices, default="csv")
    excel = serializers.BooleanField(
        default=False, help_text="CSV with a byte-order mark and `;` between cells."
    )


class ExportJobSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    progress = serializers.IntegerField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "format",
            "status",
            "progress",
            "total_rows",
            "row_count",
            "filters",
            "options",
            "created_at",
            "finished_at",
            "expires_at",
            "download_url",
            "error",
        ]

    def get_download_url(self, obj: ExportJob) -> str | None:
        if obj.status != ExportJob.Status.DONE or obj.is_expired or not obj.file:
            return None
        return settings.SITE_URL + reverse("export-file", args=[obj.public_id])


class ExportListCreateView(APIView):
    """Start an export job (always written by a worker), or list your own."""

    required_permissions = (EXPORT_RESPONSES,)

    @extend_schema(
        summary="Start an export",
        request=ExportRequestSerializer,
        responses={202: ExportJobSerializer},
    )
    def post(self, request: Request) -> ApiResponse:
        data = ExportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        options = columns.ExportOptions(
            tz=data.validated_data.get("tz") or settings.TIME_ZONE,
            excel=data.validated_data["excel"],
            quarantined=data.validated_data["quarantined"],
        )
        try:
            job = background.start_export_job(
                user=request.user,
                filters=data.filters(),
                options=options,
                fmt=data.validated_data["format"],
            )
        except columns.ExportError as exc:
            return ApiResponse({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return ApiResponse(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Your export jobs", responses={200: ExportJobSerializer(many=True)})
    def get(self, request: Request) -> ApiResponse:
        return ApiResponse(ExportJobSerializer(_jobs_for(request.user)[:50], many=True).data)


def _jobs_for(user):
    jobs = ExportJob.objects.all()
    return jobs if is_administrator(user) else jobs.filter(requested_by=user)


def _job(request: Request, public_id) -> ExportJob:
    # Someone else's job is "not found", not "forbidden": ids are not confirmed to strangers.
    job = _jobs_for(request.user).filter(public_id=parse_id(public_id)).first()
    if job is None:
        raise NotFound()
    return job


class ExportDetailView(APIView):
    """An export job's status and progress; `download_url` once the file is ready."""

    required_permissions = (EXPORT_RESPONSES,)

    @extend_schema(summary="An export job", responses={200: ExportJobSerializer})
    def get(self, request: Request, public_id) -> ApiResponse:
        return ApiResponse(ExportJobSerializer(_job(request, public_id)).data)


class ExportFileView(APIView):
    """The finished file, for its requester or an administrator, until the link expires."""

    required_permissions = (EXPORT_RESPONSES,)

    @extend_schema(
        summary="Download an export's file",
        responses={
            # CSV is text: a generated client hands it over as a string.
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The CSV file (UTF-8; see `excel`)."
            ),
            (200, XLSX): OpenApiResponse(OpenApiTypes.BINARY, description="The XLSX file."),
            409: OpenApiResponse(ErrorSerializer, description="The export is not ready."),
            410: OpenApiResponse(ErrorSerializer, description="The link has expired."),
        },
    )
    def get(self, request: Request, public_id):
        job = _job(request, public_id)
        if job.status != ExportJob.Status.DONE:
            return ApiResponse({"detail": _("This export is not ready.")}, status=409)
        if job.is_expired or not job.file:
            return ApiResponse({"detail": _("This link has expired; export again.")}, status=410)
        return FileResponse(storage.iter_file(job), as_attachment=True, filename=job.filename)
