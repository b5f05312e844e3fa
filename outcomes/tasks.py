"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects."""

from celery import shared_task

from . import stripe_inbox, zendesk_inbox


@shared_task
def process_stripe_event(inbox_id: int) -> None:
    stripe_inbox.process_event(inbox_id=inbox_id)


@shared_task
def apply_unmatched_stripe_events(customer_id: str) -> None:
    stripe_inbox.apply_unmatched(customer_id=customer_id)


@shared_task
def sweep_stripe_inbox() -> None:
    stripe_inbox.sweep()


@shared_task
def import_events_file(job_id: str, name: str, user_id: int, dry_run: bool) -> None:
    from accounts.imports import run_import_job

    from .imports import import_events

    run_import_job(job_id=job_id, name=name, user_id=user_id, dry_run=dry_run, run=import_events)


@shared_task
def process_zendesk_event(inbox_id: int) -> None:
    zendesk_inbox.process_event(inbox_id=inbox_id)


@shared_task
def sweep_zendesk_inbox() -> None:
    zendesk_inbox.sweep()


@shared_task
def import_tickets_file(job_id: str, name: str, user_id: int, dry_run: bool) -> None:
    from accounts.imports import run_import_job

    from .ticket_imports import import_tickets

    run_import_job(job_id=job_id, name=name, user_id=user_id, dry_run=dry_run, run=import_tickets)


@shared_task
def import_usage_file(job_id: str, name: str, user_id: int, dry_run: bool) -> None:
    from accounts.imports import run_import_job

    from .usage_imports import import_usage

    run_import_job(job_id=job_id, name=name, user_id=user_id, dry_run=dry_run, run=import_usage)
