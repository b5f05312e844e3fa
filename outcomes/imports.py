"""CSV import of subscription-ledger events: validate every row, then append all or nothing.

Columns: account (the account's external id), external_id (the event's id, unique in the
file), effective_at (ISO 8601 date-time, or YYYY-MM-DD for midnight; without an offset read in
the import's time zone), mrr, currency; optional plan, quantity, renews_on. Each row is checked
with the same rules as `POST /api/v1/subscription-events`; every bad row is listed with its
line number and nothing is written. Re-importing a file adds nothing (events are keyed by
external id); unknown accounts are created.

Built for migrations: rows are checked in Python as the file streams in (a row the quick check
does not plainly accept goes through the API's serializer, which names its problems), the good
ones are streamed into a temporary table with COPY inside the one transaction of the import,
and the repeated ids, the new accounts and the append are a few set-based statements; the
accounts whose ledger grew then refresh their cached MRR, plan, renewal date and churn
(`services.sync_accounts`, set-based too). Memory stays flat and a bad file rolls back whole.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.contact_rows import decimal_text
from accounts.csv_files import (
    ImportResult,
    RowError,
    column_defaults,
    create_accounts,
    read_rows,
    readable_rows,
    stage_then_apply,
)

from . import services
from .api import CURRENCIES, FUTURE_SKEW, SubscriptionEventInSerializer
from .models import Source, SubscriptionEvent
from .ticket_imports import check_header, parse_local, quick_time, reasons

REQUIRED = ("account", "external_id", "effective_at", "mrr", "currency")
OPTIONAL = ("plan", "quantity", "renews_on")
# What the serializer accepts for sure; anything else is left to it (it names the problem).
MRR = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?\Z")
QUANTITY = re.compile(r"[0-9]{1,9}\Z")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
CURRENCY_SET = frozenset(CURRENCIES)


def _row_data(row: dict[str, str], tz: ZoneInfo) -> dict:
    data = {name: row[name] for name in (*REQUIRED, *OPTIONAL) if row.get(name)}
    if "mrr" in data:
        data["mrr"] = decimal_text(data["mrr"])
    if data.get("effective_at"):
        parsed = parse_local(data["effective_at"], tz)
        if parsed is not None:  # else the serializer names the field
            data["effective_at"] = parsed.isoformat()
    return data


def _quick(row: dict, tz: ZoneInfo, latest: dt.datetime) -> tuple | None:
    """The staged values of a row that plainly passes the serializer's rules, or None to let
    the serializer decide."""
    account, external_id = row["account"], row["external_id"]
    if not account or len(account) > 100 or not external_id or len(external_id) > 255:
        return None
    mrr, currency = decimal_text(row["mrr"]), row["currency"].upper()
    plan, quantity, renews_on = row.get("plan", ""), row.get("quantity", ""), row.get("renews_on")
    if not MRR.match(mrr) or currency not in CURRENCY_SET or len(plan) > 100:
        return None
    if quantity and not QUANTITY.match(quantity):
        return None
    effective_at = quick_time(row["effective_at"], tz, latest)
    if effective_at is None:
        return None
    day = None
    if renews_on:
        if not DAY.match(renews_on):
            return None
        try:
            day = dt.date.fromisoformat(renews_on)
        except ValueError:
            return None
    return (
        account,
        external_id,
        effective_at,
        Decimal(mrr),
        currency,
        plan,
        int(quantity) if quantity else None,
        day,
    )


def _check_row(row: dict, tz: ZoneInfo, latest: dt.datetime) -> tuple[str, tuple]:
    """(the row's problems as one reason, or "", and its staged values when there is none)."""
    values = _quick(row, tz, latest)
    if values is not None:
        return "", values
    serializer = SubscriptionEventInSerializer(data=_row_data(row, tz))
    if not serializer.is_valid():
        return reasons(serializer.errors), ()
    event = serializer.to_event(serializer.validated_data)
    return "", (
        event.account,
        event.external_id,
        event.effective_at,
        event.mrr,
        event.currency,
        event.plan,
        event.quantity,
        event.renews_on,
    )


def _stage(cursor, rows, result: ImportResult, tz: ZoneInfo, progress) -> None:
    """Check every row and COPY the good ones into the staging table; then list the event ids
    given twice."""
    latest = timezone.now() + FUTURE_SKEW
    # Dropped at commit, or at once when the import runs inside a caller's transaction.
    cursor.execute("DROP TABLE IF EXISTS import_events")
    cursor.execute(
        "CREATE TEMPORARY TABLE import_events (line integer NOT NULL, account text NOT NULL, "
        "external_id text NOT NULL, effective_at timestamptz NOT NULL, "
        "mrr numeric(14, 2) NOT NULL, currency text NOT NULL, plan text NOT NULL, "
        "quantity integer, renews_on date, raw jsonb NOT NULL) ON COMMIT DROP"
    )
    with cursor.cursor.copy(
        "COPY import_events (line, account, external_id, effective_at, mrr, currency, plan, "
        "quantity, renews_on, raw) FROM STDIN"
    ) as copy:
        for line, row in readable_rows(rows, result, progress):
            reason, values = _check_row(row, tz, latest)
            if reason:
                result.errors.append(RowError(line, reason))
            else:
                # The row as read, for the record (jsonb parses the text).
                copy.write_row((line, *values, json.dumps({"csv_line": line, **row})))
    cursor.execute(
        "SELECT line, external_id, first_line FROM (SELECT line, external_id, min(line) OVER "
        "(PARTITION BY external_id) AS first_line FROM import_events) AS seen "
        "WHERE line <> first_line"
    )
    for line, external_id, first_line in cursor.fetchall():
        result.errors.append(
            RowError(
                line,
                _("Event %(id)s already appears on line %(other)s.")
                % {"id": external_id, "other": first_line},
            )
        )
    result.errors.sort(key=lambda error: error.line)


def _apply(cursor, counts: dict) -> None:
    now = timezone.now()
    cursor.execute("ANALYZE import_events (account, external_id)")
    # The events not stored yet (an event already imported changes nothing, whatever it says).
    cursor.execute(
        "DELETE FROM import_events s USING outcomes_subscriptionevent e "
        "WHERE e.source = %s AND e.external_id = s.external_id",
        [Source.CSV],
    )
    counts["events_already_imported"] = cursor.rowcount
    cursor.execute("SELECT count(*) FROM import_events")
    counts["events_added"] = cursor.fetchone()[0]
    # Unknown accounts are created as the API creates them, in the order the file names them.
    create_accounts(
        cursor,
        "SELECT account FROM import_events GROUP BY account ORDER BY min(line)",
        now=now,
    )
    extra = column_defaults(
        SubscriptionEvent,
        {
            "account_id",
            "source",
            "external_id",
            "effective_at",
            "mrr",
            "currency",
            "plan",
            "quantity",
            "renews_on",
            "raw",
            "created_at",
        },
    )
    cursor.execute(
        # Only column names of the model and placeholders are formatted in.
        "INSERT INTO outcomes_subscriptionevent (account_id, source, external_id, effective_at, "  # noqa: S608
        f"mrr, currency, plan, quantity, renews_on, raw, created_at{extra.names}) "
        "SELECT a.id, %s, s.external_id, s.effective_at, s.mrr, s.currency, s.plan, s.quantity, "
        f"s.renews_on, s.raw, %s{extra.placeholders} FROM import_events s "
        "JOIN accounts_account a ON a.external_id = s.account ORDER BY s.line "
        "ON CONFLICT (source, external_id) DO NOTHING",
        [Source.CSV, now, *extra.values],
    )
    # Each account whose ledger grew gets its cached copy of the latest event refreshed.
    cursor.execute(
        "SELECT a.id FROM accounts_account a WHERE a.external_id IN "
        "(SELECT account FROM import_events) ORDER BY a.id"
    )
    services.sync_accounts(account_ids=[account_id for (account_id,) in cursor.fetchall()])


def import_events(
    *,
    source,
    actor=None,
    dry_run: bool = False,
    tz: ZoneInfo | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate a CSV of ledger events, then append them all, or nothing if any row is bad.
    Idempotent: importing the same file twice adds nothing the second time."""
    tz = tz or ZoneInfo(settings.TIME_ZONE)
    header, rows = read_rows(source, max_rows=settings.IMPORT_MAX_ROWS_STAGED)
    check_header(header, REQUIRED, OPTIONAL)
    result = ImportResult(dry_run=dry_run)
    counts = dict.fromkeys(("events_added", "events_already_imported"), 0)
    with transaction.atomic(), connection.cursor() as cursor:
        stage_then_apply(
            result,
            counts,
            stage=lambda: _stage(cursor, rows, result, tz, progress),
            apply=lambda: (_apply(cursor, counts), cursor.execute("DROP TABLE import_events")),
            progress=progress,
            dry_run=dry_run,
        )
    return result
