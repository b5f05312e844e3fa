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

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
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


def _latest(field_name: str, *, extra: Q | None = None):
    events = SubscriptionEvent.objects.filter(account=OuterRef("pk"))
    if extra is not None:
        events = events.filter(extra)
    return Subquery(events.order_by("-effective_at", "-pk").values(field_name)[:1])


def sync_accounts(*, account_ids: Iterable[int]) -> int:
    """Refresh each account's cached copy of its latest ledger event: MRR, currency, plan (when
    the event names one), renewal date (the latest event that names one), and churn: MRR 0 after
    having paid means churned since the first zero event after the last paid one; paying again
    clears it. Idempotent; returns the number of accounts changed."""
    ids = sorted(set(account_ids))
    changed = []
    fields: set[str] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows = Account.objects.filter(pk__in=chunk).annotate(
            ledger_mrr=_latest("mrr"),
            ledger_currency=_latest("currency"),
            ledger_effective_at=_latest("effective_at"),
            ledger_plan=_latest("plan", extra=~Q(plan="")),
            ledger_renews_on=_latest("renews_on", extra=Q(renews_on__isnull=False)),
            last_paid_at=_latest("effective_at", extra=Q(mrr__gt=0)),
        )
        for account in rows:
            if account.ledger_mrr is None:
                continue
            wanted = {"mrr": account.ledger_mrr, "currency": account.ledger_currency}
            if account.ledger_plan:
                wanted["plan"] = account.ledger_plan
            if account.ledger_renews_on:
                wanted["renewal_date"] = account.ledger_renews_on
            if account.ledger_mrr == 0 and account.last_paid_at is not None:
                wanted["status"] = Account.Status.CHURNED
                wanted["churned_at"] = _churn_instant(account.pk, account.last_paid_at)
            elif account.ledger_mrr == 0 and account.status == Account.Status.CHURNED:
                # Churned by staff with no paid event on record: churned since the zero event.
                if account.churned_at is None:
                    wanted["churned_at"] = account.ledger_effective_at
            elif account.ledger_mrr > 0 and account.status == Account.Status.CHURNED:
                wanted.update(
                    status=Account.Status.ACTIVE, churned_at=None, churn_reason=None, churn_note=""
                )
            diff = {k: v for k, v in wanted.items() if getattr(account, k) != v}
            if diff:
                for name, value in diff.items():
                    setattr(account, name, value)
                fields.update(diff)
                changed.append(account)
    if changed:
        now = timezone.now()
        for account in changed:
            account.updated_at = now
        Account.objects.bulk_update(changed, [*sorted(fields), "updated_at"], batch_size=1000)
    return len(changed)


def _churn_instant(account_id: int, last_paid_at: dt.datetime) -> dt.datetime:
    """When MRR reached 0 after the last paid event: the first zero event after it."""
    return (
        SubscriptionEvent.objects.filter(
            account_id=account_id, effective_at__gte=last_paid_at, mrr=0
        )
        .order_by("effective_at", "pk")
        .values_list("effective_at", flat=True)
        .first()
    )
