"""Claim rules of background jobs (imports here, exports in metrics): the invitations' rules.

A job row has `status` (pending, running, done, failed), `attempts`, `next_attempt_at`,
`created_at`, `started_at`, `finished_at` and `error`.

- **Lease.** A job handed to the broker is not handed again before `next_attempt_at` (now +
  JOB_LEASE_SECONDS). The sweeper hands a pending job whose lease has passed again: its enqueue
  was lost between commit and broker, or its message was lost.
- **Claim.** A worker runs a job only after a conditional UPDATE moved it from pending to
  running (or took over a stale run, below), so a duplicate message runs nothing twice.
- **Stale.** A run still marked running JOB_STALE_SECONDS after it started lost its worker: the
  hard time limit (JOB_TASK_TIME_LIMIT, shorter) would have ended it. A redelivered message may
  take it over (the broker's visibility timeout is longer than the stale threshold), and the
  sweeper puts it back to pending and hands it again, for at most JOB_MAX_ATTEMPTS runs in all;
  then it is failed with LOST_WORKER.

Jobs are idempotent by construction (an import re-applied changes nothing; an export is written
again), so running one again after a lost worker is safe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

LOST_WORKER = _(
    "The worker running this job was lost %(attempts)s times (a crash, a restart or the time "
    "limit); it was not tried again."
)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


def backoff(*, attempt: int, base: float, cap: float, jitter: float = 0.0) -> float:
    """Seconds to wait after the given (1-based) failed attempt: base, 2x base, 4x base, ...,
    at most `cap`; with `jitter` (a fraction), spread by up to that share either way so that
    retries of a burst do not all come back at the same second. The one retry schedule of every
    background delivery (invitations, alerts, webhooks, jobs), each with its own settings."""
    seconds = min(base * 2 ** max(attempt - 1, 0), cap)
    if jitter:
        seconds *= random.uniform(1 - jitter, 1 + jitter)  # noqa: S311 - not a secret
    return seconds


def lease_end(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=settings.JOB_LEASE_SECONDS)


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.JOB_STALE_SECONDS)


def enqueue(*, task_name: str, job_id: int) -> None:
    """Hand a job to its task once the surrounding transaction commits. The task is named by its
    dotted path (services never import tasks at import time). The caller has set its lease."""
    task = import_string(task_name)
    transaction.on_commit(lambda: task.apply_async((job_id,)), robust=True)


def claim(model: type[models.Model], *, job_id: int, now: datetime | None = None) -> bool:
    """Move a job to running for this worker. Idempotent: False when another worker has it, it
    is finished, or it already used every attempt."""
    now = now or timezone.now()
    update = {
        "status": RUNNING,
        "started_at": now,
        "attempts": F("attempts") + 1,
        "next_attempt_at": None,
    }
    if "processed_rows" in {f.name for f in model._meta.get_fields()}:
        update["processed_rows"] = 0
    takeable = Q(status=PENDING) | Q(status=RUNNING, started_at__lt=_stale_before(now))
    return bool(
        model.objects.filter(takeable, pk=job_id, attempts__lt=settings.JOB_MAX_ATTEMPTS).update(
            **update
        )
    )


@dataclass
class Sweep:
    requeued: int = 0
    failed: int = 0
    handed: int = 0


def sweep(jobs: models.QuerySet, *, task_name: str, now: datetime | None = None) -> Sweep:
    """Reclaim lost jobs among `jobs` (beat, every minute), handing them to `task_name`. Safe to
    run any time, from several places at once."""
    now = now or timezone.now()
    result = Sweep()
    stale = jobs.filter(status=RUNNING, started_at__lt=_stale_before(now))
    exhausted = stale.filter(attempts__gte=settings.JOB_MAX_ATTEMPTS)
    for job_id, attempts in exhausted.values_list("pk", "attempts"):
        result.failed += stale.filter(pk=job_id).update(
            status=FAILED, finished_at=now, error=str(LOST_WORKER % {"attempts": attempts})
        )
    result.requeued = stale.update(status=PENDING, next_attempt_at=now)
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True)
    for job_id in jobs.filter(due, status=PENDING).values_list("pk", flat=True):
        with transaction.atomic():
            handed = jobs.filter(due, pk=job_id, status=PENDING).update(
                next_attempt_at=lease_end(now)
            )
            if handed:
                enqueue(task_name=task_name, job_id=job_id)
                result.handed += 1
    return result
