"""Recompute the report rollups (answers; invitations for the funnel; the ledger months for the
revenue reports; tickets for the support summary and page) from the stored rows, month by month.

    manage.py rebuild_rollups [--since 2026-01-01]

Safe while the app serves (see `metrics.rollups`): each UTC month of answers (and of tickets)
is rebuilt in its own short transaction under that month's lock, so writes to other months
never wait, and a
stop or a crash leaves every month exact (rebuilt or as it was). The ledger months are rebuilt
in one transaction under a SHARE lock on the ledger (`metrics.ledger_months`): ledger writes
wait for it, reads do not. Needed only after writes that bypass the database triggers (e.g. a
restore of the answers table or the ledger without them) or to check them.
"""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from metrics import funnel_rollups, ledger_months, rollups, ticket_rollups


class Command(BaseCommand):
    help = "Recompute the report rollups (all, or the UTC months from --since on)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            help="A date (YYYY-MM-DD): rebuild from the first day of its UTC month on.",
        )

    def handle(self, *args, since=None, verbosity=1, **options):
        day = None
        if since:
            try:
                day = dt.date.fromisoformat(since)
            except ValueError as error:
                raise CommandError(f"--since: {since!r} is not a date (YYYY-MM-DD).") from error
        for label, module in (
            ("answer", rollups),
            ("invitation", funnel_rollups),
            ("ledger month", ledger_months),
            ("ticket", ticket_rollups),
        ):

            def progress(month: dt.date, rows: int, label=label) -> None:
                if verbosity > 1:
                    self.stdout.write(f"{label} rollups, {month:%Y-%m}: {rows:,} rows")

            started = time.monotonic()
            rows = module.rebuild(day, progress=progress)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Rebuilt the {label} rollups: {rows:,} rows "
                    f"in {time.monotonic() - started:.1f} s."
                )
            )
