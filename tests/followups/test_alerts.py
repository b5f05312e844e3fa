from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from followups import alerts, queue, services
from followups.models import AlertDelivery, AlertRule, FollowUp
from surveys import services as survey_services
from tests.factories import (
    AccountFactory,
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    StaffFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return StaffFactory(username="olga", email="olga@example.com", first_name="Olga")


@pytest.fixture
def account(owner):
    return AccountFactory(name="ACME Ltd", external_id="acme", owner=owner, mrr=Decimal("250.00"))


def invite(survey, account=None, email=None):
    contact = ContactFactory(account=account, **({"email": email} if email else {}))
    return InvitationFactory(survey=survey, contact=contact)


def answer(capture, invitation, score, comment=""):
    with capture(execute=True):
        return survey_services.record_answer(invitation=invitation, score=score, comment=comment)


def rule(**kwargs):
    defaults = {"name": "Detractors", "notify_owner": True}
    return AlertRule.objects.create(**{**defaults, **kwargs})


def test_detractor_rule_fires_once_per_response_and_never_for_others(
    django_capture_on_commit_callbacks, mailoutbox, account
):
    survey = SurveyFactory(name="Relational")
    rule(survey=survey, on_negative=True, emails="cs-lead@example.com")
    detractor = invite(survey, account, email="ana@example.com")
    promoter = invite(survey, account)
    passive = invite(survey, account)

    response = answer(django_capture_on_commit_callbacks, detractor, 3, "Too slow")
    answer(django_capture_on_commit_callbacks, promoter, 10)
    answer(django_capture_on_commit_callbacks, passive, 7)
    # Re-answering (still a detractor) updates the response but never alerts again.
    answer(django_capture_on_commit_callbacks, detractor, 2, "Even slower")

    delivery = AlertDelivery.objects.get()
    assert (delivery.response_id, delivery.status, delivery.attempts) == (response.pk, "sent", 1)
    assert delivery.recipients == "olga@example.com, cs-lead@example.com"
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["olga@example.com", "cs-lead@example.com"]
    assert message.subject == "[Alert] Detractor: 3 from ana@example.com (ACME Ltd)"
    body = message.body
    assert "Score: 3 (Detractor)" in body
    assert "Comment: Too slow" in body
    assert "ana@example.com" in body
    assert "Account: ACME Ltd (acme)" in body
    assert "MRR: 250.00 USD" in body
    assert f"https://surveys.example.com/followups/{response.public_id}/" in body


def test_detractor_opens_a_follow_up_assigned_to_the_owner_and_promoter_does_not(
    django_capture_on_commit_callbacks, account, owner
):
    survey = SurveyFactory()
    bad = answer(django_capture_on_commit_callbacks, invite(survey, account), 0)
    good = answer(django_capture_on_commit_callbacks, invite(survey, account), 9)

    followup = FollowUp.objects.get()
    assert (followup.response_id, followup.status, followup.assignee) == (bad.pk, "new", owner)
    assert not FollowUp.objects.filter(response=good).exists()


@pytest.mark.parametrize(("score", "fires"), [(1, True), (2, True), (3, False), (5, False)])
def test_csat_at_most_rule(django_capture_on_commit_callbacks, mailoutbox, account, score, fires):
    survey = CsatSurveyFactory()
    rule(survey=survey, score_at_most=2)
    answer(django_capture_on_commit_callbacks, invite(survey, account), score)
    assert AlertDelivery.objects.count() == int(fires)
    assert len(mailoutbox) == int(fires)


def test_rule_for_another_survey_does_not_fire(
    django_capture_on_commit_callbacks, mailoutbox, account
):
    rule(survey=SurveyFactory(), on_negative=True)
    answer(django_capture_on_commit_callbacks, invite(SurveyFactory(), account), 0)
    assert AlertDelivery.objects.count() == 0
    assert mailoutbox == []


def test_rule_without_survey_watches_every_survey(django_capture_on_commit_callbacks, account):
    rule(on_negative=True)
    answer(django_capture_on_commit_callbacks, invite(SurveyFactory(), account), 0)
    answer(django_capture_on_commit_callbacks, invite(CsatSurveyFactory(), account), 1)
    assert AlertDelivery.objects.count() == 2


@pytest.mark.parametrize(
    ("comment", "fires"),
    [
        ("We will CANCEL next month", True),
        ("too expensive, honestly", True),
        ("Great team", False),
        ("", False),
    ],
)
def test_comment_words_rule(django_capture_on_commit_callbacks, account, comment, fires):
    survey = SurveyFactory()
    rule(survey=survey, comment_words="cancel\ntoo expensive, churn")
    answer(django_capture_on_commit_callbacks, invite(survey, account), 8, comment)
    assert AlertDelivery.objects.count() == int(fires)


def test_mrr_above_rule_combined_with_detractor(django_capture_on_commit_callbacks, owner):
    survey = SurveyFactory()
    rule(survey=survey, on_negative=True, mrr_above=Decimal("1000"))
    big = AccountFactory(mrr=Decimal("1000.01"), owner=owner)
    small = AccountFactory(mrr=Decimal("1000.00"), owner=owner)
    big_detractor = answer(django_capture_on_commit_callbacks, invite(survey, big), 4)
    answer(django_capture_on_commit_callbacks, invite(survey, big), 9)  # big but a promoter
    answer(django_capture_on_commit_callbacks, invite(survey, small), 4)  # not above
    answer(django_capture_on_commit_callbacks, invite(survey, None), 4)  # no account
    assert list(AlertDelivery.objects.values_list("response_id", flat=True)) == [big_detractor.pk]


def test_response_that_becomes_a_detractor_alerts_then(
    django_capture_on_commit_callbacks, mailoutbox, account
):
    survey = SurveyFactory()
    rule(survey=survey, on_negative=True)
    invitation = invite(survey, account)
    answer(django_capture_on_commit_callbacks, invitation, 9)
    assert AlertDelivery.objects.count() == 0
    answer(django_capture_on_commit_callbacks, invitation, 5)
    assert AlertDelivery.objects.count() == 1
    assert len(mailoutbox) == 1


def test_inactive_rules_and_excluded_responses_never_fire(
    django_capture_on_commit_callbacks, mailoutbox, account
):
    survey = SurveyFactory()
    rule(survey=survey, on_negative=True, active=False)
    answer(django_capture_on_commit_callbacks, invite(survey, account), 0)
    active = rule(survey=survey, on_negative=True)
    response = answer(django_capture_on_commit_callbacks, invite(survey, account), 0)
    AlertDelivery.objects.all().delete()
    response.excluded = True
    response.save()
    assert alerts.fire_alerts(response=response) == []
    assert AlertDelivery.objects.filter(rule=active).count() == 0


def test_owner_without_email_and_no_addresses_sends_no_email(
    django_capture_on_commit_callbacks, mailoutbox
):
    survey = SurveyFactory()
    rule(survey=survey, on_negative=True)
    answer(django_capture_on_commit_callbacks, invite(survey, AccountFactory(owner=None)), 0)
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.recipients, delivery.email_sent_at) == ("sent", "", None)
    assert mailoutbox == []


