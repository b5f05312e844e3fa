"""The ledger months: how `metrics_ledgermonth` is kept exact and how it is rebuilt.

`metrics_ledgermonth` (model `LedgerMonth`) holds, per account and UTC month with ledger
events, the first event's instant, the first paid event's and the last event (instant, id,
MRR, currency). Statement-level triggers on the ledger keep it exact in the same transaction
as every write:

- an insert (the usual write: the ledger is appended to) merges the statement's new events
  into the rows of their months, from the inserted rows alone: the earlier first instants, the
  later last event (by instant, then id);
- an update or a delete (an event moved to another month or account, a correction, a cascade
  from a deleted account) deletes the rows of every (account, month) it touched and writes
  them again from the ledger;
- a TRUNCATE of the ledger empties the table.

A merge is idempotent and order-free (least and greatest), so concurrent inserts need no lock:
the unique key makes the second wait for the first's row and merge into it. Recomputes are
serialised per account by a transaction-level advisory lock, taken before reading the ledger:
under READ COMMITTED (Django's default) the second recompute reads after the first committed.
A recompute also merges into a row that a concurrent insert wrote after its delete, so an
event committed meanwhile is never lost.

`rebuild` recomputes the rows from the ledger under a SHARE lock on it (writes to the ledger
wait for the rebuild, reads do not), then vacuums the table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connections, transaction

from . import statement_triggers

TABLE = "metrics_ledgermonth"
LEDGER = "outcomes_subscriptionevent"
LOCK_KEY = 727_130  # advisory lock class of the ledger months (one lock per account)
COLUMNS = "account_id, month, first_at, first_paid_at, last_at, last_id, mrr, currency"


# Into an existing row: the earlier first instants, the later last event.
NEWER = "(EXCLUDED.last_at, EXCLUDED.last_id) > (m.last_at, m.last_id)"
MERGE = f"""
    ON CONFLICT (account_id, month) DO UPDATE SET
        first_at = least(m.first_at, EXCLUDED.first_at),
        first_paid_at = least(m.first_paid_at, EXCLUDED.first_paid_at),
        last_at = CASE WHEN {NEWER} THEN EXCLUDED.last_at ELSE m.last_at END,
        last_id = CASE WHEN {NEWER} THEN EXCLUDED.last_id ELSE m.last_id END,
        mrr = CASE WHEN {NEWER} THEN EXCLUDED.mrr ELSE m.mrr END,
        currency = CASE WHEN {NEWER} THEN EXCLUDED.currency ELSE m.currency END"""


def _merge_sql(events: str) -> str:
    """Merge the (account, month) rows of the `events` rows into the table."""
    return f"""
    INSERT INTO {TABLE} AS m ({COLUMNS})
    SELECT DISTINCT ON (account_id, month) account_id, month,
           min(effective_at) OVER w, min(effective_at) FILTER (WHERE mrr > 0) OVER w,
           effective_at, id, mrr, currency
    FROM (SELECT e.*, date_trunc('month', e.effective_at, 'UTC') AS month FROM {events} e) c
    WINDOW w AS (PARTITION BY account_id, month)
    ORDER BY account_id, month, effective_at DESC, id DESC
    {MERGE}"""


def _recompute_sql(keys: str) -> str:
    """Write from the ledger the rows of the (account_id, month) `keys` (months without
    events get none), merged into any row already there."""
    # Month arithmetic on UTC wall time, so the session's time zone plays no part.
    next_month = "((k.month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'"
    in_month = (
        f"e.account_id = k.account_id AND e.effective_at >= k.month "
        f"AND e.effective_at < {next_month}"
    )
    return f"""
    INSERT INTO {TABLE} AS m ({COLUMNS})
    SELECT k.account_id, k.month, f.first_at, f.first_paid_at,
           l.effective_at, l.id, l.mrr, l.currency
    FROM ({keys}) k
    CROSS JOIN LATERAL (
        SELECT min(e.effective_at) AS first_at,
               min(e.effective_at) FILTER (WHERE e.mrr > 0) AS first_paid_at
        FROM {LEDGER} e WHERE {in_month}
    ) f
    CROSS JOIN LATERAL (
        SELECT e.effective_at, e.id, e.mrr, e.currency FROM {LEDGER} e
        WHERE {in_month}
        ORDER BY e.effective_at DESC, e.id DESC LIMIT 1
    ) l
    {MERGE}"""


def _keys(*tables: str, where: str = "") -> str:
    """The distinct (account_id, month) of the events in `tables`."""
    events = " UNION ALL ".join(f"SELECT account_id, effective_at FROM {t}{where}" for t in tables)
    return (
        "SELECT DISTINCT account_id, date_trunc('month', effective_at, 'UTC') AS month "
        f"FROM ({events}) c"
    )


def _recompute_body(*tables: str) -> str:
    keys = _keys(*tables)
    return f"""
    PERFORM pg_advisory_xact_lock({LOCK_KEY}, (account_id % 2147483647)::int)
    FROM (SELECT DISTINCT account_id FROM ({keys}) k ORDER BY 1) a;
    DELETE FROM {TABLE} m USING ({keys}) k
    WHERE m.account_id = k.account_id AND m.month = k.month;
    {_recompute_sql(keys)};"""


_TRIGGERS = {
    "insert": ("NEW TABLE AS new_rows", f"{_merge_sql('new_rows')};"),
    "update": (
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        _recompute_body("old_rows", "new_rows"),
    ),
    "delete": ("OLD TABLE AS old_rows", _recompute_body("old_rows")),
    "truncate": ("", f"DELETE FROM {TABLE};"),
}


def install_sql() -> str:
    return statement_triggers.install_sql(
        "metrics_ledger_month",
        LEDGER,
        {
            event: (referencing, f"\nBEGIN\n    {body.strip()}\n    RETURN NULL;\nEND ")
            for event, (referencing, body) in _TRIGGERS.items()
        },
    )


def uninstall_sql() -> str:
    return statement_triggers.uninstall_sql("metrics_ledger_month", LEDGER, _TRIGGERS)


def rebuild(
    since: dt.date | None = None,
    *,
    using: str = "default",
    progress: Callable[[dt.date, int], None] | None = None,
) -> int:
    """Recompute the rows of every UTC month from `since`'s month on (all when None) in one
    transaction. Returns the number of rows written."""
    start = dt.datetime.combine((since or dt.date.min).replace(day=1), dt.time.min, dt.UTC)
    keys = _keys(LEDGER, where=" WHERE effective_at >= %(start)s")
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(f"LOCK TABLE {LEDGER} IN SHARE MODE")
        cursor.execute(f"DELETE FROM {TABLE} WHERE month >= %(start)s", {"start": start})
        cursor.execute(_recompute_sql(keys), {"start": start})
        written = max(cursor.rowcount, 0)
    if progress:
        progress(start.date(), written)
    connection = connections[using]
    with connection.cursor() as cursor:
        # The old rows are dead: VACUUM marks the pages all-visible again, so the reports'
        # index-only reads skip the table (not possible inside a migration's transaction).
        cursor.execute(f"{'ANALYZE' if connection.in_atomic_block else 'VACUUM ANALYZE'} {TABLE}")
    return written
