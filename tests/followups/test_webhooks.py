import json
import time

import pytest
from django.core.exceptions import ValidationError

from accounts import jobs
from accounts import services as account_services
from followups import deliveries, queue, services, webhooks
from followups.models import WebhookDelivery, WebhookEndpoint
from surveys import services as survey_services
from tests.factories import AccountFactory, ContactFactory, InvitationFactory

pytestmark = pytest.mark.django_db


def endpoint(url, events=("response.created",), **kwargs):
    return deliveries.create_endpoint(url=url, events=list(events), **kwargs)


def answer(capture, invitation, score, comment=""):
    with capture(execute=True):
        return survey_services.record_answer(invitation=invitation, score=score, comment=comment)


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"a":1}'
    signature = webhooks.sign(secret="s3cret", timestamp=1700000000, body=body)
    assert signature == (
        "sha256=" + __import__("hmac").new(b"s3cret", b"1700000000." + body, "sha256").hexdigest()
    )
    now = int(time.time())
    good = webhooks.sign(secret="s3cret", timestamp=now, body=body)
    assert webhooks.verify(secret="s3cret", timestamp=str(now), body=body, signature=good)
    assert not webhooks.verify(secret="other", timestamp=str(now), body=body, signature=good)
    assert not webhooks.verify(secret="s3cret", timestamp=str(now), body=b"{}", signature=good)
    stale = webhooks.sign(secret="s3cret", timestamp=now - 600, body=body)
    assert not webhooks.verify(
        secret="s3cret", timestamp=str(now - 600), body=body, signature=stale
    )
    assert not webhooks.verify(secret="s3cret", timestamp="soon", body=body, signature=good)


def test_backoff_doubles_and_is_capped():
    delays = [jobs.backoff(attempt=n, base=30, cap=900) for n in range(1, 8)]
    assert delays == [30, 60, 120, 240, 480, 900, 900]


def test_endpoint_needs_known_events():
    with pytest.raises(ValidationError) as error:
        endpoint("https://hooks.example.com/x", events=["response.deleted"])
    assert error.value.message_dict == {"events": ["Unknown events: response.deleted"]}
    with pytest.raises(ValidationError) as error:
        endpoint("https://hooks.example.com/x", events=[])
    assert error.value.message_dict == {"events": ["Choose at least one event."]}
    with pytest.raises(ValidationError) as error:
        endpoint("ftp://hooks.example.com/x")
    assert list(error.value.message_dict) == ["url"]
    assert WebhookEndpoint.objects.count() == 0


def test_created_and_updated_responses_reach_subscribed_endpoints_signed(
    django_capture_on_commit_callbacks, receiver
):
    created_hook = endpoint(receiver.url + "/created")
    both = endpoint(receiver.url + "/both", events=["response.created", "response.updated"])
    endpoint(receiver.url + "/unsub", events=["contact.unsubscribed"])
    account = AccountFactory(external_id="acme", name="ACME", mrr="99.50", currency="EUR")
    invitation = InvitationFactory(
        contact=ContactFactory(email="ana@example.com", name="Ana", account=account),
        event_id="ticket-7",
    )
    response = answer(django_capture_on_commit_callbacks, invitation, 4, "Meh")
    answer(django_capture_on_commit_callbacks, invitation, 6, "Better")

    requests = receiver.wait_for(3)
    assert sorted(r.path for r in requests) == ["/both", "/both", "/created"]
    created = next(r for r in requests if r.path == "/created")
    payload = created.json()
    assert payload["event"] == "response.created"
    assert payload["data"] == {
        "response": {
            "id": str(response.public_id),
            "survey": invitation.survey.slug,
            "survey_kind": "nps",
            "score": 4,
            "category": "detractor",
            "comment": "Meh",
            "answered_at": response.answered_at.isoformat(),
            "updated_at": payload["data"]["response"]["updated_at"],
            "url": f"https://surveys.example.com/followups/{response.public_id}/",
            "event_id": "ticket-7",
            "properties": {},
        },
        "contact": {"email": "ana@example.com", "name": "Ana", "language": "en"},
        "account": {
            "external_id": "acme",
            "name": "ACME",
            "plan": "Business",
            "mrr": "99.50",
            "currency": "EUR",
        },
    }
    assert created.headers["X-Webhook-Event"] == "response.created"
    assert created.headers["X-Webhook-Delivery"] == payload["id"]
    assert webhooks.verify(
        secret=created_hook.secret,
        timestamp=created.headers["X-Webhook-Timestamp"],
        body=created.body,
        signature=created.headers["X-Webhook-Signature"],
    )
    updated = [
        r.json() for r in requests if r.path == "/both" and r.json()["event"] == "response.updated"
    ]
    assert [u["data"]["response"]["score"] for u in updated] == [6]
    assert WebhookDelivery.objects.filter(endpoint=both).count() == 2
    assert set(WebhookDelivery.objects.values_list("status", "attempts", "last_status_code")) == {
        ("succeeded", 1, 200)
    }


