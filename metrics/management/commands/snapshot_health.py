"""`manage.py snapshot_health [--days N]`: store health snapshots (today's, or backfill)."""

from django.core.management.base import BaseCommand, CommandError

from metrics import health


class Command(BaseCommand):
    help = (
        "Store today's health snapshot of every account (what the daily beat task does), or "
        "with --days N the snapshots of the N days before today that lack one, each scored as "
        "of the end of its day. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=0, help="Backfill this many past days.")

    def handle(self, *args, days: int, **options):
        if days < 0 or days > 3650:
            raise CommandError("--days must be from 0 to 3650.")
        stored = health.backfill(days=days) if days else health.take_snapshots()
        self.stdout.write(self.style.SUCCESS(f"{stored} snapshot(s) stored."))
