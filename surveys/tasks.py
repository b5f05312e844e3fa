"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects.

Sending retries are driven by the database (attempts, next_attempt_at) and the sweeper, so no
task carries a long ETA in the broker and a failing invitation cannot loop.
"""

from celery import shared_task

from . import services
from .distribution import dispatch, planning, sending, sweeps


@shared_task
def send_invitations(invitation_ids: list[int], reminder: bool = False) -> int:
    return sending.send_invitations(invitation_ids=invitation_ids, reminder=reminder)


@shared_task
def dispatch_invitations(invitation_ids: list[int], reminder: bool = False) -> None:
    dispatch.dispatch_invitations(invitation_ids=invitation_ids, reminder=reminder)


@shared_task
def send_invitation(invitation_id: int) -> bool:
    return sending.send_invitation(invitation_id=invitation_id)


@shared_task
def sweep_unsent_invitations() -> int:
    return sweeps.dispatch_due().dispatched


@shared_task
def plan_relational_surveys() -> int:
    return planning.plan_relational_surveys()


@shared_task
def send_reminders() -> int:
    return sweeps.send_reminders()


@shared_task
def expire_invitations() -> int:
    return sweeps.expire_invitations()


# `*_legacy`: messages queued before import jobs were rows carried four arguments.
@shared_task
def import_responses_file(job_id, *_legacy) -> bool:
    from accounts.imports import run_import_job

    from .imports import import_responses

    return run_import_job(job_id=job_id, run=import_responses)


@shared_task
def announce_saved_responses() -> int:
    return services.announce_saved_responses()
