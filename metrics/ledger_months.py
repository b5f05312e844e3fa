"""The ledger months: how `metrics_ledgermonth` is kept exact and how it is rebuilt.

`metrics_ledgermonth` (model `LedgerMonth`) holds, per account and UTC month with ledger
events, the first event's instant, the first paid event's and the last event (instant, id,
MRR, currency). Statement-level triggers on the ledger recompute the rows of every (account,
month) a statement touched, from the ledger itself, in the same transaction: an insert, an
update (an event moved to another month or account recomputes both), a delete, a cascade.
A TRUNCATE of the ledger empties the table.

Writers to one account's months are serialised by a transaction-level advisory lock per
account, taken before the recompute: under READ COMMITTED (Django's default) the recompute of
the second writer starts after the first committed and sees its events, so two concurrent
writes never leave a row that misses one of them.

`rebuild` recomputes the rows from the ledger under a SHARE lock on it (writes to the ledger
wait for the rebuild, reads do not).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connections, transaction

TABLE = "metrics_ledgermonth"
LEDGER = "outcomes_subscriptionevent"
LOCK_KEY = 727_130  # advisory lock class of the ledger months (one lock per account)
COLUMNS = "account_id, month, first_at, first_paid_at, last_at, last_id, mrr, currency"


def _insert_sql(keys: str) -> str:
    """Write from the ledger the rows of the (account_id, month) `keys`; months without
    events get no row."""
    # Month arithmetic on UTC wall time, so the session's time zone plays no part.
    next_month = "((k.month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'"
    in_month = (
        f"e.account_id = k.account_id AND e.effective_at >= k.month "
        f"AND e.effective_at < {next_month}"
    )
    return f"""
    INSERT INTO {TABLE} ({COLUMNS})
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
    ) l"""


def _keys(*tables: str, where: str = "") -> str:
    """The distinct (account_id, month) of the events in `tables`."""
    events = " UNION ALL ".join(f"SELECT account_id, effective_at FROM {t}{where}" for t in tables)
    return (
        "SELECT DISTINCT account_id, date_trunc('month', effective_at, 'UTC') AS month "
        f"FROM ({events}) c"
    )


_TRIGGERS = {
    "insert": ("NEW TABLE AS new_rows", ("new_rows",)),
    "update": ("OLD TABLE AS old_rows NEW TABLE AS new_rows", ("old_rows", "new_rows")),
    "delete": ("OLD TABLE AS old_rows", ("old_rows",)),
}


def install_sql() -> str:
    statements = []
    for event, (referencing, tables) in _TRIGGERS.items():
        function = f"metrics_ledger_month_{event}"
        keys = _keys(*tables)
        statements.append(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n"
            f"    PERFORM pg_advisory_xact_lock({LOCK_KEY}, (account_id % 2147483647)::int)\n"
            f"    FROM (SELECT DISTINCT account_id FROM ({keys}) k ORDER BY 1) a;\n"
            f"    DELETE FROM {TABLE} m USING ({keys}) k\n"
            f"    WHERE m.account_id = k.account_id AND m.month = k.month;\n"
            f"    {_insert_sql(keys)};\n"
            f"    RETURN NULL;\n"
            f"END $$;"
        )
        statements.append(f"DROP TRIGGER IF EXISTS {function} ON {LEDGER};")
        statements.append(
            f"CREATE TRIGGER {function} AFTER {event.upper()} ON {LEDGER} "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
        )
    statements.append(
        "CREATE OR REPLACE FUNCTION metrics_ledger_month_truncate() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN DELETE FROM {TABLE}; RETURN NULL; END $$;"
    )
    statements.append(f"DROP TRIGGER IF EXISTS metrics_ledger_month_truncate ON {LEDGER};")
    statements.append(
        f"CREATE TRIGGER metrics_ledger_month_truncate AFTER TRUNCATE ON {LEDGER} "
        "FOR EACH STATEMENT EXECUTE FUNCTION metrics_ledger_month_truncate();"
    )
    return "\n".join(statements)


def uninstall_sql() -> str:
    return "\n".join(
        f"DROP TRIGGER IF EXISTS metrics_ledger_month_{event} ON {LEDGER};"
        f"DROP FUNCTION IF EXISTS metrics_ledger_month_{event}();"
        for event in [*_TRIGGERS, "truncate"]
    )


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
        cursor.execute(_insert_sql(keys), {"start": start})
        written = max(cursor.rowcount, 0)
    if progress:
        progress(start.date(), written)
    with connections[using].cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")
    return written
