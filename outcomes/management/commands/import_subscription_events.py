"""`manage.py import_subscription_events FILE [--dry-run] [--tz Area/City]`."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError

from accounts.command_io import read_source, report_and_exit
from accounts.imports import ImportFileError
from outcomes import imports


class Command(BaseCommand):
    help = (
        "Import subscription-ledger events from a CSV (account, external_id, effective_at, mrr, "
        "currency; optional plan, quantity, renews_on). Any bad row: nothing is written and "
        "every bad row is listed with its line number. See docs/samples/subscription_events.csv."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the CSV file, or - for standard input.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and preview; write nothing."
        )
        parser.add_argument(
            "--tz", default=None, help="Time zone of dates without an offset (default TIME_ZONE)."
        )

    def handle(self, *args, file: str, dry_run: bool, tz: str | None, **options):
        try:
            zone = ZoneInfo(tz) if tz else None
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(f"Unknown time zone {tz!r}.") from None
        source = read_source(file)

        def progress(rows: int) -> None:
            self.stderr.write(f"  checked {rows:,} rows…")

        try:
            result = imports.import_events(
                source=source, dry_run=dry_run, tz=zone, progress=progress
            )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        report_and_exit(self, result)
