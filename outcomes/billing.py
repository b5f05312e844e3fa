"""A Stripe subscription object -> its monthly recurring revenue. Pure functions, no Django.

MRR = the sum over the subscription's licensed recurring items of unit amount x quantity,
normalised to a month (yearly / 12, weekly x 52 / 12, daily x 365 / 12, each divided by the
price's `interval_count`), minus the discounts in force (percent off, or an amount off spread
over the billing interval; one-time coupons are not recurring and are left out), in the price's
currency; 0 when the subscription is deleted or not live (trialing, incomplete, canceled,
unpaid, paused). Amounts come in the currency's smallest unit (Stripe's zero-decimal list).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Stripe charges these currencies in whole units (no cents).
ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip
THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}
# Subscriptions that count as paying: past_due is still owed and usually recovered.
LIVE_STATUSES = {"active", "past_due"}
CENT = Decimal("0.01")
MONTHS_PER_YEAR = Decimal(12)
PER_MONTH = {
    "month": Decimal(1),
    "year": Decimal(1) / MONTHS_PER_YEAR,
    "week": Decimal(52) / MONTHS_PER_YEAR,
    "day": Decimal(365) / MONTHS_PER_YEAR,
}


class BillingError(ValueError):
    """The subscription cannot be turned into an MRR (a field is missing or malformed)."""


@dataclass
class SubscriptionMrr:
    mrr: Decimal
    currency: str
    plan: str = ""
    quantity: int | None = None
    renews_on: dt.date | None = None
    status: str = ""
    notes: list[str] = field(default_factory=list)


def minor_unit(currency: str) -> Decimal:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return Decimal(1)
    if code in THREE_DECIMAL:
        return Decimal("0.001")
    return CENT


def _amount(value, currency: str) -> Decimal:
    try:
        return Decimal(str(value)) * minor_unit(currency)
    except (InvalidOperation, TypeError):
        raise BillingError(f"amount {value!r} is not a number") from None


def _monthly_factor(recurring: dict) -> Decimal:
    interval = recurring.get("interval")
    if interval not in PER_MONTH:
        raise BillingError(f"unknown billing interval {interval!r}")
    try:
        count = int(recurring.get("interval_count") or 1)
    except (TypeError, ValueError):
        raise BillingError("interval_count is not a number") from None
    if count < 1:
        raise BillingError("interval_count must be at least 1")
    return PER_MONTH[interval] / count


def _coupon(discount) -> dict | None:
    """The coupon of an expanded discount object (older and newer API versions)."""
    if not isinstance(discount, dict):
        return None
    coupon = discount.get("coupon")
    if coupon is None and isinstance(discount.get("source"), dict):
        coupon = discount["source"].get("coupon")
    return coupon if isinstance(coupon, dict) else None


def _discounted(
    amount: Decimal,
    discounts: list,
    currency: str,
    factor: Decimal,
    at: dt.datetime | None,
    notes: list[str],
) -> Decimal:
    for discount in discounts:
        if isinstance(discount, str):
            notes.append(f"discount {discount} is not expanded in the event; not subtracted")
            continue
        coupon = _coupon(discount)
        if coupon is None:
            continue
        end = discount.get("end")
        if end and at is not None and int(end) <= at.timestamp():
            continue
        if coupon.get("duration") == "once":
            continue
        if coupon.get("percent_off") is not None:
            amount -= amount * Decimal(str(coupon["percent_off"])) / 100
        elif coupon.get("amount_off") is not None:
            coupon_currency = (coupon.get("currency") or currency).upper()
            if coupon_currency != currency:
                notes.append(f"coupon {coupon.get('id')} is in {coupon_currency}; not subtracted")
                continue
            amount -= _amount(coupon["amount_off"], currency) * factor
    return max(amount, Decimal(0))


def _unique(discounts: list) -> list:
    seen: set = set()
    unique = []
    for discount in discounts:
        key = discount if isinstance(discount, str) else discount.get("id") or id(discount)
        if key not in seen:
            seen.add(key)
            unique.append(discount)
    return unique


def _date(timestamp) -> dt.date | None:
    if not timestamp:
        return None
    return dt.datetime.fromtimestamp(int(timestamp), dt.UTC).date()


def subscription_mrr(
    subscription: dict, *, deleted: bool = False, at: dt.datetime | None = None
) -> SubscriptionMrr:
    """The MRR of a Stripe subscription object as of `at` (the event's time)."""
    if not isinstance(subscription, dict) or subscription.get("object") != "subscription":
        raise BillingError("the event's data.object is not a subscription")
    items = (subscription.get("items") or {}).get("data")
    if not isinstance(items, list) or not items:
        raise BillingError("the subscription has no items")
    notes: list[str] = []
    currency = ""
    total = Decimal(0)
    quantity = 0
    plan = ""
    renews_on = None
    first_factor = None
    for item in items:
        price = item.get("price") or item.get("plan")
        if not isinstance(price, dict):
            raise BillingError("a subscription item has no price")
        item_currency = str(price.get("currency") or "").upper()
        if not item_currency:
            raise BillingError("a price has no currency")
        if currency and item_currency != currency:
            raise BillingError("the items are in different currencies")
        currency = item_currency
        recurring = price.get("recurring") or (
            {"interval": price["interval"], "interval_count": price.get("interval_count")}
            if price.get("object") == "plan"
            else None
        )
        if not recurring:
            if price.get("type") != "one_time":
                raise BillingError(f"price {price.get('id')} has no recurring interval")
            notes.append(f"item {item.get('id')} is not recurring; left out")
            continue
        if recurring.get("usage_type") == "metered":
            notes.append(f"item {item.get('id')} is metered; left out")
            continue
        unit = price.get("unit_amount_decimal") or price.get("unit_amount")
        if unit is None:
            raise BillingError(f"price {price.get('id')} has no unit amount (tiered prices)")
        try:
            item_quantity = int(item.get("quantity") if item.get("quantity") is not None else 1)
        except (TypeError, ValueError):
            raise BillingError("a quantity is not a number") from None
        factor = _monthly_factor(recurring)
        first_factor = first_factor or factor
        amount = _amount(unit, currency) * item_quantity * factor
        amount = _discounted(amount, item.get("discounts") or [], currency, factor, at, notes)
        total += amount
        quantity += item_quantity
        if not plan:
            product = price.get("product")
            plan = (
                price.get("nickname")
                or (product.get("name") if isinstance(product, dict) else "")
                or price.get("lookup_key")
                or price.get("id")
                or ""
            )
        if recurring.get("interval") == "year" and renews_on is None:
            renews_on = _date(
                item.get("current_period_end") or subscription.get("current_period_end")
            )
    subscription_discounts = []
    if subscription.get("discount"):
        subscription_discounts.append(subscription["discount"])
    subscription_discounts.extend(subscription.get("discounts") or [])
    total = _discounted(
        total, _unique(subscription_discounts), currency, first_factor or Decimal(1), at, notes
    )
    status = str(subscription.get("status") or "")
    if deleted or status not in LIVE_STATUSES:
        notes.append(f"status {'deleted' if deleted else status}: MRR 0")
        total = Decimal(0)
    return SubscriptionMrr(
        mrr=total.quantize(CENT, rounding=ROUND_HALF_UP),
        currency=currency,
        plan=str(plan)[:100],
        quantity=quantity or None,
        renews_on=renews_on,
        status="deleted" if deleted else status,
        notes=notes,
    )
