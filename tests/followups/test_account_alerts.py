"""Account alert rules, checked daily on the health snapshots: turns red, drops X points in 30
days, usage down X%, renewal within N days while detractor or red. Delivered by email (the
owner and the rule's addresses), chat and the account.alert webhook event; once per cooldown."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from followups import account_alerts, queue
from followups.models import AccountAlert, AlertRule, Event, WebhookDelivery, WebhookEndpoint
from metrics import health
from metrics.models import HealthSnapshot
from tests.factories import (
    AccountFactory,
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
    UsageFactory,
)

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 6, 15)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(dt.datetime(2026, 6, 15, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def owner():
    return StaffFactory(username="olga", email="olga@example.com")


@pytest.fixture
def acme(owner):
    return AccountFactory(name="ACME Ltd", external_id="acme", owner=owner, mrr=Decimal("900"))


def snap(account, day, score, colour):
    HealthSnapshot.objects.create(
        account=account, day=day, score=score, colour=colour, version=health.current_version()
    )


def rule(**kwargs):
    return AlertRule.objects.create(**{"name": "Accounts at risk", "notify_owner": True, **kwargs})


def run(capture, day=TODAY):
    with capture(execute=True):
        return health.evaluate_account_rules(day=day)


def test_turning_red_fires_once_and_emails_the_owner(
    django_capture_on_commit_callbacks, mailoutbox, acme
):
    rule(on_health_red=True, emails="cs-lead@example.com")
    snap(acme, TODAY - dt.timedelta(days=1), 45.0, "yellow")
    snap(acme, TODAY, 32.0, "red")
    already_red = AccountFactory(external_id="red-for-days")
    snap(already_red, TODAY - dt.timedelta(days=1), 20.0, "red")
    snap(already_red, TODAY, 20.0, "red")
    assert run(django_capture_on_commit_callbacks) == 1
    alert = AccountAlert.objects.get()
    assert (alert.account, alert.day, alert.status) == (acme, TODAY, "sent")
    assert alert.reasons == [{"kind": "health_red", "score": 32.0, "before": "yellow"}]
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["olga@example.com", "cs-lead@example.com"]
    assert "ACME Ltd" in email.subject
    assert "Health turned red: 32.0 (it was yellow the day before)." in email.body
    assert "/reports/accounts/acme/" in email.body
    # Run again the same day, and the next day while still red: nothing more.
    assert run(django_capture_on_commit_callbacks) == 0
    snap(acme, TODAY + dt.timedelta(days=1), 30.0, "red")
    assert run(django_capture_on_commit_callbacks, TODAY + dt.timedelta(days=1)) == 0
    assert len(mailoutbox) == 1


def test_a_drop_of_x_points_in_30_days(django_capture_on_commit_callbacks, acme):
    rule(health_drop_points=15)
    snap(acme, TODAY - dt.timedelta(days=30), 80.0, "green")
    snap(acme, TODAY, 64.0, "yellow")  # -16
    small = AccountFactory()
    snap(small, TODAY - dt.timedelta(days=30), 80.0, "green")
    snap(small, TODAY, 66.0, "yellow")  # -14: not enough
    assert run(django_capture_on_commit_callbacks) == 1
    assert AccountAlert.objects.get().reasons == [
        {"kind": "health_drop", "score": 64.0, "before": 80.0, "points": 16.0}
    ]


def test_usage_down_at_least_x_percent(django_capture_on_commit_callbacks, acme):
    rule(usage_drop_pct=30)
    snap(acme, TODAY, 70.0, "green")
    steady = AccountFactory()
    snap(steady, TODAY, 70.0, "green")
    yesterday = TODAY - dt.timedelta(days=1)
    for back in range(60):
        day = yesterday - dt.timedelta(days=back)
        # acme: 10 a day before, 7 a day in the last 30 days: -30%; steady: 10 then 8: -20%.
        UsageFactory(account=acme, day=day, value=7 if back < 30 else 10)
        UsageFactory(account=steady, day=day, value=8 if back < 30 else 10)
    assert run(django_capture_on_commit_callbacks) == 1
    assert AccountAlert.objects.get().reasons == [{"kind": "usage_drop", "pct": 30.0}]


def test_renewal_within_n_days_while_detractor_or_red(django_capture_on_commit_callbacks, acme):
    rule(renewal_within_days=60, mrr_above=Decimal("100"))
    acme.renewal_date = TODAY + dt.timedelta(days=45)
    acme.save()
    contact = ContactFactory(account=acme)
    ResponseFactory(
        invitation=InvitationFactory(survey=SurveyFactory(), contact=contact),
        score=3,
        answered_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )
    snap(acme, TODAY, 75.0, "green")  # green, but a detractor
    red = AccountFactory(renewal_date=TODAY + dt.timedelta(days=10), mrr=Decimal("500"))
    snap(red, TODAY, 30.0, "red")
    later = AccountFactory(renewal_date=TODAY + dt.timedelta(days=90), mrr=Decimal("500"))
    snap(later, TODAY, 30.0, "red")
    small = AccountFactory(renewal_date=TODAY + dt.timedelta(days=10), mrr=Decimal("50"))
    snap(small, TODAY, 30.0, "red")  # under the rule's MRR
    assert run(django_capture_on_commit_callbacks) == 2
    by_account = {a.account_id: a.reasons for a in AccountAlert.objects.all()}
    assert by_account[acme.pk] == [
        {"kind": "renewal", "renewal_date": "2026-07-30", "days": 45, "detractor": True}
    ]
    assert by_account[red.pk][0]["detractor"] is False


def test_every_condition_must_hold(django_capture_on_commit_callbacks, acme):
    rule(on_health_red=True, usage_drop_pct=30)
    snap(acme, TODAY, 30.0, "red")  # red, but no usage data
    assert run(django_capture_on_commit_callbacks) == 0


def test_the_alert_reaches_chat_and_subscribed_webhooks(
    django_capture_on_commit_callbacks, acme, receiver
):
    rule(on_health_red=True, notify_owner=False, chat_webhook_url=receiver.url + "/chat")
    WebhookEndpoint.objects.create(url=receiver.url + "/hooks", events=[Event.ACCOUNT_ALERT])
    snap(acme, TODAY, 30.0, "red")
    assert run(django_capture_on_commit_callbacks) == 1
    requests = {request.path: request for request in receiver.wait_for(2)}
    chat = requests["/chat"].json()
    assert "*Accounts at risk*: ACME Ltd" in chat["text"]
    assert "Health turned red" in chat["text"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.status) == ("account.alert", "succeeded")
    envelope = requests["/hooks"].json()
    assert envelope["data"]["account"] == {"external_id": "acme", "name": "ACME Ltd"}
    assert envelope["data"]["reasons"][0]["kind"] == "health_red"


def test_a_rule_cannot_mix_answer_and_account_conditions():
    mixed = AlertRule(name="x", on_negative=True, on_health_red=True, emails="a@example.com")
    with pytest.raises(ValidationError) as error:
        mixed.full_clean()
    assert "cannot be combined" in error.value.message_dict["on_negative"][0]
    AlertRule(name="y", usage_drop_pct=30, emails="a@example.com").full_clean()


def test_an_account_rule_never_fires_on_answers(django_capture_on_commit_callbacks, acme):
    from surveys import services as survey_services

    rule(on_health_red=True)
    invitation = InvitationFactory(contact=ContactFactory(account=acme))
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.record_answer(invitation=invitation, score=0, comment="")
    assert not AccountAlert.objects.exists()
    assert not acme.followups.filter(response__alerts__isnull=False).exists()


def test_the_sweeper_requeues_a_lost_alert(mailoutbox, acme):
    alert = AccountAlert.objects.create(
        rule=rule(on_health_red=True),
        account=acme,
        day=TODAY,
        reasons=[{"kind": "health_red", "score": 30.0, "before": None}],
        created_at=dt.datetime(2026, 6, 15, 11, tzinfo=dt.UTC),
    )
    assert account_alerts.sweep() == {"requeued_account_alerts": 1}
    alert.refresh_from_db()
    assert alert.status == "sent"
    assert len(mailoutbox) == 1


def test_a_failed_chat_post_retries_that_channel_then_gives_up(
    mailoutbox, acme, receiver, settings
):
    settings.ALERT_MAX_ATTEMPTS = 2
    alert = AccountAlert.objects.create(
        rule=rule(on_health_red=True, chat_webhook_url=receiver.url + "/chat"),
        account=acme,
        day=TODAY,
        reasons=[{"kind": "health_red", "score": 30.0, "before": None}],
    )
    receiver.script = [500, 500]
    with pytest.raises(queue.RetryLater) as retry:
        account_alerts.send_account_alert(alert_id=alert.pk)
    assert retry.value.countdown == settings.ALERT_BACKOFF_BASE
    alert.refresh_from_db()
    assert (alert.status, alert.attempts) == ("pending", 1)
    assert alert.last_error.startswith("chat: HTTP 500")
    assert [message.to for message in mailoutbox] == [["olga@example.com"]]  # the email went
    assert alert.recipients == "olga@example.com"

    # The second and last attempt posts to chat again but does not email again.
    assert account_alerts.send_account_alert(alert_id=alert.pk) is False
    alert.refresh_from_db()
    assert (alert.status, alert.attempts) == ("failed", 2)
    assert len(mailoutbox) == 1
    assert len(receiver.requests) == 2
