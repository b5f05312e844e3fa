"""Big imports: progress and result in the database; lost jobs reclaimed like invitations."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts import imports, jobs
from accounts.models import Contact, ImportJob
from accounts.roles import CS_STAFF
from accounts.tasks import import_contacts_file
from tests.factories import StaffFactory

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
SOURCE = b"email\n" + b"".join(f"p{i}@example.com\n".encode() for i in range(5))


@pytest.fixture
def owner(db, settings, tmp_path):
    settings.IMPORT_SYNC_MAX_ROWS = 2
    settings.MEDIA_ROOT = tmp_path / "media"
    return StaffFactory(username="olga", email="olga@example.com", role=CS_STAFF)


def _upload(client):
    data = {"file": SimpleUploadedFile("f.csv", SOURCE, content_type="text/csv")}
    return client.post(reverse("admin:accounts_contact_import"), data)


def _lost_job(owner, **fields) -> ImportJob:
    """A job whose enqueue never happened (the on-commit hook is not run)."""
    job = imports.start_import_job(
        source=SOURCE, actor=owner, dry_run=False, task=import_contacts_file
    )
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    return job


def test_the_progress_page_reads_the_job_row_not_a_cache(
    client, owner, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False):
        response = _upload(client)
    job = ImportJob.objects.get()
    assert response["Location"].endswith(f"/import/{job.public_id.hex}/")
    assert (job.status, job.total_rows, job.processed_rows) == ("pending", 5, 0)
    waiting = client.get(response["Location"]).content.decode()
    assert "Waiting for a worker" in waiting
    assert '<progress id="import-progress" max="100" value="0">' in waiting

    # Another process (another web server's local cache, a flushed Redis) knows nothing.
    cache.clear()
    assert import_contacts_file.delay(job.pk).result is True
    cache.clear()
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.attempts) == ("done", 5, 1)
    assert job.result["counts"]["contacts_created"] == 5
    done = client.get(response["Location"]).content.decode()
    assert '<progress id="import-progress" max="100" value="100">' in done
    assert "contacts_created: 5" in done
    assert not default_storage.exists(job.upload)


def test_the_page_says_when_every_row_is_checked_and_the_writes_run(client, owner):
    client.force_login(owner)
    job = _lost_job(owner, status="running", started_at=timezone.now(), processed_rows=5)
    url = reverse("admin:accounts_contact_import_job", args=[job.public_id.hex])
    body = client.get(url).content.decode()
    assert "Every row is checked; writing them all at once" in body
    assert '<progress id="import-progress" max="100" value="99">' in body


def test_someone_elses_job_and_bad_ids_are_404(client, owner):
    job = _lost_job(owner)
    client.force_login(StaffFactory(username="other", role=CS_STAFF))
    assert (
        client.get(
            reverse("admin:accounts_contact_import_job", args=[job.public_id.hex])
        ).status_code
        == 404
    )
    client.force_login(owner)
    assert (
        client.get(reverse("admin:accounts_contact_import_job", args=["nothex"])).status_code == 404
    )
    # The job of the contact import is not shown on another import's page.
    other_page = reverse("admin:surveys_response_import_job", args=[job.public_id.hex])
    assert client.get(other_page).status_code == 404


def test_a_duplicate_message_runs_nothing_twice(owner):
    job = _lost_job(owner)
    assert imports.run_import_job(job_id=job.pk, run=imports.import_contacts) is True
    assert imports.run_import_job(job_id=job.pk, run=imports.import_contacts) is False
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 1)
    # A message queued before jobs were rows (a hex id and three more arguments) is dropped.
    assert import_contacts_file.delay("0" * 32, "imports/x.csv", owner.pk, False).result is False


def test_the_sweeper_hands_a_job_whose_enqueue_was_lost(
    owner, settings, django_capture_on_commit_callbacks
):
    settings.JOB_LEASE_SECONDS = 900
    with time_machine.travel(NOW, tick=False):
        job = _lost_job(owner)
    assert job.next_attempt_at == NOW + dt.timedelta(seconds=900)
    # Within the lease the job may still be in the broker: nothing is handed again.
    with time_machine.travel(NOW + dt.timedelta(seconds=899), tick=False):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            assert imports.sweep_import_jobs() == jobs.Sweep(requeued=0, failed=0, handed=0)
    assert callbacks == []
    with time_machine.travel(NOW + dt.timedelta(seconds=900), tick=False):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            assert imports.sweep_import_jobs() == jobs.Sweep(requeued=0, failed=0, handed=1)
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 1)
    assert Contact.objects.count() == 5


def test_the_sweeper_takes_over_a_run_whose_worker_died(
    owner, settings, django_capture_on_commit_callbacks
):
    settings.JOB_STALE_SECONDS = 3660
    started = NOW - dt.timedelta(seconds=3661)
    job = _lost_job(owner, status="running", started_at=started, attempts=1)
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert imports.sweep_import_jobs() == jobs.Sweep(requeued=1, failed=0, handed=1)
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 2)
    assert Contact.objects.count() == 5


def test_a_run_still_within_its_time_is_left_alone(owner, django_capture_on_commit_callbacks):
    started = NOW - dt.timedelta(seconds=3659)
    job = _lost_job(owner, status="running", started_at=started, attempts=1)
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert imports.sweep_import_jobs() == jobs.Sweep()
        # A redelivered message finds it running and not stale: it runs nothing.
        assert imports.run_import_job(job_id=job.pk, run=imports.import_contacts) is False
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("running", 1)
    assert Contact.objects.count() == 0


def test_a_redelivered_message_takes_over_a_stale_run(owner):
    job = _lost_job(owner, status="running", started_at=NOW - dt.timedelta(hours=2), attempts=1)
    with time_machine.travel(NOW, tick=False):
        assert imports.run_import_job(job_id=job.pk, run=imports.import_contacts) is True
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 2)


def test_a_job_that_lost_its_worker_every_time_fails(
    owner, settings, django_capture_on_commit_callbacks
):
    settings.JOB_MAX_ATTEMPTS = 3
    job = _lost_job(owner, status="running", started_at=NOW - dt.timedelta(hours=2), attempts=3)
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            assert imports.sweep_import_jobs() == jobs.Sweep(requeued=0, failed=1, handed=0)
        assert imports.run_import_job(job_id=job.pk, run=imports.import_contacts) is False
    assert callbacks == []
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error.startswith("The worker running this job was lost 3 times")
    assert job.finished_at == NOW
    assert Contact.objects.count() == 0
