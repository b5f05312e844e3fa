"""A request's id stays set until its response is closed, so the last lines it logs (Django's
request log, gunicorn's access log) carry it; then it is cleared for whatever runs next."""

from django.core.signals import request_finished
from django.dispatch import receiver

from . import logs


@receiver(request_finished, dispatch_uid="config.clear_request_id")
def clear_request_id(**kwargs) -> None:
    logs.request_id_var.set(logs.NO_REQUEST)
