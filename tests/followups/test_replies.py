"""Replying to the respondent from a follow-up: composer, threading, unsubscribes, retries."""

import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from followups import replies, services
from followups.models import FollowUp, Reply
from followups.queue import RetryLater
from tests.factories import AccountFactory, ContactFactory, ResponseFactory, SurveyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def response(cs_user):
    cs_user.email = "maria@vendor.example"
    cs_user.first_name, cs_user.last_name = "Maria", "Silva"
    cs_user.save()
    account = AccountFactory(owner=cs_user, name="ACME Ltd")
    survey = SurveyFactory(company_name="Zeta", sender_name="Zeta Support")
    return ResponseFactory(
        score=2,
        comment="Support took a week.",
        invitation__survey=survey,
        invitation__contact=ContactFactory(account=account, name="Ana", email="ana@acme.example"),
    )


def send(response, author, subject="Re: sorry", body="Hi Ana,\n\nWe are on it."):
    return replies.queue_reply(response=response, author=author, subject=subject, body=body)


def test_reply_is_threaded_under_the_invitation_and_quotes_the_answer(
    response, cs_user, django_capture_on_commit_callbacks, settings
):
    settings.DEFAULT_FROM_EMAIL = "Feedback <feedback@zeta.example>"
    with django_capture_on_commit_callbacks(execute=True):
        reply = send(response, cs_user)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    invitation_id = response.invitation.message_id
    assert message.to == ["ana@acme.example"]
    assert message.from_email == "Zeta Support <feedback@zeta.example>"
    assert message.extra_headers["In-Reply-To"] == invitation_id
    assert message.extra_headers["References"] == invitation_id
    assert message.extra_headers["Message-ID"] == reply.message_id
    # No inbox configured: the respondent's answer goes to the person who wrote.
    assert message.reply_to == ["maria@vendor.example"]
    assert "We are on it." in message.body
    assert "> 2/10 · Not likely" in message.body
    assert "> Support took a week." in message.body
    assert "Maria Silva · Zeta" in message.body
    reply.refresh_from_db()
    assert reply.status == Reply.Status.SENT
    assert reply.recipient == "ana@acme.example"
    followup = FollowUp.objects.get(response=response)
    assert followup.status == FollowUp.Status.IN_PROGRESS
    assert followup.first_action_at is not None


def test_second_reply_references_the_whole_thread_and_the_configured_inbox(
    response, cs_user, django_capture_on_commit_callbacks, settings
):
    settings.REPLY_TO_EMAIL = "cs-inbox@zeta.example"
    with django_capture_on_commit_callbacks(execute=True):
        first = send(response, cs_user)
    with django_capture_on_commit_callbacks(execute=True):
        send(response, cs_user, subject="Re: fixed")

    second = mail.outbox[1]
    assert second.extra_headers["In-Reply-To"] == first.message_id
    assert second.extra_headers["References"] == (
        f"{response.invitation.message_id} {first.message_id}"
    )
    assert second.reply_to == ["cs-inbox@zeta.example"]


def test_reply_is_written_in_the_contacts_language(
    response, cs_user, django_capture_on_commit_callbacks
):
    response.contact.language = "pt-br"
    response.contact.save()
    subject = replies.default_subject(response, "pt-br")
    assert subject.startswith("Re: Qual a probabilidade de você recomendar Zeta")
    assert replies.default_greeting(response, "pt-br") == "Olá, Ana,\n\n"
    with django_capture_on_commit_callbacks(execute=True):
        send(response, cs_user)
    message = mail.outbox[0]
    assert message.extra_headers["Content-Language"] == "pt-br"
    assert "você respondeu" in message.body
    assert "2/10 · Pouco provável" in message.body


def test_unsubscribed_contact_gets_no_reply_and_nothing_is_written(response, cs_user):
    response.contact.unsubscribed_at = timezone.now()
    response.contact.save()
    with pytest.raises(Exception, match="unsubscribed"):
        send(response, cs_user)
    assert Reply.objects.count() == 0
    assert mail.outbox == []


def test_unsubscribe_after_queueing_suppresses_the_send(response, cs_user):
    reply = send(response, cs_user)  # on_commit not run: still queued
    response.contact.unsubscribed_at = timezone.now()
    response.contact.save()
    assert replies.send_reply(reply_id=reply.pk) is False
    reply.refresh_from_db()
    assert reply.status == Reply.Status.SUPPRESSED
    assert mail.outbox == []


