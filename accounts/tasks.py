"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects."""

from celery import shared_task

from . import imports


@shared_task
def import_contacts_file(job_id: str, name: str, user_id: int, dry_run: bool) -> None:
    imports.run_import_job(
        job_id=job_id, name=name, user_id=user_id, dry_run=dry_run, run=imports.import_contacts
    )
