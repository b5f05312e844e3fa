"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects."""

from celery import shared_task

from . import account_alerts, alerts, branding, deliveries, digests, replies, services
from .queue import RetryLater


@shared_task
def handle_response_saved(response_id: int, created: bool) -> None:
    services.handle_response_saved(response_id=response_id, created=created)


@shared_task
def handle_contact_unsubscribed(contact_id: int) -> None:
    services.publish_contact_unsubscribed(contact_id=contact_id)


@shared_task(bind=True, max_retries=None)
def send_alert(self, delivery_id: int) -> bool:
    try:
        return alerts.send_alert(delivery_id=delivery_id)
    except RetryLater as exc:
        return _retry(self, exc)


@shared_task(bind=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> bool:
    try:
        return deliveries.deliver_webhook(delivery_id=delivery_id)
    except RetryLater as exc:
        return _retry(self, exc)


def _retry(task, exc: RetryLater) -> bool:
    if task.request.is_eager:
        # Eager mode (no broker) runs inside the web request: never wait there. The row stays
        # pending and the sweeper sends it again.
        return False
    raise task.retry(countdown=exc.countdown, exc=exc)


@shared_task
def sweep() -> dict:
    return {**services.sweep(), **account_alerts.sweep(), **replies.sweep()}


@shared_task
def send_digests() -> int:
    return digests.send_due_digests()


@shared_task(bind=True, max_retries=None)
def send_account_alert(self, alert_id: int) -> bool:
    try:
        return account_alerts.send_account_alert(alert_id=alert_id)
    except RetryLater as exc:
        return _retry(self, exc)


@shared_task(bind=True, max_retries=None)
def send_reply(self, reply_id: int) -> bool:
    try:
        return replies.send_reply(reply_id=reply_id)
    except RetryLater as exc:
        return _retry(self, exc)


@shared_task
def fetch_survey_logo(survey_id: int) -> bool:
    return branding.fetch_survey_logo(survey_id=survey_id)
