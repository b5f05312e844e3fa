"""System checks (`manage.py check`, `check --deploy`) for the settings the processes need."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

from . import startup


@register()
def task_timing(app_configs, **kwargs) -> list[Error]:
    return [Error(problem, id="config.E001") for problem in startup.timing_problems()]


@register(Tags.security, deploy=True)
def broker_in_production(app_configs, **kwargs) -> list[Error]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return [Error(startup.MISSING_BROKER, id="config.E002")]
    return []
