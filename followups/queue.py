"""How followups' services hand work to Celery: by task name, so services never import tasks."""

from __future__ import annotations

from django.db import transaction
from django.utils.module_loading import import_string


class RetryLater(Exception):
    """A delivery that may succeed later; the task retries it after `countdown` seconds."""

    def __init__(self, message: str, countdown: float) -> None:
        super().__init__(message)
        self.countdown = countdown


def enqueue(name: str, *args) -> None:
    """Queue one run of the task `name` ("followups.tasks.send_alert") now."""
    import_string(name).delay(*args)


def enqueue_on_commit(name: str, *args) -> None:
    """Queue one run of the task `name` once the surrounding transaction has committed."""
    transaction.on_commit(lambda: enqueue(name, *args), robust=True)
