"""The SQL that installs and removes a family of statement-level triggers on one table, one
plpgsql function per event (`<prefix>_<event>`), as the rollups and ledger months use; and what
the answer and ticket rollups share: triggers kept from signed changes under per-month locks,
and the months a rebuild covers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connections, transaction

from .rollup_pieces import next_month


def install_sql(prefix: str, table: str, triggers: dict[str, tuple[str, str]]) -> str:
    """`triggers` maps an event (insert, update, delete, truncate) to its REFERENCING clause
    ("" for none) and its function's body. CREATE OR REPLACE: run again after a change."""
    statements = []
    for event, (referencing, body) in triggers.items():
        function = f"{prefix}_{event}"
        statements.append(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f"{body}$$;"
        )
        statements.append(f"DROP TRIGGER IF EXISTS {function} ON {table};")
        referencing = f" REFERENCING {referencing}" if referencing else ""
        statements.append(
            f"CREATE TRIGGER {function} AFTER {event.upper()} ON {table}{referencing} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
        )
    return "\n".join(statements)


def uninstall_sql(prefix: str, table: str, events) -> str:
    return "\n".join(
        f"DROP TRIGGER IF EXISTS {prefix}_{event} ON {table};"
        f"DROP FUNCTION IF EXISTS {prefix}_{event}();"
        for event in events
    )


# --- Rollups kept from signed changes ---------------------------------------------------------
# The answer and ticket rollups are kept the same way: each statement's trigger reads the rows
# it removed (sign -1) and added (sign +1), takes a shared advisory lock on each UTC month they
# fall in (a rebuild takes the month's lock exclusively) and adds their sums.

SIGNED_EVENTS = ("insert", "delete", "update", "truncate")


def month_number_sql(column: str) -> str:
    """The UTC month of a timestamp as one integer (year * 12 + month - 1): the advisory
    lock's second key."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return f"(extract(year FROM {utc}) * 12 + extract(month FROM {utc}) - 1)::int"


def nothing_guard(table: str, where: str = "") -> str:
    """Leave at once when the statement's rows (those matching `where`) are none: an
    ON CONFLICT upsert fires both the insert and the update trigger, one over no rows."""
    where = f" WHERE {where}" if where else ""
    return f"""
    IF NOT EXISTS (SELECT 1 FROM {table}{where}) THEN
        RETURN NULL;
    END IF;
"""


def unchanged_guard(columns) -> str:
    """Leave at once when an update changed none of `columns` in any row: no new row's id and
    `columns` are among the old rows'. A set difference (hashed or sorted, so linear in the
    rows), not a join of the transition tables, which have no statistics: the planner sized
    them at a guess and a nested loop over a bulk update's rows took the square of them."""
    listed = ", ".join(("id", *columns))
    return f"""
    IF NOT EXISTS (
        SELECT {listed} FROM new_rows
        EXCEPT
        SELECT {listed} FROM old_rows
    ) THEN
        RETURN NULL;
    END IF;
"""


def signed_install_sql(
    prefix: str,
    table: str,
    *,
    lock_key: int,
    time_column: str,
    changes: Callable[[str, int], str],
    upsert: Callable[[str], str],
    nothing: Callable[[str], str],
    unchanged: str,
    cleared: tuple[str, ...],
) -> str:
    """The insert, delete, update and truncate triggers of a rollup kept from signed changes:
    `changes(transition table, sign)` selects the changed rows with their sign (and
    `time_column`), `upsert(changes)` adds their sums; `nothing` and `unchanged` are the early
    exits. A TRUNCATE of `table` (which fires no delete trigger) empties the rollup tables
    `cleared`; it holds the table's exclusive lock, so no write or rebuild runs beside it."""
    events = {
        "insert": ("NEW TABLE AS new_rows", changes("new_rows", 1), nothing("new_rows")),
        "delete": ("OLD TABLE AS old_rows", changes("old_rows", -1), nothing("old_rows")),
        "update": (
            "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            f"{changes('old_rows', -1)} UNION ALL {changes('new_rows', 1)}",
            unchanged,
        ),
    }
    months = month_number_sql(time_column)
    emptied = " ".join(f"DELETE FROM {name};" for name in cleared)
    truncate = {"truncate": ("", f"\nBEGIN\n    {emptied}\n    RETURN NULL;\nEND\n")}
    return install_sql(
        prefix,
        table,
        {
            event: (
                referencing,
                f"""
BEGIN
    {guard}
    PERFORM pg_advisory_xact_lock_shared({lock_key}, month)
    FROM (SELECT DISTINCT {months} AS month FROM ({signed}) c) months;
    {upsert(signed)}
    RETURN NULL;
END
""",
            )
            for event, (referencing, signed, guard) in events.items()
        }
        | truncate,
    )


def months_to_rebuild(
    cursor, since: dt.date | None, *, source: str, time_column: str, tables: tuple[str, ...]
) -> list[dt.date]:
    """Every UTC month (its first day) from `since`'s (default: the first of the `source`
    rows' and the rollup `tables`' rows) to the last of either, so rows left over from deleted
    source rows are cleared too."""
    day = f"({time_column} AT TIME ZONE 'UTC')::date"
    firsts = ", ".join(
        [f"(SELECT min({day}) FROM {source})"]
        + [f"(SELECT min(period) FROM {table})" for table in tables]
    )
    lasts = ", ".join(
        [f"(SELECT max({day}) FROM {source})"]
        + [f"(SELECT max(period) FROM {table})" for table in tables]
    )
    cursor.execute(f"SELECT least({firsts}), greatest({lasts})")
    first, last = cursor.fetchone()
    if first is None:
        return []
    month = (max(first, since) if since else first).replace(day=1)
    months = []
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def rebuild_by_month(
    months: list[dt.date],
    *,
    using: str,
    lock_key: int,
    tables: tuple[str, ...],
    fill: Callable[[object, dict], int],
    progress: Callable[[dt.date, int], None] | None = None,
) -> int:
    """Each month in its own transaction under its advisory lock, taken exclusively (the
    triggers take it shared, so no write to the month lands between the read and the write):
    delete the `tables`' rows of the month (day and month grains) and `fill(cursor, bounds)`
    them again from the rows created in [bounds["lo"], bounds["hi"]), which returns how many
    it wrote. Then fresh statistics, so the reports' plans fit the new rows. Returns the rows
    written."""
    connection = connections[using]
    written = 0
    for month in months:
        following = next_month(month)
        bounds = {
            "lo": dt.datetime.combine(month, dt.time.min, dt.UTC),
            "hi": dt.datetime.combine(following, dt.time.min, dt.UTC),
        }
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [lock_key, month.year * 12 + month.month - 1],
            )
            # Room for a month's aggregates in memory (this transaction only): the planner
            # sorts rather than hashes when it overestimates the groups, and a default-sized
            # sort spills to disk.
            cursor.execute("SELECT set_config('work_mem', '64MB', true)")
            for table in tables:
                cursor.execute(
                    f"DELETE FROM {table} WHERE period >= %s AND period < %s",
                    [month, following],
                )
            written += fill(cursor, bounds)
        if progress:
            progress(month, written)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(tables)}")
    return written
