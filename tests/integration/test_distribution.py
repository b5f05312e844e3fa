"""Distribution on the real stack: PostgreSQL, Redis, Celery worker processes and an SMTP server.

The guarantee under test (README, "Distribution"): every invitation is handed to the mail
server at most once. A worker killed with -9 can leave at most one invitation per worker
process in doubt; that row ends `failed` with an explanation instead of being sent twice.
Everything else of the campaign is delivered exactly once.
"""

import time
from collections import Counter

import pytest
import redis
from django.conf import settings as django_settings

from accounts.models import Account, Contact
from surveys.distribution import planning, sweeps
from surveys.models import Campaign, Invitation
from tests.factories import SurveyFactory

pytestmark = pytest.mark.integration

Status = Invitation.Status
PENDING = (Status.SCHEDULED, Status.QUEUED, Status.SENDING)


def _campaign(size: int, name: str = "Pulse") -> Campaign:
    account = Account.objects.create(name="ACME", external_id=f"acme-{name}")
    Contact.objects.bulk_create(
        Contact(account=account, email=f"{name.lower()}-{i}@example.com", language="en")
        for i in range(size)
    )
    return Campaign.objects.create(survey=SurveyFactory(company_name="ACME"), name=name)


def _invitation_ids(messages) -> Counter:
    return Counter(str(message["X-Survey-Invitation"]) for message in messages)


def _settle(timeout: float = 60.0) -> None:
    """Play beat: run the sweeper until no invitation is waiting to be sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweeps.dispatch_due()
        if not Invitation.objects.filter(status__in=PENDING).exists():
            return
        time.sleep(0.5)
    counts = Counter(Invitation.objects.values_list("status", flat=True))
    raise AssertionError(f"invitations still pending after {timeout}s: {counts}")


@pytest.fixture
def fast_sweeps(settings):
    settings.SEND_BATCH_SIZE = 50
    settings.DISPATCH_LEASE_SECONDS = 5
    settings.SENDING_STALE_SECONDS = 4
    settings.SEND_RETRY_BASE_SECONDS = 0.3
    settings.SEND_RETRY_MAX_SECONDS = 1
    return settings


WORKER_ENV = {"SEND_RETRY_BASE_SECONDS": "0.3", "SEND_RETRY_MAX_SECONDS": "1"}


def test_two_workers_send_a_campaign_of_2000_exactly_once(workers, smtp, fast_sweeps):
    workers.start(2, **WORKER_ENV)
    campaign = _campaign(2000)

    plan = planning.launch_campaign(campaign=campaign)

    assert plan.queued == 2000
    messages = smtp.wait_for(2000, timeout=90)
    _settle()
    time.sleep(1)  # nothing more arrives
    public_ids = {str(p) for p in campaign.invitations.values_list("public_id", flat=True)}
    received = _invitation_ids(smtp.messages)
    assert len(smtp.messages) == len(messages) == 2000
    assert set(received) == public_ids
    assert max(received.values()) == 1
    assert Counter(campaign.invitations.values_list("status", "send_count")) == {
        (Status.SENT, 1): 2000
    }


def test_kill_9_of_a_worker_mid_campaign_delivers_all_and_none_twice(workers, smtp, fast_sweeps):
    first, _second = workers.start(2, **WORKER_ENV)
    campaign = _campaign(600, name="Crash")
    planning.launch_campaign(campaign=campaign)

    smtp.wait_for(150, timeout=60)
    workers.kill(first)  # SIGKILL to the worker and its pool child, as on a machine crash
    workers.start(1, **WORKER_ENV)
    _settle(timeout=90)
    time.sleep(1)

    received = _invitation_ids(smtp.messages)
    assert max(received.values()) == 1, "an invitation was delivered twice"
    statuses = Counter(campaign.invitations.values_list("status", flat=True))
    lost = list(
        campaign.invitations.filter(status=Status.FAILED).values_list("last_error", "public_id")
    )
    # At most the one message the killed worker was handing over is in doubt; it is failed,
    # never resent. Every other invitation was delivered exactly once.
    assert statuses[Status.SENT] + statuses[Status.FAILED] == 600
    assert statuses[Status.FAILED] <= 1
    assert all(error == sweeps.LOST_IN_SENDING for error, _ in lost)
    sent_ids = {
        str(p)
        for p in campaign.invitations.filter(status=Status.SENT).values_list("public_id", flat=True)
    }
    assert sent_ids <= set(received)
    assert set(received) - sent_ids <= {str(public_id) for _, public_id in lost}
    _forget_unacked_tasks()


def _forget_unacked_tasks() -> None:
    # The killed worker's task stays "unacked" in Redis until the visibility timeout; its rows
    # are settled above, so drop it rather than let a later run's worker pick it up.
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    client.delete("unacked", "unacked_index")


def test_4xx_for_a_while_is_retried_and_delivered(workers, smtp, fast_sweeps):
    workers.start(1, **WORKER_ENV)
    campaign = _campaign(20, name="Greylist")
    smtp.fail_with = "451 4.7.1 Greylisted, try again later"

    planning.launch_campaign(campaign=campaign)
    deadline = time.monotonic() + 30
    while campaign.invitations.filter(attempts__lt=2).exists():
        assert time.monotonic() < deadline, "no retries happened"
        sweeps.dispatch_due()
        time.sleep(0.3)
    assert smtp.messages == []
    assert set(campaign.invitations.values_list("status", flat=True)) <= {
        Status.QUEUED,
        Status.SENDING,
    }
    smtp.fail_with = None
    _settle()

    received = _invitation_ids(smtp.wait_for(20))
    assert len(smtp.messages) == 20
    assert max(received.values()) == 1
    rows = list(campaign.invitations.values_list("status", "last_error"))
    assert rows == [(Status.SENT, "")] * 20
    # Every one was refused at least once (attempts >= 2) before it went through.
    assert min(campaign.invitations.values_list("attempts", flat=True)) >= 2


def test_5xx_fails_with_the_error_and_is_not_retried(workers, smtp, fast_sweeps):
    workers.start(1, **WORKER_ENV)
    campaign = _campaign(10, name="Refused")
    smtp.fail_with = "550 5.1.1 No such user here"

    planning.launch_campaign(campaign=campaign)
    _settle()
    for _ in range(4):  # more sweeps, well past every lease and backoff: nothing is re-sent
        assert sweeps.dispatch_due().dispatched == 0
        time.sleep(0.5)

    rows = set(campaign.invitations.values_list("status", "attempts", "last_error"))
    assert rows == {(Status.FAILED, 1, "550 5.1.1 No such user here")}
    assert smtp.messages == []
