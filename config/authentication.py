"""API token authentication with a throttle on failures (DRF throttling).

A client address that sent too many wrong tokens is refused with 429 before its token is even
looked at, so guessing gains nothing while the window lasts; a right token does not clear it.
"""

from __future__ import annotations

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import SimpleRateThrottle

from surveys.ratelimits import client_ip


class TokenFailureThrottle(SimpleRateThrottle):
    scope = "token_failures"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}

    def blocked(self, request) -> bool:
        """Whether this address is over its failures, without counting this request."""
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) >= self.num_requests

    def record_failure(self, request) -> None:
        self.blocked(request)
        self.throttle_success()


class ThrottledTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        throttle = TokenFailureThrottle()
        if self.keyword_in(request) and throttle.blocked(request):
            raise Throttled(wait=throttle.wait())
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            throttle.record_failure(request)
            raise

    def keyword_in(self, request) -> bool:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        return header.split(" ", 1)[0].lower() == self.keyword.lower()