def test_replayed_event_is_not_published_twice(receiver):
    endpoint(receiver.url)
    response = survey_services.record_answer(invitation=InvitationFactory(), score=9)
    services.handle_response_saved(response_id=response.pk, created=True)
    services.handle_response_saved(response_id=response.pk, created=True)
    assert WebhookDelivery.objects.count() == 1


def test_contact_unsubscribed_event(django_capture_on_commit_callbacks, receiver):
    hook = endpoint(receiver.url, events=["contact.unsubscribed"])
    contact = ContactFactory(email="bo@example.com", account=AccountFactory(external_id="b-1"))
    with django_capture_on_commit_callbacks(execute=True):
        account_services.unsubscribe_contact(contact=contact)
    with django_capture_on_commit_callbacks(execute=True) as again:
        account_services.unsubscribe_contact(contact=contact)  # already: no second event
    assert again == []
    [request] = receiver.wait_for(1)
    payload = request.json()
    contact.refresh_from_db()
    assert payload["event"] == "contact.unsubscribed"
    assert payload["data"]["contact"] == {
        "email": "bo@example.com",
        "name": contact.name,
        "language": "en",
        "unsubscribed_at": contact.unsubscribed_at.isoformat(),
    }
    assert payload["data"]["account"]["external_id"] == "b-1"
    assert WebhookDelivery.objects.get().endpoint == hook


