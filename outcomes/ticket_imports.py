"""CSV import of support tickets: validate every row, then upsert all or nothing.

Columns: account (the account's external id) and external_id (the ticket's id, unique in the
file), then any of status, created_at, first_reply_at, first_solved_at, solved_at,
agent_replies, reopens, subject, channel, requester_email, assignee. Times are ISO 8601
(YYYY-MM-DD is midnight); without an offset they are read in the import's time zone. An empty
cell keeps the stored value (a new ticket needs status and created_at). Each row is checked
with the rules of `POST /api/v1/tickets`, against what the ticket would become; every bad row is
listed with its line number and nothing is written. Importing a file again changes nothing.

Built for migrations: rows are checked in Python as the file streams in (a row the quick check
does not plainly accept goes through the API's serializer, which names its problems), the good
ones are streamed into a temporary table with COPY inside the one transaction of the import.
What each ticket would become (the stored ticket with the row's cells, `tickets.merge`) is one
set-based statement; the rows it flags are checked by `tickets.ticket_errors`, which names the
problems; then the new accounts, the inserts and the updates are a few statements more. Memory
stays flat and a bad file rolls back whole.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.csv_files import (
    ImportFileError,
    ImportResult,
    RowError,
    column_defaults,
    create_accounts,
    read_rows,
    readable_rows,
    row_error,
    stage_then_apply,
)
from accounts.models import validate_external_id

from . import tickets
from .api_tickets import TicketInSerializer
from .models import Ticket, TicketSource

REQUIRED = ("account", "external_id")
TIMES = ("created_at", "first_reply_at", "first_solved_at", "solved_at")
TEXTS = ("subject", "channel", "requester_email", "assignee")
OPTIONAL = (
    "status",
    *TIMES,
    "agent_replies",
    "reopens",
    *TEXTS,
)
# The staged columns, in this order, after line, account and external_id.
STAGED = ("status", *TIMES, "agent_replies", "reopens", *TEXTS)
# What the serializer accepts for sure; anything else is left to it (it names the problem).
COUNT = re.compile(r"[0-9]{1,9}\Z")
TEXT_LIMITS = {"subject": 255, "channel": 50, "requester_email": 254, "assignee": 200}
STATUSES = frozenset(Ticket.Status.values)
SOLVED_SQL = ", ".join(f"'{status}'" for status in sorted(tickets.SOLVED))
# Two ticket imports at once would each check the tickets against what the other may change:
# they take turns (a lock of the transaction, released at its end).
LOCK = "outcomes.ticket_imports"


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


def parse_local(text: str, tz: ZoneInfo) -> dt.datetime | None:
    """An ISO 8601 cell as an aware time: a date is midnight, no offset is `tz`; None when
    the text is not a time."""
    try:
        parsed = (
            dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min)
            if len(text) == 10
            else dt.datetime.fromisoformat(text)
        )
    except ValueError:
        return None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def local_time(text: str, tz: ZoneInfo) -> str:
    """An ISO 8601 cell as the serializer reads it: a date is midnight, no offset is `tz`.
    Text that is not a time is passed on for the serializer to name."""
    parsed = parse_local(text, tz)
    return text if parsed is None else parsed.isoformat()


def quick_time(text: str, tz: ZoneInfo, latest: dt.datetime) -> dt.datetime | None:
    """A time cell that plainly passes the API's rules (not ahead of `latest`), or None."""
    parsed = parse_local(text, tz)
    if parsed is None or not 1900 <= parsed.year <= 2999 or parsed > latest:
        return None
    return parsed


def reasons(errors: dict) -> str:
    return "; ".join(
        f"{name}: {' '.join(str(message) for message in messages)}"
        for name, messages in errors.items()
    )


def _quick(row: dict, tz: ZoneInfo, latest: dt.datetime) -> tuple | None:
    """The staged values of a row that plainly passes the serializer's rules (None for an
    empty cell), or None to let the serializer decide."""
    account, external_id = row["account"], row["external_id"]
    if not account or len(account) > 100 or not external_id or len(external_id) > 255:
        return None
    status = row.get("status", "").lower()
    if status and status not in STATUSES:
        return None
    times = []
    for name in TIMES:
        text = row.get(name, "")
        when = quick_time(text, tz, latest) if text else None
        if text and when is None:
            return None
        times.append(when)
    counts = []
    for name in ("agent_replies", "reopens"):
        text = row.get(name, "")
        if text and not COUNT.match(text):
            return None
        counts.append(int(text) if text else None)
    texts = []
    for name in TEXTS:
        text = row.get(name, "")
        if len(text) > TEXT_LIMITS[name]:
            return None
        texts.append(text or None)
    if texts[2]:
        try:
            validate_email(texts[2])
        except ValidationError:
            return None
    if texts[1]:
        texts[1] = texts[1].lower()
    return (account, external_id, status or None, *times, *counts, *texts)


