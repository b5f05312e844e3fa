"""Handing invitation ids to workers, in batches, once the transaction has committed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from surveys import queue
from surveys.models import Invitation

logger = logging.getLogger(__name__)

Status = Invitation.Status
Reason = Invitation.Reason


def lease() -> timedelta:
    return timedelta(seconds=settings.DISPATCH_LEASE_SECONDS)


def enqueue_send(*, invitation_ids: Iterable[int], reminder: bool = False) -> None:
    """Hand invitations to workers in batches once the surrounding transaction has committed."""
    ids = list(invitation_ids)
    if not ids:
        return
    transaction.on_commit(lambda: _dispatch(ids, reminder=reminder), robust=True)


# Above this many batches, planning hands workers groups of batches to enqueue themselves, so
# launching 100,000 invitations costs 50 broker messages instead of 500.
FANOUT_BATCHES = 10


def _dispatch(ids: list[int], *, reminder: bool = False, fan_out: bool = True) -> None:
    size = max(1, settings.SEND_BATCH_SIZE)
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]
    if fan_out and len(batches) > FANOUT_BATCHES:
        task, groups = (
            "surveys.tasks.dispatch_invitations",
            [
                [pk for batch in batches[i : i + FANOUT_BATCHES] for pk in batch]
                for i in range(0, len(batches), FANOUT_BATCHES)
            ],
        )
    else:
        task, groups = "surveys.tasks.send_invitations", batches
    # One broker connection for all; a short argsrepr spares Celery a repr of the ids.
    queue.enqueue_many(
        task,
        [(group, reminder) for group in groups],
        argsrepr=lambda args: f"({len(args[0])} ids, {args[1]})",
    )


def dispatch_invitations(*, invitation_ids: list[int], reminder: bool = False) -> None:
    """Enqueue send batches for these ids now (the worker side of the fan-out). Idempotent."""
    _dispatch(list(invitation_ids), reminder=reminder, fan_out=False)
