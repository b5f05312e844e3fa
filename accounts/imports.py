"""CSV imports of accounts and contacts: validate everything, then apply all or nothing.

One file format serves both: a row with an `email` upserts a contact (and its account when the
row has an `external_id`); a row with only an `external_id` upserts an account. Empty cells
leave existing values alone, so a partial file (say, just `external_id,mrr`) updates MRR only.

Every bad row is reported with its line number and reason; if there is one, nothing is written.
A dry run reports the same errors and what would be created or updated, and writes nothing.

Writes go through bulk_create / bulk_update inside one transaction: a 100,000-row file is a few
dozen statements, not 200,000 round trips, and it lands entirely or not at all.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext as _

from . import jobs
from .audit import record_audit
from .models import (
    CURRENCY_CODES,
    EXTERNAL_ID_CHARACTERS,
    Account,
    AuditLog,
    Contact,
    ImportJob,
    validate_external_id,
)
from .signals import BILLING_FIELDS, announce_billing_changes, billing_change

logger = logging.getLogger(__name__)

CONTACT_COLUMNS = ("email", "name", "language")
ACCOUNT_COLUMNS = (
    "external_id",
    "account_name",
    "plan",
    "segment",
    "region",
    "status",
    "owner",
    "mrr",
    "currency",
    "start_date",
    "renewal_date",
    "stripe_customer_id",
    "seats",
)
KNOWN_COLUMNS = CONTACT_COLUMNS + ACCOUNT_COLUMNS
PROPERTY_PREFIX = "property_"
LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}
CURRENCIES = {code for code, _name in CURRENCY_CODES}
STATUSES = set(Account.Status.values)
MAX_LENGTHS = {
    "email": 254,
    "name": 200,
    "external_id": 100,
    "account_name": 200,
    "plan": 100,
    "segment": 100,
    "region": 100,
    "stripe_customer_id": 255,
}
CHUNK = 1_000


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, header, size); nothing was written."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return _("line %(line)s: %(reason)s") % {"line": self.line, "reason": self.reason}


@dataclass
class ImportResult:
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


# --- Reading --------------------------------------------------------------------------------

# Exports prefix a cell that a spreadsheet would run as a formula with "'"; imports take exactly
# that prefix off, so an export imported again is what was exported (metrics.exports).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    """The export's escape: "'" before a risky first character, and before an apostrophe that
    is followed by one (or by another apostrophe), so that unescaping is exact."""
    if text.startswith(FORMULA_PREFIXES) or (
        text[:1] == "'" and text[1:2] != "" and text[1:2] in (*FORMULA_PREFIXES, "'")
    ):
        return "'" + text
    return text


def unescape_formula(text: str) -> str:
    """Undo `escape_formula`, and nothing else."""
    if text[:1] == "'" and text[1:2] != "" and text[1:2] in (*FORMULA_PREFIXES, "'"):
        return text[1:]
    return text


def read_rows(source, *, max_rows: int | None = None) -> tuple[list[str], Iterator]:
    """(header, iterator of (line number, {column: value})) from bytes, str or a binary file.

    UTF-8 with or without a byte-order mark; `,` or `;` between cells (Excel in many locales
    writes `;`). Header names are case-insensitive. Blank rows are skipped.
    """
    if hasattr(source, "read"):
        source = source.read()
    if isinstance(source, bytes):
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = source[: exc.start].count(b"\n") + 1
            raise ImportFileError(
                _("The file is not UTF-8 (first bad byte on line %(line)s). Save it as CSV UTF-8.")
                % {"line": line}
            ) from None
    else:
        text = source.lstrip("\ufeff")
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except csv.Error as exc:
        raise ImportFileError(
            _("The header line cannot be read: %(error)s") % {"error": exc}
        ) from None
    duplicates = sorted({name for name in header if header.count(name) > 1 and name})
    if duplicates:
        raise ImportFileError(
            _("Columns appear twice: %(columns)s.") % {"columns": ", ".join(duplicates)}
        )
    limit = max_rows or settings.IMPORT_MAX_ROWS

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        count = 0
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(
                    _("Line %(line)s cannot be read: %(error)s") % {"line": line, "error": exc}
                ) from None
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            if count > limit:
                raise ImportFileError(
                    _("The file has more than %(limit)s rows; split it.") % {"limit": f"{limit:,}"}
                )
            if len(cells) != len(header):
                yield (
                    start,
                    {
                        "__error__": _("%(found)s cells where the header has %(expected)s.")
                        % {"found": len(cells), "expected": len(header)}
                    },
                )
                continue
            if any("\x00" in cell for cell in cells):
                # PostgreSQL stores no NUL character in text.
                yield start, {"__error__": _("A cell contains a NUL character.")}
                continue
            yield (
                start,
                {
                    name: unescape_formula(cell.strip())
                    for name, cell in zip(header, cells, strict=True)
                },
            )

    return header, rows()


# --- Validation -----------------------------------------------------------------------------


def _owners() -> dict[str, int]:
    users = get_user_model().objects.filter(is_staff=True, is_active=True)
    found: dict[str, int] = {}
    for pk, username, email in users.values_list("pk", "username", "email"):
        found[username.lower()] = pk
        if email:
            found.setdefault(email.lower(), pk)
    return found


def _decimal_text(value: str) -> str:
    """Accept 1234.56, 1234,56, 1,234.56 and 1.234,56: the last separator is the decimal one."""
    text = value.replace(" ", "").replace("\u00a0", "")
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            return text.replace(".", "").replace(",", ".")
        return text.replace(",", "")
    return text.replace(",", ".")


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(_("%(value)r is not a date as YYYY-MM-DD.") % {"value": value}) from None


def _clean_row(row: dict[str, str], owners: dict[str, int]) -> tuple[dict, dict, dict]:
    """(contact fields, account fields, properties) with only the non-empty cells; ValueError
    with the reason when a cell is invalid."""
    for name, limit in MAX_LENGTHS.items():
        if len(row.get(name, "")) > limit:
            raise ValueError(
                _("%(column)s is longer than %(limit)s characters.")
                % {"column": name, "limit": limit}
            )
    contact: dict = {}
    account: dict = {}
    email = row.get("email", "")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ValueError(
                _("%(value)r is not a valid email address.") % {"value": email}
            ) from None
        contact["email"] = email
    if row.get("name"):
        contact["name"] = row["name"]
    language = row.get("language", "").lower().replace("_", "-")
    if language:
        if language not in LANGUAGE_CODES:
            raise ValueError(
                _("Unknown language %(value)r; use one of %(choices)s.")
                % {"value": row["language"], "choices": ", ".join(sorted(LANGUAGE_CODES))}
            )
        contact["language"] = language
    if row.get("external_id"):
        try:
            validate_external_id(row["external_id"])
        except ValidationError:
            raise ValueError(
                _("external_id %(value)r: %(rule)s")
                % {"value": row["external_id"], "rule": EXTERNAL_ID_CHARACTERS}
            ) from None
        account["external_id"] = row["external_id"]
    for column, attribute in (
        ("account_name", "name"),
        ("plan", "plan"),
        ("segment", "segment"),
        ("region", "region"),
    ):
        if row.get(column):
            account[attribute] = row[column]
    status = row.get("status", "").lower()
    if status:
        if status not in STATUSES:
            raise ValueError(
                _("Unknown status %(value)r; use one of %(choices)s.")
                % {"value": row["status"], "choices": ", ".join(sorted(STATUSES))}
            )
        account["status"] = status
    owner = row.get("owner", "").lower()
    if owner:
        if owner not in owners:
            raise ValueError(
                _("No active staff user %(value)r to own the account.") % {"value": row["owner"]}
            )
        account["owner_id"] = owners[owner]
    mrr = row.get("mrr", "")
    if mrr:
        try:
            value = Decimal(_decimal_text(mrr))
        except InvalidOperation:
            raise ValueError(_("MRR %(value)r is not a number.") % {"value": mrr}) from None
        if not value.is_finite() or value < 0:
            raise ValueError(_("MRR must be zero or more."))
        # Magnitude first: quantizing 1e999 or a 29-digit number overflows Decimal's precision.
        if value >= Decimal("1e12") or value != value.quantize(Decimal("0.01")):
            raise ValueError(_("MRR %(value)r has too many digits.") % {"value": mrr})
        account["mrr"] = value.quantize(Decimal("0.01"))
    currency = row.get("currency", "").upper()
    if currency:
        if currency not in CURRENCIES:
            raise ValueError(_("Unknown currency %(value)r.") % {"value": row["currency"]})
        account["currency"] = currency
    for column in ("start_date", "renewal_date"):
        if row.get(column):
            account[column] = _parse_date(row[column])
    if row.get("stripe_customer_id"):
        account["stripe_customer_id"] = row["stripe_customer_id"]
    seats = row.get("seats", "")
    if seats:
        if not seats.isdigit() or int(seats) > 2**31 - 1:
            raise ValueError(
                _("Seats %(value)r is not a whole number of 0 or more.") % {"value": seats}
            )
        account["seats"] = int(seats)
    properties = {
        name[len(PROPERTY_PREFIX) :]: value
        for name, value in row.items()
        if name.startswith(PROPERTY_PREFIX) and value
    }
    if not email and not account.get("external_id"):
        raise ValueError(_("A row needs an email (a contact) or an external_id (an account)."))
    if account and "external_id" not in account:
        raise ValueError(_("Account columns need the account's external_id."))
    if properties and not email:
        raise ValueError(_("Property columns belong to contacts; this row has no email."))
    return contact, account, properties


@dataclass
class _Plan:
    accounts: dict[str, dict] = field(default_factory=dict)  # external_id -> fields
    account_lines: dict[str, tuple[int, dict]] = field(default_factory=dict)
    contacts: dict[str, tuple[int, dict, dict, str | None]] = field(default_factory=dict)


def _validate(rows, result: ImportResult, progress: Callable | None) -> _Plan:
    plan = _Plan()
    owners = _owners()
    for line, row in rows:
        result.rows += 1
        if progress and result.rows % CHUNK == 0:
            progress(result.rows)
        if "__error__" in row:
            result.errors.append(RowError(line, row["__error__"]))
            continue
        try:
            contact, account, properties = _clean_row(row, owners)
        except ValueError as exc:
            result.errors.append(RowError(line, str(exc)))
            continue
        external_id = account.get("external_id")
        if external_id:
            key = external_id
            seen = plan.account_lines.get(key)
            if seen:
                conflicts = sorted(
                    name
                    for name, value in account.items()
                    if name in seen[1] and seen[1][name] != value
                )
                if conflicts:
                    result.errors.append(
                        RowError(
                            line,
                            _("Account %(id)s has other %(columns)s on line %(other)s.")
                            % {
                                "id": external_id,
                                "columns": ", ".join(conflicts),
                                "other": seen[0],
                            },
                        )
                    )
                    continue
                merged = {**seen[1], **account}
                plan.account_lines[key] = (seen[0], merged)
            else:
                plan.account_lines[key] = (line, account)
        if contact.get("email"):
            email_key = contact["email"].lower()
            if email_key in plan.contacts:
                result.errors.append(
                    RowError(
                        line,
                        _("%(email)s already appears on line %(other)s.")
                        % {"email": contact["email"], "other": plan.contacts[email_key][0]},
                    )
                )
                continue
            plan.contacts[email_key] = (line, contact, properties, external_id)
    plan.accounts = {key: value for key, (_line, value) in plan.account_lines.items()}
    _check_stripe_customers(plan, result)
    return plan


def _check_stripe_customers(plan: _Plan, result: ImportResult) -> None:
    """A Stripe customer id maps to one account: not twice in the file, not another's."""
    wanted = {
        external_id: (line, fields["stripe_customer_id"])
        for external_id, (line, fields) in plan.account_lines.items()
        if fields.get("stripe_customer_id")
    }
    if not wanted:
        return
    seen: dict[str, str] = {}
    for external_id, (line, customer) in wanted.items():
        if customer in seen:
            result.errors.append(
                RowError(
                    line,
                    _("Stripe customer %(customer)s is also given to account %(other)s.")
                    % {"customer": customer, "other": seen[customer]},
                )
            )
        seen.setdefault(customer, external_id)
    holders = dict(
        Account.objects.filter(stripe_customer_id__in=list(seen)).values_list(
            "stripe_customer_id", "external_id"
        )
    )
    for external_id, (line, customer) in wanted.items():
        holder = holders.get(customer)
        if holder and holder != external_id:
            result.errors.append(
                RowError(
                    line,
                    _("Stripe customer %(customer)s already belongs to account %(other)s.")
                    % {"customer": customer, "other": holder},
                )
            )


