"""D15: a production start (DEBUG=false) refuses the development SECRET_KEY."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.startup import DEVELOPMENT_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]


def _start_wsgi(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    return subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=ROOT,
        env={**clean, "VAR_DIR": str(ROOT / "var"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_web_process_refuses_to_start_without_a_secret_key():
    result = _start_wsgi(DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_the_web_process_starts_with_a_secret_key_or_in_development():
    broker = "redis://127.0.0.1:1/0"
    assert _start_wsgi(DEBUG="false", SECRET_KEY="k" * 50, CELERY_BROKER_URL=broker).returncode == 0
    assert _start_wsgi(DEBUG="true").returncode == 0


def test_celery_processes_refuse_the_development_key(settings):
    from config.celery import _refuse_development_key

    settings.DEBUG = False
    settings.SECRET_KEY = DEVELOPMENT_SECRET_KEY
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        _refuse_development_key()
    settings.SECRET_KEY = "k" * 50
    _refuse_development_key()
