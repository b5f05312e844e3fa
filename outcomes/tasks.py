"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects."""

from celery import shared_task

from . import stripe_inbox


@shared_task
def process_stripe_event(inbox_id: int) -> None:
    stripe_inbox.process_event(inbox_id=inbox_id)


@shared_task
def apply_unmatched_stripe_events(customer_id: str) -> None:
    stripe_inbox.apply_unmatched(customer_id=customer_id)


@shared_task
def sweep_stripe_inbox() -> None:
    stripe_inbox.sweep()
