"""CSV import of daily usage: validate every row, then upsert all or nothing.

Columns: account (external id), day (YYYY-MM-DD), metric, value. Each row is checked with the
rules of `POST /api/v1/usage`; an account, metric and day may appear once per file. Every bad
row is listed with its line number and nothing is written; importing a file again changes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _

from accounts.contact_rows import decimal_text
from accounts.imports import CHUNK, ImportResult, RowError, read_rows

from . import usage
from .api_tickets import unknown_account_errors
from .api_usage import UsageInSerializer
from .ticket_imports import check_header, reasons

REQUIRED = ("account", "day", "metric", "value")


def import_usage(
    *,
    source,
    actor=None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate a CSV of daily usage values, then upsert them all, or nothing if any row is
    bad. Idempotent: importing the same file twice changes nothing the second time."""
    header, rows = read_rows(source)
    check_header(header, REQUIRED, ())
    result = ImportResult(dry_run=dry_run)
    inputs: list[usage.UsageInput] = []
    lines: list[int] = []
    seen: dict[tuple, int] = {}
    for line, row in rows:
        result.rows += 1
        if progress and result.rows % CHUNK == 0:
            progress(result.rows)
        if "__error__" in row:
            result.errors.append(RowError(line, row["__error__"]))
            continue
        data = {name: value for name, value in row.items() if value}
        if "value" in data:
            data["value"] = decimal_text(data["value"])
        serializer = UsageInSerializer(data=data)
        if not serializer.is_valid():
            result.errors.append(RowError(line, reasons(serializer.errors)))
            continue
        value = serializer.to_input()
        key = (value.account, value.metric, value.day)
        if key in seen:
            result.errors.append(
                RowError(
                    line,
                    _("%(account)s, %(metric)s on %(day)s already appears on line %(other)s.")
                    % {
                        "account": value.account,
                        "metric": value.metric,
                        "day": value.day.isoformat(),
                        "other": seen[key],
                    },
                )
            )
            continue
        seen[key] = line
        inputs.append(value)
        lines.append(line)
    for index, errors in unknown_account_errors([value.account for value in inputs]).items():
        result.errors.append(RowError(lines[index], reasons(errors)))
    if result.errors:
        result.errors.sort(key=lambda error: error.line)
        return result
    written = usage.record_usage(records=inputs, dry_run=dry_run)
    result.counts = {
        "values_created": written.created,
        "values_updated": written.updated,
        "values_unchanged": written.unchanged,
        "accounts_created": written.accounts_created,
    }
    result.applied = not dry_run
    return result
