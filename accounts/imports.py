"""CSV imports of accounts and contacts: validate everything, then apply all or nothing.

One file format serves both: a row with an `email` upserts a contact (and its account when the
row has an `external_id`); a row with only an `external_id` upserts an account. Empty cells
leave existing values alone, so a partial file (say, just `external_id,mrr`) updates MRR only.

Every bad row is reported with its line number and all its problems; if there is one, nothing
is written. A dry run reports the same errors and what would be created or updated, and writes
nothing.

Built for migrations of a million rows: each row is checked in Python as the file streams in
(accounts/contact_rows.py) and its values are streamed with COPY into two temporary tables
(contact rows, account rows) inside the import's one transaction; the checks across rows
(an email twice, an account with two different plans, a Stripe customer given twice) and the
writes are then a handful of set-based statements. Memory stays flat; a bad file, a failure
or a dry run rolls back whole.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg.types.json import Jsonb

from .audit import record_audit
from .contact_rows import (
    ACCOUNT_FIELDS,
    KNOWN_COLUMNS,
    PROPERTY_PREFIX,
    clean_row,
    owners,
)
from .csv_files import (
    CHUNK,
    ImportFileError,
    ImportResult,
    RowError,
    column_defaults,
    escape_formula,
    read_rows,
    readable_rows,
    row_error,
    stage_then_apply,
    unescape_formula,
)
from .import_jobs import is_big, run_import_job, start_import_job, sweep_import_jobs
from .models import Account, AuditLog, Contact
from .signals import BILLING_FIELDS, announce_billing_changes, billing_change

__all__ = [
    "CHUNK",
    "ImportFileError",
    "ImportResult",
    "RowError",
    "escape_formula",
    "import_contacts",
    "is_big",
    "read_rows",
    "run_import_job",
    "start_import_job",
    "sweep_import_jobs",
    "unescape_formula",
]

_ACCOUNT_TYPES = {
    "name": "text",
    "plan": "text",
    "segment": "text",
    "region": "text",
    "status": "text",
    "owner_id": "bigint",
    "mrr": "numeric(14, 2)",
    "currency": "text",
    "start_date": "date",
    "renewal_date": "date",
    "stripe_customer_id": "text",
    "seats": "integer",
}
# An account named on several rows: each field takes its value from the first row giving one.
_FIRST_GIVEN = ", ".join(
    f"(array_agg(account_{name} ORDER BY line) FILTER (WHERE account_{name} IS NOT NULL))[1] "
    f"AS {name}"
    for name in ACCOUNT_FIELDS
)


# --- Staging --------------------------------------------------------------------------------


def _stage(cursor, rows, result: ImportResult, progress) -> None:
    """Check every row and COPY the good ones to the staging table, one row per line: the
    contact's columns (email NULL for an account-only row) and the account's, `account_`
    prefixed (NULL where the cell was empty)."""
    account_columns = ", ".join(f"account_{name} {_ACCOUNT_TYPES[name]}" for name in ACCOUNT_FIELDS)
    cursor.execute("DROP TABLE IF EXISTS import_contact_rows")
    cursor.execute(
        "CREATE TEMPORARY TABLE import_contact_rows (line integer NOT NULL, email text, "
        "name text, language text, properties jsonb, external_id text, "
        f"{account_columns}, contact_id bigint, account_id bigint) ON COMMIT DROP"
    )
    names = ", ".join(f"account_{name}" for name in ACCOUNT_FIELDS)
    owner_ids = owners()
    with cursor.cursor.copy(
        "COPY import_contact_rows (line, email, name, language, properties, external_id, "
        f"{names}) FROM STDIN"
    ) as copy:
        for line, row in readable_rows(rows, result, progress):
            reasons, contact, account, properties = clean_row(row, owner_ids)
            if reasons:
                result.errors.append(row_error(line, reasons))
                continue
            copy.write_row(
                (
                    line,
                    contact.get("email"),
                    contact.get("name"),
                    contact.get("language"),
                    Jsonb(properties) if properties else None,
                    account.get("external_id"),
                    *(account.get(name) for name in ACCOUNT_FIELDS),
                )
            )


def _check_across_rows(cursor, result: ImportResult) -> None:
    """The checks that need every row: an email twice, an account given different values on
    two rows, a Stripe customer given to two accounts or already another account's."""
    cursor.execute(
        "SELECT line, email, first_line FROM (SELECT line, email, min(line) OVER "
        "(PARTITION BY lower(email)) AS first_line FROM import_contact_rows "
        "WHERE email IS NOT NULL) AS seen WHERE line <> first_line"
    )
    for line, email, first_line in cursor.fetchall():
        result.errors.append(
            RowError(
                line,
                _("%(email)s already appears on line %(other)s.")
                % {"email": email, "other": first_line},
            )
        )
    differs = ", ".join(
        f"CASE WHEN r.account_{name} IS NOT NULL AND r.account_{name} <> f.{name} THEN '{name}' END"
        for name in ACCOUNT_FIELDS
    )
    cursor.execute(
        "SELECT line, external_id, first_line, conflicts FROM ("  # noqa: S608 (column names of constants only)
        "SELECT r.line, r.external_id, f.first_line, "
        f"array_remove(ARRAY[{differs}], NULL) AS conflicts "
        "FROM import_contact_rows r JOIN ("
        f"SELECT external_id, min(line) AS first_line, {_FIRST_GIVEN} "
        "FROM import_contact_rows WHERE external_id IS NOT NULL GROUP BY external_id"
        ") AS f USING (external_id)) AS checked WHERE conflicts <> '{}'"
    )
    for line, external_id, first_line, conflicts in cursor.fetchall():
        result.errors.append(
            RowError(
                line,
                _("Account %(id)s has other %(columns)s on line %(other)s.")
                % {"id": external_id, "columns": ", ".join(sorted(conflicts)), "other": first_line},
            )
        )
    _check_stripe_customers(cursor, result)
    result.errors.sort(key=lambda error: error.line)


