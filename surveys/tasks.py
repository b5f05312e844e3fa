"""Celery tasks: thin interfaces over idempotent services. They take ids, never objects."""

from celery import shared_task

from . import services


@shared_task(
    bind=True,
    autoretry_for=(services.TransientSendError,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def send_invitation(self, invitation_id: int) -> bool:
    try:
        return services.send_invitation(invitation_id=invitation_id)
    except services.TransientSendError as exc:
        if self.request.retries >= self.max_retries:
            services.mark_failed(invitation_id=invitation_id, error=str(exc))
            return False
        raise


@shared_task
def sweep_unsent_invitations() -> int:
    return services.requeue_unsent()
