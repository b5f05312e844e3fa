"""The SQL that installs and removes a family of statement-level triggers on one table, one
plpgsql function per event (`<prefix>_<event>`), as the rollups and ledger months use."""

from __future__ import annotations


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
