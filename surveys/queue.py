"""How surveys' services hand work to Celery: by task name, so services never import tasks.

Tasks import services; a service that must enqueue work names the task instead
("surveys.tasks.send_invitations"), and this module finds it when the work is handed over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.utils.module_loading import import_string


def task(name: str):
    """The Celery task defined as `name` ("app.tasks.function")."""
    return import_string(name)


def enqueue(name: str, *args, **options) -> None:
    """Queue one run of the task `name` with these arguments (Celery's apply_async options)."""
    task(name).apply_async(args, **options)


def enqueue_many(
    name: str, calls: Iterable[tuple], *, argsrepr: Callable[[tuple], str] | None = None
) -> None:
    """Queue one run of the task `name` per argument tuple, over one broker connection.

    `argsrepr` gives the short text Celery logs instead of the arguments (ids lists are long).
    """
    handle = task(name)
    with handle.app.producer_or_acquire() as producer:
        for args in calls:
            handle.apply_async(
                args, producer=producer, argsrepr=argsrepr(args) if argsrepr else None
            )
