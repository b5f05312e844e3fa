"""Response headers for pages seen by signed-in staff."""

from __future__ import annotations

from django.utils.cache import patch_cache_control, patch_vary_headers


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
