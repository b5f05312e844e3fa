import logging.config
import os
from pathlib import Path

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import (
    beat_init,
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
)

from . import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _refuse_development_key(**kwargs) -> None:
    from .startup import require_consistent_timing, require_secret_key

    require_secret_key()
    require_consistent_timing()


@setup_logging.connect
def _use_the_apps_logging(**kwargs) -> None:
    """Workers and beat log in the app's format (settings.LOGGING), not Celery's own."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# --- Request ids in tasks -------------------------------------------------------------------
# A task enqueued during a request carries the request's id in a message header; its worker
# logs under that id. Tasks started by beat log under their own task id.

REQUEST_ID_HEADER = "request_id"
_tokens: dict[str, object] = {}


@before_task_publish.connect
def _carry_request_id(headers=None, **kwargs) -> None:
    request_id = logs.request_id_var.get()
    if headers is not None and request_id != logs.NO_REQUEST:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@task_prerun.connect
def _enter_task(task_id=None, task=None, **kwargs) -> None:
    request_id = getattr(task.request, REQUEST_ID_HEADER, None)
    if not request_id:
        # An eager task runs inside the request that called it: keep that request's id.
        current = logs.request_id_var.get()
        request_id = current if current != logs.NO_REQUEST else task_id
    _tokens[task_id] = logs.request_id_var.set(logs.new_request_id(request_id))


@task_postrun.connect
def _leave_task(task_id=None, **kwargs) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        logs.request_id_var.reset(token)


# --- Beat -----------------------------------------------------------------------------------


class HeartbeatScheduler(PersistentScheduler):
    """Beat's default scheduler, touching BEAT_HEARTBEAT_FILE at every wake-up (at least every
    CELERY_BEAT_MAX_LOOP_INTERVAL seconds): the container's healthcheck reads its age."""

    def tick(self, *args, **kwargs):
        from django.conf import settings

        path = Path(settings.BEAT_HEARTBEAT_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return super().tick(*args, **kwargs)
