"""Reading the CSV files every import takes, and the shape of an import's result.

Files are read as a stream, one physical line at a time, so a million-row file costs the memory
of one row, not of the file; every import validates all rows, lists every problem of every bad
row (line number and reasons), and writes nothing when there is one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import File
from django.db import connection, transaction
from django.utils.translation import gettext as _

from .models import Account

CHUNK = 1_000
# Progress is reported every this many rows (the command prints it, a job stores it).
PROGRESS_EVERY = 10_000


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, header, size); nothing was written."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return _("line %(line)s: %(reason)s") % {"line": self.line, "reason": self.reason}


def row_error(line: int, reasons: list[str]) -> RowError:
    """One error per bad row, naming every problem found in it."""
    return RowError(line, "; ".join(reasons))


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


class _Lines:
    """Decoded physical lines of a binary stream, counting them, so a byte that is not UTF-8
    is reported on its own line."""

    def __init__(self, stream: Iterable[bytes]):
        self.stream = iter(stream)
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = next(self.stream)
        self.number += 1
        if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportFileError(
                _("The file is not UTF-8 (first bad byte on line %(line)s). Save it as CSV UTF-8.")
                % {"line": self.number}
            ) from None


def _binary_stream(source) -> Iterable[bytes]:
    """Lines of bytes, read in chunks; "\n", "\r\n" and a lone "\r" (old spreadsheets) all end
    a line."""
    if isinstance(source, str):
        source = io.BytesIO(source.encode("utf-8"))
    elif isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(source)
    return source if isinstance(source, File) else File(source)


def read_rows(source, *, max_rows: int | None = None) -> tuple[list[str], Iterator]:
    """(header, iterator of (line number, {column: value})) from bytes, str or a binary file.

    UTF-8 with or without a byte-order mark; `,` or `;` between cells (Excel in many locales
    writes `;`). Header names are case-insensitive. Blank rows are skipped. The file is read
    as the iterator is consumed.
    """
    lines = _Lines(_binary_stream(source))
    first_line = next(lines, "")
    while not first_line.strip():
        following = next(lines, None)
        if following is None:
            raise ImportFileError(_("The file is empty."))
        first_line = following
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","

    def with_first() -> Iterator[str]:
        yield first_line
        yield from lines

    reader = csv.reader(with_first(), delimiter=delimiter)
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
    width = len(header)

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        count = 0
        line = lines.number + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(
                    _("Line %(line)s cannot be read: %(error)s") % {"line": line, "error": exc}
                ) from None
            start, line = line, lines.number + 1
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            if count > limit:
                raise ImportFileError(
                    _("The file has more than %(limit)s rows; split it.") % {"limit": f"{limit:,}"}
                )
            if len(cells) != width:
                yield (
                    start,
                    {
                        "__error__": _("%(found)s cells where the header has %(expected)s.")
                        % {"found": len(cells), "expected": width}
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


def readable_rows(
    rows: Iterable[tuple[int, dict]],
    result: ImportResult,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, dict]]:
    """The rows of a file, counted (with `progress` every PROGRESS_EVERY rows), without the
    ones the reader could not read, whose error is recorded: what each import checks."""
    for line, row in rows:
        result.rows += 1
        if progress and result.rows % PROGRESS_EVERY == 0:
            progress(result.rows)
        if "__error__" in row:
            result.errors.append(RowError(line, row["__error__"]))
            continue
        yield line, row


@dataclass(frozen=True)
class DefaultColumns:
    """The NOT NULL columns an import's INSERT does not set itself, with the model's defaults:
    `names` and `placeholders` to append to its column and value lists (each ", ..." or empty),
    `values` for the placeholders. A column added later with a default needs no change."""

    names: str
    placeholders: str
    values: list


def column_defaults(model, given: set[str]) -> DefaultColumns:
    names, values = [], []
    for model_field in model._meta.concrete_fields:
        if model_field.column in given or model_field.primary_key or model_field.null:
            continue
        names.append(f", {connection.ops.quote_name(model_field.column)}")
        values.append(model_field.get_db_prep_save(model_field.get_default(), connection))
    return DefaultColumns("".join(names), ", %s" * len(values), values)


def create_accounts(cursor, external_ids: str, params: list | tuple = (), *, now) -> int:
    """Create, as the API does for an unknown account (named after its id, every other field
    its default), the accounts whose ids the query `external_ids` selects (one text column,
    in the order to create them) and that do not exist yet; returns how many were created."""
    extra = column_defaults(Account, {"external_id", "name", "created_at", "updated_at"})
    cursor.execute(
        # Only column names of the model, placeholders and the caller's query are formatted in.
        f"INSERT INTO accounts_account (external_id, name, created_at, updated_at{extra.names}) "  # noqa: S608
        f"SELECT n.external_id, n.external_id, %s, %s{extra.placeholders} "
        f"FROM ({external_ids}) AS n (external_id) WHERE NOT EXISTS (SELECT 1 FROM "
        "accounts_account a WHERE a.external_id = n.external_id) "
        "ON CONFLICT (external_id) DO NOTHING",
        [now, now, *extra.values, *params],
    )
    return cursor.rowcount


def stage_then_apply(
    result: ImportResult, counts: dict, *, stage, apply, progress, dry_run
) -> bool:
    """The steps every staged import takes inside its one transaction: `stage()` checks and
    copies every row, then with any bad row nothing is written; else `apply()` runs the
    set-based writes, filling `counts`, and a dry run (a preview that ran every write) is rolled
    back. True when the writes are kept."""
    stage()
    if progress:
        progress(result.rows)
    if result.errors:
        transaction.set_rollback(True)
        return False
    apply()
    result.counts = counts
    if dry_run:
        transaction.set_rollback(True)
        return False
    result.applied = True
    return True
