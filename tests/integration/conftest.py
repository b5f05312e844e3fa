"""The integration tier: real PostgreSQL, Redis, Celery worker processes, an SMTP server
(aiosmtpd) and headless Chromium.

`make test` runs this tier in its own pytest process with CELERY_BROKER_URL pointing at Redis,
on the same PostgreSQL as the rest of the suite (DATABASE_URL, else the embedded server). When
a service is unreachable the tier is skipped, except under CI=true, where a missing service
fails the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection

from tests.databases import database_url

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# between browser steps are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _missing_services() -> list[str]:
    missing = []
    db = settings.DATABASES["default"]
    host = db.get("HOST") or db["OPTIONS"].get("host") or "127.0.0.1"
    # The embedded server (and any Unix socket) is started or reached by the first connection.
    if db["ENGINE"] == "django.db.backends.postgresql" and not host.startswith("/"):
        if not _port_open(host, int(db.get("PORT") or 5432)):
            missing.append(f"PostgreSQL at {host}:{db.get('PORT') or 5432}")
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis"):
        missing.append("Redis (CELERY_BROKER_URL is not a redis:// URL)")
    else:
        parsed = urlparse(broker)
        if not _port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379):
            missing.append(f"Redis at {parsed.hostname}:{parsed.port}")
    return missing


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config, items):
    missing = _missing_services()
    if not missing:
        return
    message = "integration services unavailable: " + ", ".join(missing)
    if IN_CI:
        raise pytest.UsageError(message + " (CI=true: the integration tier must run)")
    skip = pytest.mark.skip(reason=message)
    for item in items:
        item.add_marker(skip)


# --- SMTP sink ------------------------------------------------------------------------------


class SmtpSink:
    """A real SMTP server on localhost that keeps what it receives.

    `fail_with` makes it answer every RCPT with that reply (e.g. "451 4.3.0 try later")
    until cleared, to test retries and permanent failures.
    """

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.fail_with: str | None = None
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if sink.fail_with:
                    return sink.fail_with
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                message = message_from_bytes(envelope.content, policy=policy.default)
                message.raw = envelope.content
                with sink._lock:
                    sink.messages.append(message)
                return "250 Message accepted for delivery"

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
        self.fail_with = None

    def wait_for(self, count: int, timeout: float = 60.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.1)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)} in {timeout}s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_sink():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_sink):
    smtp_sink.clear()
    yield smtp_sink
    smtp_sink.clear()


# --- Celery worker processes ----------------------------------------------------------------


class Workers:
    """Starts and stops `celery -A config worker` processes against the test database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(
        self,
        count: int = 1,
        concurrency: int = 1,
        queues: tuple[str, ...] = ("default", "jobs"),
        **extra_env: str,
    ) -> list[subprocess.Popen]:
        """`queues`: "default" (sends, announcements, alerts) and "jobs" (exports, imports)."""
        started = []
        for _ in range(count):
            index = len(self.procs)
            log = (
                Path(os.environ.get("TMPDIR", "/tmp")) / f"npsapp-worker-{os.getpid()}-{index}.log"
            )
            env = {**self.env, **extra_env}
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-l",
                    "INFO",
                    "-c",
                    str(concurrency),
                    "-n",
                    f"w{index}-{os.getpid()}@%h",
                    "-Q",
                    ",".join(
                        {"default": env["CELERY_QUEUE"], "jobs": env["CELERY_JOBS_QUEUE"]}[q]
                        for q in queues
                    ),
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.procs.append(proc)
            self.logs.append(log)
            started.append(proc)
        for proc, log in zip(started, self.logs[-count:], strict=True):
            self._wait_ready(proc, log)
        return started

    @staticmethod
    def _wait_ready(proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited early:\n{log.read_text()[-3000:]}")
            if "ready." in log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout}s:\n{log.read_text()[-3000:]}")

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        # The worker's pool children die with the process group, as on a machine crash.
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()

    def log_text(self) -> str:
        return "\n".join(
            log.read_text(errors="replace")[-4000:] for log in self.logs if log.exists()
        )


@pytest.fixture
def worker_env(live_server, smtp_sink, transactional_db):
    return {
        **os.environ,
        "DATABASE_URL": database_url(connection),
        "CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "CELERY_JOBS_QUEUE": settings.CELERY_JOBS_QUEUE,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}",
        "SITE_URL": live_server.url,
        # The tests' webhook receivers listen on 127.0.0.1, which outbound posts refuse else.
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "false",
        # Worker processes refuse to start on the development key with DEBUG=false.
        "SECRET_KEY": "integration-tests-only-" + "x" * 40,
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def workers(worker_env):
    """Worker processes for one test; the queue is purged first so no stale task leaks in."""
    from config.celery import app

    app.control.purge()
    pool = Workers(worker_env)
    yield pool
    pool.stop_all()
    app.control.purge()


@pytest.fixture
def worker(workers):
    workers.start(1)
    return workers


# --- Browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium not found at {CHROMIUM} (CI=true: browser tests must run)")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
