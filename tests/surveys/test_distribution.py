"""The distribution engine with a frozen clock: who is asked, when, and how often."""

import smtplib
from datetime import UTC, datetime, timedelta

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from accounts.models import Account, Contact
from accounts.roles import CS_STAFF
from surveys import tasks
from surveys.distribution import controls, dispatch, planning, sending, sweeps
from surveys.models import Campaign, Invitation
from tests.factories import AccountFactory, ContactFactory, InvitationFactory, SurveyFactory

pytestmark = pytest.mark.django_db

Status = Invitation.Status
Reason = Invitation.Reason
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class RecordingBackend(BaseEmailBackend):
    """Counts connections and messages; `failures[email]` lists exceptions to raise in turn."""

    opened = 0
    closed = 0
    sent: list = []
    failures: dict[str, list[Exception]] = {}

    def open(self):
        RecordingBackend.opened += 1
        return True

    def close(self):
        RecordingBackend.closed += 1

    def send_messages(self, email_messages):
        for message in email_messages:
            pending = RecordingBackend.failures.get(message.to[0])
            if pending:
                raise pending.pop(0)
            RecordingBackend.sent.append(message)
        return len(email_messages)


@pytest.fixture
def backend(settings):
    settings.EMAIL_BACKEND = "tests.surveys.test_distribution.RecordingBackend"
    RecordingBackend.opened = RecordingBackend.closed = 0
    RecordingBackend.sent = []
    RecordingBackend.failures = {}
    return RecordingBackend


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def run_commits(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the eager 'broker') for everything done inside the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _queued(survey=None, **kwargs) -> Invitation:
    return InvitationFactory(
        survey=survey or SurveyFactory(),
        status=Status.QUEUED,
        sent_at=None,
        send_count=0,
        expires_at=timezone.now() + timedelta(days=30),
        **kwargs,
    )


# --- Throttling, account cap and suppression reasons ----------------------------------------


def test_a_contact_asked_by_any_survey_is_throttled_for_n_days(clock, run_commits, mailoutbox):
    contact = ContactFactory()
    with run_commits():
        first, _ = planning.create_invitation(survey=SurveyFactory(), contact=contact)
    clock.move_to(T0 + timedelta(days=89, hours=23))
    with run_commits():
        second, created = planning.create_invitation(survey=SurveyFactory(), contact=contact)

    assert created is True
    assert (second.status, second.suppression_reason) == (Status.SUPPRESSED, Reason.THROTTLED)
    assert len(mailoutbox) == 1

    clock.move_to(T0 + timedelta(days=90, minutes=1))
    with run_commits():
        third, _ = planning.create_invitation(survey=SurveyFactory(), contact=contact)
    third.refresh_from_db()
    assert (third.status, third.suppression_reason) == (Status.SENT, "")
    assert len(mailoutbox) == 2


def test_throttle_follows_the_setting_and_the_survey_override(clock, settings, run_commits):
    settings.THROTTLE_DAYS = 10
    contact = ContactFactory()
    with run_commits():
        planning.create_invitation(survey=SurveyFactory(), contact=contact)
    clock.move_to(T0 + timedelta(days=11))
    short, _ = planning.create_invitation(survey=SurveyFactory(), contact=contact)
    longer, _ = planning.create_invitation(
        survey=SurveyFactory(throttle_days=30), contact=ContactFactory()
    )
    assert short.status == Status.QUEUED
    assert longer.status == Status.QUEUED
    again, _ = planning.create_invitation(survey=SurveyFactory(throttle_days=30), contact=contact)
    assert (again.status, again.suppression_reason) == (Status.SUPPRESSED, Reason.THROTTLED)


def test_a_survey_with_throttle_zero_opts_out_but_its_sends_still_count(clock, run_commits):
    contact = ContactFactory()
    opted_out = SurveyFactory(throttle_days=0)
    with run_commits():
        first, _ = planning.create_invitation(survey=SurveyFactory(), contact=contact)
        second, _ = planning.create_invitation(survey=opted_out, contact=contact)
        third, _ = planning.create_invitation(survey=SurveyFactory(), contact=contact)

    second.refresh_from_db()
    assert second.status == Status.SENT
    assert third.suppression_reason == Reason.THROTTLED