def test_failure_schedules_a_retry_with_backoff_then_gives_up_and_counts(receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_BACKOFF_BASE = 10
    settings.WEBHOOK_DISABLE_AFTER = 2
    hook = endpoint(receiver.url)
    receiver.default_status = 500
    deliveries.publish_event(event="response.created", key="k1", data={"x": 1})
    delivery = WebhookDelivery.objects.get()

    for expected_countdown in (10, 20):
        with pytest.raises(queue.RetryLater) as retry:
            deliveries.deliver_webhook(delivery_id=delivery.pk)
        assert retry.value.countdown == expected_countdown
    assert deliveries.deliver_webhook(delivery_id=delivery.pk) is False

    delivery.refresh_from_db()
    hook.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 500)
    assert delivery.last_error == "HTTP 500"  # the status only, never the reply
    assert (hook.active, hook.consecutive_failures) == (True, 1)
    # Every attempt sent the same body and delivery id, each freshly signed.
    bodies = {r.body for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(bodies) == 1
    assert {r.headers["X-Webhook-Delivery"] for r in receiver.requests} == {str(delivery.public_id)}


def test_endpoint_is_disabled_after_consecutive_failed_deliveries(receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    settings.WEBHOOK_DISABLE_AFTER = 2
    hook = endpoint(receiver.url)
    receiver.script = [500, 200, 503, 502]
    for key in ("a", "b", "c"):
        deliveries.publish_event(event="response.created", key=key, data={})
        deliveries.deliver_webhook(delivery_id=WebhookDelivery.objects.get(key=key).pk)
        hook.refresh_from_db()
    # fail, succeed (resets), fail: one in a row, still on.
    assert (hook.active, hook.consecutive_failures) == (True, 1)

    deliveries.publish_event(event="response.created", key="d", data={})
    deliveries.deliver_webhook(delivery_id=WebhookDelivery.objects.get(key="d").pk)
    hook.refresh_from_db()
    assert hook.active is False
    assert hook.disabled_at is not None
    assert hook.disabled_reason == (
        "Disabled automatically: 2 deliveries in a row failed every attempt. Last error: HTTP 502"
    )
    # A disabled endpoint gets no new deliveries and pending ones are skipped, not sent.
    assert deliveries.publish_event(event="response.created", key="e", data={}) == 0
    stale = WebhookDelivery.objects.create(
        endpoint=hook, event="response.created", key="f", body="{}"
    )
    assert deliveries.deliver_webhook(delivery_id=stale.pk) is False
    stale.refresh_from_db()
    assert stale.status == "skipped"
    assert len(receiver.requests) == 4

    assert deliveries.enable_endpoint(endpoint=hook) is True
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures, hook.disabled_reason) == (True, 0, "")


def test_connection_refused_is_a_failed_attempt(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    endpoint("http://127.0.0.1:9/hook")
    deliveries.publish_event(event="response.created", key="k", data={})
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(queue.RetryLater):
        deliveries.deliver_webhook(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error == "NewConnectionError"


def test_redirects_are_not_followed(receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint(receiver.url)
    receiver.script = [301]
    deliveries.publish_event(event="response.created", key="k", data={})
    assert deliveries.deliver_webhook(delivery_id=WebhookDelivery.objects.get().pk) is False
    assert WebhookDelivery.objects.get().last_status_code == 301
    assert len(receiver.requests) == 1


def test_delivery_is_claimed_once(receiver):
    endpoint(receiver.url)
    deliveries.publish_event(event="response.created", key="k", data={})
    delivery = WebhookDelivery.objects.get()
    assert deliveries.deliver_webhook(delivery_id=delivery.pk) is True
    assert deliveries.deliver_webhook(delivery_id=delivery.pk) is False
    assert len(receiver.requests) == 1


def test_redeliver_sends_a_failed_delivery_again_with_the_same_id(receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint(receiver.url)
    receiver.script = [500]
    deliveries.publish_event(event="response.created", key="k", data={})
    delivery = WebhookDelivery.objects.get()
    deliveries.deliver_webhook(delivery_id=delivery.pk)
    assert deliveries.redeliver(delivery=delivery) is True
    assert deliveries.deliver_webhook(delivery_id=delivery.pk) is True
    first, second = receiver.requests
    assert first.body == second.body
    assert json.loads(second.body)["id"] == str(delivery.public_id)


def test_sweep_requeues_a_lost_delivery_and_one_stuck_in_sending(receiver):
    from datetime import timedelta

    from django.utils import timezone

    endpoint(receiver.url)
    deliveries.publish_event(event="response.created", key="lost", data={})
    deliveries.publish_event(event="response.created", key="stuck", data={})
    old = timezone.now() - timedelta(minutes=10)
    WebhookDelivery.objects.filter(key="lost").update(next_attempt_at=old)
    WebhookDelivery.objects.filter(key="stuck").update(status="sending", claimed_at=old)

    result = services.sweep()

    assert result["requeued_webhooks"] == 2
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    assert len(receiver.requests) == 2


def test_eager_mode_never_waits_for_a_retry_inside_the_request(
    django_capture_on_commit_callbacks, receiver
):
    endpoint(receiver.url)
    receiver.default_status = 500
    answer(django_capture_on_commit_callbacks, InvitationFactory(), 9)
    assert len(receiver.requests) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.next_attempt_at is not None
