"""What the email provider reports: bounces, complaints and unsubscribes."""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from accounts.models import Contact
from surveys.models import Invitation

logger = logging.getLogger(__name__)

Status = Invitation.Status
Reason = Invitation.Reason


def _attribute_to_last_sent(*, recipient: str, column: str, when: datetime) -> None:
    """A bounce or an ESP unsubscribe belongs to the last message sent to the address (the one
    that bounced, or whose unsubscribe link was used), not to every earlier invitation: the
    funnel counts it there once. Idempotent: an invitation keeps its first such time."""
    for contact_id in Contact.objects.filter(email__iexact=recipient).values_list("pk", flat=True):
        last = (
            Invitation.objects.filter(contact_id=contact_id, sent_at__lte=when)
            .order_by("-sent_at", "-pk")
            .values_list("pk", flat=True)
            .first()
        )
        if last is not None:
            Invitation.objects.filter(pk=last, **{f"{column}__isnull": True}).update(
                **{column: when}
            )


def record_delivery_event(*, event_type: str, recipient: str, description: str = "") -> int:
    """Suppress a contact after a hard bounce, a complaint or an ESP unsubscribe. Idempotent.

    Returns the number of contacts changed. Queued invitations of the contact are then
    suppressed at send time.
    """
    column = {
        "bounced": "bounced_at",
        "complained": "complained_at",
        "unsubscribed": "unsubscribed_at",
    }.get(event_type)
    if not column or not recipient:
        return 0
    now = timezone.now()
    contacts = Contact.objects.filter(
        **{"email__iexact": recipient.strip(), f"{column}__isnull": True}
    )
    contact_ids = list(contacts.values_list("pk", flat=True))
    changed = Contact.objects.filter(pk__in=contact_ids, **{f"{column}__isnull": True}).update(
        **{column: now, "updated_at": now}
    )
    if event_type in ("bounced", "unsubscribed"):
        _attribute_to_last_sent(recipient=recipient.strip(), column=column, when=now)
    if changed:
        reason = {"bounced": Reason.BOUNCED, "complained": Reason.COMPLAINED}.get(
            event_type, Reason.UNSUBSCRIBED
        )
        Invitation.objects.filter(
            contact__email__iexact=recipient.strip(), status__in=[Status.SCHEDULED, Status.QUEUED]
        ).update(status=Status.SUPPRESSED, suppression_reason=reason, next_attempt_at=None)
        # By id: the address never goes to the logs (the formatter would redact it anyway).
        logger.info(
            "%s: contact %s suppressed: %s",
            event_type,
            ",".join(map(str, contact_ids)),
            description[:200],
        )
    return changed
