"""API for data-subject requests: a contact's data as JSON, and erasure."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from accounts.models import Contact
from accounts.roles import ERASE_CONTACT, EXPORT_CONTACT_DATA

from . import privacy


def _contact(email: str) -> Contact:
    try:
        validate_email(email.strip())
    except DjangoValidationError:
        raise ValidationError({"email": [_("Enter a valid email address.")]}) from None
    contact = Contact.objects.select_related("account").filter(email__iexact=email.strip()).first()
    if contact is None:
        raise NotFound("No contact with this email.")
    return contact


class ContactDataView(APIView):
    """Everything stored about a contact (LGPD/GDPR access and portability). Audit-logged."""

    required_permissions = (EXPORT_CONTACT_DATA,)

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: OpenApiResponse(description="")})
    def get(self, request: Request, email: str) -> ApiResponse:
        data = privacy.export_contact_data(contact=_contact(email), actor=request.user)
        response = ApiResponse(data)
        response["Cache-Control"] = "no-store"
        return response


class ContactEraseView(APIView):
    """Erase a contact: personal data and comments go, scores stay anonymously. Audit-logged."""

    required_permissions = (ERASE_CONTACT,)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 404: None})
    def post(self, request: Request, email: str) -> ApiResponse:
        summary = privacy.erase_contact(contact=_contact(email), actor=request.user)
        return ApiResponse({"erased": True, **summary})