def test_account_cap_limits_contacts_per_account_per_period(clock, run_commits):
    account = AccountFactory()
    survey = SurveyFactory(account_cap=2, account_cap_days=30)
    contacts = ContactFactory.create_batch(4, account=account)
    with run_commits():
        results = [planning.create_invitation(survey=survey, contact=c)[0] for c in contacts]

    assert [r.suppression_reason for r in results] == [
        "",
        "",
        Reason.ACCOUNT_CAP,
        Reason.ACCOUNT_CAP,
    ]
    other = planning.create_invitation(survey=survey, contact=ContactFactory())[0]
    assert other.suppression_reason == ""

    clock.move_to(T0 + timedelta(days=31))
    later = planning.create_invitation(survey=survey, contact=contacts[2])[0]
    assert later.status == Status.QUEUED


@pytest.mark.parametrize(
    ("contact_kwargs", "survey_kwargs", "reason"),
    [
        ({"unsubscribed_at": T0}, {}, Reason.UNSUBSCRIBED),
        ({"bounced_at": T0}, {}, Reason.BOUNCED),
        ({"complained_at": T0}, {}, Reason.COMPLAINED),
        ({}, {"active": False}, Reason.INACTIVE_SURVEY),
    ],
)
def test_suppression_reasons_are_kept_and_nothing_is_queued(
    contact_kwargs, survey_kwargs, reason, run_commits, backend
):
    with run_commits() as callbacks:
        invitation, created = planning.create_invitation(
            survey=SurveyFactory(**survey_kwargs), contact=ContactFactory(**contact_kwargs)
        )
    assert created is True
    assert (invitation.status, invitation.suppression_reason) == (Status.SUPPRESSED, reason)
    assert callbacks == []
    assert backend.sent == []


def test_the_same_event_for_another_contact_is_kept_as_a_duplicate_event(run_commits, backend):
    survey = SurveyFactory()
    with run_commits():
        first, _ = planning.create_invitation(
            survey=survey, contact=ContactFactory(), event_id="ticket-9"
        )
        dup, created = planning.create_invitation(
            survey=survey, contact=ContactFactory(), event_id="ticket-9", properties={"a": 1}
        )

    assert created is True
    assert (dup.status, dup.suppression_reason) == (Status.SUPPRESSED, Reason.DUPLICATE_EVENT)
    assert dup.event_id is None
    assert dup.properties == {"a": 1, "event_id": "ticket-9"}
    assert len(backend.sent) == 1


