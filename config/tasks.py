"""Celery tasks of the whole app: thin interfaces over idempotent services."""

from celery import shared_task

from . import retention


@shared_task
def purge_expired_data() -> dict[str, int]:
    return retention.purge()