def _check_stripe_customers(cursor, result: ImportResult) -> None:
    """A Stripe customer id maps to one account: not twice in the file, not another's."""
    cursor.execute(
        "SELECT line, customer, other FROM (SELECT min(line) AS line, account_stripe_customer_id "
        "AS customer, external_id, first_value(external_id) OVER (PARTITION BY "
        "account_stripe_customer_id ORDER BY min(line)) AS other FROM import_contact_rows "
        "WHERE account_stripe_customer_id IS NOT NULL GROUP BY 2, 3) AS given "
        "WHERE external_id <> other"
    )
    for line, customer, other in cursor.fetchall():
        result.errors.append(
            RowError(
                line,
                _("Stripe customer %(customer)s is also given to account %(other)s.")
                % {"customer": customer, "other": other},
            )
        )
    cursor.execute(
        "SELECT min(r.line), r.account_stripe_customer_id, a.external_id "
        "FROM import_contact_rows r JOIN accounts_account a "
        "ON a.stripe_customer_id = r.account_stripe_customer_id "
        "WHERE a.external_id <> r.external_id GROUP BY 2, 3"
    )
    for line, customer, holder in cursor.fetchall():
        result.errors.append(
            RowError(
                line,
                _("Stripe customer %(customer)s already belongs to account %(other)s.")
                % {"customer": customer, "other": holder},
            )
        )


# --- Applying -------------------------------------------------------------------------------


