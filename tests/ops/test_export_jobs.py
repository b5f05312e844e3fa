"""Background exports recover: a lost enqueue or a dead worker never leaves a job pending or
running for ever (the claim rules of accounts/jobs.py, shared with imports)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.storage import default_storage

from accounts import jobs
from accounts.roles import MARKETING
from metrics import selectors
from metrics.exports import background, columns
from metrics.models import ExportJob
from metrics.tasks import sweep_export_jobs
from tests.factories import ResponseFactory, StaffFactory

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def requester(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    for score in (10, 6):
        ResponseFactory(score=score, answered_at=NOW - dt.timedelta(days=3))
    return StaffFactory(username="mia", email="mia@example.com", role=MARKETING)


def _lost_export(user, **fields) -> ExportJob:
    """An export created in a transaction whose on-commit enqueue never ran."""
    job = background.start_export_job(
        user=user,
        filters=selectors.Filters(period=selectors.Period(None, None, ZoneInfo("UTC")), kind=""),
        options=columns.ExportOptions(),
        fmt="csv",
    )
    ExportJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    return job


def test_a_new_export_is_handed_to_a_worker_with_a_lease(
    requester, settings, django_capture_on_commit_callbacks
):
    settings.JOB_LEASE_SECONDS = 900
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            job = _lost_export(requester)
    assert len(callbacks) == 1  # the enqueue, after commit
    assert (job.status, job.attempts, job.total_rows) == ("pending", 0, 2)
    assert job.next_attempt_at == NOW + dt.timedelta(seconds=900)


def test_the_sweeper_hands_an_export_whose_enqueue_was_lost(
    requester, mailoutbox, django_capture_on_commit_callbacks
):
    with time_machine.travel(NOW, tick=False):
        job = _lost_export(requester)
    with time_machine.travel(NOW + dt.timedelta(seconds=899), tick=False):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            assert background.sweep_export_jobs() == jobs.Sweep()
    assert callbacks == []
    with time_machine.travel(NOW + dt.timedelta(seconds=900), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert sweep_export_jobs.delay().result == 1
    job.refresh_from_db()
    assert (job.status, job.row_count, job.attempts) == ("done", 2, 1)
    assert default_storage.exists(job.file.name)
    assert [m.to for m in mailoutbox] == [["mia@example.com"]]


def test_the_sweeper_takes_over_an_export_whose_worker_died(
    requester, mailoutbox, django_capture_on_commit_callbacks
):
    # A worker killed mid-run leaves this: running, started an hour and a minute ago.
    job = _lost_export(
        requester,
        status="running",
        started_at=NOW - dt.timedelta(seconds=3661),
        attempts=1,
        processed_rows=1,
    )
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert background.sweep_export_jobs() == jobs.Sweep(requeued=1, failed=0, handed=1)
    job.refresh_from_db()
    assert (job.status, job.row_count, job.attempts) == ("done", 2, 2)
    assert len(mailoutbox) == 1


def test_a_running_export_within_its_time_is_left_alone(
    requester, mailoutbox, django_capture_on_commit_callbacks
):
    job = _lost_export(
        requester, status="running", started_at=NOW - dt.timedelta(seconds=3659), attempts=1
    )
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert background.sweep_export_jobs() == jobs.Sweep()
        # A duplicate or redelivered message finds it running: it runs nothing.
        assert background.run_export_job(job_id=job.pk) is False
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("running", 1)
    assert mailoutbox == []


def test_a_redelivered_message_takes_over_a_stale_export(requester, mailoutbox):
    """The broker redelivers after the visibility timeout (3960 s), past the stale threshold
    (3660 s): the redelivery finds the dead run stale and runs the export."""
    job = _lost_export(
        requester, status="running", started_at=NOW - dt.timedelta(seconds=3960), attempts=1
    )
    with time_machine.travel(NOW, tick=False):
        assert background.run_export_job(job_id=job.pk) is True
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 2)
    assert len(mailoutbox) == 1


def test_an_export_that_lost_its_worker_every_time_fails(
    requester, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.JOB_MAX_ATTEMPTS = 3
    job = _lost_export(
        requester, status="running", started_at=NOW - dt.timedelta(hours=2), attempts=3
    )
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert background.sweep_export_jobs() == jobs.Sweep(requeued=0, failed=1, handed=0)
        assert background.run_export_job(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error.startswith("The worker running this job was lost 3 times")
    assert mailoutbox == []


def test_export_jobs_are_swept_every_minute(settings):
    assert settings.CELERY_BEAT_SCHEDULE["sweep-export-jobs"] == {
        "task": "metrics.tasks.sweep_export_jobs",
        "schedule": 60.0,
    }
    assert settings.CELERY_BEAT_SCHEDULE["sweep-import-jobs"]["schedule"] == 60.0