def _check_row(row: dict, tz: ZoneInfo, latest: dt.datetime) -> tuple[str, tuple]:
    """(the row's problems as one reason, or "", and its staged values when there is none)."""
    values = _quick(row, tz, latest)
    if values is not None:
        return "", values
    data = {name: value for name, value in row.items() if value}
    for name in TIMES:
        if name in data:
            data[name] = local_time(data[name], tz)
    serializer = TicketInSerializer(data=data)
    if not serializer.is_valid():
        return reasons(serializer.errors), ()
    value = serializer.to_input()
    given = value.values
    return "", (value.account, value.external_id, *(given.get(name) for name in STAGED))


def _stage(cursor, rows, result: ImportResult, tz: ZoneInfo, progress) -> None:
    """Check every row and COPY the good ones into the staging table; then list the ticket ids
    given twice, the new accounts whose id is not usable, and the tickets that would break a
    rule."""
    latest = timezone.now() + dt.timedelta(minutes=5)  # tickets.is_future's allowance
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [LOCK])
    # Dropped at commit, or at once when the import runs inside a caller's transaction.
    cursor.execute("DROP TABLE IF EXISTS import_tickets, import_tickets_merged")
    cursor.execute(
        "CREATE TEMPORARY TABLE import_tickets (line integer NOT NULL, account text NOT NULL, "
        "external_id text NOT NULL, status text, created_at timestamptz, "
        "first_reply_at timestamptz, first_solved_at timestamptz, solved_at timestamptz, "
        "agent_replies integer, reopens integer, subject text, channel text, "
        "requester_email text, assignee text, raw jsonb NOT NULL) ON COMMIT DROP"
    )
    with cursor.cursor.copy(
        f"COPY import_tickets (line, account, external_id, {', '.join(STAGED)}, raw) FROM STDIN"
    ) as copy:
        for line, row in readable_rows(rows, result, progress):
            reason, values = _check_row(row, tz, latest)
            if reason:
                result.errors.append(RowError(line, reason))
            else:
                # The row as read, for the record (jsonb parses the text).
                copy.write_row((line, *values, json.dumps({"csv_line": line, **row})))
    _check_repeated(cursor, result)
    _merge(cursor)
    problems: dict[int, list[str]] = {}
    _check_new_accounts(cursor, problems)
    _check_rules(cursor, problems)
    result.errors.extend(row_error(line, found) for line, found in problems.items())
    result.errors.sort(key=lambda error: error.line)


def _check_repeated(cursor, result: ImportResult) -> None:
    """A ticket id again: name the first line, and leave the row out."""
    repeated = (
        "SELECT line, external_id, first_line FROM (SELECT line, external_id, min(line) OVER "
        "(PARTITION BY external_id) AS first_line FROM import_tickets) AS seen "
        "WHERE line <> first_line"
    )
    cursor.execute(repeated)
    duplicates = cursor.fetchall()
    for line, external_id, first_line in duplicates:
        result.errors.append(
            RowError(
                line,
                _("Ticket %(id)s already appears on line %(other)s.")
                % {"id": external_id, "other": first_line},
            )
        )
    if duplicates:
        cursor.execute(
            f"DELETE FROM import_tickets s USING ({repeated}) d WHERE s.line = d.line"  # noqa: S608
        )


def _merge(cursor) -> None:
    """What each row's ticket would become, as `tickets.merge` makes it: the stored ticket (or
    the defaults) with the row's cells; a ticket that leaves the solved statuses without a
    solve time of its own loses its final one; a solve time with no first one is also the
    first. `same` marks a stored ticket the row does not change."""
    status = "COALESCE(s.status, t.status)"
    solved_at = (
        f"CASE WHEN s.solved_at IS NULL AND COALESCE({status}, '') NOT IN ({SOLVED_SQL}) "
        "THEN NULL ELSE COALESCE(s.solved_at, t.solved_at) END"
    )
    merged = {
        "subject": "COALESCE(s.subject, t.subject, '')",
        "channel": "COALESCE(s.channel, t.channel, '')",
        "requester_email": "COALESCE(s.requester_email, t.requester_email, '')",
        "assignee": "COALESCE(s.assignee, t.assignee, '')",
        "organization": "COALESCE(t.organization, '')",
        "status": status,
        "created_at": "COALESCE(s.created_at, t.created_at)",
        "first_reply_at": "COALESCE(s.first_reply_at, t.first_reply_at)",
        "first_solved_at": f"COALESCE(s.first_solved_at, t.first_solved_at, {solved_at})",
        "solved_at": solved_at,
        "agent_replies": "COALESCE(s.agent_replies, t.agent_replies, 0)",
        "reopens": "COALESCE(s.reopens, t.reopens, 0)",
    }
    same = " AND ".join(f"{merged[name]} IS NOT DISTINCT FROM t.{name}" for name in merged)
    columns = ", ".join(f"{merged[name]} AS {name}" for name in tickets.TICKET_FIELDS)
    cursor.execute("ANALYZE import_tickets (account, external_id)")
    cursor.execute(
        # Only column names of the model and constant expressions are formatted in.
        "CREATE TEMPORARY TABLE import_tickets_merged ON COMMIT DROP AS "  # noqa: S608
        f"SELECT s.line, s.account, a.id AS account_id, s.external_id, t.id AS ticket_id, "
        f"{columns}, s.raw, COALESCE(t.id IS NOT NULL AND a.id IS NOT NULL "
        f"AND t.account_id IS NOT DISTINCT FROM a.id AND {same}, false) AS same "
        "FROM import_tickets s LEFT JOIN outcomes_ticket t "
        "ON t.source = %s AND t.external_id = s.external_id "
        "LEFT JOIN accounts_account a ON a.external_id = s.account",
        [TicketSource.CSV],
    )
    cursor.execute("DROP TABLE import_tickets")


