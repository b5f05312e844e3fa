"""Writes for alerts, follow-ups and webhooks: one path per entity.

Every hand-off to a worker happens on commit; every worker claims its row with a conditional
UPDATE first, so duplicate or replayed tasks do nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Contact
from surveys.models import Response, Survey

from . import selectors, webhooks
from .alerts import claim_alert, fire_alerts
from .deliveries import publish_event
from .models import (
    AlertDelivery,
    AlertRule,
    Event,
    FollowUp,
    Note,
    Tag,
    WebhookDelivery,
)
from .queue import enqueue

logger = logging.getLogger(__name__)

MAX_TAGS = 20
UNSET = object()


# --- Response and contact events -----------------------------------------------------------


def handle_response_saved(*, response_id: int, created: bool) -> None:
    """React to a committed answer that counts: open its follow-up if unhappy, fire alerts,
    publish it. An excluded or quarantined answer gets none of these.

    Idempotent for follow-ups and alerts; the webhook event is keyed by the response's update
    time, so a replay of the same save publishes nothing new.
    """
    response = selectors.response_with_account(response_id=response_id)
    if response is None:
        return
    # A re-answer may change the category the queue sorts on.
    FollowUp.objects.filter(response=response).exclude(category=response.category).update(
        category=response.category
    )
    if response.excluded:
        # Quarantined (a suspected bot) or excluded by staff: no follow-up, alert or webhook.
        # A released answer is announced again and gets them then.
        return
    if response.category < 0:
        ensure_followup(response=response)
    fire_alerts(response=response)
    event = Event.RESPONSE_CREATED if created else Event.RESPONSE_UPDATED
    publish_event(
        event=event,
        key=f"{event}:{response.public_id}:{response.updated_at.isoformat()}",
        data=selectors.response_payload(response),
    )


def publish_contact_unsubscribed(*, contact_id: int) -> int:
    """Publish contact.unsubscribed. Idempotent per unsubscribe (keyed by its time)."""
    contact = Contact.objects.select_related("account").filter(pk=contact_id).first()
    if contact is None or contact.unsubscribed_at is None:
        return 0
    event = Event.CONTACT_UNSUBSCRIBED
    return publish_event(
        event=event,
        key=f"{event}:{contact.pk}:{contact.unsubscribed_at.isoformat()}",
        data=selectors.contact_payload(contact),
    )


def scrub_erased_contact(*, contact_id: int, response_public_ids: list[str]) -> dict:
    """Remove an erased contact's personal data from this app's copies: webhook bodies about
    them (contact, comment, properties) and follow-up notes on their answers. Deliveries not
    yet made are skipped, never sent. Runs inside the erasure's transaction; idempotent."""
    prefixes = [f"{Event.CONTACT_UNSUBSCRIBED}:{contact_id}:"] + [
        f"{event}:{public_id}:"
        for public_id in response_public_ids
        for event in (Event.RESPONSE_CREATED, Event.RESPONSE_UPDATED)
    ]
    about_them = Q()
    for prefix in prefixes:
        about_them |= Q(key__startswith=prefix)
    scrubbed = 0
    for delivery in WebhookDelivery.objects.filter(about_them).only("pk", "body", "status"):
        updates = {"body": webhooks.dumps(_scrubbed_envelope(delivery.body))}
        if delivery.status == WebhookDelivery.Status.PENDING:
            updates.update(
                status=WebhookDelivery.Status.SKIPPED,
                next_attempt_at=None,
                last_error=_("Not delivered: the contact's personal data was erased."),
            )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**updates)
        scrubbed += 1
    notes = Note.objects.filter(followup__response__public_id__in=response_public_ids).update(
        body=_("(Erased with the contact's personal data.)")
    )
    return {"webhook_deliveries_scrubbed": scrubbed, "notes_scrubbed": notes}


def _scrubbed_envelope(body: str) -> dict:
    """A delivery's envelope with the person taken out of its data."""
    envelope = json.loads(body)
    data = envelope.get("data") or {}
    if "contact" in data:
        data["contact"] = None
    response = data.get("response")
    if isinstance(response, dict):
        response.update(comment="", properties={}, event_id=None)
        response.pop("reason", None)
    envelope["data"] = data
    return envelope


# --- Follow-ups -----------------------------------------------------------------------------


def ensure_followup(*, response: Response) -> FollowUp:
    """The follow-up of a response, opened if missing and assigned to the account owner.
    Idempotent and safe under concurrent calls (one row per response)."""
    owner_id = response.account.owner_id if response.account_id and response.account else None
    followup, _created = FollowUp.objects.get_or_create(
        response=response,
        defaults={
            "assignee_id": owner_id,
            "account_id": response.account_id,
            "answered_at": response.answered_at,
            "category": response.category,
        },
    )
    return followup


def _mark_first_action(followup: FollowUp, now: datetime) -> None:
    FollowUp.objects.filter(pk=followup.pk, first_action_at__isnull=True).update(
        first_action_at=now
    )


def clean_tag_names(names: list[str]) -> list[str]:
    """Tag names as given, stripped and de-duplicated ignoring case; raises on bad ones."""
    result: list[str] = []
    seen: set[str] = set()
    for raw in names:
        if not isinstance(raw, str):
            raise ValidationError(_("Tags are text."))
        name = " ".join(raw.split())
        if not name:
            continue
        if len(name) > 50:
            raise ValidationError(_("Keep each tag under 50 characters."))
        if name.lower() not in seen:
            seen.add(name.lower())
            result.append(name)
    if len(result) > MAX_TAGS:
        raise ValidationError(_("Use at most %(max)s tags.") % {"max": MAX_TAGS})
    return result


