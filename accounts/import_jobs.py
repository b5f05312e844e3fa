"""Big import files are run by a worker, their progress kept in the database (ImportJob)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from . import jobs
from .csv_files import ImportFileError
from .models import ImportJob

logger = logging.getLogger(__name__)


def is_big(source: bytes) -> bool:
    """Files over IMPORT_SYNC_MAX_ROWS lines are imported by a worker, with a progress page."""
    return source.count(b"\n") > settings.IMPORT_SYNC_MAX_ROWS


def start_import_job(*, source: bytes, actor, dry_run: bool, task) -> ImportJob:
    """Store the upload and a job row, and hand the job to `task(job_id)` after commit."""
    upload = default_storage.save(f"imports/{uuid.uuid4().hex}.csv", ContentFile(source))
    job = ImportJob.objects.create(
        requested_by=actor,
        task=task.name,
        dry_run=dry_run,
        upload=upload,
        total_rows=max(source.count(b"\n") - 1, 0),
        next_attempt_at=jobs.lease_end(),
    )
    jobs.enqueue(task_name=task.name, job_id=job.pk)
    return job


def run_import_job(*, job_id, run: Callable) -> bool:
    """Run `run(source=..., actor=..., dry_run=..., progress=...)` on a job's upload, keeping its
    progress and result on the job; the upload is deleted afterwards. Idempotent: False when
    another worker has the job or it is finished."""
    if not isinstance(job_id, int) or not jobs.claim(ImportJob, job_id=job_id):
        # A message from before jobs were rows carries a hex id: nothing to run.
        return False
    job = ImportJob.objects.select_related("requested_by").get(pk=job_id)
    running = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING)

    def progress(rows: int) -> None:
        running.update(processed_rows=rows)

    try:
        # Read as the import consumes it: a big upload is never held in memory whole.
        with default_storage.open(job.upload, "rb") as handle:
            result = run(
                source=handle, actor=job.requested_by, dry_run=job.dry_run, progress=progress
            )
    except ImportFileError as exc:
        outcome, rows = {"file_error": str(exc)}, job.processed_rows
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        running.update(
            status=ImportJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        default_storage.delete(job.upload)
        raise
    else:
        rows = result.rows
        outcome = {
            "errors": [(error.line, error.reason) for error in result.errors[:1000]],
            "error_count": len(result.errors),
            "counts": result.counts,
            "applied": result.applied,
        }
    running.update(
        status=ImportJob.Status.DONE,
        processed_rows=rows,
        result=outcome,
        finished_at=timezone.now(),
    )
    default_storage.delete(job.upload)
    logger.info(
        "import job %s done: %s rows, %s bad, %s",
        job.pk,
        rows,
        outcome.get("error_count", 0),
        "applied" if outcome.get("applied") else "nothing written",
    )
    return True


def sweep_import_jobs() -> jobs.Sweep:
    """Hand lost import jobs to a worker again (accounts/jobs.py)."""
    result = jobs.Sweep()
    for task_name in (
        ImportJob.objects.filter(status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING])
        .values_list("task", flat=True)
        .distinct()
    ):
        one = jobs.sweep(ImportJob.objects.filter(task=task_name), task_name=task_name)
        result.requeued += one.requeued
        result.failed += one.failed
        result.handed += one.handed
    return result