def _check_new_accounts(cursor, problems: dict[int, list[str]]) -> None:
    """A new account's id must be usable in URLs (existing ones are taken as they are)."""
    cursor.execute(
        "SELECT DISTINCT account FROM import_tickets_merged WHERE account_id IS NULL "
        "ORDER BY account"
    )
    bad = {}
    for (account,) in cursor.fetchall():
        try:
            validate_external_id(account)
        except ValidationError as exc:
            bad[account] = reasons({"account": list(exc.messages)})
    if bad:
        cursor.execute(
            "SELECT line, account FROM import_tickets_merged WHERE account = ANY(%s) ORDER BY line",
            [list(bad)],
        )
        for line, account in cursor.fetchall():
            problems.setdefault(line, []).append(bad[account])


def _check_rules(cursor, problems: dict[int, list[str]]) -> None:
    """The tickets that would break a rule: the statement picks every ticket that may (a
    superset: it ignores `ticket_errors`' exemptions), which names the problems of each."""
    names = tickets.TICKET_FIELDS
    cursor.execute(
        f"SELECT line, {', '.join(names)} FROM import_tickets_merged WHERE "  # noqa: S608
        "created_at IS NULL OR status IS NULL OR first_reply_at < created_at "
        "OR first_solved_at < created_at OR solved_at < created_at "
        "OR first_solved_at > solved_at "
        f"OR (status IN ({SOLVED_SQL}) AND solved_at IS NULL) "
        f"OR (status NOT IN ({SOLVED_SQL}) AND solved_at IS NOT NULL) ORDER BY line"
    )
    while batch := cursor.fetchmany(1000):
        for line, *values in batch:
            errors = tickets.ticket_errors(dict(zip(names, values, strict=True)))
            if errors:
                problems.setdefault(line, []).append(reasons(errors))


def _apply(cursor, counts: dict) -> None:
    now = timezone.now()
    # Unknown accounts are created as the API creates them, in the order the file names them.
    counts["accounts_created"] = create_accounts(
        cursor,
        "SELECT account FROM import_tickets_merged WHERE account_id IS NULL "
        "GROUP BY account ORDER BY min(line)",
        now=now,
    )
    cursor.execute(
        "UPDATE import_tickets_merged m SET account_id = a.id FROM accounts_account a "
        "WHERE m.account_id IS NULL AND a.external_id = m.account"
    )
    cursor.execute(
        "SELECT count(*) FILTER (WHERE ticket_id IS NULL), "
        "count(*) FILTER (WHERE ticket_id IS NOT NULL AND NOT same), "
        "count(*) FILTER (WHERE same) FROM import_tickets_merged"
    )
    counts["tickets_created"], counts["tickets_updated"], counts["tickets_unchanged"] = (
        cursor.fetchone()
    )
    fields = ", ".join(tickets.TICKET_FIELDS)
    extra = column_defaults(
        Ticket,
        {"account_id", "source", "external_id", *tickets.TICKET_FIELDS, "raw"}
        | {"recorded_at", "updated_at"},
    )
    cursor.execute(
        # Only column names of the model and placeholders are formatted in.
        f"INSERT INTO outcomes_ticket (account_id, source, external_id, {fields}, raw, "  # noqa: S608
        f"recorded_at, updated_at{extra.names}) SELECT account_id, %s, external_id, {fields}, "
        f"raw, %s, %s{extra.placeholders} FROM import_tickets_merged WHERE ticket_id IS NULL "
        "ORDER BY line",
        [TicketSource.CSV, now, now, *extra.values],
    )
    assignments = ", ".join(f"{name} = m.{name}" for name in tickets.TICKET_FIELDS)
    cursor.execute(
        f"UPDATE outcomes_ticket t SET account_id = m.account_id, {assignments}, "  # noqa: S608
        "raw = m.raw, updated_at = %s FROM import_tickets_merged m "
        "WHERE t.id = m.ticket_id AND NOT m.same",
        [now],
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
    header, rows = read_rows(source, max_rows=settings.IMPORT_MAX_ROWS_STAGED)
    check_header(header, REQUIRED, OPTIONAL)
    result = ImportResult(dry_run=dry_run)
    counts = dict.fromkeys(
        ("tickets_created", "tickets_updated", "tickets_unchanged", "accounts_created"), 0
    )
    with transaction.atomic(), connection.cursor() as cursor:
        stage_then_apply(
            result,
            counts,
            stage=lambda: _stage(cursor, rows, result, tz, progress),
            apply=lambda: (
                _apply(cursor, counts),
                cursor.execute("DROP TABLE import_tickets_merged"),
            ),
            progress=progress,
            dry_run=dry_run,
        )
    return result
