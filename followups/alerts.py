"""Alerts on answers: one delivery per matching rule, emailed and/or posted to chat, retried."""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.jobs import backoff
from surveys.models import Response

from . import emails, outbound, webhooks
from .models import (
    AlertDelivery,
    AlertRule,
)
from .queue import RetryLater, enqueue_on_commit

logger = logging.getLogger(__name__)


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
        delivery_id = claim_alert(rule_id=rule.pk, response_id=response.pk)
        if delivery_id:
            created_ids.append(delivery_id)
    return created_ids


def claim_alert(*, rule_id: int, response_id: int) -> int | None:
    try:
        with transaction.atomic():
            delivery = AlertDelivery.objects.create(rule_id=rule_id, response_id=response_id)
    except IntegrityError:
        return None  # This rule already fired for this response.
    _enqueue_alert(delivery.pk)
    return delivery.pk


def _enqueue_alert(delivery_id: int) -> None:
    enqueue_on_commit("followups.tasks.send_alert", delivery_id)


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
            base=settings.ALERT_BACKOFF_BASE,
            cap=settings.ALERT_BACKOFF_MAX,
        ),
    )
