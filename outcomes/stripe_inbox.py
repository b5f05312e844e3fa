"""The Stripe inbox: store a verified event, then apply it to the ledger in a worker.

Idempotent on Stripe's event id (a replayed delivery is stored once and applied once) and safe
when deliveries arrive out of order: each subscription keeps the state of its newest event by
Stripe's `created`, so an older event that arrives later changes nothing. The account's MRR is
the sum of its live subscriptions in the event's currency, appended to the ledger at the event's
`created`, or at the account's newest Stripe ledger point if that is later, so the newest point
always holds every subscription's newest state.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts import services as account_services
from accounts.models import CURRENCY_CODES, Account

from . import services
from .billing import BillingError, subscription_mrr
from .models import Source, StripeEvent, StripeSubscription, SubscriptionEvent

logger = logging.getLogger(__name__)

HANDLED_TYPES = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
}
CURRENCIES = {code for code, _name in CURRENCY_CODES}
DONE = {StripeEvent.Status.PROCESSED, StripeEvent.Status.SUPERSEDED, StripeEvent.Status.IGNORED}


def _customer_id(obj: dict) -> str:
    customer = obj.get("customer")
    if isinstance(customer, dict):
        return str(customer.get("id") or "")
    return str(customer or "")


def store_event(*, payload: dict) -> tuple[StripeEvent, bool]:
    """Keep a verified event in the inbox and queue it after commit. Idempotent: a replayed
    event id returns the stored row and queues nothing."""
    obj = (payload.get("data") or {}).get("object") or {}
    created = dt.datetime.fromtimestamp(int(payload["created"]), dt.UTC)
    with transaction.atomic():
        event, new = StripeEvent.objects.get_or_create(
            event_id=payload["id"],
            defaults={
                "type": str(payload.get("type") or "")[:100],
                "created": created,
                "customer_id": _customer_id(obj)[:255] if isinstance(obj, dict) else "",
                "subscription_id": str(obj.get("id") or "")[:255] if isinstance(obj, dict) else "",
                "payload": payload,
            },
        )
        if new:
            transaction.on_commit(lambda: enqueue(event.pk), robust=True)
    return event, new


def enqueue(inbox_id: int) -> None:
    from . import tasks  # tasks import this module; imported here so there is no circle

    tasks.process_stripe_event.delay(inbox_id)


def _resolve_account(subscription: dict, customer_id: str) -> Account | None:
    """metadata.account_id of the subscription (or of an expanded customer) names the account,
    creating it if unknown; else the account mapped to the Stripe customer id."""
    customer = subscription.get("customer")
    external_id = (subscription.get("metadata") or {}).get("account_id")
    if not external_id and isinstance(customer, dict):
        external_id = (customer.get("metadata") or {}).get("account_id")
    if external_id:
        name = customer.get("name") if isinstance(customer, dict) else ""
        account = Account.objects.filter(external_id=str(external_id)).first()
        if account is None:
            account = account_services.upsert_account(
                external_id=str(external_id)[:100], name=str(name or "")[:200]
            )
        if (
            customer_id
            and not account.stripe_customer_id
            and not Account.objects.filter(stripe_customer_id=customer_id).exists()
        ):
            # Announced like any mapping, so the customer's other waiting events get applied.
            account_services.set_stripe_customer(account=account, customer_id=customer_id)
        return account
    if customer_id:
        return Account.objects.filter(stripe_customer_id=customer_id).first()
    return None


def _finish(event: StripeEvent, status: str, note: str = "", account=None) -> str:
    event.status = status
    event.note = note
    if account is not None:
        event.account = account
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "note", "account", "processed_at", "attempts"])
    return status


def process_event(*, inbox_id: int) -> str:
    """Apply one inbox event to the ledger; returns its new status. Idempotent: a processed,
    superseded or ignored event is left as it is."""
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().filter(pk=inbox_id).first()
        if event is None or event.status in DONE:
            return event.status if event else ""
        event.attempts += 1
        if event.type not in HANDLED_TYPES:
            return _finish(event, StripeEvent.Status.IGNORED)
        subscription = (event.payload.get("data") or {}).get("object") or {}
        try:
            result = subscription_mrr(
                subscription,
                deleted=event.type == "customer.subscription.deleted",
                at=event.created,
            )
        except BillingError as exc:
            return _finish(event, StripeEvent.Status.FAILED, str(exc))
        if result.currency not in CURRENCIES:
            return _finish(
                event,
                StripeEvent.Status.FAILED,
                f"currency {result.currency} is not one of {', '.join(sorted(CURRENCIES))}",
            )
        account = _resolve_account(subscription, event.customer_id)
        if account is None:
            return _finish(
                event,
                StripeEvent.Status.UNMATCHED,
                f"no account for customer {event.customer_id or '(none)'}: map it to one",
            )
        state = (
            StripeSubscription.objects.select_for_update()
            .filter(subscription_id=event.subscription_id)
            .first()
        )
        if state is not None and (
            state.last_event_created > event.created or state.last_event_id == event.event_id
        ):
            return _finish(
                event,
                StripeEvent.Status.SUPERSEDED,
                f"subscription state is from the newer event {state.last_event_id}",
                account,
            )
        values = {
            "customer_id": event.customer_id,
            "account": account,
            "status": result.status,
            "mrr": result.mrr,
            "currency": result.currency,
            "plan": result.plan,
            "quantity": result.quantity,
            "last_event_created": event.created,
            "last_event_id": event.event_id,
        }
        StripeSubscription.objects.update_or_create(
            subscription_id=event.subscription_id, defaults=values
        )
        total = sum(
            StripeSubscription.objects.filter(
                account=account, currency=result.currency
            ).values_list("mrr", flat=True)
        )
        newest = SubscriptionEvent.objects.filter(account=account, source=Source.STRIPE).aggregate(
            at=Max("effective_at")
        )["at"]
        services.append_event(
            account=account,
            source=Source.STRIPE,
            external_id=event.event_id,
            effective_at=max(event.created, newest) if newest else event.created,
            mrr=total,
            currency=result.currency,
            plan=result.plan,
            quantity=result.quantity,
            renews_on=result.renews_on,
            raw=subscription,
        )
        return _finish(event, StripeEvent.Status.PROCESSED, "; ".join(result.notes), account)


def apply_unmatched(*, customer_id: str) -> int:
    """Apply the events that waited for this customer to be mapped, oldest first. Idempotent."""
    ids = list(
        StripeEvent.objects.filter(customer_id=customer_id, status=StripeEvent.Status.UNMATCHED)
        .order_by("created", "pk")
        .values_list("pk", flat=True)
    )
    StripeEvent.objects.filter(pk__in=ids).update(status=StripeEvent.Status.PENDING)
    for inbox_id in ids:
        process_event(inbox_id=inbox_id)
    return len(ids)


def retry(*, inbox_ids: list[int]) -> int:
    """Staff: process failed or unmatched events again (after fixing the cause)."""
    ids = list(
        StripeEvent.objects.filter(
            pk__in=inbox_ids,
            status__in=[StripeEvent.Status.FAILED, StripeEvent.Status.UNMATCHED],
        ).values_list("pk", flat=True)
    )
    StripeEvent.objects.filter(pk__in=ids).update(status=StripeEvent.Status.PENDING)
    for inbox_id in ids:
        transaction.on_commit(lambda i=inbox_id: enqueue(i), robust=True)
    return len(ids)


def sweep(*, older_than_seconds: int = 300) -> int:
    """Beat: queue pending events a lost broker message left behind. Idempotent."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        StripeEvent.objects.filter(
            status=StripeEvent.Status.PENDING, received_at__lt=cutoff
        ).values_list("pk", flat=True)[:1000]
    )
    for inbox_id in ids:
        enqueue(inbox_id)
    return len(ids)
