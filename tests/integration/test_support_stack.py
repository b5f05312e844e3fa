"""The support contracts on the real stack: HTTP against a live server (PostgreSQL, token auth)
for `POST /api/v1/tickets`, `GET /api/v1/metrics/support` and `POST /api/v1/usage`, and signed
Zendesk events applied by a real Celery worker through Redis."""

import datetime as dt
import time

import pytest
import requests
from rest_framework.authtoken.models import Token

from outcomes.models import Ticket, UsageRecord, ZendeskEvent, ZendeskOrganization
from tests.factories import AccountFactory, StaffFactory
from tests.metrics.test_support_metrics import EXPECTED
from tests.outcomes import zendesk_payloads as zp
from tests.outcomes.test_tickets_api import worked_example

pytestmark = pytest.mark.integration


def _wait(predicate, timeout: float = 60.0):
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


def test_tickets_and_the_support_api_over_http(http):
    url = f"{http.base}/api/v1/tickets"
    created = http.post(url, json=worked_example(), timeout=30)
    assert created.status_code == 201, created.text
    assert created.json()["created"] == 4
    replay = http.post(url, json=worked_example(), timeout=30)
    assert replay.status_code == 200 and replay.json()["unchanged"] == 4
    bad = http.post(
        url,
        json={"account": "acme", "external_id": "T9", "status": "solved",
              "created_at": "2026-03-02T10:00:00Z", "solved_at": "2026-03-02T09:00:00Z"},
        timeout=30,
    )  # fmt: skip
    assert bad.status_code == 400 and "solved_at" in bad.json()
    negative = http.post(url, json={**worked_example()[0], "agent_replies": -1}, timeout=30)
    assert negative.status_code == 400 and "agent_replies" in negative.json()
    support = http.get(
        f"{http.base}/api/v1/metrics/support",
        params={"start": "2026-03-01", "end": "2026-04-01", "tz": "UTC", "account": "acme"},
        timeout=30,
    )
    assert support.status_code == 200, support.text
    assert support.json() == {"start": "2026-03-01", "end": "2026-04-01", "tz": "UTC", **EXPECTED}
    missing = http.get(f"{http.base}/api/v1/metrics/support", params={"start": "x"}, timeout=30)
    assert missing.status_code == 400 and {"start", "end"} <= set(missing.json())
    usage = http.post(
        f"{http.base}/api/v1/usage",
        json=[{"account": "acme", "day": "2026-03-01", "metric": "active_users", "value": 42},
              {"account": "acme", "day": "2026-03-02", "metric": "active_users", "value": 44}],
        timeout=30,
    )  # fmt: skip
    assert usage.status_code == 201 and usage.json() == {"created": 2, "updated": 0, "unchanged": 0}
    assert UsageRecord.objects.count() == 2


def send(live_server, payload, **kwargs):
    body, headers = zp.signed(payload, **kwargs)
    return requests.post(
        f"{live_server.url}/integrations/zendesk/webhook",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Signature": headers["HTTP_X_ZENDESK_WEBHOOK_SIGNATURE"],
            "X-Zendesk-Webhook-Signature-Timestamp": headers[
                "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP"
            ],
        },
        timeout=30,
    )


def test_zendesk_events_applied_by_a_worker(worker, live_server, settings):
    settings.ZENDESK_WEBHOOK_SECRET = zp.SECRET
    acme = AccountFactory(external_id="acme")
    ZendeskOrganization.objects.create(organization_id="9001", account=acme)
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=5)

    def at(minutes):
        return t0 + dt.timedelta(minutes=minutes)

    events = [
        zp.created(5158, t0),
        zp.comment(5158, t0, at(15)),
        zp.status_changed(5158, t0, at(60), "OPEN", "SOLVED"),
        zp.status_changed(5158, t0, at(90), "SOLVED", "OPEN"),
    ]
    for payload in events:
        assert send(live_server, payload).status_code == 200
    _wait(lambda: ZendeskEvent.objects.filter(status="processed").count() == 4)
    ticket = Ticket.objects.get(source="zendesk", external_id="5158")
    assert (ticket.account, ticket.status, ticket.reopens, ticket.agent_replies) == (
        acme,
        "open",
        1,
        1,
    )
    assert ticket.solved_at is None and ticket.first_solved_at == at(60)
    replay = send(live_server, events[3])
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert send(live_server, events[0], secret="forged").status_code == 400
    assert ZendeskEvent.objects.count() == 4
    assert Ticket.objects.get(external_id="5158").reopens == 1
