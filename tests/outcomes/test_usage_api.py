"""`POST/GET /api/v1/usage`, `PUT /api/v1/accounts/{id}/seats` and the onboarding milestones."""

import datetime as dt

import pytest
import time_machine

from accounts.models import Account
from accounts.roles import CS_STAFF, MARKETING
from outcomes.models import Onboarding, UsageRecord
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/usage"


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC), tick=False):
        yield


def value(account="acme", day="2026-03-01", metric="active_users", v=42):
    return {"account": account, "day": day, "metric": metric, "value": v}


@pytest.mark.role(CS_STAFF)
def test_one_value_then_the_same_key_replaces_it(api_client):
    created = api_client.post(URL, value(), format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["value"] == 42
    replaced = api_client.post(URL, value(v=44), format="json")
    assert replaced.status_code == 200
    assert list(UsageRecord.objects.values_list("metric", "value")) == [("active_users", 44.0)]
    assert Account.objects.get().external_id == "acme"


@pytest.mark.role(CS_STAFF)
def test_a_batch_counts_created_updated_and_unchanged(api_client):
    api_client.post(URL, [value(), value(metric="events", v=10)], format="json")
    reply = api_client.post(
        URL,
        [value(), value(metric="events", v=12), value(day="2026-03-02", v=40)],
        format="json",
    )
    assert reply.status_code == 201
    assert reply.json() == {"created": 1, "updated": 1, "unchanged": 1}
    assert UsageRecord.objects.count() == 3


BAD = [
    ({"value": -1}, "value"),
    ({"value": "lots"}, "value"),
    ({"value": "NaN"}, "value"),
    ({"value": 1e16}, "value"),
    ({"day": "2026-03-12"}, "day"),  # two days ahead of UTC's date
    ({"day": "1999-12-31"}, "day"),
    ({"day": "2026-02-30"}, "day"),
    ({"metric": "Active Users"}, "metric"),
    ({"metric": "x" * 65}, "metric"),
    ({"account": ""}, "account"),
    ({"account": "a/b"}, "account"),
]


@pytest.mark.role(CS_STAFF)
@pytest.mark.parametrize(
    ("change", "field"), BAD, ids=[f"{f}-{i}" for i, (_c, f) in enumerate(BAD)]
)
def test_bad_usage_is_a_400_naming_the_field(api_client, change, field):
    reply = api_client.post(URL, {**value(), **change}, format="json")
    assert reply.status_code == 400
    assert field in reply.json(), reply.json()
    assert not UsageRecord.objects.exists()
    assert not Account.objects.exists()


@pytest.mark.role(CS_STAFF)
def test_a_batch_with_one_bad_item_writes_nothing(api_client):
    reply = api_client.post(URL, [value(), value(day="2026-03-02", v=-3)], format="json")
    assert reply.status_code == 400
    assert reply.json() == [{}, {"value": [reply.json()[1]["value"][0]]}]
    assert not UsageRecord.objects.exists()


@pytest.mark.role(CS_STAFF)
def test_the_same_key_twice_in_a_batch_is_refused(api_client):
    reply = api_client.post(URL, [value(), value(v=43)], format="json")
    assert reply.status_code == 400
    assert "day" in reply.json()[1]


@pytest.mark.role(CS_STAFF)
def test_list_usage(api_client):
    api_client.post(URL, [value(), value(day="2026-03-02")], format="json")
    listed = api_client.get(URL, {"account": "acme", "start": "2026-03-02"})
    assert [row["day"] for row in listed.json()["results"]] == ["2026-03-02"]


@pytest.mark.role(CS_STAFF)
def test_seats(api_client):
    AccountFactory(external_id="acme")
    reply = api_client.put("/api/v1/accounts/acme/seats", {"seats": 50}, format="json")
    assert reply.json() == {"account": "acme", "seats": 50}
    assert Account.objects.get().seats == 50
    bad = api_client.put("/api/v1/accounts/acme/seats", {"seats": -1}, format="json")
    assert bad.status_code == 400
    assert "seats" in bad.json()
    assert Account.objects.get().seats == 50
    assert (
        api_client.put("/api/v1/accounts/nope/seats", {"seats": 1}, format="json").status_code
        == 404
    )


@pytest.mark.role(CS_STAFF)
def test_onboarding_milestones(api_client):
    AccountFactory(external_id="acme")
    url = "/api/v1/accounts/acme/onboarding"
    empty = api_client.get(url).json()
    assert (empty["kickoff"], empty["implementation_days"]) == (None, None)
    reply = api_client.put(url, {"kickoff": "2026-01-05", "go_live": "2026-02-16"}, format="json")
    assert reply.status_code == 200, reply.json()
    assert reply.json()["implementation_days"] == 42  # 26 days of January + 16 of February
    later = api_client.put(url, {"first_value": "2026-03-02"}, format="json").json()
    assert (later["go_live"], later["time_to_value_days"]) == ("2026-02-16", 56)
    bad = api_client.put(url, {"go_live": "2026-01-01"}, format="json")
    assert bad.status_code == 400
    assert "go_live" in bad.json()
    assert Onboarding.objects.get().go_live_on == dt.date(2026, 2, 16)


@pytest.mark.role(MARKETING)
def test_marketing_cannot_write_usage_or_milestones(api_client):
    AccountFactory(external_id="acme")
    assert api_client.post(URL, value(), format="json").status_code == 403
    assert (
        api_client.put("/api/v1/accounts/acme/seats", {"seats": 3}, format="json").status_code
        == 403
    )
    assert (
        api_client.put(
            "/api/v1/accounts/acme/onboarding", {"kickoff": "2026-01-01"}, format="json"
        ).status_code
        == 403
    )
    assert api_client.get("/api/v1/accounts/acme/onboarding").status_code == 200
    assert not UsageRecord.objects.exists() and not Onboarding.objects.exists()
