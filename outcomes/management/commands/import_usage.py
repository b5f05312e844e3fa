"""`manage.py import_usage FILE [--dry-run]`."""

from django.core.management.base import BaseCommand, CommandError

from accounts.command_io import read_source, report_and_exit
from accounts.imports import ImportFileError
from outcomes import usage_imports


class Command(BaseCommand):
    help = (
        "Import daily usage from a CSV (account, day, metric, value). Upserts per account, "
        "metric and day. Any bad row: nothing is written and every bad row is listed with its "
        "line number. See docs/samples/usage.csv."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the CSV file, or - for standard input.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and preview; write nothing."
        )

    def handle(self, *args, file: str, dry_run: bool, **options):
        source = read_source(file)

        def progress(rows: int) -> None:
            self.stderr.write(f"  checked {rows:,} rows…")

        try:
            result = usage_imports.import_usage(source=source, dry_run=dry_run, progress=progress)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        report_and_exit(self, result)