@pytest.mark.role(CS_STAFF)
def test_the_api_returns_the_suppression_reason(api_client, clock):
    survey = SurveyFactory(slug="rel")
    contact = ContactFactory(email="ana@example.com")
    InvitationFactory(contact=contact, created_at=T0 - timedelta(days=1))

    response = api_client.post(
        "/api/v1/invitations",
        {"survey": "rel", "contact": {"email": "ana@example.com"}},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "suppressed"
    assert response.json()["suppression_reason"] == "throttled"
    assert Invitation.objects.filter(survey=survey).count() == 1


# --- Transactional delay --------------------------------------------------------------------


def test_a_delayed_survey_is_scheduled_and_released_by_the_sweeper(clock, run_commits, backend):
    survey = SurveyFactory(send_delay_minutes=120, expiry_days=10)
    with run_commits() as callbacks:
        invitation, _ = planning.create_invitation(survey=survey, contact=ContactFactory())

    assert invitation.status == Status.SCHEDULED
    assert invitation.send_at == T0 + timedelta(hours=2)
    assert invitation.expires_at == T0 + timedelta(hours=2, days=10)
    assert callbacks == []

    clock.move_to(T0 + timedelta(hours=1, minutes=59))
    with run_commits():
        sweep = sweeps.dispatch_due()
    assert (sweep.released, sweep.dispatched, backend.sent) == (0, 0, [])

    clock.move_to(T0 + timedelta(hours=2))
    with run_commits():
        sweep = sweeps.dispatch_due()
    invitation.refresh_from_db()
    assert (sweep.released, sweep.dispatched) == (1, 1)
    assert invitation.status == Status.SENT
    assert invitation.sent_at == T0 + timedelta(hours=2)
    assert len(backend.sent) == 1


# --- Sending: batches, retries, failures ----------------------------------------------------


def test_a_batch_goes_over_one_connection(backend, settings, run_commits):
    settings.SEND_BATCH_SIZE = 50
    survey = SurveyFactory()
    contacts = ContactFactory.create_batch(120)
    with run_commits():
        plan = planning.plan_invitations(survey=survey, contacts=type(contacts[0]).objects.all())

    assert plan.queued == 120
    assert len(backend.sent) == 120
    assert backend.opened == 3  # 50 + 50 + 20
    assert Invitation.objects.filter(status=Status.SENT, send_count=1).count() == 120
    assert sorted(m.to[0] for m in backend.sent) == sorted(c.email for c in contacts)


def test_sending_twice_sends_once(backend):
    invitation = _queued()
    assert sending.send_invitations(invitation_ids=[invitation.pk]) == 1
    assert sending.send_invitations(invitation_ids=[invitation.pk]) == 0
    assert tasks.send_invitation(invitation.pk) is False
    assert len(backend.sent) == 1


def test_4xx_is_retried_with_backoff_then_delivered(clock, backend, settings, run_commits):
    settings.SEND_RETRY_BASE_SECONDS = 60
    invitation = _queued(contact=ContactFactory(email="later@example.com"))
    backend.failures["later@example.com"] = [
        smtplib.SMTPRecipientsRefused({"later@example.com": (451, b"4.3.0 try again later")})
    ]

    assert sending.send_invitation(invitation_id=invitation.pk) is False
    invitation.refresh_from_db()
    assert (invitation.status, invitation.attempts) == (Status.QUEUED, 1)
    assert invitation.last_error == "451 4.3.0 try again later"
    assert T0 + timedelta(seconds=54) <= invitation.next_attempt_at <= T0 + timedelta(seconds=66)

    clock.move_to(T0 + timedelta(seconds=50))
    with run_commits():
        assert sweeps.dispatch_due().dispatched == 0
    clock.move_to(T0 + timedelta(seconds=70))
    with run_commits():
        assert sweeps.dispatch_due().dispatched == 1

    invitation.refresh_from_db()
    assert (invitation.status, invitation.attempts, invitation.last_error) == (Status.SENT, 2, "")
    assert len(backend.sent) == 1


def test_retry_delays_grow_exponentially_up_to_the_cap(settings):
    settings.SEND_RETRY_BASE_SECONDS = 10
    settings.SEND_RETRY_MAX_SECONDS = 100
    delays = [sending.retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 5)]
    for delay, nominal in zip(delays, [10, 20, 40, 80, 100], strict=True):
        assert nominal * 0.9 <= delay <= nominal * 1.1


def test_transient_failures_end_failed_after_max_attempts_without_a_loop(
    clock, backend, settings, run_commits
):
    settings.SEND_MAX_ATTEMPTS = 3
    invitation = _queued(contact=ContactFactory(email="busy@example.com"))
    backend.failures["busy@example.com"] = [
        smtplib.SMTPDataError(421, b"4.7.0 too busy") for _ in range(10)
    ]

    sending.send_invitation(invitation_id=invitation.pk)
    for hour in range(1, 6):
        clock.move_to(T0 + timedelta(hours=hour))
        with run_commits():
            sweeps.dispatch_due()

    invitation.refresh_from_db()
    assert invitation.status == Status.FAILED
    assert invitation.attempts == 3
    assert invitation.last_error == "Gave up after 3 attempts: 421 4.7.0 too busy"
    assert len(backend.failures["busy@example.com"]) == 7  # exactly 3 tries consumed
    assert backend.sent == []


