"""Data-subject requests (LGPD art. 18, GDPR art. 15/17/20): export or erase one contact.

Erasure removes the person, not the statistics: anonymise, don't delete, what counts. The
contact row is kept without email, name or properties (never mailed again), its invitations
keep only their dates and outcomes (new tokens, no properties or event id), its answers keep
only score, category, time, survey, account and language (no comment, reason or signals); the
other apps scrub their copies in the same transaction (`contact_erased`: webhook bodies,
follow-up notes). So every count, from NPS by plan to the response funnel, is unchanged.
Both operations are audit-logged.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.audit import record_audit
from accounts.models import AuditLog, Contact

from .models import Invitation, Response, new_token
from .signals import contact_erased


def _iso(value) -> str | None:
    return value.isoformat() if value else None


# Each exported key and the column it comes from, in the export's order.
INVITATION_EXPORT = {
    "id": "public_id",
    "survey": "survey__slug",
    "status": "status",
    "event_id": "event_id",
    "properties": "properties",
    "created_at": "created_at",
    "sent_at": "sent_at",
    "clicked_at": "clicked_at",
    "answered_at": "answered_at",
}
RESPONSE_EXPORT = {
    "id": "public_id",
    "survey": "survey__slug",
    "score": "score",
    "comment": "comment",
    "reason": "reason",
    "answered_at": "answered_at",
    "confirmed_via": "confirmed_via",
}


def _jsonable(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _exported(queryset, columns: dict[str, str]) -> list[dict]:
    keys = list(columns)
    return [
        dict(zip(keys, map(_jsonable, row), strict=True))
        for row in queryset.values_list(*columns.values())
    ]


def export_contact_data(*, contact: Contact, actor) -> dict:
    """Everything stored about one contact, as JSON-ready data. Audit-logged; writes no data."""
    account = contact.account
    # Only the columns exported, as tuples: a person answering for years has hundreds of rows,
    # and whole model instances (with their surveys' translations) cost most of the request.
    invitations = _exported(
        Invitation.objects.filter(contact=contact).order_by("created_at"), INVITATION_EXPORT
    )
    responses = _exported(
        Response.objects.filter(contact=contact).order_by("answered_at"), RESPONSE_EXPORT
    )
    data = {
        "exported_at": timezone.now().isoformat(),
        "contact": {
            "email": contact.email,
            "name": contact.name,
            "language": contact.language,
            "properties": contact.properties,
            "created_at": _iso(contact.created_at),
            "unsubscribed_at": _iso(contact.unsubscribed_at),
            "bounced_at": _iso(contact.bounced_at),
            "complained_at": _iso(contact.complained_at),
            "last_invited_at": _iso(contact.last_invited_at),
        },
        "account": (
            {"external_id": account.external_id, "name": account.name} if account else None
        ),
        "invitations": invitations,
        "responses": responses,
    }
    record_audit(
        actor=actor,
        action=AuditLog.Action.EXPORT_CONTACT,
        target=f"contact {contact.pk}",
        details={"invitations": len(data["invitations"]), "responses": len(data["responses"])},
        row_count=len(data["responses"]),
    )
    return data


def erase_contact(*, contact: Contact, actor) -> dict:
    """Erase a contact's personal data everywhere; keep what counts, anonymously. All or
    nothing. Idempotent: erasing an erased contact changes nothing more."""
    contact_id = contact.pk
    now = timezone.now()
    with transaction.atomic():
        responses = Response.objects.filter(contact_id=contact_id)
        public_ids = [str(value) for value in responses.values_list("public_id", flat=True)]
        anonymised = responses.update(comment="", reason="", bot_signals={}, updated_at=now)
        invitations = Invitation.objects.filter(contact_id=contact_id)
        # Never sent after the erasure; sent ones keep their status for the funnel.
        invitations.filter(
            status__in=[Invitation.Status.SCHEDULED, Invitation.Status.QUEUED]
        ).update(status=Invitation.Status.REVOKED, next_attempt_at=None)
        invitation_ids = list(invitations.values_list("pk", flat=True))
        for invitation_id in invitation_ids:
            # The old links stop working; a token reveals nothing, but links were in the emails.
            Invitation.objects.filter(pk=invitation_id).update(
                token=new_token(), properties={}, event_id=None, link_fetches={}, last_error=""
            )
        Contact.objects.filter(pk=contact_id).update(
            email=f"erased-{uuid.uuid4().hex}@erased.invalid",
            name="",
            properties={},
            erased_at=Coalesce(F("erased_at"), Value(now)),
            unsubscribed_at=Coalesce(F("unsubscribed_at"), Value(now)),
            updated_at=now,
        )
        contact_erased.send(sender=Contact, contact_id=contact_id, response_public_ids=public_ids)
        summary = {
            "responses_anonymised": anonymised,
            "invitations_anonymised": len(invitation_ids),
        }
        # The log names the contact by id only: an email here would undo the erasure.
        record_audit(
            actor=actor,
            action=AuditLog.Action.ERASE_CONTACT,
            target=f"contact {contact_id}",
            details=summary,
            row_count=anonymised,
        )
    return summary
