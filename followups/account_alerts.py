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

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account

from . import alerts, emails
from .deliveries import publish_event
from .models import AccountAlert, AlertRule, Event
from .queue import enqueue

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
    return alerts.deliver(
        AccountAlert,
        alert,
        rule=alert.rule,
        recipients=alerts.alert_recipients(rule=alert.rule, owner=alert.account.owner),
        message=lambda to: emails.account_alert_message(alert, to),
        chat_payload=lambda: emails.account_chat_payload(alert),
        label="account alert",
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
