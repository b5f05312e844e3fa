"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects."""

from celery import shared_task

from . import health
from .exports import background, storage


# Time limits and queue: CELERY_TASK_ANNOTATIONS and CELERY_TASK_ROUTES (JOB_TASKS, settings).
@shared_task
def run_export(job_id: int) -> bool:
    return background.run_export_job(job_id=job_id)


@shared_task
def sweep_export_jobs() -> int:
    result = background.sweep_export_jobs()
    return result.handed + result.failed


# Kept for messages queued before the retention purge (config.tasks) took this over.
@shared_task
def purge_expired_exports() -> int:
    return storage.purge_expired_exports()


@shared_task
def daily_health() -> dict:
    return health.daily()
