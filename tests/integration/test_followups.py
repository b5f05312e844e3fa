"""Alerts and webhooks on the real stack: a Celery worker process, PostgreSQL, Redis, an SMTP
server and a local HTTP receiver on 127.0.0.1."""

import time

import pytest

from followups import webhooks
from followups.models import AlertDelivery, AlertRule, WebhookDelivery, WebhookEndpoint
from surveys import services as survey_services
from tests.factories import AccountFactory, ContactFactory, InvitationFactory, SurveyFactory
from tests.followups.receiver import Receiver

pytestmark = pytest.mark.integration

# Short backoffs so retries happen in well under a second each.
FAST_RETRIES = {
    "WEBHOOK_BACKOFF_BASE": "0.2",
    "WEBHOOK_BACKOFF_MAX": "1",
    "ALERT_BACKOFF_BASE": "0.2",
    "ALERT_BACKOFF_MAX": "1",
    "WEBHOOK_MAX_ATTEMPTS": "3",
    "WEBHOOK_DISABLE_AFTER": "2",
    "WEBHOOK_TIMEOUT": "5",
}


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def chat():
    server = Receiver().start()
    yield server
    server.stop()


def _wait(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _answer(survey, account, score, comment=""):
    invitation = InvitationFactory(survey=survey, contact=ContactFactory(account=account))
    # The test database is real here, so the answer commits and wakes the announcer, whose run
    # in the worker enqueues the follow-up task through Redis.
    return survey_services.record_answer(invitation=invitation, score=score, comment=comment)


def test_signed_webhook_retried_on_500_then_endpoint_disabled(workers, receiver, chat, smtp):
    workers.start(1, **FAST_RETRIES)
    survey = SurveyFactory(slug="rel")
    account = AccountFactory(name="ACME Ltd", external_id="acme", mrr="250.00")
    hook = WebhookEndpoint.objects.create(url=receiver.url + "/hook", events=["response.created"])
    AlertRule.objects.create(
        name="Detractors",
        survey=survey,
        on_negative=True,
        notify_owner=False,
        emails="cs@example.com",
        chat_webhook_url=chat.url + "/chat",
    )

    # 1. Two 500s, then 200: delivered on the third attempt, each attempt signed.
    receiver.script = [500, 500, 200]
    response = _answer(survey, account, 3, "Too slow")
    hook_requests = receiver.wait_for(3)
    assert len({r.body for r in hook_requests}) == 1
    for request in hook_requests:
        assert webhooks.verify(
            secret=hook.secret,
            timestamp=request.headers["X-Webhook-Timestamp"],
            body=request.body,
            signature=request.headers["X-Webhook-Signature"],
        )
    payload = hook_requests[0].json()
    assert payload["event"] == "response.created"
    assert payload["data"]["response"]["id"] == str(response.public_id)
    delivery = _wait(lambda: WebhookDelivery.objects.filter(status="succeeded").first())
    assert (delivery.attempts, delivery.last_status_code) == (3, 200)

    # The alert went out once, by email and to the chat receiver.
    [message] = smtp.wait_for(1)
    assert message["To"] == "cs@example.com"
    assert message["Subject"] == f"[Alert] Detractor: 3 from {response.contact.email} (ACME Ltd)"
    [posted] = chat.wait_for(1)
    assert posted.path == "/chat"
    assert "MRR 250.00 USD" in posted.json()["text"]
    assert _wait(lambda: AlertDelivery.objects.filter(status="sent").count() == 1)

    # 2. Two deliveries in a row fail every attempt (3 each): the endpoint is disabled.
    receiver.default_status = 500
    before = len(receiver.requests)
    _answer(survey, account, 9)
    _wait(lambda: WebhookDelivery.objects.filter(status="failed").count() == 1)
    _answer(survey, account, 10)
    _wait(lambda: WebhookDelivery.objects.filter(status="failed").count() == 2)
    hook.refresh_from_db()
    assert hook.active is False
    assert hook.disabled_reason.startswith(
        "Disabled automatically: 2 deliveries in a row failed every attempt."
    )
    assert "HTTP 500" in hook.disabled_reason
    assert len(receiver.requests) - before == 6
    assert set(
        WebhookDelivery.objects.filter(status="failed").values_list("attempts", "last_status_code")
    ) == {(3, 500)}

    # 3. A disabled endpoint gets nothing more.
    sent = len(receiver.requests)
    _answer(survey, account, 8)
    time.sleep(1.5)
    assert len(receiver.requests) == sent
    assert WebhookDelivery.objects.count() == 3
    # Promoters and passives never alerted.
    assert AlertDelivery.objects.count() == 1
    assert len(smtp.messages) == 1
    assert len(chat.requests) == 1
