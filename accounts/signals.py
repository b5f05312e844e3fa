"""Events this app announces to higher apps. Sent by services, never by models.

- `contact_unsubscribed` (after commit): receivers get `contact_id`.
- `account_billing_changed` (synchronously, inside the writing transaction, so a receiver's
  writes commit or roll back with the change): sent whenever a service, the contact import or
  the admin writes an account's MRR, currency, renewal date, churn or Stripe customer id.
  Receivers get `changes` (a list of `BillingChange`), `source` (who wrote: "admin",
  "contact_import", "api") and `at` (when, an aware datetime). The `outcomes` app appends the
  subscription-ledger events from it, so `accounts` never imports `outcomes`.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.dispatch import Signal

contact_unsubscribed = Signal()
account_billing_changed = Signal()


@dataclass(frozen=True)
class BillingChange:
    """An account's billing fields after a write; `fields` names the ones that changed."""

    account_id: int
    mrr: object  # Decimal
    currency: str
    fields: frozenset[str] = field(default_factory=frozenset)
    plan: str = ""
    status: str = ""
    renewal_date: dt.date | None = None
    churned_at: dt.datetime | None = None
    stripe_customer_id: str = ""


BILLING_FIELDS = frozenset({"mrr", "currency", "renewal_date", "status", "stripe_customer_id"})


def billing_change(account, changed) -> BillingChange:
    """The change record of an Account instance (already holding its new values)."""
    return BillingChange(
        account_id=account.pk,
        mrr=account.mrr,
        currency=account.currency,
        fields=frozenset(changed) & BILLING_FIELDS,
        plan=account.plan,
        status=account.status,
        renewal_date=account.renewal_date,
        churned_at=account.churned_at,
        stripe_customer_id=account.stripe_customer_id,
    )


def announce_billing_changes(*, changes: list[BillingChange], source: str, at: dt.datetime) -> None:
    """Tell higher apps about billing writes, in the caller's transaction (no-op if none)."""
    if changes:
        account_billing_changed.send(sender=BillingChange, changes=changes, source=source, at=at)
