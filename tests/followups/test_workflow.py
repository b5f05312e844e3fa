from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from followups import digests, selectors, services
from followups.models import DigestPreference, FollowUp, Note, Tag
from tests.factories import AccountFactory, ResponseFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return StaffFactory(username="olga", email="olga@example.com")


def followup_for(score=3, owner=None, answered_at=None, **kwargs):
    response = ResponseFactory(
        score=score,
        invitation__contact__account=AccountFactory(owner=owner),
        **({"answered_at": answered_at} if answered_at else {}),
        **kwargs,
    )
    return services.ensure_followup(response=response)


def test_ensure_followup_is_idempotent_and_defaults_to_the_owner(owner):
    followup = followup_for(owner=owner)
    again = services.ensure_followup(response=followup.response)
    assert again.pk == followup.pk
    assert followup.assignee == owner
    assert (followup.status, followup.first_action_at, followup.closed_at) == ("new", None, None)


def test_status_changes_stamp_first_action_and_close(owner):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        followup = followup_for(owner=owner)
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        followup = services.update_followup(followup=followup, actor=owner, status="in_progress")
    assert followup.first_action_at == start + timedelta(hours=2)
    assert followup.closed_at is None
    with time_machine.travel(start + timedelta(hours=5), tick=False):
        followup = services.update_followup(followup=followup, actor=owner, status="closed_won")
    assert followup.first_action_at == start + timedelta(hours=2)
    assert followup.closed_at == start + timedelta(hours=5)
    # Closed to closed keeps the first close time; reopening clears it.
    with time_machine.travel(start + timedelta(hours=6), tick=False):
        followup = services.update_followup(followup=followup, actor=owner, status="closed_lost")
    assert followup.closed_at == start + timedelta(hours=5)
    followup = services.update_followup(followup=followup, actor=owner, status="in_progress")
    assert followup.closed_at is None


def test_unknown_status_is_refused_and_nothing_changes(owner):
    followup = followup_for(owner=owner)
    with pytest.raises(ValidationError) as error:
        services.update_followup(followup=followup, actor=owner, status="done", tags=["x"])
    assert error.value.messages == [
        "Unknown status done; use one of: new, in_progress, closed_won, closed_lost."
    ]
    followup.refresh_from_db()
    assert (followup.status, followup.first_action_at) == ("new", None)
    assert Tag.objects.count() == 0


def test_assignee_must_be_active_staff(owner):
    followup = followup_for(owner=owner)
    customer = StaffFactory(username="ex", is_staff=False)
    with pytest.raises(ValidationError):
        services.update_followup(followup=followup, actor=owner, assignee=customer)
    followup.refresh_from_db()
    assert followup.assignee == owner
    other = StaffFactory(username="pat")
    followup = services.update_followup(followup=followup, actor=owner, assignee=other)
    assert followup.assignee == other
    assert followup.first_action_at is not None


def test_tags_replace_the_set_and_reuse_names_ignoring_case(owner):
    first = followup_for(owner=owner)
    second = followup_for(owner=owner)
    services.update_followup(followup=first, actor=owner, tags=["Pricing", " onboarding ", ""])
    services.update_followup(followup=second, actor=owner, tags=["pricing", "PRICING"])
    assert sorted(first.tags.values_list("name", flat=True)) == ["Pricing", "onboarding"]
    assert list(second.tags.values_list("name", flat=True)) == ["Pricing"]
    assert Tag.objects.count() == 2
    services.update_followup(followup=first, actor=owner, tags=[])
    assert first.tags.count() == 0


def test_bad_tags_are_refused(owner):
    followup = followup_for(owner=owner)
    with pytest.raises(ValidationError, match="under 50 characters"):
        services.update_followup(followup=followup, actor=owner, tags=["x" * 51])
    with pytest.raises(ValidationError, match="at most 20 tags"):
        services.update_followup(followup=followup, actor=owner, tags=[f"t{i}" for i in range(21)])
    assert Tag.objects.count() == 0
    assert followup.tags.count() == 0


def test_saving_nothing_new_is_not_a_first_action(owner):
    followup = followup_for(owner=owner)
    followup = services.update_followup(followup=followup, actor=owner, status="new", tags=[])
    assert followup.first_action_at is None


def test_notes_have_author_and_time_and_count_as_first_action(owner):
    followup = followup_for(owner=owner)
    with time_machine.travel(timezone.now() + timedelta(minutes=30), tick=False):
        note = services.add_note(followup=followup, author=owner, body="  Called them.  ")
    followup.refresh_from_db()
    assert (note.body, note.author, note.created_at) == (
        "Called them.",
        owner,
        followup.first_action_at,
    )


@pytest.mark.parametrize(
    ("body", "message"), [("   ", "Write something"), ("x" * 5001, "under 5,000")]
)
def test_bad_notes_are_refused_and_nothing_is_written(owner, body, message):
    followup = followup_for(owner=owner)
    with pytest.raises(ValidationError, match=message):
        services.add_note(followup=followup, author=owner, body=body)
    assert Note.objects.count() == 0
    followup.refresh_from_db()
    assert followup.first_action_at is None


