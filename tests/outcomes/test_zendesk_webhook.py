"""The Zendesk webhook end to end in-process: signature and timestamp, inbox, worker task
(eager), ticket rebuilt from its events. Payloads: tests/outcomes/zendesk_payloads.py."""

import datetime as dt
import json

import pytest
import time_machine

from outcomes import zendesk_inbox
from outcomes.models import Ticket, ZendeskEvent, ZendeskOrganization
from tests.factories import AccountFactory

from . import zendesk_payloads as zp

pytestmark = pytest.mark.django_db
URL = "/integrations/zendesk/webhook"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=2)


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


@pytest.fixture(autouse=True)
def _secret_and_clock(settings):
    settings.ZENDESK_WEBHOOK_SECRET = zp.SECRET
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def send(payload, **kwargs):
        body, headers = zp.signed(payload, **kwargs)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, body, content_type="application/json", **headers)

    return send


@pytest.fixture
def acme():
    account = AccountFactory(external_id="acme")
    ZendeskOrganization.objects.create(organization_id="9001", account=account)
    return account


def ticket(ticket_id="5158"):
    return Ticket.objects.get(source="zendesk", external_id=ticket_id)


def test_a_new_ticket(deliver, acme):
    reply = deliver(zp.created(5158, T0))
    assert reply.status_code == 200
    # Stored and answered at once; the worker then rebuilds the ticket from the inbox row.
    assert reply.json() == {"received": True, "duplicate": False, "status": "pending"}
    assert ZendeskEvent.objects.get().status == "processed"
    stored = ticket()
    assert (stored.account, stored.status, stored.created_at) == (acme, "new", T0)
    assert (stored.channel, stored.assignee, stored.organization) == ("web_service", "361", "9001")
    assert stored.subject == "Export does not work"
    assert (stored.first_reply_at, stored.solved_at, stored.agent_replies, stored.reopens) == (
        None,
        None,
        0,
        0,
    )


def test_updated_by_comments_counts_public_agent_replies_only(deliver, acme):
    deliver(zp.created(5158, T0))
    deliver(zp.comment(5158, T0, minutes(5), staff=False))  # the customer adds detail
    deliver(zp.comment(5158, T0, minutes(20), staff=True, public=False))  # an internal note
    deliver(zp.comment(5158, T0, minutes(30), staff=True))  # the first public agent reply
    deliver(zp.comment(5158, T0, minutes(50), staff=True))
    stored = ticket()
    assert stored.agent_replies == 2
    # The event time carries nanoseconds; what is stored is the instant to the microsecond.
    assert stored.first_reply_at.replace(microsecond=0) == minutes(30)
    assert stored.status == "open"


def test_the_comment_that_opens_an_agent_created_ticket_is_not_a_reply(deliver, acme):
    deliver(zp.created(5158, T0))
    deliver(zp.comment(5158, T0, T0, staff=True))
    assert (ticket().agent_replies, ticket().first_reply_at) == (0, None)


def test_solved(deliver, acme):
    deliver(zp.created(5158, T0))
    deliver(zp.comment(5158, T0, minutes(30)))
    deliver(zp.status_changed(5158, T0, minutes(60), "OPEN", "SOLVED"))
    stored = ticket()
    assert stored.status == "solved"
    assert stored.solved_at.replace(microsecond=0) == minutes(60)
    assert stored.first_solved_at == stored.solved_at
    assert (stored.reopens, stored.agent_replies) == (0, 1)


def test_reopened_then_solved_again(deliver, acme):
    deliver(zp.created(5158, T0))
    deliver(zp.status_changed(5158, T0, minutes(60), "OPEN", "SOLVED"))
    deliver(zp.status_changed(5158, T0, minutes(90), "SOLVED", "OPEN"))
    reopened = ticket()
    assert (reopened.status, reopened.reopens, reopened.solved_at) == ("open", 1, None)
    assert reopened.first_solved_at.replace(microsecond=0) == minutes(60)
    deliver(zp.status_changed(5158, T0, minutes(180), "OPEN", "SOLVED"))
    deliver(zp.status_changed(5158, T0, minutes(4000), "SOLVED", "CLOSED"))
    final = ticket()
    assert (final.status, final.reopens) == ("closed", 1)
    assert final.solved_at.replace(microsecond=0) == minutes(180)  # closing keeps the solve
    assert final.first_solved_at.replace(microsecond=0) == minutes(60)


def test_hold_is_stored_as_pending_and_is_no_reopen(deliver, acme):
    deliver(zp.created(5158, T0))
    deliver(zp.status_changed(5158, T0, minutes(10), "NEW", "HOLD"))
    assert (ticket().status, ticket().reopens) == ("pending", 0)


def test_a_replayed_delivery_is_stored_and_applied_once(deliver, acme):
    solved = zp.status_changed(5158, T0, minutes(60), "OPEN", "SOLVED")
    reopened = zp.status_changed(5158, T0, minutes(90), "SOLVED", "OPEN")
    deliver(zp.created(5158, T0))
    deliver(solved)
    deliver(reopened)
    again = deliver(reopened)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert ZendeskEvent.objects.filter(event_id=reopened["id"]).count() == 1
    assert ticket().reopens == 1


