"""Stripe webhook payloads shaped exactly like the documented Event and Subscription objects
(API reference: "The Event object", "The Subscription object", "The Price object")."""

from __future__ import annotations

import copy
import itertools
import json

import stripe

SECRET = "whsec_test_secret_for_the_suite"
_ids = itertools.count(1)


def price(
    unit_amount: int,
    *,
    currency: str = "usd",
    interval: str = "month",
    interval_count: int = 1,
    nickname: str | None = "Pro",
    usage_type: str = "licensed",
) -> dict:
    n = next(_ids)
    return {
        "id": f"price_1Test{n:06d}",
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": 1700000000,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": nickname,
        "product": f"prod_Test{n:06d}",
        "recurring": {
            "aggregate_usage": None,
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "trial_period_days": None,
            "usage_type": usage_type,
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def item(price_object: dict, quantity: int = 1, *, subscription: str = "sub_Test") -> dict:
    n = next(_ids)
    return {
        "id": f"si_Test{n:06d}",
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": 1700000000,
        "current_period_end": 1735689600,
        "current_period_start": 1704067200,
        "discounts": [],
        "metadata": {},
        "price": price_object,
        "quantity": quantity,
        "subscription": subscription,
        "tax_rates": [],
    }


def coupon(
    *, percent_off=None, amount_off=None, currency=None, duration="forever", coupon_id="CPN"
) -> dict:
    return {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": amount_off,
        "created": 1700000000,
        "currency": currency,
        "duration": duration,
        "duration_in_months": 3 if duration == "repeating" else None,
        "livemode": False,
        "max_redemptions": None,
        "metadata": {},
        "name": coupon_id,
        "percent_off": percent_off,
        "redeem_by": None,
        "times_redeemed": 1,
        "valid": True,
    }


def discount(coupon_object: dict, *, subscription: str = "sub_Test", end=None) -> dict:
    n = next(_ids)
    return {
        "id": f"di_Test{n:06d}",
        "object": "discount",
        "checkout_session": None,
        "coupon": coupon_object,
        "customer": "cus_Test",
        "end": end,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": None,
        "start": 1700000000,
        "subscription": subscription,
    }


def subscription(
    items: list[dict],
    *,
    sub_id: str = "sub_1TestAbc",
    customer="cus_TestCustomer1",
    status: str = "active",
    metadata: dict | None = None,
    discount_object: dict | None = None,
    discounts: list | None = None,
    current_period_end: int = 1735689600,
) -> dict:
    for entry in items:
        entry["subscription"] = sub_id
    first_price = items[0]["price"]
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None},
        "billing_cycle_anchor": 1704067200,
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None if status != "canceled" else 1735000000,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": 1704067200,
        "currency": first_price["currency"],
        "current_period_end": current_period_end,
        "current_period_start": 1704067200,
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discount": discount_object,
        "discounts": discounts if discounts is not None else [],
        "ended_at": None,
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": metadata or {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": 1704067200,
        "status": status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def event(
    subscription_object: dict,
    *,
    event_type: str = "customer.subscription.updated",
    created: int = 1735000000,
    event_id: str | None = None,
    previous_attributes: dict | None = None,
) -> dict:
    n = next(_ids)
    data = {"object": copy.deepcopy(subscription_object)}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id or f"evt_1Test{n:08d}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_Test{n:06d}", "idempotency_key": f"key-{n}"},
        "type": event_type,
    }


def signed(payload: dict, *, secret: str = SECRET, timestamp: int | None = None):
    """(body, Stripe-Signature header) as Stripe sends them."""
    body = json.dumps(payload)
    return body, stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
