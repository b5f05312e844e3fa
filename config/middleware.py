"""Request ids, and response headers for pages seen by signed-in staff."""

from __future__ import annotations

from django.utils.cache import patch_cache_control, patch_vary_headers

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
