"""Stripe subscription -> MRR on documented object shapes, amounts worked by hand."""

import datetime as dt
from decimal import Decimal as D

import pytest

from outcomes.billing import BillingError, subscription_mrr

from . import stripe_payloads as sp

AT = dt.datetime(2024, 12, 24, tzinfo=dt.UTC)


def mrr(subscription, **kwargs):
    return subscription_mrr(subscription, at=AT, **kwargs)


def test_monthly_quantity():
    result = mrr(sp.subscription([sp.item(sp.price(4900), 3)]))
    assert (result.mrr, result.currency, result.plan, result.quantity) == (
        D("147.00"), "USD", "Pro", 3,
    )  # fmt: skip


def test_annual_is_divided_by_twelve_and_has_a_renewal_date():
    result = mrr(sp.subscription([sp.item(sp.price(120000, interval="year"))]))
    assert result.mrr == D("100.00")  # 1,200.00 / 12
    assert result.renews_on == dt.date(2025, 1, 1)  # current_period_end 1735689600


def test_interval_count_week_and_day():
    quarterly = mrr(sp.subscription([sp.item(sp.price(30000, interval_count=3))]))
    assert quarterly.mrr == D("100.00")  # 300.00 every 3 months
    weekly = mrr(sp.subscription([sp.item(sp.price(1000, interval="week"))]))
    assert weekly.mrr == D("43.33")  # 10.00 x 52 / 12 = 43.333
    daily = mrr(sp.subscription([sp.item(sp.price(100, interval="day"))]))
    assert daily.mrr == D("30.42")  # 1.00 x 365 / 12 = 30.4166


def test_multi_item_sums_items():
    items = [sp.item(sp.price(5000, nickname="Base")), sp.item(sp.price(1000, nickname="Seat"), 10)]
    result = mrr(sp.subscription(items))
    assert result.mrr == D("150.00")  # 50.00 + 10 x 10.00
    assert result.plan == "Base" and result.quantity == 11


def test_metered_items_are_left_out():
    items = [sp.item(sp.price(5000)), sp.item(sp.price(2, usage_type="metered"))]
    result = mrr(sp.subscription(items))
    assert result.mrr == D("50.00")
    assert any("metered" in note for note in result.notes)


def test_percent_and_amount_discounts():
    pct = sp.discount(sp.coupon(percent_off=20.0))
    result = mrr(sp.subscription([sp.item(sp.price(10000), 2)], discount_object=pct))
    assert result.mrr == D("160.00")  # 200.00 - 20%
    off = sp.discount(sp.coupon(amount_off=1500, currency="usd"))
    annual = sp.subscription([sp.item(sp.price(120000, interval="year"))], discounts=[off])
    assert mrr(annual).mrr == D("98.75")  # (1,200.00 - 15.00 per year) / 12


def test_one_time_and_ended_discounts_are_not_recurring():
    once = sp.discount(sp.coupon(percent_off=50.0, duration="once"))
    assert mrr(sp.subscription([sp.item(sp.price(10000))], discount_object=once)).mrr == D("100.00")
    ended = sp.discount(sp.coupon(percent_off=50.0, duration="repeating"), end=1700000001)
    assert mrr(sp.subscription([sp.item(sp.price(10000))], discounts=[ended])).mrr == D("100.00")


def test_unexpanded_discount_ids_are_noted_not_guessed():
    result = mrr(sp.subscription([sp.item(sp.price(10000))], discounts=["di_NotExpanded"]))
    assert result.mrr == D("100.00")
    assert "di_NotExpanded" in result.notes[0]


def test_zero_decimal_currency():
    result = mrr(sp.subscription([sp.item(sp.price(50000, currency="clp"))]))
    assert (result.mrr, result.currency) == (D("50000.00"), "CLP")


@pytest.mark.parametrize("status", ["trialing", "canceled", "incomplete", "unpaid", "paused"])
def test_not_live_is_zero(status):
    assert mrr(sp.subscription([sp.item(sp.price(4900))], status=status)).mrr == D("0.00")


def test_past_due_still_counts_and_deleted_is_zero():
    sub = sp.subscription([sp.item(sp.price(4900))], status="past_due")
    assert mrr(sub).mrr == D("49.00")
    assert mrr(sub, deleted=True).mrr == D("0.00")


@pytest.mark.parametrize(
    "broken",
    [
        {"object": "invoice"},
        {"object": "subscription", "items": {"data": []}},
        {"object": "subscription", "items": {"data": [{"price": {"currency": "usd"}}]}},
    ],
)
def test_malformed_subscriptions_raise(broken):
    with pytest.raises(BillingError):
        subscription_mrr(broken)
