"""A request's id stays set until its response is closed, so the last lines it logs (Django's
request log, gunicorn's access log) carry it; then it is cleared for whatever runs next."""

from django.contrib.auth.signals import user_logged_in
from django.core.signals import request_finished
from django.dispatch import receiver

from accounts import preferences

from . import logs


@receiver(request_finished, dispatch_uid="config.clear_request_id")
def clear_request_id(**kwargs) -> None:
    logs.request_id_var.set(logs.NO_REQUEST)


@receiver(user_logged_in, dispatch_uid="config.remember_time_zone")
def remember_time_zone(sender, request, user, **kwargs) -> None:
    """Keep the staff member's time zone in the session: pages read it without a query."""
    if request is not None and hasattr(request, "session") and user.is_staff:
        request.session[preferences.SESSION_KEY] = preferences.time_zone_of(user)
