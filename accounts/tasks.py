"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects."""

from celery import shared_task

from . import imports


# `*_legacy`: messages queued before import jobs were rows carried four arguments.
@shared_task
def import_contacts_file(job_id, *_legacy) -> bool:
    return imports.run_import_job(job_id=job_id, run=imports.import_contacts)


@shared_task
def sweep_import_jobs() -> int:
    result = imports.sweep_import_jobs()
    return result.handed + result.failed