def _apply_accounts(cursor, counts: dict, now) -> list[tuple[int, list[str]]]:
    """Create and update the accounts; returns (account id, billing fields written) pairs."""
    cursor.execute("DROP TABLE IF EXISTS import_accounts")
    cursor.execute(
        "CREATE TEMPORARY TABLE import_accounts ON COMMIT DROP AS "  # noqa: S608 (column names of constants only)
        f"SELECT external_id, min(line) AS line, {_FIRST_GIVEN}, NULL::bigint AS account_id, "
        "NULL::text[] AS changed FROM import_contact_rows WHERE external_id IS NOT NULL "
        "GROUP BY external_id"
    )
    given = ", ".join(
        f"CASE WHEN m.{name} IS NOT NULL AND m.{name} IS DISTINCT FROM a.{name} THEN '{name}' END"
        for name in ACCOUNT_FIELDS
    )
    cursor.execute(
        f"UPDATE import_accounts m SET account_id = a.id, changed = array_remove(ARRAY[{given}], "  # noqa: S608 (column names of constants only)
        "NULL) FROM accounts_account a WHERE a.external_id = m.external_id"
    )
    assignments = ", ".join(f"{name} = COALESCE(m.{name}, a.{name})" for name in ACCOUNT_FIELDS)
    cursor.execute(
        f"UPDATE accounts_account a SET {assignments}, updated_at = %s FROM import_accounts m "  # noqa: S608 (column names of constants only)
        "WHERE m.account_id = a.id AND m.changed <> '{}'",
        [now],
    )
    counts["accounts_updated"] = cursor.rowcount
    cursor.execute("SELECT count(*) FROM import_accounts WHERE changed = '{}'")
    counts["accounts_unchanged"] = cursor.fetchone()[0]
    # New accounts: the fields given, the model's defaults for the others; the name defaults
    # to the external id.
    fields = {field.name: field for field in Account._meta.concrete_fields}
    values = [
        fields["owner" if name == "owner_id" else name].get_db_prep_save(
            fields["owner" if name == "owner_id" else name].get_default(), connection
        )
        for name in ACCOUNT_FIELDS
    ]
    chosen = ", ".join(
        "COALESCE(m.name, m.external_id)" if name == "name" else f"COALESCE(m.{name}, %s)"
        for name in ACCOUNT_FIELDS
    )
    values = [v for name, v in zip(ACCOUNT_FIELDS, values, strict=True) if name != "name"]
    extra = column_defaults(Account, {"external_id", "created_at", "updated_at", *ACCOUNT_FIELDS})
    cursor.execute(
        f"INSERT INTO accounts_account (external_id, {', '.join(ACCOUNT_FIELDS)}, "  # noqa: S608
        f"created_at, updated_at{extra.names}) SELECT m.external_id, {chosen}, %s, %s"
        f"{extra.placeholders} FROM import_accounts m WHERE m.account_id IS NULL "
        "ORDER BY m.line",
        [*values, now, now, *extra.values],
    )
    counts["accounts_created"] = cursor.rowcount
    # A new account given an MRR starts its ledger with the fields given.
    given_new = ", ".join(
        f"CASE WHEN m.{name} IS NOT NULL THEN '{name}' END" for name in ACCOUNT_FIELDS
    )
    cursor.execute(
        f"UPDATE import_accounts m SET account_id = a.id, changed = CASE WHEN m.mrr IS NOT NULL "  # noqa: S608 (column names of constants only)
        f"THEN array_remove(ARRAY[{given_new}], NULL) ELSE '{{}}' END "
        "FROM accounts_account a WHERE a.external_id = m.external_id AND m.account_id IS NULL"
    )
    cursor.execute(
        "SELECT account_id, changed FROM import_accounts WHERE changed && %s ORDER BY line",
        [sorted(BILLING_FIELDS)],
    )
    return cursor.fetchall()


