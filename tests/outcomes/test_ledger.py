"""The subscription ledger: API contract, validation, idempotency, and every MRR write of the
accounts app (invitations API upsert, contact import, admin) appending an event."""

import datetime as dt
from decimal import Decimal as D

import pytest
from django.utils import timezone

from accounts import imports
from accounts.models import Account, ChurnReason
from accounts.roles import CS_STAFF
from outcomes.models import SubscriptionEvent
from tests.factories import AccountFactory, StaffFactory, SurveyFactory

# Ledger writes are CS staff work; test_roles checks every role.
pytestmark = [pytest.mark.django_db, pytest.mark.role(CS_STAFF)]
URL = "/api/v1/subscription-events"


def event(**overrides):
    body = {
        "account": "acme",
        "external_id": "evt-1",
        "effective_at": "2025-02-10T12:00:00Z",
        "mrr": "1200.00",
        "currency": "USD",
        "plan": "Pro",
    }
    body.update(overrides)
    return body


def test_post_creates_the_account_and_the_event(api_client):
    response = api_client.post(URL, event(), format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["account"] == "acme" and body["mrr"] == "1200.00" and body["source"] == "api"
    account = Account.objects.get(external_id="acme")
    assert (account.mrr, account.currency, account.plan) == (D("1200.00"), "USD", "Pro")


def test_replay_is_idempotent(api_client):
    assert api_client.post(URL, event(), format="json").status_code == 201
    again = api_client.post(URL, event(mrr="5.00"), format="json")
    assert again.status_code == 200
    assert again.json()["mrr"] == "1200.00"  # the stored event, unchanged
    assert SubscriptionEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"mrr": "-1.00"}, "mrr"),
        ({"mrr": "abc"}, "mrr"),
        ({"mrr": "1.005"}, "mrr"),
        ({"currency": "XYZ"}, "currency"),
        ({"effective_at": "yesterday"}, "effective_at"),
        ({"effective_at": "2999-01-01T00:00:00Z"}, "effective_at"),
        ({"account": ""}, "account"),
        ({"external_id": "x" * 300}, "external_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, overrides, field):
    response = api_client.post(URL, event(**overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert SubscriptionEvent.objects.count() == 0 and Account.objects.count() == 0


def test_batch_is_all_or_nothing(api_client):
    good = [event(external_id=f"e{i}", account=f"a{i}") for i in range(3)]
    bad = [*good, event(external_id="e9", mrr="-5")]
    response = api_client.post(URL, bad, format="json")
    assert response.status_code == 400
    assert response.json()[3] == {"mrr": ["Ensure this value is greater than or equal to 0."]}
    assert SubscriptionEvent.objects.count() == 0 and Account.objects.count() == 0
    ok = api_client.post(URL, good, format="json")
    assert ok.status_code == 201
    assert (ok.json()["created"], ok.json()["replayed"]) == (3, 0)
    replay = api_client.post(URL, good, format="json")
    assert replay.status_code == 200 and replay.json()["replayed"] == 3


def test_batch_limits_and_duplicates(api_client, settings):
    settings.SUBSCRIPTION_EVENTS_MAX_BATCH = 2
    three = [event(external_id=f"e{i}") for i in range(3)]
    assert api_client.post(URL, three, format="json").status_code == 400
    twice = [event(external_id="same"), event(external_id="same")]
    response = api_client.post(URL, twice, format="json")
    assert response.status_code == 400 and "external_id" in response.json()[1]
    assert api_client.post(URL, [], format="json").status_code == 400
    assert api_client.post(URL, ["x"], format="json").status_code == 400


def test_latest_event_by_effective_time_is_the_cache(api_client):
    api_client.post(
        URL, event(external_id="late", effective_at="2025-03-01T00:00:00Z"), format="json"
    )
    api_client.post(
        URL,
        event(external_id="early", effective_at="2025-01-01T00:00:00Z", mrr="10.00"),
        format="json",
    )
    assert Account.objects.get().mrr == D("1200.00")


def test_mrr_to_zero_churns_and_paying_again_reactivates(api_client):
    reason, _ = ChurnReason.objects.get_or_create(name="Price")
    api_client.post(URL, event(external_id="a", effective_at="2025-01-01T00:00:00Z"), format="json")
    api_client.post(
        URL, event(external_id="b", effective_at="2025-02-01T00:00:00Z", mrr="0"), format="json"
    )
    account = Account.objects.get()
    assert account.status == "churned"
    assert account.churned_at == dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
    Account.objects.filter(pk=account.pk).update(churn_reason=reason)
    api_client.post(
        URL, event(external_id="c", effective_at="2025-03-01T00:00:00Z", mrr="50"), format="json"
    )
    account.refresh_from_db()
    assert (account.status, account.churned_at, account.churn_reason) == ("active", None, None)


def test_list_filters(api_client):
    api_client.post(
        URL,
        [
            event(external_id="a1", effective_at="2025-01-31T23:30:00Z"),
            event(external_id="a2", effective_at="2025-02-15T00:00:00Z"),
            event(external_id="b1", account="other", effective_at="2025-02-15T00:00:00Z"),
        ],
        format="json",
    )
    rows = api_client.get(URL, {"account": "acme"}).json()["results"]
    assert [r["external_id"] for r in rows] == ["a2", "a1"]
    feb = api_client.get(URL, {"start": "2025-02-01", "end": "2025-03-01"}).json()
    assert sorted(r["external_id"] for r in feb["results"]) == ["a2", "b1"]
    # In Sao Paulo (UTC-3) 2025-01-31 23:30 UTC is still 20:30 on 31 January.
    sp = api_client.get(
        URL, {"start": "2025-01-31", "end": "2025-02-01", "tz": "America/Sao_Paulo"}
    )
    assert [r["external_id"] for r in sp.json()["results"]] == ["a1"]
    assert api_client.get(URL, {"source": "nope"}).status_code == 400
    assert api_client.get(URL, {"start": "2025-02-01", "end": "2025-01-01"}).status_code == 400


def test_roles(client):
    from rest_framework.test import APIClient

    for role, get_status, post_status in (
        ("CS staff", 200, 201),
        ("Marketing", 200, 403),
        ("", 403, 403),
    ):
        user = StaffFactory(role=role)
        api = APIClient()
        api.force_authenticate(user)
        assert api.get(URL).status_code == get_status, role
        body = event(external_id=f"role-{role}")
        assert api.post(URL, body, format="json").status_code == post_status, role


# --- Account writes announce their MRR, the ledger records it --------------------------------


def test_invitations_api_account_upsert_appends_events(api_client):
    survey = SurveyFactory(slug="nps")
    body = {
        "survey": "nps",
        "contact": {"email": "ana@example.com"},
        "account": {"external_id": "acme", "mrr": "300.00", "currency": "EUR"},
    }
    assert api_client.post("/api/v1/invitations", body, format="json").status_code == 201
    body["event_id"] = "x"
    body["account"]["mrr"] = "300.00"
    api_client.post("/api/v1/invitations", body, format="json")  # same MRR: no new event
    body["event_id"] = "y"
    body["account"]["mrr"] = "450.00"
    api_client.post("/api/v1/invitations", body, format="json")
    rows = list(
        SubscriptionEvent.objects.order_by("effective_at", "pk").values_list(
            "mrr", "currency", "source"
        )
    )
    assert rows == [(D("300.00"), "EUR", "account_api"), (D("450.00"), "EUR", "account_api")]
    assert survey.pk


def test_contact_import_appends_events_in_its_transaction():
    AccountFactory(external_id="acme", mrr=D("100.00"))
    source = b"external_id,mrr,currency,stripe_customer_id\nacme,150.00,USD,cus_1\nnew,0,BRL,\n"
    result = imports.import_contacts(source=source)
    assert result.ok, result.errors
    rows = dict(SubscriptionEvent.objects.values_list("account__external_id", "mrr"))
    assert rows == {"acme": D("150.00"), "new": D("0.00")}
    assert SubscriptionEvent.objects.get(account__external_id="acme").source == "contact_import"
    assert Account.objects.get(external_id="acme").stripe_customer_id == "cus_1"
    # A dry run and a re-import write nothing.
    assert imports.import_contacts(source=source, dry_run=True).ok
    imports.import_contacts(source=source)
    assert SubscriptionEvent.objects.count() == 2


def test_contact_import_refuses_a_stripe_customer_held_by_another_account():
    AccountFactory(external_id="holder", stripe_customer_id="cus_1")
    result = imports.import_contacts(source=b"external_id,stripe_customer_id\nacme,cus_1\n")
    assert not result.ok
    assert result.errors[0].line == 2 and "holder" in result.errors[0].reason


def test_admin_mrr_edit_and_staff_churn(client):
    admin = StaffFactory(is_superuser=True)
    client.force_login(admin)
    account = AccountFactory(external_id="acme", mrr=D("100.00"))
    url = f"/admin/accounts/account/{account.pk}/change/"
    form = {
        "name": account.name,
        "external_id": "acme",
        "plan": "Business",
        "segment": "",
        "region": "",
        "status": "active",
        "mrr": "250.00",
        "currency": "USD",
        "churn_note": "",
        "stripe_customer_id": "",
        "properties": "{}",
        "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0",
        "contacts-MIN_NUM_FORMS": "0",
        "contacts-MAX_NUM_FORMS": "1000",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    assert list(SubscriptionEvent.objects.values_list("mrr", "source")) == [(D("250.00"), "admin")]
    reason, _ = ChurnReason.objects.get_or_create(name="Price")
    churned_at = timezone.now() - dt.timedelta(days=1)
    form.update(
        status="churned",
        churn_reason=str(reason.pk),
        churned_at_0=churned_at.strftime("%Y-%m-%d"),
        churned_at_1=churned_at.strftime("%H:%M:%S"),
    )
    assert client.post(url, form).status_code == 302
    account.refresh_from_db()
    assert (account.status, account.mrr, account.churn_reason) == ("churned", D("0.00"), reason)
    assert SubscriptionEvent.objects.order_by("pk").last().mrr == D("0.00")


def test_import_marking_an_account_churned_appends_a_zero_event():
    account = AccountFactory(external_id="acme", mrr=D("100.00"))
    imports.import_contacts(source=b"external_id,mrr\nacme,120.00\n")
    result = imports.import_contacts(source=b"external_id,status\nacme,churned\n")
    assert result.ok
    account.refresh_from_db()
    assert (account.status, account.mrr) == ("churned", D("0.00"))
    assert list(SubscriptionEvent.objects.order_by("pk").values_list("mrr", flat=True)) == [
        D("120.00"),
        D("0.00"),
    ]
    zero = SubscriptionEvent.objects.order_by("pk").last()
    assert account.churned_at == zero.effective_at


def test_staff_churn_without_ledger_history_still_dates_the_churn():
    account = AccountFactory(external_id="acme", mrr=D("100.00"))
    imports.import_contacts(source=b"external_id,status\nacme,churned\n")
    account.refresh_from_db()
    assert (account.status, account.mrr) == ("churned", D("0.00"))
    assert account.churned_at == SubscriptionEvent.objects.get().effective_at


def test_a_nul_character_anywhere_in_an_event_is_a_400_and_stores_nothing(api_client):
    """The event is kept as sent (jsonb, which refuses NUL even in a key nobody reads)."""
    for extra in ({"\x00note": 1}, {"note": {"deep": ["a\x00"]}}):
        response = api_client.post(URL, {**event(), **extra}, format="json")
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": ["Remove the NUL characters (\\u0000)."]}
    assert SubscriptionEvent.objects.count() == 0 and Account.objects.count() == 0
