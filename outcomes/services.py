"""Writes to the subscription ledger: one path for the API, the CSV import, Stripe and the
account writes announced by `accounts` (the contact import, the invitations API, the admin).

Every write appends events and then refreshes the cached copy on the account (`Account.mrr`,
currency, plan, renewal date, status and churn date), in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Account
from accounts.signals import BillingChange

from .models import Source, SubscriptionEvent

# Who announced an account write (accounts.signals) -> the ledger source it is recorded as.
ANNOUNCED_SOURCES = {
    "api": Source.ACCOUNT_API,
    "contact_import": Source.CONTACT_IMPORT,
    "admin": Source.ADMIN,
}
LEDGER_FIELDS = {"mrr", "currency", "renewal_date"}
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class EventInput:
    """A validated ledger event, as the API, the CSV import or the demo give it."""

    account: str  # the account's external id
    external_id: str
    effective_at: dt.datetime
    mrr: Decimal
    currency: str
    plan: str = ""
    quantity: int | None = None
    renews_on: dt.date | None = None
    raw: dict = field(default_factory=dict)


@dataclass
class RecordResult:
    created: list[SubscriptionEvent] = field(default_factory=list)
    replayed: list[SubscriptionEvent] = field(default_factory=list)
    accounts_created: int = 0


def record_events(*, events: list[EventInput], source: str) -> RecordResult:
    """Append events, creating unknown accounts; all or nothing. Idempotent: an event whose
    (source, external_id) is already stored is returned under `replayed` and changes nothing."""
    result = RecordResult()
    if not events:
        return result
    with transaction.atomic():
        ids = sorted({event.account for event in events})
        accounts = {a.external_id: a for a in Account.objects.filter(external_id__in=ids)}
        stored = {
            e.external_id: e
            for e in SubscriptionEvent.objects.filter(
                source=source, external_id__in=[event.external_id for event in events]
            )
        }
        rows = []
        for event in events:
            if event.external_id in stored:
                result.replayed.append(stored[event.external_id])
                continue
            account = accounts.get(event.account)
            if account is None:
                account = account_services.upsert_account(external_id=event.account)
                accounts[event.account] = account
                result.accounts_created += 1
            rows.append(
                SubscriptionEvent(
                    account=account,
                    source=source,
                    external_id=event.external_id,
                    effective_at=event.effective_at,
                    mrr=event.mrr,
                    currency=event.currency,
                    plan=event.plan,
                    quantity=event.quantity,
                    renews_on=event.renews_on,
                    raw=event.raw,
                )
            )
        result.created = SubscriptionEvent.objects.bulk_create(rows, batch_size=1000)
        sync_accounts(account_ids={row.account_id for row in rows})
    return result


def append_event(
    *,
    account: Account,
    source: str,
    external_id: str,
    effective_at: dt.datetime,
    mrr: Decimal,
    currency: str,
    plan: str = "",
    quantity: int | None = None,
    renews_on: dt.date | None = None,
    raw: dict | None = None,
) -> tuple[SubscriptionEvent, bool]:
    """Append one event for a known account and refresh its cache. Idempotent on
    (source, external_id): (the stored event, False) when it exists."""
    with transaction.atomic():
        event, created = SubscriptionEvent.objects.get_or_create(
            source=source,
            external_id=external_id,
            defaults={
                "account": account,
                "effective_at": effective_at,
                "mrr": mrr,
                "currency": currency,
                "plan": plan,
                "quantity": quantity,
                "renews_on": renews_on,
                "raw": raw or {},
            },
        )
        if created:
            sync_accounts(account_ids={account.pk})
    return event, created


def on_account_billing_changed(
    sender, *, changes: list[BillingChange], source: str, at: dt.datetime, **kwargs
) -> None:
    """Receiver of `accounts.signals.account_billing_changed`: each MRR, currency or renewal
    date write becomes a ledger event (a staff churn, one of MRR 0), in the same transaction;
    a newly mapped Stripe customer gets its waiting events applied after commit."""
    rows = []
    customers = []
    for change in changes:
        churned = "status" in change.fields and change.status == Account.Status.CHURNED
        if churned or LEDGER_FIELDS & change.fields:
            effective_at = at
            if churned and change.churned_at and change.churned_at < at:
                # A churn dated before the account's latest recorded change would be undone
                # by it; it then takes effect now.
                later = SubscriptionEvent.objects.filter(
                    account_id=change.account_id, effective_at__gt=change.churned_at
                ).exists()
                effective_at = at if later else change.churned_at
            rows.append(
                SubscriptionEvent(
                    account_id=change.account_id,
                    source=ANNOUNCED_SOURCES.get(source, Source.ADMIN),
                    external_id=uuid.uuid4().hex,
                    effective_at=effective_at,
                    mrr=ZERO if churned else change.mrr,
                    currency=change.currency,
                    plan=change.plan,
                    renews_on=change.renewal_date,
                )
            )
        if "stripe_customer_id" in change.fields and change.stripe_customer_id:
            customers.append(change.stripe_customer_id)
    if rows:
        SubscriptionEvent.objects.bulk_create(rows, batch_size=1000)
        sync_accounts(account_ids={row.account_id for row in rows})
    for customer in customers:
        transaction.on_commit(lambda c=customer: _enqueue_unmatched(c), robust=True)


def _enqueue_unmatched(customer_id: str) -> None:
    from . import tasks  # tasks import the services; imported here so there is no circle

    tasks.apply_unmatched_stripe_events.delay(customer_id)


def _latest(condition: str, columns: str) -> str:
    """A lateral subquery: the account's latest event (by effective time, then id) meeting
    `condition`."""
    return (
        f"SELECT {columns} FROM outcomes_subscriptionevent e WHERE e.account_id = a.id "  # noqa: S608
        f"AND {condition} ORDER BY e.effective_at DESC, e.id DESC LIMIT 1"
    )


# What each account's cached ledger fields should be, from its events (accounts with none are
# left alone). Only constants of this module are formatted in.
_WANTED = f"""
SELECT a.id, latest.mrr, latest.currency,
    COALESCE(named.plan, a.plan) AS plan,
    COALESCE(renewal.renews_on, a.renewal_date) AS renewal_date,
    CASE WHEN latest.mrr = 0 AND paid.effective_at IS NOT NULL THEN %(churned)s
        WHEN latest.mrr > 0 AND a.status = %(churned)s THEN %(active)s
        ELSE a.status END AS status,
    CASE WHEN latest.mrr = 0 AND paid.effective_at IS NOT NULL THEN (
            SELECT z.effective_at FROM outcomes_subscriptionevent z WHERE z.account_id = a.id
            AND z.effective_at >= paid.effective_at AND z.mrr = 0
            ORDER BY z.effective_at, z.id LIMIT 1)
        WHEN latest.mrr = 0 AND a.status = %(churned)s
            THEN COALESCE(a.churned_at, latest.effective_at)
        WHEN latest.mrr > 0 AND a.status = %(churned)s THEN NULL
        ELSE a.churned_at END AS churned_at,
    CASE WHEN latest.mrr > 0 AND a.status = %(churned)s THEN NULL
        ELSE a.churn_reason_id END AS churn_reason_id,
    CASE WHEN latest.mrr > 0 AND a.status = %(churned)s THEN ''
        ELSE a.churn_note END AS churn_note