def test_5xx_fails_at_once_with_the_error_and_is_never_retried(clock, backend, run_commits):
    invitation = _queued(contact=ContactFactory(email="nobody@example.com"))
    backend.failures["nobody@example.com"] = [
        smtplib.SMTPRecipientsRefused({"nobody@example.com": (550, b"5.1.1 no such user")})
    ]

    assert sending.send_invitation(invitation_id=invitation.pk) is False
    clock.move_to(T0 + timedelta(days=1))
    with run_commits():
        assert sweeps.dispatch_due().dispatched == 0

    invitation.refresh_from_db()
    assert (invitation.status, invitation.attempts) == (Status.FAILED, 1)
    assert invitation.last_error == "550 5.1.1 no such user"
    assert invitation.next_attempt_at is None


def test_a_lost_connection_defers_the_rest_of_the_batch(clock, backend):
    survey = SurveyFactory()
    first, second, third = (
        _queued(survey, contact=ContactFactory(email=f"p{i}@example.com")) for i in range(3)
    )
    backend.failures["p1@example.com"] = [ConnectionRefusedError(111, "refused")]

    sent = sending.send_invitations(invitation_ids=[first.pk, second.pk, third.pk])

    assert sent == 1
    first.refresh_from_db(), second.refresh_from_db(), third.refresh_from_db()
    assert first.status == Status.SENT
    assert (second.status, second.attempts) == (Status.QUEUED, 1)
    assert "refused" in second.last_error
    assert (third.status, third.attempts) == (Status.QUEUED, 0)
    assert third.next_attempt_at > T0
    assert [m.to[0] for m in backend.sent] == ["p0@example.com"]


# --- The crash policy -----------------------------------------------------------------------


def test_rows_left_sending_by_a_dead_worker_are_failed_not_resent(clock, backend, settings):
    settings.SENDING_STALE_SECONDS = 360
    survey = SurveyFactory()
    stale = _queued(survey)
    fresh = _queued(survey)
    Invitation.objects.filter(pk=stale.pk).update(
        status=Status.SENDING, claimed_at=T0 - timedelta(seconds=361), attempts=1
    )
    Invitation.objects.filter(pk=fresh.pk).update(
        status=Status.SENDING, claimed_at=T0 - timedelta(seconds=30), attempts=1
    )

    sweep = sweeps.dispatch_due()

    stale.refresh_from_db(), fresh.refresh_from_db()
    assert sweep.lost == 1
    assert stale.status == Status.FAILED
    assert stale.last_error == sweeps.LOST_IN_SENDING
    assert fresh.status == Status.SENDING
    assert sending.send_invitations(invitation_ids=[stale.pk, fresh.pk]) == 0
    assert backend.sent == []


def test_queued_rows_whose_task_was_lost_are_dispatched_after_the_lease(
    clock, backend, settings, run_commits
):
    settings.DISPATCH_LEASE_SECONDS = 600
    with run_commits():
        invitation, _ = planning.create_invitation(survey=SurveyFactory(), contact=ContactFactory())
    # The broker lost the task: the row is queued again as if it had never been handed over.
    Invitation.objects.filter(pk=invitation.pk).update(status=Status.QUEUED, sent_at=None)
    backend.sent.clear()

    clock.move_to(T0 + timedelta(seconds=599))
    with run_commits():
        assert sweeps.dispatch_due().dispatched == 0
    clock.move_to(T0 + timedelta(seconds=601))
    with run_commits():
        assert sweeps.dispatch_due().dispatched == 1
    assert len(backend.sent) == 1


def test_resend_failed_queues_only_failed_rows_with_fresh_attempts(backend, run_commits):
    failed = _queued()
    Invitation.objects.filter(pk=failed.pk).update(
        status=Status.FAILED, attempts=6, last_error="Gave up"
    )
    sent = InvitationFactory()
    with run_commits():
        count = controls.resend_failed(invitation_ids=[failed.pk, sent.pk])
    failed.refresh_from_db()
    assert count == 1
    assert (failed.status, failed.attempts, failed.send_count) == (Status.SENT, 1, 1)
    assert [m.to[0] for m in backend.sent] == [failed.contact.email]


