"""CSV import of daily usage: validate every row, then upsert all or nothing.

Columns: account (external id), day (YYYY-MM-DD), metric, value. Each row is checked with the
rules of `POST /api/v1/usage`; an account, metric and day may appear once per file. Every bad
row is listed with its line number and nothing is written; importing a file again changes
nothing.

Built for migrations: rows are checked in Python as the file streams in (a row the quick check
does not accept goes through the API's serializer, which names its problems), the good ones are
streamed into a temporary table with COPY inside the one transaction of the import, and the
duplicates, unknown accounts and the upsert are a handful of set-based statements. Memory stays
flat and a bad file rolls back whole.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.fields import FloatField

from accounts import services as account_services
from accounts.contact_rows import decimal_text
from accounts.csv_files import (
    ImportResult,
    RowError,
    column_defaults,
    read_rows,
    readable_rows,
    stage_then_apply,
)
from accounts.models import validate_external_id

from .api_usage import EARLIEST_DAY, MAX_VALUE, UsageInSerializer
from .models import UsageRecord
from .ticket_imports import check_header, reasons

REQUIRED = ("account", "day", "metric", "value")
# What the serializer accepts for sure; anything else is left to it (it names the problem).
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
METRIC = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")


def _quick(row: dict, latest: dt.date) -> tuple | None:
    """(account, day, metric, value) of a row that plainly passes the serializer's rules, or
    None to let the serializer decide."""
    account, day, metric = row["account"], row["day"], row["metric"]
    if not account or len(account) > 100 or not METRIC.match(metric) or not DAY.match(day):
        return None
    text = decimal_text(row["value"])
    if len(text) > FloatField.MAX_STRING_LENGTH:
        return None
    try:
        when = dt.date.fromisoformat(day)
        value = float(text)
    except ValueError:
        return None
    # NaN fails both comparisons, infinity the second: the serializer names them.
    if not (EARLIEST_DAY <= when <= latest and 0 <= value <= MAX_VALUE):
        return None
    return account, when, metric, value


def _check_row(row: dict, latest: dt.date) -> tuple[str, tuple]:
    """(the row's problems as one reason, or "", and its staged values when there is none)."""
    values = _quick(row, latest)
    if values is not None:
        return "", values
    data = {name: value for name, value in row.items() if value}
    if "value" in data:
        data["value"] = decimal_text(data["value"])
    serializer = UsageInSerializer(data=data)
    if not serializer.is_valid():
        return reasons(serializer.errors), ()
    value = serializer.to_input()
    return "", (value.account, value.day, value.metric, value.value)


def _stage(cursor, rows, result: ImportResult, progress) -> None:
    """Check every row and COPY the good ones into the staging table; then list the repeated
    (account, metric, day) and the new accounts whose id is not usable."""
    # The serializer's bound: a day ahead of UTC's date exists somewhere on Earth.
    latest = timezone.now().date() + dt.timedelta(days=1)
    # Dropped at commit, or at once when the import runs inside a caller's transaction.
    cursor.execute("DROP TABLE IF EXISTS import_usage")
    cursor.execute(
        "CREATE TEMPORARY TABLE import_usage (line integer NOT NULL, account text NOT NULL, "
        "day date NOT NULL, metric text NOT NULL, value double precision NOT NULL, "
        "account_id bigint, stored double precision) ON COMMIT DROP"
    )
    with cursor.cursor.copy(
        "COPY import_usage (line, account, day, metric, value) FROM STDIN"
    ) as copy:
        for line, row in readable_rows(rows, result, progress):
            reason, values = _check_row(row, latest)
            if reason:
                result.errors.append(RowError(line, reason))
            else:
                copy.write_row((line, *values))
    # The same account, metric and day again: name the first line, and leave the row out.
    repeated = (
        "SELECT line, account, metric, day, first_line FROM (SELECT line, account, metric, day, "
        "min(line) OVER (PARTITION BY account, metric, day) AS first_line FROM import_usage"
        ") AS seen WHERE line <> first_line"
    )
    cursor.execute(repeated)
    duplicates = cursor.fetchall()
    for line, account, metric, day, first_line in duplicates:
        result.errors.append(
            RowError(
                line,
                _("%(account)s, %(metric)s on %(day)s already appears on line %(other)s.")
                % {
                    "account": account,
                    "metric": metric,
                    "day": day.isoformat(),
                    "other": first_line,
                },
            )
        )
    if duplicates:
        cursor.execute(
            f"DELETE FROM import_usage s USING ({repeated}) d WHERE s.line = d.line"  # noqa: S608
        )
    # A new account's id must be usable in URLs (existing ones are taken as they are).
    bad = {}
    for account in _new_accounts(cursor):
        try:
            validate_external_id(account)
        except ValidationError as exc:
            bad[account] = reasons({"account": list(exc.messages)})
    if bad:
        cursor.execute(
            "SELECT line, account FROM import_usage WHERE account = ANY(%s)", [list(bad)]
        )
        for line, account in cursor.fetchall():
            result.errors.append(RowError(line, bad[account]))
    result.errors.sort(key=lambda error: error.line)


def _new_accounts(cursor) -> list[str]:
    cursor.execute(
        "SELECT DISTINCT s.account FROM import_usage s WHERE NOT EXISTS (SELECT 1 FROM "
        "accounts_account a WHERE a.external_id = s.account) ORDER BY s.account"
    )
    return [account for (account,) in cursor.fetchall()]


def _apply(cursor, counts: dict) -> None:
    # Unknown accounts are created as the API creates them (few, so one at a time).
    new = _new_accounts(cursor)
    for external_id in new:
        account_services.upsert_account(external_id=external_id)
    counts["accounts_created"] = len(new)
    cursor.execute(
        "UPDATE import_usage s SET account_id = a.id FROM accounts_account a "
        "WHERE a.external_id = s.account"
    )
    cursor.execute("ANALYZE import_usage")
    cursor.execute(
        "UPDATE import_usage s SET stored = u.value FROM outcomes_usagerecord u "
        "WHERE u.account_id = s.account_id AND u.metric = s.metric AND u.day = s.day"
    )
    cursor.execute(
        "SELECT count(*) FILTER (WHERE stored IS NULL), count(*) FILTER (WHERE stored <> value), "
        "count(*) FILTER (WHERE stored = value) FROM import_usage"
    )
    counts["values_created"], counts["values_updated"], counts["values_unchanged"] = (
        cursor.fetchone()
    )
    extra = column_defaults(UsageRecord, {"account_id", "day", "metric", "value", "updated_at"})
    cursor.execute(
        # Only column names of the model and placeholders are formatted in.
        "INSERT INTO outcomes_usagerecord (account_id, day, metric, value, "  # noqa: S608
        f"updated_at{extra.names}) "
        f"SELECT account_id, day, metric, value, %s{extra.placeholders} "
        "FROM import_usage WHERE stored IS NULL OR stored <> value ORDER BY line "
        "ON CONFLICT (account_id, metric, day) DO UPDATE "
        "SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
        [timezone.now(), *extra.values],
    )


def import_usage(
    *,
    source,
    actor=None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate a CSV of daily usage values, then upsert them all, or nothing if any row is
    bad. Idempotent: importing the same file twice changes nothing the second time."""
    header, rows = read_rows(source, max_rows=settings.IMPORT_MAX_ROWS_STAGED)
    check_header(header, REQUIRED, ())
    result = ImportResult(dry_run=dry_run)
    counts = dict.fromkeys(
        ("values_created", "values_updated", "values_unchanged", "accounts_created"), 0
    )
    with transaction.atomic(), connection.cursor() as cursor:
        stage_then_apply(
            result,
            counts,
            stage=lambda: _stage(cursor, rows, result, progress),
            apply=lambda: (_apply(cursor, counts), cursor.execute("DROP TABLE import_usage")),
            progress=progress,
            dry_run=dry_run,
        )
    return result
