"""`manage.py import_contacts FILE [--dry-run]`: upsert accounts and contacts from a CSV."""

import sys

from django.core.management.base import BaseCommand, CommandError

from accounts import imports


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

        self.stderr.write("Checking every row; nothing is written until all are good.")

        try:
            result = imports.import_contacts(source=source, dry_run=dry_run, progress=progress)
        except imports.ImportFileError as exc:
            raise CommandError(str(exc)) from None
        report_and_exit(self, result)


def read_source(file: str):
    """The file opened for reading as bytes (standard input for "-"), read as the import goes:
    a file of a million rows is never held in memory whole. A clear error when it cannot be
    opened."""
    if file == "-":
        return sys.stdin.buffer
    try:
        return open(file, "rb")  # noqa: SIM115 (closed when the process ends)
    except OSError as exc:
        raise CommandError(f"Cannot read {file}: {exc.strerror}") from None


def report_and_exit(command: BaseCommand, result) -> None:
    """Print the preview or outcome; exit non-zero (via CommandError) when rows were rejected."""
    if result.errors:
        for error in result.errors:
            command.stderr.write(str(error))
        raise CommandError(
            f"{len(result.errors)} bad row(s) of {result.rows}; nothing was written."
        )
    for name, count in result.counts.items():
        command.stdout.write(f"{name.replace('_', ' ')}: {count}")
    if result.dry_run:
        message = f"Dry run: {result.rows} row(s) valid; nothing was written."
    else:
        message = f"{result.rows} row(s) imported."
    command.stdout.write(command.style.SUCCESS(message))