def test_send_is_idempotent(response, cs_user):
    reply = send(response, cs_user)
    assert replies.send_reply(reply_id=reply.pk) is True
    assert replies.send_reply(reply_id=reply.pk) is False
    assert len(mail.outbox) == 1


def test_transient_failure_retries_then_fails(response, cs_user, settings, monkeypatch):
    settings.SEND_MAX_ATTEMPTS = 2

    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    reply = send(response, cs_user)
    with pytest.raises(RetryLater):
        replies.send_reply(reply_id=reply.pk)
    reply.refresh_from_db()
    assert (reply.status, reply.attempts) == (Reply.Status.PENDING, 1)
    assert replies.send_reply(reply_id=reply.pk) is False
    reply.refresh_from_db()
    assert (reply.status, reply.attempts) == (Reply.Status.FAILED, 2)
    assert "SMTPServerDisconnected" in reply.last_error


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [("", "text", "subject"), ("Re: x", "   ", "body"), ("Re: x", "x" * 5001, "body")],
)
def test_bad_reply_is_refused_and_nothing_written(response, cs_user, subject, body, field):
    with pytest.raises(Exception) as caught:
        send(response, cs_user, subject=subject, body=body)
    assert field in caught.value.error_dict
    assert Reply.objects.count() == 0


def test_sweep_hands_again_a_lost_reply(
    response, cs_user, settings, django_capture_on_commit_callbacks
):
    reply = send(response, cs_user)  # the enqueue after commit was lost
    assert replies.sweep() == {"replies": 0}  # within the lease: maybe still on its way
    later = timezone.now() + timedelta(seconds=settings.DISPATCH_LEASE_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert replies.sweep(now=later) == {"replies": 1}
    # Eager Celery: the sweep's enqueue ran the task.
    reply.refresh_from_db()
    assert reply.status == Reply.Status.SENT
    assert len(mail.outbox) == 1


# --- Pages ----------------------------------------------------------------------------------


def test_page_shows_the_composer_account_and_related_answers(client, cs_user, response):
    earlier = ResponseFactory(
        score=6,
        comment="Meh",
        invitation__contact=response.contact,
        answered_at=timezone.now() - timedelta(days=100),
    )
    colleague = ResponseFactory(
        score=1, invitation__contact=ContactFactory(account=response.account, name="Bo")
    )
    services.ensure_followup(response=colleague)
    response.account.plan, response.account.mrr = "Scale", "1250.00"
    response.account.renewal_date = timezone.localdate() + timedelta(days=40)
    response.account.save()
    client.force_login(cs_user)
    body = client.get(f"/followups/{response.public_id}/").content.decode()
    assert 'id="reply-form"' in body
    assert "Support took a week." in body
    assert "Scale" in body and "1,250.00 USD" in body
    assert f"/reports/accounts/{response.account.external_id}/" in body
    assert f"/followups/{earlier.public_id}/" in body
    assert f"/followups/{colleague.public_id}/" in body
    assert response.account.renewal_date.isoformat() in body


def test_posting_the_composer_queues_the_reply(
    client, cs_user, response, django_capture_on_commit_callbacks
):
    client.force_login(cs_user)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            f"/followups/{response.public_id}/reply/",
            {"subject": "Re: your answer", "body": "We fixed it."},
        )
    assert page.status_code == 302
    assert mail.outbox[0].subject == "Re: your answer"
    shown = client.get(f"/followups/{response.public_id}/").content.decode()
    assert "We fixed it." in shown and 'data-status="sent"' in shown
    account_page = client.get(f"/reports/accounts/{response.account.external_id}/")
    assert "1 reply emailed" in account_page.content.decode()


def test_empty_composer_is_a_400_naming_the_field(client, cs_user, response):
    client.force_login(cs_user)
    page = client.post(f"/followups/{response.public_id}/reply/", {"subject": "Re", "body": ""})
    assert page.status_code == 400
    assert "This field is required." in page.content.decode()
    assert Reply.objects.count() == 0


def test_readers_cannot_reply(client, role_user, response):
    from accounts import roles

    client.force_login(role_user(roles.MARKETING, "mk"))
    page = client.post(f"/followups/{response.public_id}/reply/", {"subject": "x", "body": "y"})
    assert page.status_code == 403
    assert Reply.objects.count() == 0


def test_unsubscribed_contact_page_says_why_no_composer(client, cs_user, response):
    response.contact.unsubscribed_at = timezone.now()
    response.contact.save()
    client.force_login(cs_user)
    body = client.get(f"/followups/{response.public_id}/").content.decode()
    assert 'id="reply-form"' not in body
    assert "The contact unsubscribed" in body
