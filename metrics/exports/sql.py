"""The export's one query: cells formatted and escaped by PostgreSQL, streamed with COPY."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

from django.db import connections
from django.db.models import (
    Case,
    CharField,
    F,
    Func,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from surveys.models import Kind, Response
from surveys.scales import CATEGORY_CODES

from .columns import BASE_COLUMNS, ExportOptions

logger = logging.getLogger(__name__)

# --- XLSX rows ------------------------------------------------------------------------------


def _raw_rows(queryset: QuerySet[Response], keys: list[str]) -> Iterator[tuple]:
    columns = {
        f"c{i}": _Escape(F(lookup)) if kind == "text" else F(lookup)
        for i, (_name, lookup, kind) in enumerate(BASE_COLUMNS)
        if kind not in ("local", "arr")
    }
    for i, key in enumerate(keys):
        columns[f"p{i}"] = _Escape(KeyTextTransform(key, "invitation__properties"))
    values = queryset.annotate(**columns).values_list(*columns)
    return values.iterator(chunk_size=2_000)


def xlsx_rows(
    queryset: QuerySet[Response], keys: list[str], options: ExportOptions
) -> Iterator[list]:
    """Rows as lists of typed cells: numbers, naive datetimes, text escaped in SQL."""
    zone = options.zone
    utc = dt.UTC
    for raw in _raw_rows(queryset, keys):
        (
            public_id,
            slug,
            survey_name,
            kind,
            score,
            category,
            comment,
            reason,
            confirmed_via,
            answered_at,
            email,
            name,
            language,
            external_id,
            account_name,
            plan,
            segment,
            region,
            owner,
            status,
            mrr,
            currency,
            quarantined,
            suspected_bot,
            excluded,
        ) = raw[:25]
        yield [
            str(public_id),
            slug,
            survey_name,
            kind,
            score,
            CATEGORY_CODES[kind][category],
            comment,
            reason,
            confirmed_via,
            answered_at.astimezone(utc).replace(tzinfo=None, microsecond=0),
            answered_at.astimezone(zone).replace(tzinfo=None, microsecond=0),
            email,
            name,
            language or "",
            external_id,
            account_name,
            plan,
            segment,
            region,
            owner,
            status or "",
            "" if mrr is None else mrr,
            "" if mrr is None else mrr * 12,
            currency or "",
            "true" if quarantined else "false",
            "true" if suspected_bot else "false",
            "true" if excluded else "false",
            *raw[25:],
        ]


# --- PostgreSQL: COPY -----------------------------------------------------------------------


class _Escape(Func):
    """A text cell, '' for NULL, with a single quote before a leading `=`, `+`, `-`, `@`, tab or
    carriage return. A plain column is tested with ascii(); an expression with bound parameters
    (a JSON key) goes through regexp_replace, which names it once."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra):
        inner, params = compiler.compile(self.source_expressions[0])
        if params:
            pattern = "'^([-=+@\\t\\r]|''[-=+@\\t\\r''])'"
            return f"regexp_replace(COALESCE({inner}, ''), {pattern}, '''\\1')", params
        sql = (
            # ascii() reads the first character's code without building a substring.
            f"CASE WHEN ascii({inner}) IN (9, 13, 43, 45, 61, 64) OR (ascii({inner}) = 39 "
            f"AND ascii(substr({inner}, 2, 1)) IN (9, 13, 39, 43, 45, 61, 64)) "
            f"THEN '''' || {inner} ELSE COALESCE({inner}, '') END"
        )
        return sql, params


class _Seconds(Func):
    """Local wall-clock time, whole seconds, as `YYYY-MM-DD HH:MM:SS` (psycopg keeps the
    session's DateStyle ISO); cheaper than to_char."""

    template = "(date_trunc('second', %(expressions)s))::text"
    output_field = TextField()


def _at_zone(zone: str, expression) -> Func:
    return Func(Value(zone), expression, function="timezone", output_field=CharField())


def _sql_columns(keys: list[str], options: ExportOptions) -> dict:
    # Nested on category first: two or three comparisons a row instead of up to twelve.
    category = Case(
        *(
            When(
                category=code,
                then=Case(
                    *(
                        When(survey__kind=kind, then=Value(CATEGORY_CODES[kind][code]))
                        for kind in (Kind.NPS, Kind.CSAT, Kind.CES)
                    ),
                    default=Value(CATEGORY_CODES[Kind.CES1][code]),
                    output_field=TextField(),
                ),
            )
            for code in (1, 0, -1)
        ),
        default=Value(""),
        output_field=TextField(),
    )
    columns: dict = {}
    for i, (_name, lookup, kind) in enumerate(BASE_COLUMNS):
        if kind == "text":
            expression = _Escape(F(lookup))
        elif kind == "code":
            expression = Coalesce(F(lookup), Value(""), output_field=TextField())
        elif kind in ("uuid", "int"):
            expression = Cast(F(lookup), TextField())
        elif kind == "category":
            expression = category
        elif kind == "utc":
            expression = _Seconds(_at_zone("UTC", F(lookup)))
        elif kind == "local":
            expression = _Seconds(_at_zone(options.tz, F(lookup)))
        elif kind == "money":
            expression = Coalesce(Cast(F(lookup), TextField()), Value(""), output_field=TextField())
        elif kind == "arr":
            expression = Coalesce(
                Cast(F(lookup) * 12, TextField()), Value(""), output_field=TextField()
            )
        elif kind == "bool":
            expression = Case(
                When(**{lookup: True}, then=Value("true")),
                default=Value("false"),
                output_field=TextField(),
            )
        else:  # pragma: no cover - every kind is listed above
            raise AssertionError(kind)
        columns[f"c{i}"] = expression
    for i, key in enumerate(keys):
        columns[f"p{i}"] = _Escape(KeyTextTransform(key, "invitation__properties"))
    return columns


def copy_statement(queryset: QuerySet[Response], keys: list[str], options: ExportOptions) -> str:
    """The `COPY (SELECT ...) TO STDOUT` for these rows, with every literal bound client-side."""
    import psycopg

    columns = _sql_columns(keys, options)
    values = queryset.annotate(**columns).values_list(*columns)
    sql, params = values.query.get_compiler(using=queryset.db).as_sql()
    connection = connections[queryset.db]
    connection.ensure_connection()
    select = psycopg.ClientCursor(connection.connection).mogrify(sql, params)
    delimiter = options.delimiter
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv, DELIMITER '{delimiter}')"


def copy_csv_chunks(
    queryset: QuerySet[Response],
    keys: list[str],
    options: ExportOptions,
    counter: list | None = None,
) -> Iterator[bytes]:
    """Stream COPY's output. `counter[0]` ends as the number of rows PostgreSQL wrote."""
    statement = copy_statement(queryset, keys, options)
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(statement) as copy:
            for chunk in copy:
                yield bytes(chunk)
        if counter is not None:
            counter[0] = raw.rowcount
