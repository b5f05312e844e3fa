"""Data-subject requests (LGPD art. 18, GDPR art. 15/17/20): export or erase one contact.

Erasure removes the person, not the statistics: the contact row, its invitations (with their
properties and tokens) and every comment and free-text reason go; each score stays as an
anonymous response (no contact, no invitation, no text) still tied to its survey and to the
company account, so NPS by plan or period does not change. Both operations are audit-logged.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.audit import record_audit
from accounts.models import AuditLog, Contact

from .models import Invitation, Response


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def export_contact_data(*, contact: Contact, actor) -> dict:
    """Everything stored about one contact, as JSON-ready data. Audit-logged; writes no data."""
    account = contact.account
    invitations = (
        Invitation.objects.filter(contact=contact).select_related("survey").order_by("created_at")
    )
    responses = (
        Response.objects.filter(contact=contact).select_related("survey").order_by("answered_at")
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
        "invitations": [
            {
                "id": str(invitation.public_id),
                "survey": invitation.survey.slug,
                "status": invitation.status,
                "event_id": invitation.event_id,
                "properties": invitation.properties,
                "created_at": _iso(invitation.created_at),
                "sent_at": _iso(invitation.sent_at),
                "clicked_at": _iso(invitation.clicked_at),
                "answered_at": _iso(invitation.answered_at),
            }
            for invitation in invitations
        ],
        "responses": [
            {
                "id": str(response.public_id),
                "survey": response.survey.slug,
                "score": response.score,
                "comment": response.comment,
                "reason": response.reason,
                "answered_at": _iso(response.answered_at),
                "confirmed_via": response.confirmed_via,
            }
            for response in responses
        ],
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
    """Erase a contact's personal data; keep its scores anonymously. All or nothing."""
    contact_id = contact.pk
    with transaction.atomic():
        responses = Response.objects.filter(contact_id=contact_id)
        anonymised = responses.update(
            contact=None,
            invitation=None,
            comment="",
            reason="",
            bot_signals={},
            updated_at=timezone.now(),
        )
        # Responses no longer point at them, so deleting invitations keeps every score.
        _total, by_model = Invitation.objects.filter(contact_id=contact_id).delete()
        invitations = by_model.get(Invitation._meta.label, 0)
        Contact.objects.filter(pk=contact_id).delete()
        summary = {"responses_anonymised": anonymised, "invitations_deleted": invitations}
        # The log names the contact by id only: an email here would undo the erasure.
        record_audit(
            actor=actor,
            action=AuditLog.Action.ERASE_CONTACT,
            target=f"contact {contact_id}",
            details=summary,
            row_count=anonymised,
        )
    return summary
