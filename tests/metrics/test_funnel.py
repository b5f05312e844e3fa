"""Bug 2: the funnel counted every invitation sent before a contact's bounce as bounced (one
bounce event made "Bounced 10", 4 of them answered), every link fetch as a click, and excluded
answers as answered. Now each invitation counts by its own outcome."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from metrics import selectors
from surveys import services
from surveys.distribution import events
from surveys.models import Invitation, Response
from tests.factories import ContactFactory, InvitationFactory, SurveyFactory

pytestmark = pytest.mark.django_db

SCANNER_UA = "Mozilla/5.0 (compatible; Mimecast URL protect)"
BROWSER_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


def funnel_row(survey):
    today = timezone.localdate()
    period = selectors.Period(today - dt.timedelta(days=400), today, dt.UTC)
    (row,) = selectors.funnel(filters=selectors.Filters(period=period, surveys=(survey.pk,)))
    return row


def test_one_bounce_is_one_bounced_invitation():
    survey = SurveyFactory()
    contact = ContactFactory(email="ana@example.com")
    now = timezone.now()
    invitations = [
        InvitationFactory(survey=survey, contact=contact, sent_at=now - dt.timedelta(days=d))
        for d in range(100, 0, -10)  # ten sends over three months, the last one yesterday-ish
    ]
    for invitation in invitations[:4]:
        services.record_answer(invitation=invitation, score=9)
    assert events.record_delivery_event(event_type="bounced", recipient="ANA@example.com")
    # The ESP tells us again (webhooks are retried): still one.
    events.record_delivery_event(event_type="bounced", recipient="ana@example.com")

    row = funnel_row(survey)

    assert (row["sent"], row["answered"], row["bounced"]) == (10, 4, 1)
    bounced = Invitation.objects.get(bounced_at__isnull=False)
    assert bounced.pk == invitations[-1].pk  # the last message sent: the one that bounced


def test_unsubscribes_count_through_their_invitation_before_an_answer(client):
    survey = SurveyFactory()
    quiet = InvitationFactory(survey=survey)
    answered_first = InvitationFactory(
        survey=survey, sent_at=timezone.now() - dt.timedelta(hours=1)
    )
    one_click = InvitationFactory(survey=survey)
    # Unsubscribes through the confirm page and RFC 8058's one-click POST.
    client.post(reverse("public:unsubscribe", args=[quiet.token]))
    client.post(
        reverse("public:unsubscribe_one_click", args=[one_click.token]),
        {"List-Unsubscribe": "One-Click"},
    )
    # A person who answered, then unsubscribed: not a non-response, not counted here.
    services.record_answer(invitation=answered_first, score=10)
    client.post(reverse("public:unsubscribe", args=[answered_first.token]))
    # A second unsubscribe of the same person counts nowhere again.
    client.post(
        reverse("public:unsubscribe_one_click", args=[quiet.token]),
        {"List-Unsubscribe": "One-Click"},
    )

    row = funnel_row(survey)

    assert (row["sent"], row["answered"], row["unsubscribed"]) == (3, 1, 2)
    assert Invitation.objects.filter(unsubscribed_at__isnull=False).count() == 3


def test_clicked_counts_people_not_scanner_fetches(client):
    survey = SurveyFactory()
    scanned = InvitationFactory(survey=survey)
    opened = InvitationFactory(survey=survey)
    answer_url = reverse("public:answer", args=[scanned.token])
    for score in range(11):  # a scanner fetches every link, with HEAD and GET
        client.head(f"{answer_url}?score={score}", HTTP_USER_AGENT=SCANNER_UA)
        client.get(f"{answer_url}?score={score}", HTTP_USER_AGENT=SCANNER_UA)
    # The page reports a person's first tap: the funnel's "clicked" (a scanner's is ignored).
    opened_url = reverse("public:answer", args=[opened.token])
    client.get(opened_url, HTTP_USER_AGENT=BROWSER_UA)
    client.post(opened_url, {"via": "view"}, HTTP_USER_AGENT=SCANNER_UA)
    assert funnel_row(survey)["clicked"] == 0
    seen = client.post(
        opened_url, {"via": "view"}, HTTP_USER_AGENT=BROWSER_UA, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert seen.json() == {"seen": True}

    row = funnel_row(survey)

    assert (row["sent"], row["clicked"], row["answered"]) == (2, 1, 0)
    assert Response.objects.count() == 0


def test_quarantined_and_excluded_answers_are_not_answered():
    survey = SurveyFactory()
    person, bot, dropped = (InvitationFactory(survey=survey) for _ in range(3))
    services.record_answer(invitation=person, score=10)
    services.record_answer(
        invitation=bot, score=10, bot_signals={"reasons": ["scanner user agent"]}
    )
    excluded = services.record_answer(invitation=dropped, score=0)
    services.set_excluded(response_ids=[excluded.pk], excluded=True)

    row = funnel_row(survey)

    # All three invitations have an answer stored; one counts.
    assert Invitation.objects.filter(answered_at__isnull=False).count() == 3
    assert (row["sent"], row["clicked"], row["answered"]) == (3, 1, 1)
    assert row["response_rate"].pct == pytest.approx(100 / 3)


def test_the_migration_moves_each_contacts_bounce_onto_its_last_message():
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "surveys.migrations.0010_quarantine_and_invitation_outcomes"
    )
    survey = SurveyFactory()
    now = timezone.now()
    bounced = ContactFactory(bounced_at=now - dt.timedelta(days=5))
    older, last, after = (
        InvitationFactory(survey=survey, contact=bounced, sent_at=now - dt.timedelta(days=d))
        for d in (60, 6, 1)  # the one sent after the bounce never went out in truth
    )
    unsubscribed = ContactFactory(unsubscribed_at=now - dt.timedelta(days=2))
    theirs = InvitationFactory(
        survey=survey, contact=unsubscribed, sent_at=now - dt.timedelta(days=3)
    )
    never_sent = InvitationFactory(survey=survey, contact=unsubscribed, sent_at=None)

    migration.attribute_bounces_and_unsubscribes(apps, None)

    outcomes = {
        name: Invitation.objects.values_list("bounced_at", "unsubscribed_at").get(pk=inv.pk)
        for name, inv in [
            ("older", older),
            ("last", last),
            ("after", after),
            ("theirs", theirs),
            ("never_sent", never_sent),
        ]
    }
    assert outcomes == {
        "older": (None, None),
        "last": (bounced.bounced_at, None),
        "after": (None, None),
        "theirs": (None, unsubscribed.unsubscribed_at),
        "never_sent": (None, None),
    }