def _tags_named(names: list[str]) -> list[Tag]:
    tags = []
    for name in names:
        tag = Tag.objects.filter(name__iexact=name).first()
        if tag is None:
            try:
                with transaction.atomic():
                    tag = Tag.objects.create(name=name)
            except IntegrityError:
                tag = Tag.objects.get(name__iexact=name)
        tags.append(tag)
    return tags


def update_followup(
    *,
    followup: FollowUp,
    actor,
    status: str | object = UNSET,
    assignee: object = UNSET,
    tags: list[str] | None = None,
) -> FollowUp:
    """Change status, assignee and/or tags (tags replace the set). Stamps the first action and
    the close time; raises ValidationError and writes nothing on a bad value."""
    fields: dict = {}
    if status is not UNSET:
        if status not in FollowUp.Status.values:
            raise ValidationError(
                _("Unknown status %(status)s; use one of: %(choices)s.")
                % {"status": status, "choices": ", ".join(FollowUp.Status.values)}
            )
        if status != followup.status:
            fields["status"] = status
    if assignee is not UNSET:
        if assignee is not None and not (assignee.is_staff and assignee.is_active):
            raise ValidationError(_("Assign follow-ups to active staff users only."))
        if (assignee.pk if assignee else None) != followup.assignee_id:
            fields["assignee"] = assignee
    tag_names = clean_tag_names(tags) if tags is not None else None
    with transaction.atomic():
        locked = FollowUp.objects.select_for_update().get(pk=followup.pk)
        now = timezone.now()
        changed = bool(fields)
        if "status" in fields:
            if fields["status"] in FollowUp.CLOSED:
                fields["closed_at"] = (
                    now if locked.status not in FollowUp.CLOSED else locked.closed_at
                )
            else:
                fields["closed_at"] = None
        for key, value in fields.items():
            setattr(locked, key, value)
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
        if tag_names is not None:
            new_tags = _tags_named(tag_names)
            if {t.pk for t in new_tags} != set(locked.tags.values_list("pk", flat=True)):
                locked.tags.set(new_tags)
                changed = True
        if changed:
            _mark_first_action(locked, now)
    locked.refresh_from_db()
    return locked


def add_note(*, followup: FollowUp, author, body: str) -> Note:
    """Add an internal note. Counts as the first action; raises ValidationError if empty."""
    body = (body or "").strip()
    if not body:
        raise ValidationError(_("Write something in the note."))
    if len(body) > 5000:
        raise ValidationError(_("Keep the note under 5,000 characters."))
    with transaction.atomic():
        note = Note.objects.create(followup=followup, author=author, body=body)
        _mark_first_action(followup, note.created_at)
        FollowUp.objects.filter(pk=followup.pk).update(updated_at=note.created_at)
    return note


# --- Recovery -------------------------------------------------------------------------------


def sweep(
    *, window: timedelta = timedelta(hours=1), stale: timedelta = timedelta(minutes=5)
) -> dict:
    """Recover work lost between commit and enqueue, or by a crashed worker. Safe any time:
    every step is idempotent (unique rows, conditional claims)."""
    now = timezone.now()
    since = now - window
    alerts = followups = 0
    # By answer time, through the (survey, answered_at) index; a re-answer whose enqueue was lost
    # is not recovered here (its first answer was).
    recent = Response.objects.filter(
        survey_id__in=Survey.objects.values("pk"), answered_at__gte=since, excluded=False
    )
    for rule in AlertRule.objects.filter(active=True):
        if not rule.has_condition():
            continue
        ids = (
            recent.filter(rule.condition_q(), answered_at__gte=rule.created_at)
            .exclude(alerts__rule=rule)
            .values_list("pk", flat=True)[:1000]
        )
        for response_id in ids:
            alerts += bool(claim_alert(rule_id=rule.pk, response_id=response_id))
    for response in recent.filter(category__lt=0, followup__isnull=True).select_related("account")[
        :1000
    ]:
        ensure_followup(response=response)
        followups += 1
    # Crashed workers: rows stuck in "sending" go back to pending and are queued again.
    stuck_alerts = list(
        AlertDelivery.objects.filter(
            status=AlertDelivery.Status.SENDING, claimed_at__lt=now - stale
        ).values_list("pk", flat=True)[:1000]
    )
    AlertDelivery.objects.filter(pk__in=stuck_alerts, status=AlertDelivery.Status.SENDING).update(
        status=AlertDelivery.Status.PENDING
    )
    stuck_hooks = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.SENDING, claimed_at__lt=now - stale
        ).values_list("pk", flat=True)[:1000]
    )
    WebhookDelivery.objects.filter(
        pk__in=stuck_hooks, status=WebhookDelivery.Status.SENDING
    ).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now)
    # Never handed to a worker. A pending alert claimed before waits for its retry: leave it.
    retry_wait = timedelta(seconds=settings.ALERT_BACKOFF_MAX)
    lost_alerts = set(stuck_alerts) | set(
        AlertDelivery.objects.filter(
            status=AlertDelivery.Status.PENDING, created_at__lt=now - stale
        )
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - stale - retry_wait))
        .values_list("pk", flat=True)[:1000]
    )
    for delivery_id in sorted(lost_alerts):
        enqueue("followups.tasks.send_alert", delivery_id)
    lost_hooks = set(stuck_hooks) | set(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=now - stale
        ).values_list("pk", flat=True)[:1000]
    )
    for delivery_id in sorted(lost_hooks):
        enqueue("followups.tasks.deliver_webhook", delivery_id)
    return {
        "alerts": alerts,
        "followups": followups,
        "requeued_alerts": len(lost_alerts),
        "requeued_webhooks": len(lost_hooks),
    }
