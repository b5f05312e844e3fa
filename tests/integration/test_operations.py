"""Operations on the real stack: queues per kind of work, request ids in workers' logs, jobs that
recover through the broker."""

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
import requests
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.roles import ADMINISTRATORS
from metrics import selectors
from metrics.exports import background, columns
from metrics.models import ExportJob
from tests.factories import ResponseFactory, StaffFactory, SurveyFactory

pytestmark = pytest.mark.integration


def _api(live_server):
    user = StaffFactory(username="ops", email="ops@example.com", role=ADMINISTRATORS)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    return session, f"{live_server.url}/api/v1"


def _wait_for_export(job_id: int, timeout: float = 60) -> ExportJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ExportJob.objects.get(pk=job_id)
        if job.status in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"export {job_id} still {job.status} after {timeout} s")


def test_an_export_waits_for_the_jobs_worker_while_sends_go_out(
    live_server, workers, smtp, settings, tmp_path
):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    settings.SITE_URL = live_server.url
    SurveyFactory(slug="rel", company_name="ACME")
    ResponseFactory(score=9)
    api, base = _api(live_server)
    # Only the default queue is consumed: sends, announcements, alerts.
    workers.start(1, queues=("default",), MEDIA_ROOT=str(media))

    created = api.post(
        f"{base}/exports", json={"format": "csv"}, headers={"X-Request-ID": "it-export-7"}
    )
    assert created.status_code == 202, created.text
    assert created.headers["X-Request-ID"] == "it-export-7"
    job_id = ExportJob.objects.get().pk
    invited = api.post(
        f"{base}/invitations",
        json={"survey": "rel", "contact": {"email": "ana@example.com"}, "event_id": "t-1"},
        headers={"X-Request-ID": "it-send-8"},
    )
    assert invited.status_code == 201, invited.text
    # The send, enqueued after the export, goes out; the export waits on its own queue.
    [message] = smtp.wait_for(1, timeout=60)
    assert message["To"] == "ana@example.com"
    assert ExportJob.objects.get(pk=job_id).status == "pending"

    # A worker for the jobs queue picks it up.
    workers.start(1, queues=("jobs",), MEDIA_ROOT=str(media))
    job = _wait_for_export(job_id)
    assert (job.status, job.row_count) == ("done", 1)
    smtp.wait_for(2, timeout=30)  # the "your export is ready" email

    # The jobs worker logged the export under the id of the request that asked for it.
    log = workers.log_text()
    done = [line for line in log.splitlines() if f"export job {job_id} done" in line]
    assert len(done) == 1 and "[it-export-7]" in done[0], done
    assert "ana@example.com" not in log
    assert "ops@example.com" not in log


def test_a_lost_export_is_handed_to_a_worker_by_the_sweeper(
    live_server, worker, smtp, settings, tmp_path
):
    """Through the real broker: one export whose enqueue was lost, one whose worker died."""
    settings.MEDIA_ROOT = tmp_path / "media"
    ResponseFactory(score=10)
    owner = StaffFactory(username="mia", email="mia@example.com", role=ADMINISTRATORS)
    filters = columns.filters_as_dict(
        selectors.Filters(period=selectors.Period(None, None, ZoneInfo("UTC")), kind="")
    )
    past = timezone.now() - dt.timedelta(hours=2)
    lost_enqueue = ExportJob.objects.create(
        requested_by=owner, format="csv", filters=filters, total_rows=1, next_attempt_at=past
    )
    dead_worker = ExportJob.objects.create(
        requested_by=owner,
        format="xlsx",
        filters=filters,
        total_rows=1,
        status="running",
        started_at=past,
        attempts=1,
    )
    # Nothing is in the broker for either. The sweeper (beat's task, run here) hands both.
    result = background.sweep_export_jobs()
    assert (result.requeued, result.handed) == (1, 2)
    for job in (lost_enqueue, dead_worker):
        done = _wait_for_export(job.pk)
        assert (done.status, done.row_count) == ("done", 1)
    assert ExportJob.objects.get(pk=dead_worker.pk).attempts == 2
    assert len(smtp.wait_for(2, timeout=30)) == 2
