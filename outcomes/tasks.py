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


# `*_legacy`: messages queued before import jobs were rows carried four arguments.
@shared_task
def import_events_file(job_id, *_legacy) -> bool:
    from accounts.imports import run_import_job

    from .imports import import_events

    return run_import_job(job_id=job_id, run=import_events)


@shared_task
def process_zendesk_event(inbox_id: int) -> None:
    zendesk_inbox.process_event(inbox_id=inbox_id)


@shared_task
def sweep_zendesk_inbox() -> None:
    zendesk_inbox.sweep()


@shared_task
def import_tickets_file(job_id) -> bool:
    from accounts.imports import run_import_job

    from .ticket_imports import import_tickets

    return run_import_job(job_id=job_id, run=import_tickets)


@shared_task
def import_usage_file(job_id) -> bool:
    from accounts.imports import run_import_job

    from .usage_imports import import_usage

    return run_import_job(job_id=job_id, run=import_usage)