# --- Applying -------------------------------------------------------------------------------


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _existing_accounts(external_ids: list[str]) -> dict[str, Account]:
    found: dict[str, Account] = {}
    for chunk in _chunks(external_ids):
        found.update({a.external_id: a for a in Account.objects.filter(external_id__in=chunk)})
    return found


def _existing_contacts(emails: list[str]) -> dict[str, Contact]:
    found: dict[str, Contact] = {}
    for chunk in _chunks(emails):
        # upper(email): the expression of the contacts' unique index.
        contacts = Contact.objects.alias(email_upper=Upper("email")).filter(
            email_upper__in=[email.upper() for email in chunk]
        )
        found.update({c.email.lower(): c for c in contacts})
    return found


def _changes(obj, fields: dict) -> dict:
    return {name: value for name, value in fields.items() if getattr(obj, name) != value}


def _apply(plan: _Plan, result: ImportResult, dry_run: bool) -> None:
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
    accounts = _existing_accounts(list(plan.accounts))
    new_accounts: list[Account] = []
    changed_accounts: list[Account] = []
    billing: list[tuple[Account, set[str]]] = []
    account_fields: set[str] = set()
    for external_id, fields in plan.accounts.items():
        account = accounts.get(external_id)
        if account is None:
            values = {"name": external_id, **fields}
            account = Account(**values, created_at=now, updated_at=now)
            new_accounts.append(account)
            accounts[external_id] = account
            counts["accounts_created"] += 1
            if "mrr" in fields:
                billing.append((account, set(fields)))
            continue
        changes = _changes(account, {k: v for k, v in fields.items() if k != "external_id"})
        if changes:
            for name, value in changes.items():
                setattr(account, name, value)
            account.updated_at = now
            account_fields.update(changes)
            changed_accounts.append(account)
            counts["accounts_updated"] += 1
            if BILLING_FIELDS & set(changes):
                billing.append((account, set(changes)))
        else:
            counts["accounts_unchanged"] += 1

    contacts = _existing_contacts(list(plan.contacts))
    new_contacts: list[tuple[Contact, str | None]] = []
    changed_contacts: list[Contact] = []
    relinked: list[Contact] = []
    contact_fields: set[str] = set()
    for email_key, (_line, fields, properties, external_id) in plan.contacts.items():
        contact = contacts.get(email_key)
        if contact is None:
            contact = Contact(
                email=fields["email"],
                name=fields.get("name", ""),
                language=fields.get("language", ""),
                properties=properties,
                created_at=now,
                updated_at=now,
            )
            new_contacts.append((contact, external_id))
            counts["contacts_created"] += 1
            continue
        wanted = {k: v for k, v in fields.items() if k != "email"}
        if properties:
            merged = {**contact.properties, **properties}
            if merged != contact.properties:
                wanted["properties"] = merged
        changes = _changes(contact, wanted)
        account = accounts.get(external_id) if external_id else None
        if account is not None and (account.pk is None or contact.account_id != account.pk):
            changes["account"] = account
            relinked.append(contact)
        if changes:
            for name, value in changes.items():
                setattr(contact, name, value)
            contact.updated_at = now
            contact_fields.update(changes)
            changed_contacts.append(contact)
            counts["contacts_updated"] += 1
        else:
            counts["contacts_unchanged"] += 1
    result.counts = counts
    if dry_run:
        return
    with transaction.atomic():
        # PostgreSQL returns the new ids (RETURNING), so the contacts below can point at them.
        Account.objects.bulk_create(new_accounts, batch_size=CHUNK)
        if changed_accounts:
            Account.objects.bulk_update(
                changed_accounts, [*account_fields, "updated_at"], batch_size=CHUNK
            )
        for contact, external_id in new_contacts:
            if external_id:
                contact.account = accounts[external_id]
        for contact in relinked:
            # Assigned before the new accounts had ids; assigning again copies the id.
            contact.account = contact.account
        Contact.objects.bulk_create([c for c, _e in new_contacts], batch_size=CHUNK)
        if changed_contacts:
            Contact.objects.bulk_update(
                changed_contacts, [*contact_fields, "updated_at"], batch_size=CHUNK
            )
        # The subscription ledger appends its events in this same transaction.
        announce_billing_changes(
            changes=[billing_change(account, changed) for account, changed in billing],
            source="contact_import",
            at=now,
        )
    result.applied = True