def test_events_delivered_out_of_order_give_the_same_ticket(deliver, acme):
    events = [
        zp.created(7, T0),
        zp.comment(7, T0, minutes(15)),
        zp.status_changed(7, T0, minutes(60), "OPEN", "SOLVED"),
        zp.status_changed(7, T0, minutes(70), "SOLVED", "OPEN"),
        zp.comment(7, T0, minutes(80)),
        zp.status_changed(7, T0, minutes(180), "OPEN", "SOLVED"),
    ]
    for payload in reversed(events):
        assert deliver(payload).status_code == 200
    stored = ticket("7")
    assert (stored.status, stored.reopens, stored.agent_replies) == ("solved", 1, 2)
    assert stored.first_reply_at.replace(microsecond=0) == minutes(15)
    assert stored.first_solved_at.replace(microsecond=0) == minutes(60)
    assert stored.solved_at.replace(microsecond=0) == minutes(180)


def test_a_bad_signature_is_refused_and_nothing_is_stored(client, acme):
    body, headers = zp.signed(zp.created(5158, T0), secret="not-the-secret")
    reply = client.post(URL, body, content_type="application/json", **headers)
    assert reply.status_code == 400
    assert "does not verify" in reply.json()["error"]
    assert not ZendeskEvent.objects.exists()
    assert not Ticket.objects.exists()


def test_a_tampered_body_is_refused(client, acme):
    body, headers = zp.signed(zp.created(5158, T0))
    tampered = body.replace(b'"NEW"', b'"SOLVED"')
    assert client.post(URL, tampered, content_type="application/json", **headers).status_code == 400
    assert not ZendeskEvent.objects.exists()


def test_a_captured_request_replayed_later_is_refused(client, acme):
    signed_at = NOW - dt.timedelta(minutes=10)  # signed correctly, but ten minutes ago
    body, headers = zp.signed(zp.created(5158, T0), timestamp=zp.iso(signed_at))
    reply = client.post(URL, body, content_type="application/json", **headers)
    assert reply.status_code == 400
    assert "seconds from now" in reply.json()["error"]
    assert not ZendeskEvent.objects.exists()


def test_missing_headers_are_refused(client, acme):
    body = json.dumps(zp.created(5158, T0)).encode()
    reply = client.post(URL, body, content_type="application/json")
    assert reply.status_code == 400
    assert not ZendeskEvent.objects.exists()


def test_without_a_secret_the_endpoint_is_not_there(client, settings):
    settings.ZENDESK_WEBHOOK_SECRET = ""
    body, headers = zp.signed(zp.created(5158, T0))
    assert client.post(URL, body, content_type="application/json", **headers).status_code == 404
    assert not ZendeskEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"id": "x"}', b'{"id": "x", "type": "t", "time": "yesterday"}'],
)
def test_a_signed_body_that_is_no_event_is_refused(client, body):
    timestamp = zp.iso(NOW)
    reply = client.post(
        URL,
        body,
        content_type="application/json",
        HTTP_X_ZENDESK_WEBHOOK_SIGNATURE=zp.sign(body, timestamp),
        HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP=timestamp,
    )
    assert reply.status_code == 400
    assert not ZendeskEvent.objects.exists()


def test_a_nul_character_is_refused_not_a_server_error(client):
    payload = zp.created(5158, T0)
    payload["detail"]["subject"] = "bad\x00subject"
    body, headers = zp.signed(payload)
    assert client.post(URL, body, content_type="application/json", **headers).status_code == 400


def test_events_that_are_not_ticket_events_are_kept_as_ignored(deliver):
    payload = zp.created(5158, T0)
    payload["type"] = "zen:event-type:user.created"
    reply = deliver(payload)
    assert reply.json()["status"] == "ignored"
    assert not Ticket.objects.exists()


def test_an_unmapped_organization_gets_its_account_once_mapped(deliver):
    deliver(zp.created(1, T0, organization_id="777"))
    deliver(zp.created(2, T0, organization_id="777"))
    assert ticket("1").account is None
    assert ZendeskOrganization.objects.get(organization_id="777").account is None
    assert ZendeskEvent.objects.filter(note__contains="not mapped").count() == 2
    globex = AccountFactory(external_id="globex")
    assert zendesk_inbox.map_organization(organization_id="777", account=globex) == 2
    assert {ticket("1").account, ticket("2").account} == {globex}
    deliver(zp.created(3, T0, organization_id="777"))
    assert ticket("3").account == globex


def test_a_deleted_ticket_leaves_the_reports(deliver, acme):
    deliver(zp.created(5158, T0))
    deliver(zp.envelope("soft_deleted", zp.detail(5158, T0, status="OPEN"), minutes(5)))
    assert not Ticket.objects.filter(external_id="5158").exists()
    deliver(zp.envelope("undeleted", zp.detail(5158, T0, status="OPEN"), minutes(6)))
    assert ticket().status == "open"


def test_fold_is_pure_and_reads_published_field_shapes():
    events = [zp.created(1, T0), zp.status_changed(1, T0, minutes(60), "NEW", "SOLVED")]
    state = zendesk_inbox.fold(events)
    assert state["status"] == "solved"
    assert state["created_at"] == T0
    assert state["solved_at"] == minutes(60)
    assert zendesk_inbox.parse_time("2025-01-08T10:12:07.672717030Z") == dt.datetime(
        2025, 1, 8, 10, 12, 7, 672717, tzinfo=dt.UTC
    )
    assert zendesk_inbox.parse_time("1735000000") == dt.datetime(
        2024, 12, 24, 0, 26, 40, tzinfo=dt.UTC
    )
    assert zendesk_inbox.parse_time("soon") is None
