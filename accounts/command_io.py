"""What every import command shares: reading the file (or standard input) and reporting the
outcome, exiting non-zero when rows were rejected."""

import sys

from django.core.management.base import BaseCommand, CommandError


def read_source(file: str) -> bytes:
    """The file's bytes, or standard input's for "-"; a clear error when it cannot be read."""
    try:
        if file == "-":
            return sys.stdin.buffer.read()
        with open(file, "rb") as handle:
            return handle.read()
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