# --- Send-time checks, pause, rate ----------------------------------------------------------


def test_send_time_checks_suppress_expire_or_hold(clock, backend):
    survey = SurveyFactory()
    unsubscribed = _queued(survey, contact=ContactFactory(unsubscribed_at=T0))
    expired = _queued(survey)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=T0)
    paused = _queued(SurveyFactory(paused=True))

    sent = sending.send_invitations(invitation_ids=[unsubscribed.pk, expired.pk, paused.pk])

    assert sent == 0
    unsubscribed.refresh_from_db(), expired.refresh_from_db(), paused.refresh_from_db()
    assert (unsubscribed.status, unsubscribed.suppression_reason) == (
        Status.SUPPRESSED,
        Reason.UNSUBSCRIBED,
    )
    assert expired.status == Status.EXPIRED
    assert paused.status == Status.QUEUED
    assert backend.sent == []


def test_pausing_holds_queued_invitations_until_resumed(clock, backend, run_commits):
    survey = SurveyFactory()
    assert controls.pause_survey(survey=survey) is True
    assert controls.pause_survey(survey=survey) is False
    survey.refresh_from_db()
    with run_commits():
        invitation, _ = planning.create_invitation(survey=survey, contact=ContactFactory())
    clock.move_to(T0 + timedelta(hours=2))
    with run_commits():
        assert sweeps.dispatch_due().dispatched == 0
    assert backend.sent == []

    with run_commits():
        assert controls.resume_survey(survey=survey) == 1
    invitation.refresh_from_db()
    assert invitation.status == Status.SENT
    assert len(backend.sent) == 1


def test_the_global_send_rate_spaces_messages(backend, settings, monkeypatch):
    settings.SEND_RATE_PER_SECOND = 2
    now = [1000.0]
    sleeps = []
    monkeypatch.setattr(sending.time, "time", lambda: now[0])

    def fake_sleep(seconds):
        sleeps.append(round(seconds, 3))
        now[0] += seconds

    monkeypatch.setattr(sending.time, "sleep", fake_sleep)
    survey = SurveyFactory()
    ids = [_queued(survey).pk for _ in range(5)]

    assert sending.send_invitations(invitation_ids=ids) == 5
    assert sleeps == [1.001, 1.0]  # 2 in the first second, 2 in the next, 1 in the third
    assert len(backend.sent) == 5


# --- Reminders and expiry -------------------------------------------------------------------


def test_one_reminder_after_r_days_as_a_counted_send(clock, backend, run_commits):
    survey = SurveyFactory(reminder_days=3)
    with run_commits():
        invitation, _ = planning.create_invitation(survey=survey, contact=ContactFactory())
    answered = InvitationFactory(survey=survey, sent_at=T0, answered_at=T0 + timedelta(hours=1))
    backend.sent.clear()

    clock.move_to(T0 + timedelta(days=2, hours=23))
    with run_commits():
        assert sweeps.send_reminders() == 0
    clock.move_to(T0 + timedelta(days=3))
    with run_commits():
        assert sweeps.send_reminders() == 1
    with run_commits():
        assert sweeps.send_reminders() == 0

    invitation.refresh_from_db()
    assert invitation.send_count == 2
    assert invitation.reminder_sent_at == T0 + timedelta(days=3)
    [reminder] = backend.sent
    assert reminder.subject.startswith("Reminder: ")
    assert reminder.extra_headers["Message-ID"] != invitation.message_id
    assert answered.pk != invitation.pk