FROM accounts_account a
CROSS JOIN LATERAL ({_latest("true", "e.mrr, e.currency, e.effective_at")}) AS latest
LEFT JOIN LATERAL ({_latest("e.plan <> ''", "e.plan")}) AS named ON true
LEFT JOIN LATERAL ({_latest("e.renews_on IS NOT NULL", "e.renews_on")}) AS renewal ON true
LEFT JOIN LATERAL ({_latest("e.mrr > 0", "e.effective_at")}) AS paid ON true
WHERE a.id = ANY(%(ids)s)
"""  # noqa: S608
_SYNCED = (
    "mrr",
    "currency",
    "plan",
    "renewal_date",
    "status",
    "churned_at",
    "churn_reason_id",
    "churn_note",
)


def sync_accounts(*, account_ids: Iterable[int]) -> int:
    """Refresh each account's cached copy of its latest ledger event: MRR, currency, plan (when
    the event names one), renewal date (the latest event that names one), and churn: MRR 0 after
    having paid means churned since the first zero event after the last paid one; paying again
    clears it (and the churn's reason and note); an account churned by staff with no paid event
    is churned since its zero event. Idempotent; returns the number of accounts changed.

    One set-based statement per 10,000 accounts."""
    ids = sorted(set(account_ids))
    assignments = ", ".join(f"{name} = w.{name}" for name in _SYNCED)
    differs = " OR ".join(f"a.{name} IS DISTINCT FROM w.{name}" for name in _SYNCED)
    changed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 10_000):
            cursor.execute(
                f"UPDATE accounts_account a SET {assignments}, updated_at = %(now)s "  # noqa: S608
                f"FROM ({_WANTED}) AS w WHERE a.id = w.id AND ({differs})",
                {
                    "ids": ids[start : start + 10_000],
                    "now": timezone.now(),
                    "churned": Account.Status.CHURNED.value,
                    "active": Account.Status.ACTIVE.value,
                },
            )
            changed += cursor.rowcount
    return changed
