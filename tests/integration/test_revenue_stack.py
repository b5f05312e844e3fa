"""The revenue contract on the real stack: HTTP against a live server (PostgreSQL, token auth)
and a signed Stripe webhook applied by a real Celery worker through Redis."""

import time
from decimal import Decimal as D

import pytest
import requests
from rest_framework.authtoken.models import Token

from accounts.models import Account
from outcomes.models import StripeEvent, SubscriptionEvent
from tests.factories import AccountFactory, StaffFactory
from tests.outcomes import stripe_payloads as sp

pytestmark = pytest.mark.integration


def _wait(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture
def http(live_server, transactional_db):
    token = Token.objects.create(user=StaffFactory(role="CS staff"))
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token.key}"
    session.base = live_server.url
    return session


def test_subscription_events_and_revenue_api_over_http(http):
    url = f"{http.base}/api/v1/subscription-events"
    first = {
        "account": "acme",
        "external_id": "inv-1",
        "effective_at": "2025-01-15T10:00:00Z",
        "mrr": "1000.00",
        "currency": "USD",
        "plan": "Pro",
    }
    created = http.post(url, json=first, timeout=30)
    assert created.status_code == 201, created.text
    assert created.json()["mrr"] == "1000.00"
    assert http.post(url, json=first, timeout=30).status_code == 200  # replay
    batch = [
        {**first, "external_id": "inv-2", "effective_at": "2025-02-10T00:00:00Z", "mrr": "1200.00"},
        {"account": "globex", "external_id": "g-1", "effective_at": "2025-01-01T00:00:00Z",
         "mrr": "500.00", "currency": "usd"},
        {"account": "globex", "external_id": "g-2", "effective_at": "2025-02-14T00:00:00Z",
         "mrr": "0", "currency": "USD"},
    ]  # fmt: skip
    response = http.post(url, json=batch, timeout=30)
    assert response.status_code == 201 and response.json()["created"] == 3
    bad = http.post(url, json={**first, "external_id": "x", "mrr": "-5"}, timeout=30)
    assert bad.status_code == 400 and "mrr" in bad.json()
    listed = http.get(url, params={"account": "acme"}, timeout=30).json()
    assert [e["external_id"] for e in listed["results"]] == ["inv-2", "inv-1"]

    revenue = http.get(
        f"{http.base}/api/v1/metrics/revenue",
        params={"start": "2025-02-01", "end": "2025-03-01", "tz": "UTC", "interval": "month"},
        timeout=30,
    )
    assert revenue.status_code == 200
    (usd,) = revenue.json()["currencies"]
    # acme 1,000 -> 1,200 (expansion 200); globex 500 -> 0 (churn 500).
    assert (usd["mrr_start"], usd["mrr_end"], usd["expansion"], usd["churn"]) == (
        "1500.00", "1200.00", "200.00", "500.00",
    )  # fmt: skip
    assert (usd["logo_churn_pct"], usd["grr_pct"], usd["nrr_pct"]) == (50.0, 66.67, 80.0)
    assert len(usd["months"]) == 1 and usd["months"][0]["churn"] == "500.00"
    assert Account.objects.get(external_id="globex").status == "churned"

    score = http.get(
        f"{http.base}/api/v1/metrics/retention-by-score",
        params={"start": "2025-02-01", "end": "2025-03-01"},
        timeout=30,
    ).json()
    no_answer = score["nps"]["categories"][-1]
    assert (no_answer["category"], no_answer["accounts_start"], no_answer["churned"]) == (
        "no_answer", 2, 1,
    )  # fmt: skip
    assert http.get(f"{http.base}/api/v1/metrics/revenue", timeout=30).status_code == 400


def test_stripe_webhook_applied_by_a_worker(worker, live_server, settings):
    settings.STRIPE_WEBHOOK_SECRET = sp.SECRET
    AccountFactory(external_id="acme", mrr=D("0.00"))
    subscription = sp.subscription(
        [sp.item(sp.price(120000, interval="year"), 2)], metadata={"account_id": "acme"}
    )
    body, header = sp.signed(sp.event(subscription, event_type="customer.subscription.created"))
    response = requests.post(
        f"{live_server.url}/integrations/stripe/webhook",
        data=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    event = _wait(lambda: StripeEvent.objects.filter(status="processed").first(), timeout=60)
    assert event.account.external_id == "acme"
    # 2 x 1,200.00 a year = 200.00 a month
    assert Account.objects.get(external_id="acme").mrr == D("200.00")
    assert SubscriptionEvent.objects.get().source == "stripe"
    # A bad signature is refused before anything is stored.
    forged = requests.post(
        f"{live_server.url}/integrations/stripe/webhook",
        data=body,
        headers={
            "Stripe-Signature": header.replace("v1=", "v1=0"),
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert forged.status_code == 400 and StripeEvent.objects.count() == 1
