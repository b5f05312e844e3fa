"""Account alerts: rules on accounts (health turns red or drops, usage falls, a renewal comes
while the account is a detractor or red), found daily by `metrics.health` and delivered here
the way answer alerts are (email to the owner and the rule's addresses, the rule's chat URL),
plus an `account.alert` event to subscribed webhook endpoints.

An account rule fires for an account at most once in ACCOUNT_ALERT_COOLDOWN_DAYS; the unique
(rule, account, day) row makes a repeated daily run fire nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.jobs import backoff
from accounts.models import Account

from . import emails, outbound, webhooks
from .deliveries import publish_event
from .models import AccountAlert, AlertRule, Event
from .queue import RetryLater, enqueue

logger = logging.getLogger(__name__)


def fire_account_alert(
    *, rule_id: int, account_id: int, day: dt.date, reasons: list[dict]
) -> int | None:
    """Record that a rule matched an account on a day and queue its delivery. Idempotent:
    None when the rule already fired for the account that day or within the cooldown."""
    since = day - dt.timedelta(days=settings.ACCOUNT_ALERT_COOLDOWN_DAYS - 1)
    if AccountAlert.objects.filter(
        rule_id=rule_id, account_id=account_id, day__gte=since, day__lte=day
    ).exists():
        return None
    try:
        with transaction.atomic():
            alert = AccountAlert.objects.create(
                rule_id=rule_id, account_id=account_id, day=day, reasons=reasons
            )
    except IntegrityError:
        return None
    transaction.on_commit(lambda: _enqueue(alert.pk), robust=True)
    account = Account.objects.filter(pk=account_id).first()
    publish_event(
        event=Event.ACCOUNT_ALERT,
        key=f"account-alert:{alert.pk}",
        data={
            "rule": AlertRule.objects.filter(pk=rule_id).values_list("name", flat=True).first(),
            "account": {
                "external_id": account.external_id if account else None,
                "name": account.name if account else None,
            },
            "day": day.isoformat(),
            "reasons": reasons,
        },
    )
    return alert.pk


def _enqueue(alert_id: int) -> None:
    enqueue("followups.tasks.send_account_alert", alert_id)


def recipients(*, rule: AlertRule, account: Account) -> list[str]:
    """The owner (when asked and known) and the rule's addresses, de-duplicated, in order."""
    found: list[str] = []
    owner = account.owner
    if rule.notify_owner and owner is not None and owner.email and owner.is_active:
        found.append(owner.email)
    for address in rule.email_list:
        if address.lower() not in {r.lower() for r in found}:
            found.append(address)
    return found


def send_account_alert(*, alert_id: int) -> bool:
    """Email and/or post one account alert. Idempotent: claims the row; a retry only redoes
    the channel that failed. Raises RetryLater while attempts remain, then marks it failed."""
    now = timezone.now()
    claimed = AccountAlert.objects.filter(pk=alert_id, status=AccountAlert.Status.PENDING).update(
        status=AccountAlert.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    alert = AccountAlert.objects.select_related("rule", "account__owner").get(pk=alert_id)
    rule, account = alert.rule, alert.account
    errors = []
    to = recipients(rule=rule, account=account)
    if alert.email_sent_at is None and to:
        try:
            emails.account_alert_message(alert, to).send()
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(f"email: {type(exc).__name__}")
        else:
            AccountAlert.objects.filter(pk=alert_id).update(
                email_sent_at=timezone.now(), recipients=", ".join(to)
            )
    if alert.chat_sent_at is None and rule.chat_webhook_url:
        body = webhooks.dumps(emails.account_chat_payload(alert)).encode()
        result = outbound.post(rule.chat_webhook_url, body, {})
        if result.ok:
            AccountAlert.objects.filter(pk=alert_id).update(chat_sent_at=timezone.now())
        else:
            errors.append(f"chat: {result.error}")
    if not errors:
        AccountAlert.objects.filter(pk=alert_id).update(
            status=AccountAlert.Status.SENT, sent_at=timezone.now(), last_error=""
        )
        return True
    error = "; ".join(errors)[:2000]
    if alert.attempts >= settings.ALERT_MAX_ATTEMPTS:
        logger.warning(
            "account alert %s failed after %s attempts: %s", alert_id, alert.attempts, error
        )
        AccountAlert.objects.filter(pk=alert_id).update(
            status=AccountAlert.Status.FAILED, last_error=error
        )
        return False
    AccountAlert.objects.filter(pk=alert_id).update(
        status=AccountAlert.Status.PENDING, last_error=error
    )
    raise RetryLater(
        error,
        backoff(
            attempt=alert.attempts,
            base=settings.ALERT_BACKOFF_BASE,
            cap=settings.ALERT_BACKOFF_MAX,
        ),
    )


def sweep(*, stale: dt.timedelta = dt.timedelta(minutes=5)) -> dict:
    """Queue account alerts a crashed worker or a lost broker message left behind."""
    now = timezone.now()
    Status = AccountAlert.Status
    stuck = list(
        AccountAlert.objects.filter(status=Status.SENDING, claimed_at__lt=now - stale).values_list(
            "pk", flat=True
        )[:1000]
    )
    AccountAlert.objects.filter(pk__in=stuck, status=Status.SENDING).update(status=Status.PENDING)
    retry_wait = dt.timedelta(seconds=settings.ALERT_BACKOFF_MAX)
    lost = set(stuck) | set(
        AccountAlert.objects.filter(status=Status.PENDING, created_at__lt=now - stale)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - stale - retry_wait))
        .values_list("pk", flat=True)[:1000]
    )
    for alert_id in sorted(lost):
        _enqueue(alert_id)
    return {"requeued_account_alerts": len(lost)}
