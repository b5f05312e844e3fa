"""`manage.py import_responses FILE [--dry-run] [--tz ZONE]`: historical answers from a CSV."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError

from accounts.command_io import read_source, report_and_exit
from accounts.imports import ImportFileError
from surveys import imports


class Command(BaseCommand):
    help = (
        "Import historical answers (columns: email, survey, score, comment, date) so trends "
        "start with the history from another tool. Any bad row: nothing is written. "
        "See docs/samples/responses.csv."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the CSV file, or - for standard input.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and preview; write nothing."
        )
        parser.add_argument(
            "--tz", default=None, help="Time zone of dates without an offset (default: TIME_ZONE)."
        )

    def handle(self, *args, file: str, dry_run: bool, tz: str | None, **options):
        if tz:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise CommandError(f"Unknown time zone {tz!r}.") from None
        source = read_source(file)

        def progress(rows: int) -> None:
            self.stderr.write(f"  {rows:,} rows…")

        try:
            result = imports.import_responses(
                source=source, dry_run=dry_run, tz=tz, progress=progress
            )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        report_and_exit(self, result)
