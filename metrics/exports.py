"""Response exports: CSV streamed, XLSX in constant memory, big ones written by a worker.

One column list drives every output. CSV rows come from `COPY (SELECT ...) TO STDOUT`: the
database formats and escapes every cell (the ORM builds the query, with the same filters as the
reports), Python only forwards bytes. XLSX rows come from the same query's text cells and typed
values (numbers, dates) through openpyxl's write-only mode, which streams rows to disk.

Text cells that start with `=`, `+`, `-`, `@`, tab or carriage return get a leading single quote
so a spreadsheet never evaluates them (formula injection, OWASP "CSV injection"); `_Escape` is
the one definition of that rule, applied in SQL for both formats.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
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
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from accounts import jobs
from accounts.audit import record_audit
from accounts.models import AuditLog
from surveys.models import Kind, Response, Survey

from . import selectors
from .models import ExportJob

logger = logging.getLogger(__name__)

BOM = "\ufeff".encode()
MAX_PROPERTY_COLUMNS = 100
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header row
PROGRESS_EVERY = 5_000

CATEGORY_WORDS = {
    Kind.NPS: {1: "promoter", 0: "passive", -1: "detractor"},
    Kind.CSAT: {1: "satisfied", 0: "neutral", -1: "unsatisfied"},
    Kind.CES: {1: "easy", 0: "neutral", -1: "difficult"},
    Kind.CES1: {1: "easy", 0: "neutral", -1: "difficult"},
}

# (header, ORM lookup on Response, kind of value)
BASE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("response_id", "public_id", "uuid"),
    ("survey", "survey__slug", "text"),
    ("survey_name", "survey__name", "text"),
    ("kind", "survey__kind", "code"),
    ("score", "score", "int"),
    ("category", "category", "category"),
    ("comment", "comment", "text"),
    ("reason", "reason", "text"),
    ("confirmed_via", "confirmed_via", "code"),
    ("answered_at_utc", "answered_at", "utc"),
    ("answered_at_local", "answered_at", "local"),
    ("contact_email", "contact__email", "text"),
    ("contact_name", "contact__name", "text"),
    ("contact_language", "contact__language", "code"),
    ("account_external_id", "account__external_id", "text"),
    ("account_name", "account__name", "text"),
    ("account_plan", "account__plan", "text"),
    ("account_segment", "account__segment", "text"),
    ("account_region", "account__region", "text"),
    ("account_owner", "account__owner__username", "text"),
    ("account_status", "account__status", "code"),
    ("account_mrr", "account__mrr", "money"),
    ("account_arr", "account__mrr", "arr"),
    ("account_currency", "account__currency", "code"),
    # "true" for a suspected bot's answer held out of every score (only in exports that ask
    # for quarantined answers; the default export leaves them out, as the reports do).
    ("quarantined", "quarantined", "bool"),
)
PROPERTY_PREFIX = "property_"


class ExportError(Exception):
    """An export that cannot be produced as asked; the message is shown to the user."""


# --- Options and filters --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportOptions:
    tz: str = "UTC"
    excel: bool = False  # UTF-8 with a byte-order mark and `;` between cells
    # Quarantined answers (suspected bots): left out as in the reports ("exclude", the
    # default), added ("include") or alone ("only"), with the `quarantined` column saying which.
    quarantined: str = "exclude"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def delimiter(self) -> str:
        return ";" if self.excel else ","

    def as_dict(self) -> dict:
        return {"tz": self.tz, "excel": self.excel, "quarantined": self.quarantined}

    @classmethod
    def from_dict(cls, data: dict) -> ExportOptions:
        tz = data.get("tz") or settings.TIME_ZONE
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ExportError(_("Unknown time zone: %(tz)s") % {"tz": tz}) from None
        quarantined = data.get("quarantined") or "exclude"
        if quarantined not in selectors.QUARANTINED_CHOICES:
            raise ExportError(
                _("Unknown choice for quarantined answers: %(value)s") % {"value": quarantined}
            )
        return cls(tz=tz, excel=bool(data.get("excel")), quarantined=quarantined)


FILTER_FIELDS = ("plan", "segment", "region", "status", "language")


def filters_as_dict(filters: selectors.Filters) -> dict:
    """The JSON kept on the job and in the audit log; `filters_from_dict` reads it back."""
    return {
        "start": filters.period.start.isoformat() if filters.period.start else None,
        "end": filters.period.end.isoformat() if filters.period.end else None,
        "tz": str(filters.period.tz),
        "kind": filters.kind,
        "surveys": list(filters.surveys),
        "owner": filters.owner,
        **{name: getattr(filters, name) for name in FILTER_FIELDS},
        "property_key": filters.property_key,
        "property_value": filters.property_value,
    }


def filters_from_dict(data: dict) -> selectors.Filters:
    tz = ZoneInfo(data.get("tz") or settings.TIME_ZONE)
    period = selectors.Period(
        dt.date.fromisoformat(data["start"]) if data.get("start") else None,
        dt.date.fromisoformat(data["end"]) if data.get("end") else None,
        tz,
    )
    return selectors.Filters(
        period=period,
        kind=data.get("kind") or "",
        surveys=tuple(data.get("surveys") or ()),
        owner=data.get("owner") or None,
        **{name: data.get(name) or "" for name in FILTER_FIELDS},
        property_key=data.get("property_key") or "",
        property_value=data.get("property_value") or "",
    )


def export_queryset(filters: selectors.Filters, quarantined: str = "exclude") -> QuerySet[Response]:
    """The responses an export holds: exactly what the reports count with these filters (plus
    or only the quarantined ones, when asked).

    Without a survey or a kind, every kind is exported.
    """
    if not filters.surveys and not filters.kind:
        filters = replace(filters, surveys=tuple(Survey.objects.values_list("pk", flat=True)))
        if not filters.surveys:
            return Response.objects.none()
    return selectors.counted_responses(filters=filters, quarantined=quarantined).order_by(
        "answered_at", "pk"
    )


def property_keys(queryset: QuerySet[Response]) -> list[str]:
    """The invitation property names present in the exported rows, sorted (one query)."""
    invitations = queryset.order_by().filter(invitation__isnull=False).values("invitation_id")
    db = queryset.db
    connection = connections[db]
    sql, params = invitations.query.get_compiler(using=db).as_sql()
    statement = (
        # The inner SQL is compiled by the ORM; every value in it is a bound parameter.
        "SELECT DISTINCT k FROM (SELECT jsonb_object_keys(properties) AS k "  # noqa: S608
        "FROM surveys_invitation WHERE jsonb_typeof(properties) = 'object' "
        f"AND properties <> '{{}}'::jsonb AND id IN ({sql})) keys ORDER BY k LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, MAX_PROPERTY_COLUMNS])
        return [row[0] for row in cursor.fetchall()]


def headers(keys: list[str]) -> list[str]:
    # "property_..." never starts a formula: the names need no escaping.
    return [name for name, _lookup, _kind in BASE_COLUMNS] + [
        f"{PROPERTY_PREFIX}{key}" for key in keys
    ]


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
        ) = raw[:23]
        yield [
            str(public_id),
            slug,
            survey_name,
            kind,
            score,
            CATEGORY_WORDS[kind][category],
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
            *raw[23:],
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
                        When(survey__kind=kind, then=Value(CATEGORY_WORDS[kind][code]))
                        for kind in (Kind.NPS, Kind.CSAT, Kind.CES)
                    ),
                    default=Value(CATEGORY_WORDS[Kind.CES1][code]),
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


def is_background(row_count: int) -> bool:
    """Exports over EXPORT_SYNC_MAX_ROWS rows are written by a worker, not in the request."""
    return row_count > settings.EXPORT_SYNC_MAX_ROWS


# --- Services -------------------------------------------------------------------------------


def log_export(
    *,
    user,
    filters: selectors.Filters,
    options: ExportOptions,
    fmt: str,
    row_count: int,
    job: ExportJob | None = None,
) -> AuditLog:
    """Audit one export: who, when, with which filters, how many rows."""
    return record_audit(
        actor=user,
        action=AuditLog.Action.EXPORT_RESPONSES,
        target=f"export {job.public_id}" if job else "",
        details={"format": fmt, **filters_as_dict(filters), "options": options.as_dict()},
        row_count=row_count,
    )


def start_export_job(
    *, user, filters: selectors.Filters, options: ExportOptions, fmt: str
) -> ExportJob:
    """Create an export job and hand it to a worker after commit."""
    if fmt not in ExportJob.Format.values:
        raise ExportError(_("Unknown export format."))
    total = count_rows(filters, options)
    if fmt == ExportJob.Format.XLSX and total > XLSX_MAX_ROWS:
        raise ExportError(_("Too many rows for one spreadsheet; export CSV instead."))
    job = ExportJob.objects.create(
        requested_by=user,
        format=fmt,
        filters=filters_as_dict(filters),
        options=options.as_dict(),
        total_rows=total,
        next_attempt_at=jobs.lease_end(),
    )
    jobs.enqueue(task_name=EXPORT_TASK, job_id=job.pk)
    return job


# By name: services never import tasks.
EXPORT_TASK = "metrics.tasks.run_export"


def sweep_export_jobs() -> jobs.Sweep:
    """Hand exports whose enqueue or worker was lost to a worker again (accounts/jobs.py)."""
    return jobs.sweep(ExportJob.objects.all(), task_name=EXPORT_TASK)


def run_export_job(*, job_id: int) -> bool:
    """Write a job's file to storage, then email its requester. Idempotent: False when another
    worker has it or it is finished. A run whose worker was lost is taken over once stale."""
    if not jobs.claim(ExportJob, job_id=job_id):
        return False
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    filters = filters_from_dict(job.filters)
    options = ExportOptions.from_dict(job.options)

    def progress(rows: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(processed_rows=rows)

    try:
        with tempfile.TemporaryFile() as handle:
            if job.format == ExportJob.Format.XLSX:
                rows = write_xlsx(filters, options, handle, progress=progress)
            else:
                counter = [0]
                written = 0
                for chunk in csv_chunks(filters, options, counter):
                    handle.write(chunk)
                    # Approximate while running (comments may hold line breaks); exact at the end.
                    written += chunk.count(b"\n")
                    if (
                        written // PROGRESS_EVERY
                        != (written - chunk.count(b"\n")) // PROGRESS_EVERY
                    ):
                        progress(min(max(written - 1, 0), job.total_rows))
                rows = counter[0]
            handle.seek(0)
            name = default_storage.save(f"exports/{job.public_id}.{job.format}", File(handle))
    except Exception as exc:
        logger.exception("export job %s failed", job.pk)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    now = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE,
        file=name,
        row_count=rows,
        processed_rows=rows,
        finished_at=now,
        expires_at=now + dt.timedelta(hours=settings.EXPORT_EXPIRY_HOURS),
    )
    job.refresh_from_db()
    logger.info("export job %s done: %s rows, %s", job.pk, rows, job.format)
    log_export(
        user=job.requested_by,
        filters=filters,
        options=options,
        fmt=job.format,
        row_count=rows,
        job=job,
    )
    notify_requester(job=job)
    return True


def notify_requester(*, job: ExportJob) -> None:
    """Email the requester a link to the finished export (the link itself needs a sign-in)."""
    user = job.requested_by
    if not user.email:
        return
    link = settings.SITE_URL + reverse("reports:export-detail", args=[job.public_id])
    expires = timezone.localtime(job.expires_at).strftime("%Y-%m-%d %H:%M %Z")
    send_mail(
        subject=_("Your export is ready (%(rows)s rows)") % {"rows": f"{job.row_count:,}"},
        message=_(
            "Your %(format)s export of %(rows)s responses is ready:\n\n%(link)s\n\n"
            "The link works for you (or an administrator) until %(expires)s."
        )
        % {
            "format": job.get_format_display(),
            "rows": f"{job.row_count:,}",
            "link": link,
            "expires": expires,
        },
        from_email=None,
        recipient_list=[user.email],
    )


def purge_expired_exports() -> int:
    """Delete the files of expired export jobs; the job rows stay as history. Idempotent."""
    expired = ExportJob.objects.filter(expires_at__lte=timezone.now()).exclude(file="")
    count = 0
    for job in expired.iterator():
        default_storage.delete(job.file.name)
        ExportJob.objects.filter(pk=job.pk).update(file="")
        count += 1
    return count


def can_download(*, user, job: ExportJob) -> bool:
    from accounts.roles import is_administrator

    return user.is_authenticated and (job.requested_by_id == user.pk or is_administrator(user))


def iter_file(job: ExportJob) -> Iterable[bytes]:
    return default_storage.open(job.file.name, "rb")
