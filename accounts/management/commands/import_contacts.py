"""`manage.py import_contacts FILE [--dry-run]`: upsert accounts and contacts from a CSV."""

from django.core.management.base import BaseCommand, CommandError

from accounts import imports
from accounts.command_io import read_source, report_and_exit


class Command(BaseCommand):
    help = (
        "Import accounts and contacts from a CSV (UTF-8, comma or semicolon). Upserts accounts "
        "by external_id and contacts by email. Any bad row: nothing is written and every bad row "
        "is listed with its line number. See docs/samples/contacts.csv."
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
            result = imports.import_contacts(source=source, dry_run=dry_run, progress=progress)
        except imports.ImportFileError as exc:
            raise CommandError(str(exc)) from None
        report_and_exit(self, result)
