"""Writes for alerts, follow-ups and webhooks: one path per entity.

Every hand-off to a worker happens on commit; every worker claims its row with a conditional
UPDATE first, so duplicate or replayed tasks do nothing.
"""

from __future__ import annotations

import json
import logging
import smtplib
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Contact
from surveys.models import Response, Survey

from . import emails, outbound, selectors, webhooks
from .models import (
    AlertDelivery,
    AlertRule,
    DigestPreference,
    Event,
    FollowUp,
    Note,
    Tag,
    WebhookDelivery,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

MAX_TAGS = 20
UNSET = object()


class RetryLater(Exception):
    """A delivery that may succeed later; the task retries it after `countdown` seconds."""

    def __init__(self, message: str, countdown: float) -> None:
        super().__init__(message)
        self.countdown = countdown


def backoff(*, attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after the given (1-based) failed attempt: base, 2x base, 4x base, ..."""
    return min(base * (2 ** max(attempt - 1, 0)), cap)


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


# --- Alerts ---------------------------------------------------------------------------------


def fire_alerts(*, response: Response) -> list[int]:
    """Create one delivery per matching active rule and queue it. Idempotent: a rule that
    already fired for this response (the unique pair) never fires again. Returns new ids."""
    if response.excluded:
        return []
    rules = [
        rule
        for rule in AlertRule.objects.filter(active=True).filter(
            Q(survey__isnull=True) | Q(survey_id=response.survey_id)
        )
        if rule.has_condition()
    ]
    if not rules:
        return []
    # All rules evaluated in one query, by the same filters the sweeper uses.
    matches = Response.objects.filter(pk=response.pk).aggregate(
        **{f"r{rule.pk}": Count("pk", filter=rule.condition_q()) for rule in rules}
    )
    created_ids = []
    for rule in rules:
        if not matches[f"r{rule.pk}"]:
            continue
        delivery_id = _claim_alert(rule_id=rule.pk, response_id=response.pk)
        if delivery_id:
            created_ids.append(delivery_id)
    return created_ids


def _claim_alert(*, rule_id: int, response_id: int) -> int | None:
    try:
        with transaction.atomic():
            delivery = AlertDelivery.objects.create(rule_id=rule_id, response_id=response_id)
    except IntegrityError:
        return None  # This rule already fired for this response.
    _enqueue_alert(delivery.pk)
    return delivery.pk


def _enqueue_alert(delivery_id: int) -> None:
    from . import tasks

    transaction.on_commit(lambda: tasks.send_alert.delay(delivery_id), robust=True)


def alert_recipients(*, rule: AlertRule, response: Response) -> list[str]:
    """The owner (when asked and known) and the rule's addresses, de-duplicated, in order."""
    recipients: list[str] = []
    owner = response.account.owner if response.account else None
    if rule.notify_owner and owner is not None and owner.email and owner.is_active:
        recipients.append(owner.email)
    for address in rule.email_list:
        if address.lower() not in {r.lower() for r in recipients}:
            recipients.append(address)
    return recipients


def send_alert(*, delivery_id: int) -> bool:
    """Email and/or post one alert. Idempotent: claims the row; a retry only redoes the
    channel that failed. Raises RetryLater while attempts remain, then marks it failed."""
    now = timezone.now()
    claimed = AlertDelivery.objects.filter(
        pk=delivery_id, status=AlertDelivery.Status.PENDING
    ).update(status=AlertDelivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return False
    delivery = AlertDelivery.objects.select_related(
        "rule", "response__survey", "response__contact", "response__account__owner"
    ).get(pk=delivery_id)
    rule, response = delivery.rule, delivery.response
    errors = []
    recipients = alert_recipients(rule=rule, response=response)
    if delivery.email_sent_at is None and recipients:
        try:
            emails.alert_message(rule, response, recipients).send()
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(f"email: {type(exc).__name__}")
        else:
            AlertDelivery.objects.filter(pk=delivery_id).update(
                email_sent_at=timezone.now(), recipients=", ".join(recipients)
            )
    if delivery.chat_sent_at is None and rule.chat_webhook_url:
        body = webhooks.dumps(emails.chat_payload(rule, response)).encode()
        result = outbound.post(rule.chat_webhook_url, body, {})
        if result.ok:
            AlertDelivery.objects.filter(pk=delivery_id).update(chat_sent_at=timezone.now())
        else:
            errors.append(f"chat: {result.error}")
    if not errors:
        AlertDelivery.objects.filter(pk=delivery_id).update(
            status=AlertDelivery.Status.SENT, sent_at=timezone.now(), last_error=""
        )
        return True
    error = "; ".join(errors)[:2000]
    if delivery.attempts >= settings.ALERT_MAX_ATTEMPTS:
        logger.warning(
            "alert %s failed after %s attempts: %s", delivery_id, delivery.attempts, error
        )
        AlertDelivery.objects.filter(pk=delivery_id).update(
            status=AlertDelivery.Status.FAILED, last_error=error
        )
        return False
    AlertDelivery.objects.filter(pk=delivery_id).update(
        status=AlertDelivery.Status.PENDING, last_error=error
    )
    raise RetryLater(
        error,
        backoff(
            attempt=delivery.attempts,
            base=settings.WEBHOOK_BACKOFF_BASE,
            cap=settings.WEBHOOK_BACKOFF_MAX,
        ),
    )


# --- Digests --------------------------------------------------------------------------------


def digest_period_start(*, frequency: str, now: datetime) -> datetime:
    """The latest scheduled send time at or before `now` (UTC): daily, or Mondays."""
    start = now.replace(hour=settings.DIGEST_HOUR_UTC, minute=0, second=0, microsecond=0)
    if frequency == DigestPreference.Frequency.WEEKLY:
        start -= timedelta(days=start.weekday())
    if start > now:
        start -= timedelta(days=7 if frequency == DigestPreference.Frequency.WEEKLY else 1)
    return start


def set_digest_frequency(*, user, frequency: str) -> DigestPreference:
    """Choose a user's digest frequency. Idempotent."""
    if frequency not in DigestPreference.Frequency.values:
        raise ValidationError(_("Choose off, daily or weekly."))
    preference, _created = DigestPreference.objects.update_or_create(
        user=user, defaults={"frequency": frequency}
    )
    return preference


def send_due_digests(*, now: datetime | None = None) -> int:
    """Email each opted-in staff user their digest once per period. Idempotent per period:
    the period is claimed by a conditional UPDATE of last_sent_at before anything is sent."""
    now = now or timezone.now()
    sent = 0
    preferences = (
        DigestPreference.objects.exclude(frequency=DigestPreference.Frequency.OFF)
        .filter(user__is_active=True, user__is_staff=True)
        .exclude(user__email="")
        .select_related("user")
    )
    for preference in preferences:
        start = digest_period_start(frequency=preference.frequency, now=now)
        claimed = (
            DigestPreference.objects.filter(pk=preference.pk)
            .filter(Q(last_sent_at__isnull=True) | Q(last_sent_at__lt=start))
            .update(last_sent_at=now)
        )
        if not claimed:
            continue
        length = timedelta(
            days=7 if preference.frequency == DigestPreference.Frequency.WEEKLY else 1
        )
        since = preference.last_sent_at or (now - length)
        rows = selectors.unhappy_responses_for(user=preference.user, since=since)
        open_count = selectors.queue(user=preference.user).count()
        if not rows and not open_count:
            continue
        emails.digest_message(preference.user, rows, open_count, since).send()
        sent += 1
    return sent


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


# --- Webhooks -------------------------------------------------------------------------------


def create_endpoint(
    *, url: str, events: list[str], created_by=None, description: str = ""
) -> WebhookEndpoint:
    """Register a URL for events; the signing secret is generated. Raises ValidationError."""
    endpoint = WebhookEndpoint(
        url=url, events=list(events), created_by=created_by, description=description
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def publish_event(*, event: str, key: str, data: dict) -> int:
    """Queue one signed delivery per active endpoint subscribed to the event. Idempotent per
    (endpoint, key). Returns how many deliveries were queued."""
    endpoints = [
        e for e in WebhookEndpoint.objects.filter(active=True) if event in (e.events or [])
    ]
    if not endpoints:
        return 0
    now = timezone.now()
    rows = [
        _new_delivery(endpoint, event=event, key=key, data=data, now=now) for endpoint in endpoints
    ]
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = list(
        WebhookDelivery.objects.filter(
            public_id__in=[r.public_id for r in rows], status=WebhookDelivery.Status.PENDING
        ).values_list("pk", flat=True)
    )
    for delivery_id in ids:
        _enqueue_webhook(delivery_id)
    return len(ids)


def send_ping(*, endpoint: WebhookEndpoint) -> bool:
    """Queue a signed test event to one active endpoint, whatever it subscribed to."""
    if not endpoint.active:
        return False
    delivery = _new_delivery(
        endpoint,
        event=Event.PING,
        key="",
        data={"endpoint": outbound.redact_url(endpoint.url)},
        now=timezone.now(),
    )
    delivery.key = f"ping:{delivery.public_id}"
    delivery.save()
    _enqueue_webhook(delivery.pk)
    return True


def _new_delivery(
    endpoint: WebhookEndpoint, *, event: str, key: str, data: dict, now
) -> WebhookDelivery:
    """An unsaved delivery: the signed envelope {"id", "event", "created_at", "data"}."""
    public_id = uuid.uuid4()
    body = webhooks.dumps(
        {"id": str(public_id), "event": event, "created_at": now.isoformat(), "data": data}
    )
    return WebhookDelivery(
        public_id=public_id,
        endpoint=endpoint,
        event=event,
        key=key,
        body=body,
        created_at=now,
        next_attempt_at=now,
    )


def _enqueue_webhook(delivery_id: int) -> None:
    from . import tasks

    transaction.on_commit(lambda: tasks.deliver_webhook.delay(delivery_id), robust=True)


def deliver_webhook(*, delivery_id: int) -> bool:
    """POST one delivery, signed. Idempotent: claims the row first. Raises RetryLater with an
    exponential backoff while attempts remain; the last failure counts against the endpoint,
    which is disabled (with the reason) after WEBHOOK_DISABLE_AFTER failed deliveries in a row."""
    Status = WebhookDelivery.Status
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.PENDING, endpoint__active=True
    ).update(status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=Status.PENDING, endpoint__active=False
        ).update(status=Status.SKIPPED, last_error=_("The endpoint is disabled."))
        return False
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    body = delivery.body.encode()
    headers = webhooks.signed_headers(
        secret=endpoint.secret, body=body, event=delivery.event, delivery_id=str(delivery.public_id)
    )
    result = outbound.post(endpoint.url, body, headers)
    done = timezone.now()
    if result.ok:
        with transaction.atomic():
            WebhookDelivery.objects.filter(pk=delivery_id).update(
                status=Status.SUCCEEDED,
                delivered_at=done,
                last_status_code=result.status_code,
                last_error="",
                next_attempt_at=None,
            )
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        return True
    if delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        countdown = backoff(
            attempt=delivery.attempts,
            base=settings.WEBHOOK_BACKOFF_BASE,
            cap=settings.WEBHOOK_BACKOFF_MAX,
        )
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=Status.PENDING,
            last_status_code=result.status_code,
            last_error=result.error,
            next_attempt_at=done + timedelta(seconds=countdown),
        )
        logger.info(
            "webhook delivery %s to endpoint %s: attempt %s failed, retry in %.0f s: %s",
            delivery_id,
            endpoint.pk,
            delivery.attempts,
            countdown,
            result.error,
        )
        raise RetryLater(result.error, countdown)
    logger.warning(
        "webhook delivery %s to endpoint %s failed after %s attempts: %s",
        delivery_id,
        endpoint.pk,
        delivery.attempts,
        result.error,
    )
    with transaction.atomic():
        # Together, so whoever sees the delivery failed also sees the endpoint's count (and state).
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=Status.FAILED,
            last_status_code=result.status_code,
            last_error=result.error,
            next_attempt_at=None,
        )
        _count_failed_delivery(endpoint_id=endpoint.pk, last_error=result.error)
    return False


def _count_failed_delivery(*, endpoint_id: int, last_error: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    limit = settings.WEBHOOK_DISABLE_AFTER
    reason = _(
        "Disabled automatically: %(count)s deliveries in a row failed every attempt. "
        "Last error: %(error)s"
    ) % {"count": limit, "error": last_error[:300]}
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint_id, active=True, consecutive_failures__gte=limit
    ).update(active=False, disabled_at=timezone.now(), disabled_reason=reason[:500])
    if disabled:
        logger.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)


