"""Optional error reporting with sentry-sdk (the `sentry` extra), switched on by SENTRY_DSN."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from . import logs


def _scrub(value):
    """The event with every email address replaced, however deep it sits."""
    if isinstance(value, str):
        return logs.redact(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def before_send(event, hint):
    return _scrub(event)


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    try:
        import sentry_sdk
        from sentry_sdk.integrations.celery import CeleryIntegration
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        raise ImproperlyConfigured(
            "SENTRY_DSN is set but sentry-sdk is not installed: pip install 'npsapp[sentry]' "
            "(the Docker image has it), or unset SENTRY_DSN."
        ) from None
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        traces_sample_rate=traces_sample_rate,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        # No user, cookies, request bodies or local variables: they hold personal data.
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        before_send=before_send,
    )
