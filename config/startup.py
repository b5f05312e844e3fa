"""Checks made when a server process starts (the WSGI app, a Celery worker or beat).

They run at start, not when settings are read, so management commands (`migrate`,
`check --deploy`, `drf_create_token`) still work on a machine being set up.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The key a checkout runs with when SECRET_KEY is not set (development only).
DEVELOPMENT_SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"


def require_secret_key() -> None:
    """Refuse to serve with DEBUG=false on the development key: sessions, CSRF tokens and
    signed values would be forgeable by anyone who has read the source."""
    if not settings.DEBUG and settings.SECRET_KEY == DEVELOPMENT_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG=false the app refuses to start with the "
            "development key: set the SECRET_KEY environment variable to a long random value, "
            "e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
