"""CSV and XLSX outputs written from the export query."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from metrics import selectors

from .columns import (
    BOM,
    PROGRESS_EVERY,
    XLSX_MAX_ROWS,
    ExportError,
    ExportOptions,
    export_queryset,
    headers,
    property_keys,
)
from .sql import copy_csv_chunks, xlsx_rows

logger = logging.getLogger(__name__)

# --- Outputs --------------------------------------------------------------------------------


def csv_chunks(
    filters: selectors.Filters, options: ExportOptions, counter: list | None = None
) -> Iterator[bytes]:
    """The whole CSV file as byte chunks: BOM if asked, header, then every row."""
    queryset = export_queryset(filters, options.quarantined)
    keys = property_keys(queryset)
    head = io.StringIO()
    # COPY ends lines with LF; the header line too.
    csv.writer(head, delimiter=options.delimiter, lineterminator="\n").writerow(headers(keys))
    yield (BOM if options.excel else b"") + head.getvalue().encode()
    yield from copy_csv_chunks(queryset, keys, options, counter)


def _xlsx_cell(value):
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def write_xlsx(
    filters: selectors.Filters,
    options: ExportOptions,
    target,
    progress=None,
) -> int:
    """Write the XLSX file to `target` (a path or binary file); returns the row count.

    openpyxl's write-only mode streams rows to a temporary file, so memory stays flat.
    """
    queryset = export_queryset(filters, options.quarantined)
    keys = property_keys(queryset)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="Responses")
    sheet.append(headers(keys))
    count = 0
    for row in xlsx_rows(queryset, keys, options):
        sheet.append([_xlsx_cell(value) for value in row])
        count += 1
        if count > XLSX_MAX_ROWS:
            raise ExportError(_("Too many rows for one spreadsheet; export CSV instead."))
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    workbook.save(target)
    return count


def count_rows(filters: selectors.Filters, options: ExportOptions | None = None) -> int:
    return export_queryset(filters, options.quarantined if options else "exclude").count()
