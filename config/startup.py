"""Checks made when a server process starts (the WSGI app, a Celery worker or beat).

They run at start, not when settings are read, so management commands (`migrate`,
`check --deploy`, `drf_create_token`, `collectstatic` in the image build) still work on a machine
being set up. The same rules are Django system checks (config/checks.py), so `manage.py check`
reports them too.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The key a checkout runs with when SECRET_KEY is not set (development only).
DEVELOPMENT_SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"

MISSING_BROKER = (
    "No Celery broker: set CELERY_BROKER_URL (or REDIS_URL) to a redis:// URL. With DEBUG=false "
    "the app refuses to run background work (sends, exports, webhooks) inside web requests."
)


def require_secret_key() -> None:
    """Refuse to serve with DEBUG=false on the development key: sessions, CSRF tokens and
    signed values would be forgeable by anyone who has read the source."""
    if not settings.DEBUG and settings.SECRET_KEY == DEVELOPMENT_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG=false the app refuses to start with the "
            "development key: set the SECRET_KEY environment variable to a long random value, "
            "e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )


def require_broker() -> None:
    """Refuse to serve with DEBUG=false and no broker: eager Celery is for development only."""
    if not settings.DEBUG and settings.CELERY_TASK_ALWAYS_EAGER:
        raise ImproperlyConfigured(MISSING_BROKER)


def timing_problems() -> list[str]:
    """Disagreements between time limits, leases, stale thresholds and the broker's visibility
    timeout (the arithmetic is in config/settings.py and README, "Operations")."""
    task_limit = settings.CELERY_TASK_TIME_LIMIT
    job_limit = settings.JOB_TASK_TIME_LIMIT
    job_stale = settings.JOB_STALE_SECONDS
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    problems = []
    if settings.CELERY_TASK_SOFT_TIME_LIMIT <= 0:
        problems.append(f"CELERY_TASK_TIME_LIMIT ({task_limit}) must be over 30 seconds.")
    if job_limit <= 30:
        problems.append(f"JOB_TASK_TIME_LIMIT ({job_limit}) must be over 30 seconds.")
    if settings.SENDING_STALE_SECONDS <= task_limit:
        problems.append(
            f"SENDING_STALE_SECONDS ({settings.SENDING_STALE_SECONDS}) must exceed "
            f"CELERY_TASK_TIME_LIMIT ({task_limit}): a send still running would be declared lost."
        )
    if settings.DISPATCH_LEASE_SECONDS <= task_limit:
        problems.append(
            f"DISPATCH_LEASE_SECONDS ({settings.DISPATCH_LEASE_SECONDS}) must exceed "
            f"CELERY_TASK_TIME_LIMIT ({task_limit}): batches still sending would be re-sent."
        )
    if job_stale <= job_limit:
        problems.append(
            f"JOB_STALE_SECONDS ({job_stale}) must exceed JOB_TASK_TIME_LIMIT ({job_limit}): "
            "a job still running would be taken over."
        )
    if visibility <= job_stale:
        problems.append(
            f"The broker's visibility timeout ({visibility}) must exceed JOB_STALE_SECONDS "
            f"({job_stale}): a redelivered job would find its lost run not yet stale and drop it."
        )
    for name in ("WEBHOOK_BACKOFF_MAX", "ALERT_BACKOFF_MAX"):
        cap = getattr(settings, name)
        if visibility <= task_limit + cap:
            problems.append(
                f"The broker's visibility timeout ({visibility}) must exceed "
                f"CELERY_TASK_TIME_LIMIT + {name} ({task_limit + cap:g}): a retry waiting for "
                "its countdown would be delivered twice."
            )
    return problems


def require_consistent_timing() -> None:
    problems = timing_problems()
    if problems:
        raise ImproperlyConfigured(" ".join(problems))


def check_server_process() -> None:
    """Everything a web process checks at start."""
    require_secret_key()
    require_broker()
    require_consistent_timing()
