"""The Stripe webhook end to end in-process: signature, inbox, worker task (eager), ledger."""

import datetime as dt
import json
from decimal import Decimal as D

import pytest

from accounts.models import Account
from accounts.roles import CS_STAFF
from outcomes.models import StripeEvent, SubscriptionEvent
from tests.factories import AccountFactory, StaffFactory

from . import stripe_payloads as sp

pytestmark = pytest.mark.django_db
URL = "/integrations/stripe/webhook"
T0 = 1735000000  # 2024-12-24 00:26:40 UTC


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = sp.SECRET


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def send(payload, **kwargs):
        body, header = sp.signed(payload, **kwargs)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
            )

    return send


@pytest.fixture
def acme():
    return AccountFactory(external_id="acme", mrr=D("0.00"), currency="USD")


def sub(quantity=1, unit=4900, **kwargs):
    kwargs.setdefault("metadata", {"account_id": "acme"})
    return sp.subscription([sp.item(sp.price(unit), quantity)], **kwargs)


def ledger(account):
    return list(
        SubscriptionEvent.objects.filter(account=account)
        .order_by("effective_at", "pk")
        .values_list("mrr", "source")
    )


def at(timestamp):
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def test_created_then_upgraded_then_downgraded(deliver, acme):
    created = sp.event(sub(1), event_type="customer.subscription.created", created=T0)
    assert deliver(created).status_code == 200
    assert deliver(sp.event(sub(3), created=T0 + 60)).status_code == 200
    assert deliver(sp.event(sub(2), created=T0 + 120)).status_code == 200
    assert ledger(acme) == [(D("49.00"), "stripe"), (D("147.00"), "stripe"), (D("98.00"), "stripe")]
    acme.refresh_from_db()
    assert (acme.mrr, acme.currency, acme.plan) == (D("98.00"), "USD", "Pro")
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_annual_multi_item_discounted(deliver, acme):
    items = [
        sp.item(sp.price(120000, interval="year", nickname="Enterprise")),
        sp.item(sp.price(12000, interval="year", nickname="Seats"), 5),
    ]
    off = sp.discount(sp.coupon(percent_off=25.0))
    payload = sp.event(
        sp.subscription(items, metadata={"account_id": "acme"}, discount_object=off),
        event_type="customer.subscription.created",
        created=T0,
    )
    deliver(payload)
    acme.refresh_from_db()
    # (1,200.00 + 5 x 120.00) / 12 = 150.00; 25% off = 112.50
    assert acme.mrr == D("112.50")
    assert acme.renewal_date == dt.date(2025, 1, 1)
    assert acme.plan == "Enterprise"


def test_canceled_churns_the_account_at_the_event_time(deliver, acme):
    deliver(sp.event(sub(2), event_type="customer.subscription.created", created=T0))
    deleted = sp.event(
        sub(2, status="canceled"), event_type="customer.subscription.deleted", created=T0 + 3600
    )
    deliver(deleted)
    acme.refresh_from_db()
    assert acme.mrr == D("0.00")
    assert acme.status == Account.Status.CHURNED
    assert acme.churned_at == at(T0 + 3600)


def test_replayed_delivery_is_stored_and_applied_once(deliver, acme):
    payload = sp.event(sub(1), event_type="customer.subscription.created", created=T0)
    first = deliver(payload)
    second = deliver(payload)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert StripeEvent.objects.count() == 1
    assert len(ledger(acme)) == 1


def test_out_of_order_older_event_changes_nothing(deliver, acme):
    newer = sp.event(sub(5), created=T0 + 600)
    older = sp.event(sub(2), created=T0 + 300)
    deliver(newer)
    deliver(older)
    acme.refresh_from_db()
    assert acme.mrr == D("245.00")  # 5 x 49.00, not 2 x 49.00
    assert StripeEvent.objects.get(event_id=older["id"]).status == "superseded"
    assert ledger(acme) == [(D("245.00"), "stripe")]


def test_two_subscriptions_of_one_account_are_summed(deliver, acme):
    deliver(sp.event(sub(1, sub_id="sub_A"), created=T0))
    deliver(sp.event(sub(2, unit=1000, sub_id="sub_B"), created=T0 + 10))
    acme.refresh_from_db()
    assert acme.mrr == D("69.00")  # 49.00 + 2 x 10.00
    deliver(
        sp.event(
            sub(1, sub_id="sub_A", status="canceled"),
            event_type="customer.subscription.deleted",
            created=T0 + 20,
        )
    )
    acme.refresh_from_db()
    assert acme.mrr == D("20.00") and acme.status == Account.Status.ACTIVE