def test_queue_is_my_accounts_unhappy_oldest_first(owner):
    now = timezone.now()
    other = StaffFactory(username="pat")
    newer = followup_for(score=2, owner=owner, answered_at=now - timedelta(days=1))
    older = followup_for(score=6, owner=owner, answered_at=now - timedelta(days=3))
    passive = followup_for(score=8, owner=owner, answered_at=now - timedelta(days=9))
    theirs = followup_for(score=0, owner=other, answered_at=now - timedelta(days=5))
    assigned = followup_for(score=1, owner=other, answered_at=now - timedelta(days=2))
    services.update_followup(followup=assigned, actor=other, assignee=owner)
    closed = followup_for(score=1, owner=owner, answered_at=now - timedelta(days=4))
    services.update_followup(followup=closed, actor=owner, status="closed_lost")

    mine = list(selectors.queue(user=owner))
    assert mine == [older, assigned, newer, passive]
    everyone = list(selectors.queue(user=owner, scope="all"))
    assert everyone == [theirs, older, assigned, newer, passive]
    services.update_followup(followup=newer, actor=owner, assignee=other)
    # "Mine" still shows my account's follow-up given to someone else; "assigned" does not.
    assert list(selectors.queue(user=owner)) == [older, assigned, newer, passive]
    assert list(selectors.queue(user=owner, scope="assigned")) == [older, assigned, passive]
    assert list(selectors.queue(user=owner, status="closed")) == [closed]


def test_queue_filters_by_tag(owner):
    tagged = followup_for(owner=owner)
    followup_for(owner=owner)
    services.update_followup(followup=tagged, actor=owner, tags=["Pricing"])
    assert list(selectors.queue(user=owner, tag="pricing")) == [tagged]


def test_timing_report_means_from_the_answer(owner):
    start = timezone.now() - timedelta(days=2)
    a = followup_for(owner=owner, answered_at=start)
    b = followup_for(owner=owner, answered_at=start)
    followup_for(owner=owner, answered_at=start)  # untouched
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        services.add_note(followup=a, author=owner, body="on it")
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        services.update_followup(followup=b, actor=owner, status="in_progress")
    with time_machine.travel(start + timedelta(hours=30), tick=False):
        services.update_followup(followup=a, actor=owner, status="closed_won")

    report = selectors.timing_report()
    assert report["total"] == 3
    assert report["open"] == 2
    assert report["untouched"] == 1
    assert (report["won"], report["lost"]) == (1, 0)
    assert report["acted"] == 2
    assert report["first_action_within_day"] == 2
    assert report["mean_to_first_action"] == timedelta(hours=2)
    assert report["mean_to_close"] == timedelta(hours=30)


def test_digest_is_sent_once_per_period(owner, mailoutbox, settings):
    settings.DIGEST_HOUR_UTC = 7
    digests.set_digest_frequency(user=owner, frequency="daily")
    monday_8 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    followup_for(
        score=2, owner=owner, answered_at=monday_8 - timedelta(hours=3), comment="Slow replies"
    )
    followup_for(
        score=2, owner=StaffFactory(username="pat"), answered_at=monday_8 - timedelta(hours=2)
    )

    assert digests.send_due_digests(now=monday_8) == 1
    assert digests.send_due_digests(now=monday_8 + timedelta(hours=1)) == 0
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["olga@example.com"]
    assert message.subject == "Follow-up digest: 1 new unhappy answers, 1 open"
    assert "Slow replies" in message.body
    assert "https://surveys.example.com/followups/" in message.body
    # The next day's period is due again.
    assert digests.send_due_digests(now=monday_8 + timedelta(days=1)) == 1


def test_weekly_digest_waits_for_monday_and_off_sends_nothing(owner, mailoutbox):
    pat = StaffFactory(username="pat", email="pat@example.com")
    digests.set_digest_frequency(user=owner, frequency="weekly")
    digests.set_digest_frequency(user=pat, frequency="off")
    followup_for(score=2, owner=owner)
    followup_for(score=2, owner=pat)
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert digests.send_due_digests(now=monday) == 1
    assert digests.send_due_digests(now=monday + timedelta(days=3)) == 0
    assert digests.send_due_digests(now=monday + timedelta(days=7)) == 1
    assert [m.to for m in mailoutbox] == [["olga@example.com"], ["olga@example.com"]]


def test_unknown_digest_frequency_is_refused(owner):
    with pytest.raises(ValidationError):
        digests.set_digest_frequency(user=owner, frequency="hourly")
    assert DigestPreference.objects.count() == 0


def test_followup_str_and_is_open(owner):
    followup = followup_for(owner=owner)
    assert followup.is_open
    assert isinstance(FollowUp.objects.get().pk, int)
