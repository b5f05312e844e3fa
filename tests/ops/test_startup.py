"""Fail fast: what a production process (DEBUG=false) refuses to start with, and why."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from config import startup

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "k" * 50}


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a new interpreter with only these app variables set."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "SECRET_KEY",
            "DEBUG",
            "DJANGO_SETTINGS_MODULE",
            "CELERY_BROKER_URL",
            "REDIS_URL",
            "VAR_DIR",
            "ENV_FILE",
            "SENTRY_DSN",
            "LOG_FORMAT",
        )
    }
    clean.setdefault("ENV_FILE", str(ROOT / "does-not-exist.env"))
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_web_process_refuses_to_start_without_a_broker_in_production():
    result = _python("import config.wsgi", **PRODUCTION)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "CELERY_BROKER_URL" in result.stderr


def test_the_web_process_starts_with_a_broker_or_in_development():
    # Starting does not connect to the broker; /healthz tells whether it is reachable.
    assert (
        _python("import config.wsgi", **PRODUCTION, CELERY_BROKER_URL="redis://h:1/0").returncode
        == 0
    )
    assert _python("import config.wsgi", **PRODUCTION, REDIS_URL="redis://h:1/0").returncode == 0
    assert _python("import config.wsgi", DEBUG="true").returncode == 0


def test_management_commands_still_run_without_a_broker():
    """The image's build runs collectstatic, and a new machine runs check, with no broker."""
    result = _python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings';"
        "django.setup(); from django.conf import settings;"
        "print(settings.CELERY_TASK_ALWAYS_EAGER)",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_deploy_check_reports_a_missing_broker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    errors = [e.id for e in run_checks(include_deployment_checks=True)]
    assert "config.E002" in errors
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert "config.E002" not in [e.id for e in run_checks(include_deployment_checks=True)]


def test_var_dir_set_in_the_env_file_is_honoured(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"VAR_DIR={tmp_path / 'data'}\n")
    result = _python(
        "from config import settings as s; print(s.VAR_DIR); print(s.MEDIA_ROOT);"
        "print(s.EMAIL_OUTBOX_DIR)",
        ENV_FILE=str(env_file),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        str(tmp_path / "data"),
        str(tmp_path / "data" / "media"),
        str(tmp_path / "data" / "outbox"),
    ]


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"VAR_DIR={tmp_path / 'from-file'}\n")
    result = _python(
        "from config import settings as s; print(s.VAR_DIR)",
        ENV_FILE=str(env_file),
        VAR_DIR=str(tmp_path / "from-env"),
    )
    assert result.stdout.strip() == str(tmp_path / "from-env")


def test_an_unknown_log_format_is_refused():
    result = _python("import config.settings", LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be text or json" in result.stderr


# --- Task timing ------------------------------------------------------------------------------


def test_default_timing_is_consistent_and_worked_through(settings):
    # T = 300, J = 3600, S = J + 60 = 3660, V = max(S, T + 900) + 300 = 3960.
    assert settings.CELERY_TASK_TIME_LIMIT == 300
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT == 270
    assert settings.JOB_TASK_TIME_LIMIT == 3600
    assert settings.JOB_STALE_SECONDS == 3660
    assert settings.SENDING_STALE_SECONDS == 360
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == 3960
    assert startup.timing_problems() == []


def test_the_old_timing_is_flagged(settings):
    """Before: visibility 4 x 300 = 1200 s, exports taken over after 3600 s. A message of a dead
    export worker came back after 1200 s, found the run not yet stale, and was dropped."""
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1200}
    settings.JOB_STALE_SECONDS = 3600
    problems = startup.timing_problems()
    assert any("must exceed JOB_STALE_SECONDS (3600)" in p for p in problems)
    assert any("must exceed JOB_TASK_TIME_LIMIT (3600)" in p for p in problems)
    with pytest.raises(ImproperlyConfigured, match="visibility timeout"):
        startup.require_consistent_timing()
    assert "config.E001" in [e.id for e in run_checks()]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SENDING_STALE_SECONDS", 300, "SENDING_STALE_SECONDS (300) must exceed"),
        ("DISPATCH_LEASE_SECONDS", 200, "DISPATCH_LEASE_SECONDS (200) must exceed"),
        ("JOB_STALE_SECONDS", 3600, "JOB_STALE_SECONDS (3600) must exceed JOB_TASK_TIME_LIMIT"),
        ("WEBHOOK_BACKOFF_MAX", 3700.0, "CELERY_TASK_TIME_LIMIT + WEBHOOK_BACKOFF_MAX (4000)"),
        ("ALERT_BACKOFF_MAX", 3700.0, "CELERY_TASK_TIME_LIMIT + ALERT_BACKOFF_MAX (4000)"),
        ("JOB_TASK_TIME_LIMIT", 20, "JOB_TASK_TIME_LIMIT (20) must be over 30"),
    ],
)
def test_each_timing_rule(settings, name, value, message):
    setattr(settings, name, value)
    assert any(message in problem for problem in startup.timing_problems())


def test_celery_processes_check_their_timing(settings):
    from config.celery import _refuse_development_key

    settings.SECRET_KEY = "k" * 50
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
    with pytest.raises(ImproperlyConfigured, match="visibility timeout"):
        _refuse_development_key()


# --- /healthz -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_calls_eager_celery_unhealthy_in_production(client, settings):
    settings.DEBUG = False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "eager", "status": "error"}


@pytest.mark.django_db
def test_healthz_accepts_eager_celery_in_development(client, settings):
    settings.DEBUG = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "eager", "status": "ok"}


# --- Sentry (optional) ----------------------------------------------------------------------

WITHOUT_SENTRY = "import sys; sys.modules['sentry_sdk'] = None; "


def test_without_sentry_sdk_the_app_starts_when_no_dsn_is_set():
    result = _python(WITHOUT_SENTRY + "import config.settings as s; print(repr(s.SENTRY_DSN))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "''"


def test_a_dsn_without_sentry_sdk_is_a_clear_error():
    result = _python(
        WITHOUT_SENTRY + "import config.settings", SENTRY_DSN="https://k@127.0.0.1:9/1"
    )
    assert result.returncode != 0
    assert "SENTRY_DSN is set but sentry-sdk is not installed" in result.stderr


def test_a_dsn_switches_sentry_on_without_personal_data():
    code = (
        "import config.settings, sentry_sdk; c = sentry_sdk.get_client();"
        "print(c.is_active(), c.options['send_default_pii'], c.options['max_request_body_size'],"
        " c.options['environment'], c.options['before_send'].__module__)"
    )
    result = _python(code, SENTRY_DSN="https://key@127.0.0.1:9/1", SENTRY_ENVIRONMENT="staging")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "never", "staging", "config.sentry"]
