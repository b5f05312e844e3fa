"""Each ticket's copy of its account's plan, kept by the database.

Invariant: for every row of the tickets, `plan` equals the `plan` of the account it names, and
'' when it names none. Reads by plan (the support statements, per-plan rollups and indexes)
use the ticket's column instead of joining the accounts.

Three triggers keep it, so that no write (the ORM, a bulk insert, COPY, raw SQL) can leave it
wrong:

- before every insert or update of a ticket, a row trigger sets `plan` from the account (by
  its primary key), or '' without one. An update that changes neither the account nor the plan
  keeps the row's plan, which the invariant says is right, without a lookup;
- after an update of accounts, a statement trigger gives the tickets of the accounts whose
  plan changed (old and new rows compared by id) the new plan, writing only the tickets
  whose plan differs;
- after an insert of accounts, the same for the new accounts, for tickets written earlier in
  the same transaction (the foreign key is checked at commit).

Concurrent writes (at READ COMMITTED, the app's level): the ticket trigger locks the account
FOR KEY SHARE (the lock the foreign key's check takes anyway at commit; it does not wait for
ordinary account updates), then reads its plan; the account trigger locks the accounts whose
plan changed FOR UPDATE, which waits for every transaction holding that lock, then writes
their tickets. So a plan change waits for the tickets being written to its account and then
sees them, and a ticket written while a plan change is in progress waits for its commit and
reads the new plan. A plan change of several accounts at once, beside a transaction writing
tickets of several of them, can deadlock; PostgreSQL then aborts one of the two.
"""

from __future__ import annotations

from accounts.models import Account

from .models import Ticket

TICKETS = Ticket._meta.db_table
ACCOUNTS = Account._meta.db_table
PREFIX = "outcomes_ticket_plan"


def _ticket_row_sql() -> str:
    function = f"{PREFIX}_row"
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.account_id IS NULL THEN
        NEW.plan := '';
    ELSIF TG_OP = 'UPDATE' AND NEW.account_id = OLD.account_id AND NEW.plan = OLD.plan THEN
        RETURN NEW;
    ELSE
        -- Lock first, read after: a lock taken after waiting for a plan change returns the
        -- row as it was (the change did not touch the key); the next statement sees the new.
        PERFORM 1 FROM {ACCOUNTS} WHERE id = NEW.account_id FOR KEY SHARE;
        NEW.plan := COALESCE((SELECT plan FROM {ACCOUNTS} WHERE id = NEW.account_id), '');
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS {function} ON {TICKETS};
CREATE TRIGGER {function} BEFORE INSERT OR UPDATE ON {TICKETS}
FOR EACH ROW EXECUTE FUNCTION {function}();
"""  # noqa: S608 - table names from the models


def _account_statement_sql(event: str, referencing: str, changed: str, *, lock: bool) -> str:
    """A statement trigger on the accounts: `changed` selects the ids of the accounts whose
    tickets may need their plan; `lock` waits for the transactions writing their tickets
    (they hold FOR KEY SHARE on the account), so that the update sees their tickets. New
    accounts need no lock: no other transaction sees them yet."""
    function = f"{PREFIX}_account_{event}"
    wait = f"PERFORM 1 FROM {ACCOUNTS} WHERE id = ANY(ids) ORDER BY id FOR UPDATE;" if lock else ""
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    changed_id bigint;
BEGIN
    SELECT array_agg(id ORDER BY id) INTO ids FROM ({changed}) changed;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    {wait}
    -- One statement per account: the ticket rollups' update triggers compare a statement's
    -- old and new rows pairwise, so one statement over many accounts' tickets would take a
    -- time growing with the square of their number.
    FOREACH changed_id IN ARRAY ids LOOP
        UPDATE {TICKETS} t SET plan = a.plan
        FROM {ACCOUNTS} a
        WHERE a.id = changed_id AND t.account_id = changed_id AND t.plan <> a.plan;
    END LOOP;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS {function} ON {ACCOUNTS};
CREATE TRIGGER {function} AFTER {event.upper()} ON {ACCOUNTS} REFERENCING {referencing}
FOR EACH STATEMENT EXECUTE FUNCTION {function}();
"""  # noqa: S608 - table names from the models, `changed` from this module


def install_sql() -> str:
    """The trigger functions and triggers (CREATE OR REPLACE: run again after a change)."""
    return "\n".join(
        [
            _ticket_row_sql(),
            _account_statement_sql(
                "update",
                "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                # No join: a plan cached for a few rows (a nested loop) would take a time
                # growing with the square of a large statement's rows. An id whose plan changed
                # gives two distinct (id, plan) pairs.
                "SELECT id FROM (SELECT id, plan FROM old_rows UNION SELECT id, plan FROM new_rows)"
                " pairs GROUP BY id HAVING count(*) > 1",
                lock=True,
            ),
            _account_statement_sql(
                "insert", "NEW TABLE AS new_rows", "SELECT id FROM new_rows", lock=False
            ),
        ]
    )


def uninstall_sql() -> str:
    return "\n".join(
        f"DROP TRIGGER IF EXISTS {PREFIX}_{name} ON {table}; "
        f"DROP FUNCTION IF EXISTS {PREFIX}_{name}();"
        for name, table in (
            ("row", TICKETS),
            ("account_update", ACCOUNTS),
            ("account_insert", ACCOUNTS),
        )
    )


def backfill_sql() -> str:
    """Every ticket's plan from its account, in one statement (the column starts as '')."""
    return (
        f"UPDATE {TICKETS} t SET plan = a.plan FROM {ACCOUNTS} a "  # noqa: S608 - names from models
        "WHERE a.id = t.account_id AND t.plan <> a.plan"
    )


def backfill_with_triggers_off_sql() -> str:
    """The backfill with the tickets' own triggers off for its length, then on again (those
    that were on). It writes only the plan, which no trigger of the tickets reads but the row
    trigger here (which would set the same value): the rollups' update triggers count other
    columns, and their check for an update that changed none compares the statement's old and
    new rows by a nested loop, whose time grows with the square of the rows (107 s for 32,000
    tickets). Run where the tickets are locked against other writes (the migration, after
    creating the triggers), by the table's owner."""
    return f"""
DO $$
DECLARE
    names text[];
    trigger_name text;
BEGIN
    SELECT array_agg(tgname) INTO names FROM pg_trigger
    WHERE tgrelid = '{TICKETS}'::regclass AND NOT tgisinternal AND tgenabled <> 'D';
    FOREACH trigger_name IN ARRAY COALESCE(names, ARRAY[]::text[]) LOOP
        EXECUTE format('ALTER TABLE {TICKETS} DISABLE TRIGGER %I', trigger_name);
    END LOOP;
    {backfill_sql()};
    FOREACH trigger_name IN ARRAY COALESCE(names, ARRAY[]::text[]) LOOP
        EXECUTE format('ALTER TABLE {TICKETS} ENABLE TRIGGER %I', trigger_name);
    END LOOP;
END
$$;
"""  # noqa: S608 - table names from the models