def test_bad_signature_stale_timestamp_and_no_secret(client, settings, acme):
    payload = sp.event(sub(1), created=T0)
    body, _header = sp.signed(payload, secret="whsec_someone_else")
    response = client.post(
        URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_header
    )
    assert response.status_code == 400
    body, header = sp.signed(payload, timestamp=int(dt.datetime.now(dt.UTC).timestamp()) - 301)
    stale = client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert stale.status_code == 400
    missing = client.post(URL, body, content_type="application/json")
    assert missing.status_code == 400
    body, header = sp.signed(payload)
    tampered = body.replace("4900", "1")
    altered = client.post(
        URL, tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert altered.status_code == 400
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert (
        client.post(
            URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        ).status_code
        == 404
    )
    assert StripeEvent.objects.count() == 0 and SubscriptionEvent.objects.count() == 0


def test_signed_body_that_is_not_an_event_is_refused(client):
    body = json.dumps({"hello": "world"})
    _b, header = sp.signed({"hello": "world"})
    response = client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


@pytest.mark.role(CS_STAFF)
def test_unmatched_customer_waits_then_applies_when_mapped(
    deliver, api_client, django_capture_on_commit_callbacks
):
    account = AccountFactory(external_id="globex", mrr=D("0.00"))
    first = sp.event(sub(1, metadata={}, customer="cus_Globex"), created=T0)
    second = sp.event(sub(4, metadata={}, customer="cus_Globex"), created=T0 + 60)
    deliver(first)
    deliver(second)
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {"unmatched"}
    assert SubscriptionEvent.objects.filter(account=account).count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.put(
            "/api/v1/accounts/globex/stripe-customer", {"customer": "cus_Globex"}, format="json"
        )
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.mrr == D("196.00")  # both applied, oldest first: 49.00 then 4 x 49.00
    assert ledger(account) == [(D("49.00"), "stripe"), (D("196.00"), "stripe")]
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_expanded_customer_metadata_names_the_account(deliver):
    customer = {
        "id": "cus_X",
        "object": "customer",
        "name": "Initech",
        "metadata": {"account_id": "initech"},
    }
    deliver(sp.event(sub(1, metadata={}, customer=customer), created=T0))
    account = Account.objects.get(external_id="initech")
    assert (account.name, account.mrr, account.stripe_customer_id) == (
        "Initech",
        D("49.00"),
        "cus_X",
    )


def test_other_event_types_are_kept_and_ignored(deliver, acme):
    payload = sp.event(sub(1), event_type="invoice.paid", created=T0)
    assert deliver(payload).status_code == 200
    assert StripeEvent.objects.get().status == "ignored"
    assert SubscriptionEvent.objects.count() == 0


def test_unsupported_currency_fails_visibly(deliver, acme):
    yen = sp.subscription(
        [sp.item(sp.price(5000, currency="jpy"))], metadata={"account_id": "acme"}
    )
    deliver(sp.event(yen, created=T0))
    event = StripeEvent.objects.get()
    assert event.status == "failed" and "JPY" in event.note
    assert SubscriptionEvent.objects.count() == 0


def test_admin_process_again_applies_a_failed_event_after_the_cause_is_fixed(
    deliver, client, acme, django_capture_on_commit_callbacks
):
    """An event whose account does not exist yet fails as unmatched; once the customer is mapped
    in the admin, the action applies it. Marketing may not run the action."""
    deliver(sp.event(sub(2, metadata={}, customer="cus_Later"), created=T0))
    event = StripeEvent.objects.get()
    assert event.status == "unmatched"
    Account.objects.filter(pk=acme.pk).update(stripe_customer_id="cus_Later")
    client.force_login(StaffFactory(role="Marketing"))
    url = "/admin/outcomes/stripeevent/"
    data = {"action": "process_again", "_selected_action": [event.pk]}
    client.post(url, data)
    event.refresh_from_db()
    assert event.status == "unmatched"
    client.force_login(StaffFactory(role="CS staff"))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, data).status_code == 302
    event.refresh_from_db()
    acme.refresh_from_db()
    assert (event.status, acme.mrr) == ("processed", D("98.00"))
