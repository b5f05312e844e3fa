"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects."""

from celery import shared_task

from . import services


@shared_task
def handle_response_saved(response_id: int, created: bool) -> None:
    services.handle_response_saved(response_id=response_id, created=created)


@shared_task
def handle_contact_unsubscribed(contact_id: int) -> None:
    services.publish_contact_unsubscribed(contact_id=contact_id)


@shared_task(bind=True, max_retries=None)
def send_alert(self, delivery_id: int) -> bool:
    try:
        return services.send_alert(delivery_id=delivery_id)
    except services.RetryLater as exc:
        raise self.retry(countdown=exc.countdown, exc=exc) from None


@shared_task(bind=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> bool:
    try:
        return services.deliver_webhook(delivery_id=delivery_id)
    except services.RetryLater as exc:
        raise self.retry(countdown=exc.countdown, exc=exc) from None


@shared_task
def sweep() -> dict:
    return services.sweep()


@shared_task
def send_digests() -> int:
    return services.send_due_digests()