@pytest.mark.parametrize(
    "change",
    ["answered", "unsubscribed", "no_reminder", "expired", "paused"],
)
def test_no_reminder_when_it_is_not_wanted(change, clock, backend, run_commits):
    survey = SurveyFactory(reminder_days=3, expiry_days=30)
    with run_commits():
        invitation, _ = planning.create_invitation(survey=survey, contact=ContactFactory())
    backend.sent.clear()
    if change == "answered":
        Invitation.objects.filter(pk=invitation.pk).update(answered_at=T0 + timedelta(days=1))
    elif change == "unsubscribed":
        type(invitation.contact).objects.filter(pk=invitation.contact_id).update(unsubscribed_at=T0)
    elif change == "no_reminder":
        type(survey).objects.filter(pk=survey.pk).update(reminder_days=None)
    elif change == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=T0 + timedelta(days=2))
    else:
        controls.pause_survey(survey=survey)

    clock.move_to(T0 + timedelta(days=4))
    with run_commits():
        assert sweeps.send_reminders() == 0
    invitation.refresh_from_db()
    assert (invitation.send_count, invitation.reminder_sent_at) == (1, None)
    assert backend.sent == []


def test_unsent_invitations_expire_after_e_days(clock, settings, run_commits, backend):
    settings.INVITATION_EXPIRY_DAYS = 30
    survey = SurveyFactory()
    controls.pause_survey(survey=survey)
    survey.refresh_from_db()
    invitation, _ = planning.create_invitation(survey=survey, contact=ContactFactory())
    assert invitation.expires_at == T0 + timedelta(days=30)

    clock.move_to(T0 + timedelta(days=29, hours=23))
    assert sweeps.expire_invitations() == 0
    clock.move_to(T0 + timedelta(days=30))
    assert sweeps.expire_invitations() == 1

    invitation.refresh_from_db()
    assert invitation.status == Status.EXPIRED
    assert invitation.is_open is False
    with run_commits():
        controls.resume_survey(survey=survey)
    assert backend.sent == []


# --- Relational trickle and campaigns -------------------------------------------------------


def test_relational_trickle_invites_each_contact_once_per_cadence(clock, backend, run_commits):
    survey = SurveyFactory(relational=True, cadence_days=10, throttle_days=0)
    active = AccountFactory(status=Account.Status.ACTIVE)
    churned = AccountFactory(status=Account.Status.CHURNED)
    members = ContactFactory.create_batch(25, account=active)
    ContactFactory.create_batch(5, account=churned)
    ContactFactory(account=active, unsubscribed_at=T0)

    daily = []
    for day in range(10):
        clock.move_to(T0 + timedelta(days=day))
        with run_commits():
            daily.append(planning.plan_relational(survey=survey).queued)
            assert planning.plan_relational(survey=survey).queued == 0  # same day again

    assert daily == [3, 3, 3, 3, 3, 3, 3, 3, 1, 0]
    invited = list(Invitation.objects.filter(survey=survey).values_list("contact_id", flat=True))
    assert sorted(invited) == sorted(c.pk for c in members)
    assert len(backend.sent) == 25

    clock.move_to(T0 + timedelta(days=10, hours=1))
    with run_commits():
        assert planning.plan_relational(survey=survey).queued == 3  # the next cycle starts


def test_relational_audience_filters_by_plan_segment_region_and_property(clock):
    survey = SurveyFactory(
        relational=True,
        cadence_days=1,
        audience_account_statuses="active,trial",
        audience_plans="Pro, Enterprise",
        audience_regions="Europe",
        audience_property="role",
        audience_property_value="admin",
    )
    pro = AccountFactory(plan="Pro", region="Europe", status=Account.Status.TRIAL)
    wanted = ContactFactory(account=pro, properties={"role": "admin"})
    ContactFactory(account=pro, properties={"role": "user"})
    ContactFactory(
        account=AccountFactory(plan="Free", region="Europe"), properties={"role": "admin"}
    )
    ContactFactory(account=AccountFactory(plan="Pro", region="Asia"), properties={"role": "admin"})

    plan = planning.plan_relational(survey=survey)

    assert plan.queued == 1
    assert list(Invitation.objects.values_list("contact_id", flat=True)) == [wanted.pk]