def _apply_contacts(cursor, counts: dict, now) -> None:
    cursor.execute(
        "UPDATE import_contact_rows r SET account_id = m.account_id FROM import_accounts m "
        "WHERE m.external_id = r.external_id"
    )
    cursor.execute(
        "UPDATE import_contact_rows r SET contact_id = c.id FROM accounts_contact c "
        "WHERE r.email IS NOT NULL AND upper(c.email) = upper(r.email)"
    )
    cursor.execute("ANALYZE import_contact_rows")
    cursor.execute(
        "UPDATE accounts_contact c SET name = COALESCE(r.name, c.name), "
        "language = COALESCE(r.language, c.language), "
        "properties = c.properties || COALESCE(r.properties, '{}'), "
        "account_id = COALESCE(r.account_id, c.account_id), updated_at = %s "
        "FROM import_contact_rows r WHERE r.contact_id = c.id AND ("
        "COALESCE(r.name, c.name) <> c.name "
        "OR COALESCE(r.language, c.language) <> c.language "
        "OR c.properties || COALESCE(r.properties, '{}') <> c.properties "
        "OR COALESCE(r.account_id, c.account_id) IS DISTINCT FROM c.account_id)",
        [now],
    )
    counts["contacts_updated"] = cursor.rowcount
    cursor.execute("SELECT count(*) FROM import_contact_rows WHERE contact_id IS NOT NULL")
    counts["contacts_unchanged"] = cursor.fetchone()[0] - counts["contacts_updated"]
    extra = column_defaults(
        Contact, {"email", "name", "language", "properties", "created_at", "updated_at"}
    )
    cursor.execute(
        "INSERT INTO accounts_contact (email, name, language, properties, account_id, "  # noqa: S608
        f"created_at, updated_at{extra.names}) SELECT r.email, COALESCE(r.name, ''), "
        "COALESCE(r.language, ''), COALESCE(r.properties, '{}'), r.account_id, %s, %s"
        f"{extra.placeholders} FROM import_contact_rows r WHERE r.email IS NOT NULL "
        "AND r.contact_id IS NULL ORDER BY r.line",
        [now, now, *extra.values],
    )
    counts["contacts_created"] = cursor.rowcount


def _announce_billing(changes: list[tuple[int, list[str]]], now) -> None:
    """The subscription ledger appends its events in this same transaction."""
    for start in range(0, len(changes), CHUNK):
        chunk = dict(changes[start : start + CHUNK])
        accounts = Account.objects.filter(pk__in=list(chunk)).order_by("pk")
        announce_billing_changes(
            changes=[billing_change(account, chunk[account.pk]) for account in accounts],
            source="contact_import",
            at=now,
        )


def import_contacts(
    *, source, actor=None, dry_run: bool = False, progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Validate a CSV of accounts and contacts, then upsert them all, or nothing if any row is
    bad. Idempotent: importing the same file twice changes nothing the second time."""
    header, rows = read_rows(source, max_rows=settings.IMPORT_MAX_ROWS_STAGED)
    unknown = [
        name
        for name in header
        if name not in KNOWN_COLUMNS and not name.startswith(PROPERTY_PREFIX)
    ]
    if unknown:
        raise ImportFileError(
            _("Unknown columns: %(columns)s. Known: %(known)s, and property_<name>.")
            % {"columns": ", ".join(unknown), "known": ", ".join(KNOWN_COLUMNS)}
        )
    if "email" not in header and "external_id" not in header:
        raise ImportFileError(
            _("The header needs an email column, an external_id column, or both.")
        )
    result = ImportResult(dry_run=dry_run)
    counts = dict.fromkeys(
        (
            "accounts_created",
            "accounts_updated",
            "accounts_unchanged",
            "contacts_created",
            "contacts_updated",
            "contacts_unchanged",
        ),
        0,
    )
    now = timezone.now()
    try:
        with transaction.atomic(), connection.cursor() as cursor:

            def stage():
                _stage(cursor, rows, result, progress)
                _check_across_rows(cursor, result)

            def apply():
                billing = _apply_accounts(cursor, counts, now)
                _apply_contacts(cursor, counts, now)
                _announce_billing(billing, now)
                cursor.execute("DROP TABLE import_contact_rows, import_accounts")

            kept = stage_then_apply(
                result, counts, stage=stage, apply=apply, progress=progress, dry_run=dry_run
            )
            if not kept:
                return result
    except IntegrityError as exc:
        # A concurrent edit (say, the same email added meanwhile): all was rolled back.
        raise ImportFileError(
            _("The data changed during the import and nothing was written; try again. (%(e)s)")
            % {"e": exc}
        ) from None
    record_audit(
        actor=actor,
        action=AuditLog.Action.IMPORT_CONTACTS,
        details={"counts": result.counts},
        row_count=result.rows,
    )
    return result
