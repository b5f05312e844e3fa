"""What the email provider reports: bounces, complaints and unsubscribes."""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from accounts import services as account_services
from accounts.models import Contact
from surveys.models import Invitation

logger = logging.getLogger(__name__)

Status = Invitation.Status
Reason = Invitation.Reason


def unsubscribe(
    *, contact: Contact, invitation: Invitation | None = None, when: datetime | None = None
) -> bool:
    """Stop all survey mail to a contact: the one path of an unsubscribe, from the page, the
    one-click header or the email provider's report. Idempotent: False if already unsubscribed.

    The contact is unsubscribed by its own service, which announces it (`contact_unsubscribed`:
    follow-ups and webhooks hear of it); the funnel counts it once, on the invitation whose link
    was used or, when the provider reports it, on the last message sent; invitations still
    waiting to be sent are suppressed.
    """
    if not account_services.unsubscribe_contact(contact=contact):
        return False
    when = when or timezone.now()
    if invitation is not None:
        Invitation.objects.filter(pk=invitation.pk, unsubscribed_at__isnull=True).update(
            unsubscribed_at=when
        )
    else:
        _attribute_to_last_sent(contact_ids=[contact.pk], column="unsubscribed_at", when=when)
    _suppress_waiting(contact_ids=[contact.pk], reason=Reason.UNSUBSCRIBED)
    return True


def _suppress_waiting(*, contact_ids: list[int], reason: str) -> None:
    Invitation.objects.filter(
        contact_id__in=contact_ids, status__in=[Status.SCHEDULED, Status.QUEUED]
    ).update(status=Status.SUPPRESSED, suppression_reason=reason, next_attempt_at=None)


def _attribute_to_last_sent(*, contact_ids: list[int], column: str, when: datetime) -> None:
    """A bounce or an ESP unsubscribe belongs to the last message sent to the address (the one
    that bounced, or whose unsubscribe link was used), not to every earlier invitation: the
    funnel counts it there once. Idempotent: an invitation keeps its first such time."""
    for contact_id in contact_ids:
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

    Returns the number of contacts changed. An unsubscribe takes the page's path
    (`unsubscribe`); a bounce or a complaint suppresses the contact's waiting invitations here.
    """
    column = {
        "bounced": "bounced_at",
        "complained": "complained_at",
        "unsubscribed": "unsubscribed_at",
    }.get(event_type)
    recipient = (recipient or "").strip()
    if not column or not recipient:
        return 0
    now = timezone.now()
    if event_type == "unsubscribed":
        contacts = list(
            Contact.objects.filter(email__iexact=recipient, unsubscribed_at__isnull=True)
        )
        contact_ids = [c.pk for c in contacts if unsubscribe(contact=c, when=now)]
        changed = len(contact_ids)
    else:
        contact_ids = list(
            Contact.objects.filter(
                **{"email__iexact": recipient, f"{column}__isnull": True}
            ).values_list("pk", flat=True)
        )
        changed = Contact.objects.filter(pk__in=contact_ids, **{f"{column}__isnull": True}).update(
            **{column: now, "updated_at": now}
        )
        if event_type == "bounced":
            everyone = Contact.objects.filter(email__iexact=recipient).values_list("pk", flat=True)
            _attribute_to_last_sent(contact_ids=list(everyone), column=column, when=now)
        if changed:
            reason = Reason.BOUNCED if event_type == "bounced" else Reason.COMPLAINED
            _suppress_waiting(contact_ids=contact_ids, reason=reason)
    if changed:
        # By id: the address never goes to the logs (the formatter would redact it anyway).
        logger.info(
            "%s: contact %s suppressed: %s",
            event_type,
            ",".join(map(str, contact_ids)),
            description[:200],
        )
    return changed