def test_relational_planning_skips_throttled_contacts_until_they_are_free(clock, run_commits):
    survey = SurveyFactory(relational=True, cadence_days=1)
    contact = ContactFactory()
    InvitationFactory(contact=contact, created_at=T0 - timedelta(days=89))
    assert planning.plan_relational(survey=survey).queued == 0
    clock.move_to(T0 + timedelta(days=2))
    with run_commits():
        assert planning.plan_relational(survey=survey).queued == 1


def test_campaign_preview_writes_nothing_and_launch_is_once(clock, backend, run_commits, settings):
    survey = SurveyFactory(account_cap=1)
    account = AccountFactory()
    ContactFactory.create_batch(2, account=account)
    ContactFactory(account=AccountFactory(), unsubscribed_at=T0)
    ContactFactory(account=AccountFactory(status=Account.Status.CHURNED))
    campaign = Campaign.objects.create(survey=survey, name="Q1 pulse")

    preview = planning.preview_campaign(campaign=campaign)
    assert (preview.queued, dict(preview.suppressed)) == (
        1,
        {Reason.ACCOUNT_CAP: 1, Reason.UNSUBSCRIBED: 1},
    )
    assert Invitation.objects.count() == 0

    with run_commits():
        plan = planning.launch_campaign(campaign=campaign)
    assert (plan.queued, plan.total) == (1, 3)
    assert planning.launch_campaign(campaign=campaign) is None
    campaign.refresh_from_db()
    assert (campaign.status, campaign.planned_count) == (Campaign.Status.LAUNCHED, 3)
    assert Invitation.objects.filter(campaign=campaign).count() == 3
    assert len(backend.sent) == 1


# --- Bounces and complaints -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "reject_reason", "column", "reason"),
    [
        ("bounced", None, "bounced_at", Reason.BOUNCED),
        ("rejected", "bounced", "bounced_at", Reason.BOUNCED),
        ("complained", None, "complained_at", Reason.COMPLAINED),
        ("unsubscribed", None, "unsubscribed_at", Reason.UNSUBSCRIBED),
    ],
)
def test_anymail_tracking_events_suppress_the_contact(
    event_type, reject_reason, column, reason, clock, backend
):
    from anymail.signals import AnymailTrackingEvent, tracking

    contact = ContactFactory(email="Ana@Example.com")
    queued = _queued(contact=contact)
    event = AnymailTrackingEvent(
        event_type=event_type, recipient="ana@example.com", reject_reason=reject_reason
    )

    tracking.send(sender=object, event=event, esp_name="Test")

    contact.refresh_from_db(), queued.refresh_from_db()
    assert getattr(contact, column) == T0
    assert (queued.status, queued.suppression_reason) == (Status.SUPPRESSED, reason)
    assert sending.send_invitations(invitation_ids=[queued.pk]) == 0
    assert backend.sent == []


def test_delivered_and_opened_events_change_nothing(clock):
    from anymail.signals import AnymailTrackingEvent, tracking

    contact = ContactFactory(email="ana@example.com")
    for event_type in ("delivered", "opened", "deferred", "rejected"):
        tracking.send(
            sender=object,
            event=AnymailTrackingEvent(event_type=event_type, recipient="ana@example.com"),
            esp_name="Test",
        )
    contact.refresh_from_db()
    assert (contact.bounced_at, contact.complained_at, contact.unsubscribed_at) == (None,) * 3


def test_the_distribute_command_runs_every_sweep_once(clock, backend, run_commits):
    from io import StringIO

    from django.core.management import call_command

    survey = SurveyFactory(send_delay_minutes=10)
    relational = SurveyFactory(relational=True, cadence_days=1, throttle_days=0)
    ContactFactory()
    scheduled, _ = planning.create_invitation(survey=survey, contact=ContactFactory())
    clock.move_to(T0 + timedelta(minutes=10))
    out = StringIO()
    with run_commits():
        call_command("distribute", stdout=out)

    assert out.getvalue().strip() == (
        "released 1, dispatched 1, lost 0, expired 0, reminders 0, relational planned 2"
    )
    scheduled.refresh_from_db()
    assert scheduled.status == Status.SENT
    assert Invitation.objects.filter(survey=relational, status=Status.SENT).count() == 2


