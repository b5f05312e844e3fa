"""Start, stop or inspect this checkout's embedded PostgreSQL server (VAR_DIR/postgres)."""

from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from config import embedded_db


class Command(BaseCommand):
    help = (
        "Manage the embedded PostgreSQL server the app uses when DATABASE_URL is unset: "
        "start it (it also starts on first use), stop it, show its status or its URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "status", "url"])

    def handle(self, *args, action, **options):
        try:
            self._run(action)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if action != "stop" and settings.DATABASES["default"]["ENGINE"] != "config.embedded_db":
            self.stderr.write("Note: DATABASE_URL is set: the app uses that server, not this one.")

    def _run(self, action: str) -> None:
        if action == "start":
            running = embedded_db.ensure_running()
            self.stdout.write(f"running (pid {running.pid}), {self._where(running)}")
        elif action == "stop":
            stopped = embedded_db.stop()
            self.stdout.write("stopped" if stopped else "not running")
        elif action == "status":
            running = embedded_db.status()
            if running is None:
                self.stdout.write(f"not running (data in {embedded_db.data_dir()})")
            else:
                self.stdout.write(f"running (pid {running.pid}), {self._where(running)}")
        else:
            running = embedded_db.ensure_running()
            query = urlencode({"host": running.host, "port": running.port})
            self.stdout.write(f"postgres://{embedded_db.USER}@/{embedded_db.DATABASE}?{query}")

    @staticmethod
    def _where(running) -> str:
        return f"socket {running.host}/.s.PGSQL.{running.port}, data in {embedded_db.data_dir()}"
