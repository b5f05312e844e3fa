"""Outbound webhooks: endpoints, events and their signed, retried deliveries."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.jobs import backoff

from . import outbound, webhooks
from .models import (
    Event,
    WebhookDelivery,
    WebhookEndpoint,
)
from .queue import RetryLater, enqueue_on_commit

logger = logging.getLogger(__name__)


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
    enqueue_on_commit("followups.tasks.deliver_webhook", delivery_id)


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
