"""CSV import of support tickets: validate every row, then upsert all or nothing.

Columns: account (the account's external id) and external_id (the ticket's id, unique in the
file), then any of status, created_at, first_reply_at, first_solved_at, solved_at,
agent_replies, reopens, subject, channel, requester_email, assignee. Times are ISO 8601
(YYYY-MM-DD is midnight); without an offset they are read in the import's time zone. An empty
cell keeps the stored value (a new ticket needs status and created_at). Each row is checked
with the rules of `POST /api/v1/tickets`, against what the ticket would become; every bad row is
listed with its line number and nothing is written. Importing a file again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.imports import CHUNK, ImportFileError, ImportResult, RowError, read_rows

from . import tickets
from .api_tickets import TicketInSerializer, unknown_account_errors
from .models import TicketSource

REQUIRED = ("account", "external_id")
TIMES = ("created_at", "first_reply_at", "first_solved_at", "solved_at")
OPTIONAL = (
    "status",
    *TIMES,
    "agent_replies",
    "reopens",
    "subject",
    "channel",
    "requester_email",
    "assignee",
)


def check_header(header: list[str], required: tuple, optional: tuple) -> None:
    missing = [name for name in required if name not in header]
    unknown = [name for name in header if name not in (*required, *optional)]
    if missing or unknown:
        raise ImportFileError(
            _("The header needs %(required)s (and may have %(optional)s); %(problem)s.")
            % {
                "required": ", ".join(required),
                "optional": ", ".join(optional),
                "problem": (
                    _("missing: %(names)s") % {"names": ", ".join(missing)}
                    if missing
                    else _("unknown: %(names)s") % {"names": ", ".join(unknown)}
                ),
            }
        )


def local_time(text: str, tz: ZoneInfo) -> str:
    """An ISO 8601 cell as the serializer reads it: a date is midnight, no offset is `tz`.
    Text that is not a time is passed on for the serializer to name."""
    try:
        parsed = (
            dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min)
            if len(text) == 10
            else dt.datetime.fromisoformat(text)
        )
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.isoformat()


def reasons(errors: dict) -> str:
    return "; ".join(
        f"{name}: {' '.join(str(message) for message in messages)}"
        for name, messages in errors.items()
    )


def import_tickets(
    *,
    source,
    actor=None,
    dry_run: bool = False,
    tz: ZoneInfo | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate a CSV of tickets, then upsert them all, or nothing if any row is bad.
    Idempotent: importing the same file twice changes nothing the second time."""
    tz = tz or ZoneInfo(settings.TIME_ZONE)
    header, rows = read_rows(source)
    check_header(header, REQUIRED, OPTIONAL)
    result = ImportResult(dry_run=dry_run)
    inputs: list[tickets.TicketInput] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        result.rows += 1
        if progress and result.rows % CHUNK == 0:
            progress(result.rows)
        if "__error__" in row:
            result.errors.append(RowError(line, row["__error__"]))
            continue
        data = {name: value for name, value in row.items() if value}
        for name in TIMES:
            if name in data:
                data[name] = local_time(data[name], tz)
        serializer = TicketInSerializer(data=data)
        if not serializer.is_valid():
            result.errors.append(RowError(line, reasons(serializer.errors)))
            continue
        value = serializer.to_input()
        if value.external_id in seen:
            result.errors.append(
                RowError(
                    line,
                    _("Ticket %(id)s already appears on line %(other)s.")
                    % {"id": value.external_id, "other": seen[value.external_id]},
                )
            )
            continue
        seen[value.external_id] = line
        inputs.append(
            tickets.TicketInput(
                account=value.account,
                external_id=value.external_id,
                values=value.values,
                raw={"csv_line": line, **row},
            )
        )
        lines.append(line)
    for checks in (
        unknown_account_errors([value.account for value in inputs]),
        tickets.check_tickets(tickets=inputs, source=TicketSource.CSV),
    ):
        for index, errors in checks.items():
            result.errors.append(RowError(lines[index], reasons(errors)))
    if result.errors:
        result.errors.sort(key=lambda error: error.line)
        return result
    try:
        written = tickets.record_tickets(tickets=inputs, source=TicketSource.CSV, dry_run=dry_run)
    except tickets.TicketErrors as exc:
        result.errors = [
            RowError(lines[index], reasons(errors)) for index, errors in exc.errors.items()
        ]
        return result
    result.counts = {
        "tickets_created": len(written.created),
        "tickets_updated": len(written.updated),
        "tickets_unchanged": len(written.unchanged),
        "accounts_created": written.accounts_created,
    }
    result.applied = not dry_run
    return result
