"""Exports too big for a request: logged, queued as jobs, run by a worker."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import jobs
from accounts.audit import record_audit
from accounts.models import AuditLog
from metrics import selectors
from metrics.models import ExportJob

from .columns import (
    PROGRESS_EVERY,
    XLSX_MAX_ROWS,
    ExportError,
    ExportOptions,
    filters_as_dict,
    filters_from_dict,
)
from .files import count_rows, csv_chunks, write_xlsx
from .notify import notify_requester

logger = logging.getLogger(__name__)

# --- Services -------------------------------------------------------------------------------


def log_export(
    *,
    user,
    filters: selectors.Filters,
    options: ExportOptions,
    fmt: str,
    row_count: int,
    job: ExportJob | None = None,
) -> AuditLog:
    """Audit one export: who, when, with which filters, how many rows."""
    return record_audit(
        actor=user,
        action=AuditLog.Action.EXPORT_RESPONSES,
        target=f"export {job.public_id}" if job else "",
        details={"format": fmt, **filters_as_dict(filters), "options": options.as_dict()},
        row_count=row_count,
    )


def start_export_job(
    *, user, filters: selectors.Filters, options: ExportOptions, fmt: str
) -> ExportJob:
    """Create an export job and hand it to a worker after commit."""
    if fmt not in ExportJob.Format.values:
        raise ExportError(_("Unknown export format."))
    total = count_rows(filters, options)
    if fmt == ExportJob.Format.XLSX and total > XLSX_MAX_ROWS:
        raise ExportError(_("Too many rows for one spreadsheet; export CSV instead."))
    job = ExportJob.objects.create(
        requested_by=user,
        format=fmt,
        filters=filters_as_dict(filters),
        options=options.as_dict(),
        total_rows=total,
        next_attempt_at=jobs.lease_end(),
    )
    jobs.enqueue(task_name=EXPORT_TASK, job_id=job.pk)
    return job


# By name: services never import tasks.
EXPORT_TASK = "metrics.tasks.run_export"


def sweep_export_jobs() -> jobs.Sweep:
    """Hand exports whose enqueue or worker was lost to a worker again (accounts/jobs.py)."""
    return jobs.sweep(ExportJob.objects.all(), task_name=EXPORT_TASK)


def run_export_job(*, job_id: int) -> bool:
    """Write a job's file to storage, then email its requester. Idempotent: False when another
    worker has it or it is finished. A run whose worker was lost is taken over once stale."""
    if not jobs.claim(ExportJob, job_id=job_id):
        return False
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    filters = filters_from_dict(job.filters)
    options = ExportOptions.from_dict(job.options)

    def progress(rows: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(processed_rows=rows)

    try:
        with tempfile.TemporaryFile() as handle:
            if job.format == ExportJob.Format.XLSX:
                rows = write_xlsx(filters, options, handle, progress=progress)
            else:
                counter = [0]
                written = 0
                for chunk in csv_chunks(filters, options, counter):
                    handle.write(chunk)
                    # Approximate while running (comments may hold line breaks); exact at the end.
                    written += chunk.count(b"\n")
                    if (
                        written // PROGRESS_EVERY
                        != (written - chunk.count(b"\n")) // PROGRESS_EVERY
                    ):
                        progress(min(max(written - 1, 0), job.total_rows))
                rows = counter[0]
            handle.seek(0)
            name = default_storage.save(f"exports/{job.public_id}.{job.format}", File(handle))
    except Exception as exc:
        logger.exception("export job %s failed", job.pk)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    now = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE,
        file=name,
        row_count=rows,
        processed_rows=rows,
        finished_at=now,
        expires_at=now + dt.timedelta(hours=settings.EXPORT_EXPIRY_HOURS),
    )
    job.refresh_from_db()
    logger.info("export job %s done: %s rows, %s", job.pk, rows, job.format)
    log_export(
        user=job.requested_by,
        filters=filters,
        options=options,
        fmt=job.format,
        row_count=rows,
        job=job,
    )
    notify_requester(job=job)
    return True