def test_chat_webhook_gets_slack_json(
    django_capture_on_commit_callbacks, mailoutbox, account, receiver
):
    survey = SurveyFactory(name="Support")
    rule(
        survey=survey, on_negative=True, notify_owner=False, chat_webhook_url=receiver.url + "/chat"
    )
    response = answer(
        django_capture_on_commit_callbacks, invite(survey, account, "bo@example.com"), 2, "Bad"
    )
    [request] = receiver.wait_for(1)
    assert request.path == "/chat"
    assert request.headers["Content-Type"] == "application/json"
    text = request.json()["text"]
    assert text.startswith("*Detractors*: 2 (Detractor) · Support")
    assert "bo@example.com" in text and "ACME Ltd · MRR 250.00 USD" in text and "> Bad" in text
    assert (
        f"<https://surveys.example.com/followups/{response.public_id}/|Open the response>" in text
    )
    assert mailoutbox == []


def test_a_retry_redoes_only_the_channel_that_failed(mailoutbox, account, receiver, settings):
    settings.ALERT_MAX_ATTEMPTS = 3
    survey = SurveyFactory()
    alert_rule = rule(survey=survey, on_negative=True, chat_webhook_url=receiver.url)
    response = survey_services.record_answer(invitation=invite(survey, account), score=1)
    delivery_id = alerts.claim_alert(rule_id=alert_rule.pk, response_id=response.pk)

    receiver.script = [500]
    with pytest.raises(queue.RetryLater) as retry:
        alerts.send_alert(delivery_id=delivery_id)
    assert retry.value.countdown == settings.ALERT_BACKOFF_BASE
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error.startswith("chat: HTTP 500")
    assert len(mailoutbox) == 1

    assert alerts.send_alert(delivery_id=delivery_id) is True
    assert alerts.send_alert(delivery_id=delivery_id) is False  # already sent: claim fails
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    assert len(mailoutbox) == 1
    assert len(receiver.requests) == 2


def test_alert_gives_up_after_the_last_attempt(account, settings):
    settings.ALERT_MAX_ATTEMPTS = 1
    survey = SurveyFactory()
    # Nothing listens on port 9 of the loopback: the connection is refused.
    alert_rule = rule(
        survey=survey,
        on_negative=True,
        notify_owner=False,
        chat_webhook_url="http://127.0.0.1:9/hook",
    )
    response = survey_services.record_answer(invitation=invite(survey, account), score=1)
    delivery_id = alerts.claim_alert(rule_id=alert_rule.pk, response_id=response.pk)
    assert alerts.send_alert(delivery_id=delivery_id) is False
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "ConnectionError" in delivery.last_error


def test_sweep_recovers_an_alert_lost_before_enqueue(mailoutbox, account):
    survey = SurveyFactory()
    rule(survey=survey, on_negative=True)
    # No on-commit callbacks run: as if the process died right after the commit.
    response = survey_services.record_answer(invitation=invite(survey, account), score=0)
    assert AlertDelivery.objects.count() == 0

    result = services.sweep()
    again = services.sweep()

    assert (result["alerts"], result["followups"]) == (1, 1)
    assert (again["alerts"], again["followups"]) == (0, 0)
    assert AlertDelivery.objects.get().response_id == response.pk
    assert FollowUp.objects.get().response_id == response.pk


def test_rule_needs_a_condition_a_recipient_and_valid_addresses():
    with pytest.raises(ValidationError) as error:
        AlertRule(
            name="x", notify_owner=False, emails="ok@example.com, not-an-address"
        ).full_clean()
    assert error.value.message_dict == {
        "on_negative": ["Set at least one condition."],
        "emails": ["Not an email address: not-an-address"],
    }
    with pytest.raises(ValidationError) as error:
        AlertRule(name="x", on_negative=True, notify_owner=False).full_clean()
    assert list(error.value.message_dict) == ["notify_owner"]
    AlertRule(name="x", on_negative=True).full_clean()
