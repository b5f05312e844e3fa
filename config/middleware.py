"""Request ids, and response headers for pages seen by signed-in staff."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers

from accounts import preferences

from . import logs


class RequestId:
    """Give each request an id (the proxy's `X-Request-ID` when well-formed, else a new one):
    every log line of the request and of the tasks it enqueues carries it, and the response
    sends it back in `X-Request-ID` for the client or the proxy to quote."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request_id = logs.new_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        # Cleared when the response is closed (config/signals.py), after the access log line.
        logs.request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class StaffPagesPrivate:
    """Pages rendered for a signed-in user hold customer data: `Cache-Control: private`, so no
    shared cache (a proxy, a CDN) keeps one and serves it to someone else."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True)
            patch_vary_headers(response, ("Cookie",))
        return response


class StaffTimeZone:
    """Show times in the signed-in staff member's own zone (kept in the session at sign-in and
    when changed, so no query per request); everyone else sees the site's TIME_ZONE."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        name = ""
        session = getattr(request, "session", None)
        if session is not None:
            name = session.get(preferences.SESSION_KEY, "")
        try:
            zone = zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