def test_a_login_failure_is_not_blamed_on_the_messages(clock, backend, monkeypatch):
    survey = SurveyFactory()
    rows = [_queued(survey) for _ in range(3)]

    def refuse(self):
        raise smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials")

    monkeypatch.setattr(RecordingBackend, "open", refuse)
    assert sending.send_invitations(invitation_ids=[r.pk for r in rows]) == 0

    first, second, third = (Invitation.objects.get(pk=r.pk) for r in rows)
    assert (first.status, first.attempts) == (Status.QUEUED, 1)
    assert "bad credentials" in first.last_error
    assert [(r.status, r.attempts) for r in (second, third)] == [(Status.QUEUED, 0)] * 2
    assert backend.sent == []


def test_copy_text_escapes_what_postgresql_copy_reads_specially():
    assert planning._copy_text(None) == "\\N"
    assert planning._copy_text(True) == "t"
    assert planning._copy_text({"a": "b\tc"}) == '{"a": "b\\\\tc"}'
    assert planning._copy_text("x\\y\nz") == "x\\\\y\\nz"
    assert planning._copy_text(T0) == "2026-03-02T09:00:00+00:00"
    assert planning._copy_text(Status.QUEUED) == "queued"


def test_fast_uuid4_is_a_version_4_uuid():
    import uuid

    values = {planning._fast_uuid4() for _ in range(100)}
    assert len(values) == 100
    for value in values:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, value)


def test_large_plans_fan_out_through_workers(backend, settings, run_commits, monkeypatch):
    settings.SEND_BATCH_SIZE = 10
    monkeypatch.setattr(dispatch, "FANOUT_BATCHES", 2)
    published = []
    for name in ("send_invitations", "dispatch_invitations"):
        task = getattr(tasks, name)
        original = task.apply_async

        def spy(args, _name=name, _original=original, **kwargs):
            published.append((_name, len(args[0])))
            return _original(args, **kwargs)

        monkeypatch.setattr(task, "apply_async", spy)
    ContactFactory.create_batch(45)
    with run_commits():
        plan = planning.plan_invitations(survey=SurveyFactory(), contacts=Contact.objects.all())

    assert plan.queued == 45
    assert [p for p in published if p[0] == "dispatch_invitations"] == [
        ("dispatch_invitations", 20),
        ("dispatch_invitations", 20),
        ("dispatch_invitations", 5),
    ]
    assert sorted(n for name, n in published if name == "send_invitations") == [5, 10, 10, 10, 10]
    assert len(backend.sent) == 45
    assert backend.opened == 5


def test_send_failures_are_logged_by_invitation_id(clock, backend, settings, caplog):
    import logging

    settings.SEND_RETRY_BASE_SECONDS = 60
    later = _queued(contact=ContactFactory(email="later@example.com"))
    never = _queued(contact=ContactFactory(email="nobody@example.com"))
    backend.failures["later@example.com"] = [
        smtplib.SMTPRecipientsRefused({"later@example.com": (451, b"4.3.0 try again later")})
    ]
    backend.failures["nobody@example.com"] = [
        smtplib.SMTPRecipientsRefused({"nobody@example.com": (550, b"5.1.1 no such user")})
    ]
    with caplog.at_level(logging.INFO, logger="surveys.distribution"):
        sending.send_invitation(invitation_id=later.pk)
        sending.send_invitation(invitation_id=never.pk)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("surveys.distribution")]
    assert len(messages) == 2
    assert messages[0].startswith(f"invitation {later.pk}: attempt 1 failed, retry in ")
    assert messages[0].endswith(" s: 451 4.3.0 try again later")
    assert messages[1] == f"invitation {never.pk} refused permanently: 550 5.1.1 no such user"
    assert not any("@" in message for message in messages)
