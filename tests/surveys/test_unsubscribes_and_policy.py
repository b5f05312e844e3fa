"""One unsubscribe path (page, one-click header, the email provider's report) and the
suppression policy written once."""

import threading

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Contact
from accounts.signals import contact_unsubscribed
from surveys.distribution import events, planning, policy
from surveys.models import Invitation
from tests.factories import ContactFactory, InvitationFactory, SurveyFactory

Status = Invitation.Status
Reason = Invitation.Reason


@pytest.fixture
def heard():
    calls = []

    def receiver(sender, *, contact_id, **kwargs):
        calls.append(contact_id)

    contact_unsubscribed.connect(receiver, dispatch_uid="test-unsubscribed")
    yield calls
    contact_unsubscribed.disconnect(dispatch_uid="test-unsubscribed")


@pytest.mark.django_db
def test_a_provider_reported_unsubscribe_is_announced_like_a_page_unsubscribe(
    heard, django_capture_on_commit_callbacks
):
    contact = ContactFactory(email="Ana@example.com")
    sent = InvitationFactory(contact=contact, status=Status.SENT, sent_at=timezone.now())
    waiting = InvitationFactory(contact=contact, status=Status.QUEUED, sent_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        changed = events.record_delivery_event(
            event_type="unsubscribed", recipient="ana@example.com"
        )
    assert changed == 1
    assert heard == [contact.pk]
    contact.refresh_from_db()
    assert contact.unsubscribed_at is not None
    # Counted once, on the last message sent; the waiting one is never sent.
    assert Invitation.objects.get(pk=sent.pk).unsubscribed_at is not None
    waiting.refresh_from_db()
    assert (waiting.status, waiting.suppression_reason) == (Status.SUPPRESSED, Reason.UNSUBSCRIBED)
    # A second report changes nothing and announces nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            events.record_delivery_event(event_type="unsubscribed", recipient="ana@example.com")
            == 0
        )
    assert heard == [contact.pk]


@pytest.mark.django_db
def test_the_page_unsubscribe_takes_the_same_path(
    client, heard, django_capture_on_commit_callbacks
):
    invitation = InvitationFactory(status=Status.SENT, sent_at=timezone.now())
    waiting = InvitationFactory(contact=invitation.contact, status=Status.SCHEDULED, sent_at=None)
    url = reverse("public:unsubscribe_one_click", args=[invitation.token])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"List-Unsubscribe": "One-Click"})
    assert heard == [invitation.contact_id]
    invitation.refresh_from_db()
    assert invitation.unsubscribed_at is not None
    assert Invitation.objects.get(pk=waiting.pk).status == Status.SUPPRESSED


def test_the_policy_names_the_first_rule_that_holds():
    active, inactive = SurveyFactory.build(active=True), SurveyFactory.build(active=False)
    every = {"unsubscribed": True, "complained": True, "bounced": True, "throttled": True}
    assert policy.first_reason(inactive, **every, over_cap=True) == Reason.INACTIVE_SURVEY
    assert policy.first_reason(active, **every, over_cap=True) == Reason.UNSUBSCRIBED
    no_mail = {"unsubscribed": None, "complained": None, "bounced": None}
    assert policy.first_reason(active, **{**no_mail, "bounced": 1}) == Reason.BOUNCED
    assert policy.first_reason(active, **no_mail, throttled=True, over_cap=True) == Reason.THROTTLED
    assert policy.first_reason(active, **no_mail, over_cap=True) == Reason.ACCOUNT_CAP
    assert policy.first_reason(active, **no_mail) == ""


def test_the_throttle_and_cap_are_not_read_when_an_earlier_rule_holds():
    def never():
        raise AssertionError("read")

    survey = SurveyFactory.build(active=True)
    reason = policy.first_reason(
        survey, unsubscribed=True, complained=None, bounced=None, throttled=never, over_cap=never
    )
    assert reason == Reason.UNSUBSCRIBED


@pytest.mark.django_db(transaction=True)
def test_a_campaign_waits_for_a_trigger_holding_the_contact_and_sees_its_invitation():
    survey = SurveyFactory(throttle_days=90)
    contact = ContactFactory()
    locked, release = threading.Event(), threading.Event()

    def trigger():
        # What the API trigger does: lock the contact, write its invitation, commit.
        try:
            with transaction.atomic():
                Contact.objects.select_for_update().get(pk=contact.pk)
                locked.set()
                release.wait(5)
                planning.create_invitation(survey=SurveyFactory(), contact=contact)
        finally:
            connection.close()

    thread = threading.Thread(target=trigger)
    thread.start()
    assert locked.wait(5)
    threading.Timer(0.5, release.set).start()
    plan = planning.plan_invitations(survey=survey, contacts=Contact.objects.filter(pk=contact.pk))
    thread.join(5)

    assert (plan.queued, dict(plan.suppressed)) == (0, {Reason.THROTTLED: 1})
    assert (
        Invitation.objects.filter(contact=contact, survey=survey).get().status == Status.SUPPRESSED
    )
