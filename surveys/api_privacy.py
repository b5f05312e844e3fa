"""API for data-subject requests: a contact's data as JSON, and erasure."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from accounts.models import Contact
from accounts.roles import ERASE_CONTACT, EXPORT_CONTACT_DATA

from . import privacy

# The answers' shapes (documented in the schema).


class ContactDataContactSerializer(serializers.Serializer):
    email = serializers.CharField()
    name = serializers.CharField()
    language = serializers.CharField()
    properties = serializers.DictField()
    created_at = serializers.DateTimeField(allow_null=True)
    unsubscribed_at = serializers.DateTimeField(allow_null=True)
    bounced_at = serializers.DateTimeField(allow_null=True)
    complained_at = serializers.DateTimeField(allow_null=True)
    last_invited_at = serializers.DateTimeField(allow_null=True)


class ContactDataAccountSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    name = serializers.CharField()


class ContactDataInvitationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    survey = serializers.CharField()
    status = serializers.CharField()
    event_id = serializers.CharField(allow_null=True)
    properties = serializers.DictField()
    created_at = serializers.DateTimeField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    clicked_at = serializers.DateTimeField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)


class ContactDataResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    survey = serializers.CharField()
    score = serializers.IntegerField()
    comment = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    confirmed_via = serializers.CharField()


class ContactDataSerializer(serializers.Serializer):
    exported_at = serializers.DateTimeField()
    contact = ContactDataContactSerializer()
    account = ContactDataAccountSerializer(allow_null=True)
    invitations = ContactDataInvitationSerializer(many=True)
    responses = ContactDataResponseSerializer(many=True)


class ContactErasedSerializer(serializers.Serializer):
    erased = serializers.BooleanField()
    responses_anonymised = serializers.IntegerField()
    invitations_anonymised = serializers.IntegerField()


class ContactEmailSerializer(serializers.Serializer):
    """The contact named in the body, so the address never appears in a URL (access logs,
    proxies and browser histories keep URLs)."""

    email = serializers.CharField(max_length=254)


def _email_from_body(request: Request) -> str:
    serializer = ContactEmailSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["email"]


def _contact(email: str) -> Contact:
    try:
        validate_email(email.strip())
    except DjangoValidationError:
        raise ValidationError({"email": [_("Enter a valid email address.")]}) from None
    contact = Contact.objects.select_related("account").filter(email__iexact=email.strip()).first()
    if contact is None:
        raise NotFound("No contact with this email.")
    return contact


def _data_response(request: Request, email: str) -> ApiResponse:
    data = privacy.export_contact_data(contact=_contact(email), actor=request.user)
    response = ApiResponse(data)
    response["Cache-Control"] = "no-store"
    return response


def _erase_response(request: Request, email: str) -> ApiResponse:
    summary = privacy.erase_contact(contact=_contact(email), actor=request.user)
    return ApiResponse({"erased": True, **summary})


class ContactDataView(APIView):
    """Everything stored about a contact (LGPD/GDPR access and portability). Audit-logged."""

    required_permissions = (EXPORT_CONTACT_DATA,)

    @extend_schema(
        summary="A contact's data (LGPD/GDPR), email in the path",
        description=(
            "Kept for existing clients. The email lands in access logs: prefer "
            "`POST /api/v1/contacts/data` with the email in the body."
        ),
        responses={200: ContactDataSerializer},
    )
    def get(self, request: Request, email: str) -> ApiResponse:
        return _data_response(request, email)


class ContactEraseView(APIView):
    """Erase a contact: personal data and comments go, scores stay anonymously. Audit-logged."""

    required_permissions = (ERASE_CONTACT,)

    @extend_schema(
        summary="Erase a contact (LGPD/GDPR), email in the path",
        description=(
            "Kept for existing clients. The email lands in access logs: prefer "
            "`POST /api/v1/contacts/erase` with the email in the body."
        ),
        request=None,
        responses={200: ContactErasedSerializer},
    )
    def post(self, request: Request, email: str) -> ApiResponse:
        return _erase_response(request, email)


class ContactDataByBodyView(APIView):
    """A contact's data, named by `{"email": ...}` in the body: no address in any URL."""

    required_permissions = (EXPORT_CONTACT_DATA,)

    @extend_schema(
        summary="A contact's data (LGPD/GDPR)",
        operation_id="contacts_data_request",
        request=ContactEmailSerializer,
        responses={200: ContactDataSerializer},
    )
    def post(self, request: Request) -> ApiResponse:
        return _data_response(request, _email_from_body(request))


class ContactEraseByBodyView(APIView):
    """Erase the contact named by `{"email": ...}` in the body: no address in any URL."""

    required_permissions = (ERASE_CONTACT,)

    @extend_schema(
        summary="Erase a contact (LGPD/GDPR)",
        operation_id="contacts_erase_request",
        request=ContactEmailSerializer,
        responses={200: ContactErasedSerializer},
    )
    def post(self, request: Request) -> ApiResponse:
        return _erase_response(request, _email_from_body(request))