def import_contacts(
    *, source, actor=None, dry_run: bool = False, progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Validate a CSV of accounts and contacts, then upsert them all, or nothing if any row is
    bad. Idempotent: importing the same file twice changes nothing the second time."""
    header, rows = read_rows(source)
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
    plan = _validate(rows, result, progress)
    if progress:
        progress(result.rows)
    if result.errors:
        return result
    try:
        _apply(plan, result, dry_run)
    except IntegrityError as exc:
        # A concurrent edit (say, the same email added meanwhile): all was rolled back.
        raise ImportFileError(
            _("The data changed during the import and nothing was written; try again. (%(e)s)")
            % {"e": exc}
        ) from None
    if result.applied:
        record_audit(
            actor=actor,
            action=AuditLog.Action.IMPORT_CONTACTS,
            details={"counts": result.counts},
            row_count=result.rows,
        )
    return result


# --- Big files: run by a worker, progress kept in the database --------------------------------


def is_big(source: bytes) -> bool:
    """Files over IMPORT_SYNC_MAX_ROWS lines are imported by a worker, with a progress page."""
    return source.count(b"\n") > settings.IMPORT_SYNC_MAX_ROWS


def start_import_job(*, source: bytes, actor, dry_run: bool, task) -> ImportJob:
    """Store the upload and a job row, and hand the job to `task(job_id)` after commit."""
    upload = default_storage.save(f"imports/{uuid.uuid4().hex}.csv", ContentFile(source))
    job = ImportJob.objects.create(
        requested_by=actor,
        task=task.name,
        dry_run=dry_run,
        upload=upload,
        total_rows=max(source.count(b"\n") - 1, 0),
        next_attempt_at=jobs.lease_end(),
    )
    jobs.enqueue(task_name=task.name, job_id=job.pk)
    return job


def run_import_job(*, job_id, run: Callable) -> bool:
    """Run `run(source=..., actor=..., dry_run=..., progress=...)` on a job's upload, keeping its
    progress and result on the job; the upload is deleted afterwards. Idempotent: False when
    another worker has the job or it is finished."""
    if not isinstance(job_id, int) or not jobs.claim(ImportJob, job_id=job_id):
        # A message from before jobs were rows carries a hex id: nothing to run.
        return False
    job = ImportJob.objects.select_related("requested_by").get(pk=job_id)
    running = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING)

    def progress(rows: int) -> None:
        running.update(processed_rows=rows)

    try:
        with default_storage.open(job.upload, "rb") as handle:
            source = handle.read()
        result = run(source=source, actor=job.requested_by, dry_run=job.dry_run, progress=progress)
    except ImportFileError as exc:
        outcome, rows = {"file_error": str(exc)}, job.processed_rows
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        running.update(
            status=ImportJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        default_storage.delete(job.upload)
        raise
    else:
        rows = result.rows
        outcome = {
            "errors": [(error.line, error.reason) for error in result.errors[:1000]],
            "error_count": len(result.errors),
            "counts": result.counts,
            "applied": result.applied,
        }
    running.update(
        status=ImportJob.Status.DONE,
        processed_rows=rows,
        result=outcome,
        finished_at=timezone.now(),
    )
    default_storage.delete(job.upload)
    logger.info(
        "import job %s done: %s rows, %s bad, %s",
        job.pk,
        rows,
        outcome.get("error_count", 0),
        "applied" if outcome.get("applied") else "nothing written",
    )
    return True


def sweep_import_jobs() -> jobs.Sweep:
    """Hand lost import jobs to a worker again (accounts/jobs.py)."""
    result = jobs.Sweep()
    for task_name in (
        ImportJob.objects.filter(status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING])
        .values_list("task", flat=True)
        .distinct()
    ):
        one = jobs.sweep(ImportJob.objects.filter(task=task_name), task_name=task_name)
        result.requeued += one.requeued
        result.failed += one.failed
        result.handed += one.handed
    return result