def enable_endpoint(*, endpoint: WebhookEndpoint) -> bool:
    """Turn a disabled endpoint back on and clear its failure count. Idempotent."""
    return bool(
        WebhookEndpoint.objects.filter(pk=endpoint.pk, active=False).update(
            active=True, disabled_at=None, disabled_reason="", consecutive_failures=0
        )
    )


def redeliver(*, delivery: WebhookDelivery) -> bool:
    """Queue a failed or skipped delivery again, same body and id, attempts reset."""
    updated = WebhookDelivery.objects.filter(
        pk=delivery.pk, status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.SKIPPED]
    ).update(status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now())
    if updated:
        _enqueue_webhook(delivery.pk)
    return bool(updated)


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
            alerts += bool(_claim_alert(rule_id=rule.pk, response_id=response_id))
    for response in recent.filter(category__lt=0, followup__isnull=True).select_related("account")[
        :1000
    ]:
        ensure_followup(response=response)
        followups += 1
    from . import tasks

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
    retry_wait = timedelta(seconds=settings.WEBHOOK_BACKOFF_MAX)
    lost_alerts = set(stuck_alerts) | set(
        AlertDelivery.objects.filter(
            status=AlertDelivery.Status.PENDING, created_at__lt=now - stale
        )
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - stale - retry_wait))
        .values_list("pk", flat=True)[:1000]
    )
    for delivery_id in sorted(lost_alerts):
        tasks.send_alert.delay(delivery_id)
    lost_hooks = set(stuck_hooks) | set(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=now - stale
        ).values_list("pk", flat=True)[:1000]
    )
    for delivery_id in sorted(lost_hooks):
        tasks.deliver_webhook.delay(delivery_id)
    return {
        "alerts": alerts,
        "followups": followups,
        "requeued_alerts": len(lost_alerts),
        "requeued_webhooks": len(lost_hooks),
    }
