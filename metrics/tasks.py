"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects."""

from celery import shared_task
from django.conf import settings

from . import exports, health


@shared_task(
    time_limit=settings.EXPORT_TASK_TIME_LIMIT, soft_time_limit=settings.EXPORT_TASK_TIME_LIMIT - 30
)
def run_export(job_id: int) -> bool:
    return exports.run_export_job(job_id=job_id)


@shared_task
def purge_expired_exports() -> int:
    return exports.purge_expired_exports()


@shared_task
def daily_health() -> dict:
    return health.daily()
