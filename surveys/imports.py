"""CSV import of historical answers (email, survey, score, comment, date) from another tool.

Same rules as the contact import: every bad row is listed with its line number and all its
problems, and then nothing is written; a dry run writes nothing; importing a file twice adds
nothing (an imported answer is keyed by survey, contact and time). Unknown emails become
contacts without an account; an existing contact's account is the answer's account. History
raises no alerts, follow-ups or webhooks.

Built for migrations of millions of answers: rows are checked in Python as the file streams in
and the good ones are streamed into a temporary table with COPY, inside the one transaction of
the import; contacts and answers are then matched and written by a handful of set-based
statements. Memory stays flat (one row at a time) and a bad file rolls back whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import record_audit
from accounts.csv_files import (
    ImportFileError,
    ImportResult,
    RowError,
    column_defaults,
    read_rows,
    readable_rows,
    row_error,
    stage_then_apply,
)
from accounts.models import AuditLog, Contact

from .models import Response, Survey

REQUIRED = ("email", "survey", "score", "date")
COLUMNS = (*REQUIRED, "comment")


def _parse_when(value: str, zone: ZoneInfo) -> dt.datetime:
    """ISO date (midnight) or date-time; without an offset it is read in `zone`."""
    text = value.strip().replace(" ", "T", 1) if len(value.strip()) > 10 else value.strip()
    try:
        if len(text) == 10:
            when = dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min)
        else:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            _("%(value)r is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][+HH:MM]).")
            % {"value": value}
        ) from None
    if timezone.is_naive(when):
        when = when.replace(tzinfo=zone)
    try:
        when = when.astimezone(dt.UTC)
    except OverflowError:
        when = None
    if when is None or not 1900 <= when.year <= 2999:
        raise ValueError(_("The date %(value)r is out of range (1900 to 2999).") % {"value": value})
    return when


def _check_row(row: dict, surveys: dict, zone: ZoneInfo, now) -> tuple[list[str], tuple]:
    """(every problem of the row, the staged values when there is none)."""
    reasons: list[str] = []
    email = row["email"]
    if not email:
        reasons.append(_("The email is empty."))
    elif len(email) > 254:
        reasons.append(_("email is longer than 254 characters."))
    else:
        try:
            validate_email(email)
        except ValidationError:
            reasons.append(_("%(value)r is not a valid email address.") % {"value": email})
    survey = surveys.get(row["survey"])
    score = None
    if survey is None:
        reasons.append(_("No survey with slug %(value)r.") % {"value": row["survey"]})
    else:
        try:
            score = int(row["score"])
        except ValueError:
            reasons.append(
                _("Score %(value)r: %(reason)s")
                % {"value": row["score"], "reason": _("Choose a score.")}
            )
        else:
            if not survey.scale_min <= score <= survey.scale_max:
                reasons.append(
                    _("Score %(value)r: %(reason)s")
                    % {
                        "value": row["score"],
                        "reason": _("Choose a score from %(min)s to %(max)s.")
                        % {"min": survey.scale_min, "max": survey.scale_max},
                    }
                )
    when = None
    if not row["date"]:
        reasons.append(_("The date is empty."))
    else:
        try:
            when = _parse_when(row["date"], zone)
        except ValueError as exc:
            reasons.append(str(exc))
        else:
            if when > now:
                reasons.append(_("The date %(value)s is in the future.") % {"value": row["date"]})
    comment = row.get("comment", "")
    if len(comment) > 5000:
        reasons.append(_("Keep the comment under 5,000 characters."))
    if reasons:
        return reasons, ()
    return [], (email, survey.pk, score, survey.category_of(score), comment, when)


def _check_header(header: list[str]) -> None:
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(_("missing columns: %(c)s") % {"c": ", ".join(missing)})
        if unknown:
            problems.append(_("unknown columns: %(c)s") % {"c": ", ".join(unknown)})
        raise ImportFileError(
            _("The header must be %(columns)s (%(problems)s).")
            % {"columns": ",".join(COLUMNS), "problems": "; ".join(problems)}
        )


def _stage(cursor, rows, result: ImportResult, zone, progress) -> None:
    """Check every row; COPY the good ones into the staging table."""
    surveys = {survey.slug: survey for survey in Survey.objects.all()}
    now = timezone.now()
    # Dropped at commit, or at once when the import runs inside a caller's transaction.
    cursor.execute("DROP TABLE IF EXISTS import_answers")
    cursor.execute(
        "CREATE TEMPORARY TABLE import_answers ("
        "line integer NOT NULL, email text NOT NULL, survey_id bigint NOT NULL, "
        "score smallint NOT NULL, category smallint NOT NULL, comment text NOT NULL, "
        "answered_at timestamptz NOT NULL, contact_id bigint, account_id bigint, "
        "response_id bigint, changed boolean) ON COMMIT DROP"
    )
    columns = "line, email, survey_id, score, category, comment, answered_at"
    with cursor.cursor.copy(f"COPY import_answers ({columns}) FROM STDIN") as copy:
        for line, row in readable_rows(rows, result, progress):
            reasons, values = _check_row(row, surveys, zone, now)
            if reasons:
                result.errors.append(row_error(line, reasons))
            else:
                copy.write_row((line, *values))
    # The same answer twice in the file (same contact, survey and time): name the first line.
    cursor.execute(
        "SELECT line, first_line FROM (SELECT line, min(line) OVER ("
        "PARTITION BY upper(email), survey_id, answered_at) AS first_line FROM import_answers"
        ") AS seen WHERE line <> first_line"
    )
    for line, first_line in cursor.fetchall():
        result.errors.append(
            RowError(line, _("The same answer is on line %(other)s.") % {"other": first_line})
        )
    result.errors.sort(key=lambda error: error.line)


def _apply(cursor, counts: dict) -> None:
    now = timezone.now()
    # New contacts: one per address (its first spelling in the file); the unique index on
    # upper(email) settles a race with a concurrent writer.
    extra = column_defaults(Contact, {"email", "created_at", "updated_at"})
    cursor.execute(
        # Only column names of the model and placeholders are formatted in.
        f"INSERT INTO accounts_contact (email, created_at, updated_at{extra.names}) "  # noqa: S608
        f"SELECT DISTINCT ON (upper(s.email)) s.email, %s, %s{extra.placeholders} "
        "FROM import_answers s WHERE NOT EXISTS (SELECT 1 FROM accounts_contact c "
        "WHERE upper(c.email) = upper(s.email)) "
        "ORDER BY upper(s.email), s.line ON CONFLICT DO NOTHING",
        [now, now, *extra.values],
    )
    counts["contacts_created"] = cursor.rowcount
    cursor.execute(
        "UPDATE import_answers s SET contact_id = c.id, account_id = c.account_id "
        "FROM accounts_contact c WHERE upper(c.email) = upper(s.email)"
    )
    cursor.execute("ANALYZE import_answers")
    # An earlier import of the same answer: update it when its score or comment changed.
    cursor.execute(
        "UPDATE import_answers s SET response_id = r.id, "
        "changed = (r.score, r.comment) IS DISTINCT FROM (s.score, s.comment) "
        "FROM surveys_response r WHERE r.survey_id = s.survey_id "
        "AND r.contact_id = s.contact_id AND r.answered_at = s.answered_at "
        "AND r.confirmed_via = %s",
        [Response.ConfirmedVia.IMPORT],
    )
    cursor.execute(
        "UPDATE surveys_response r SET score = s.score, category = s.category, "
        "comment = s.comment, updated_at = %s FROM import_answers s "
        "WHERE r.id = s.response_id AND s.changed",
        [now],
    )
    counts["updated"] = cursor.rowcount
    given = {
        "survey_id", "contact_id", "account_id", "score", "category", "comment",
        "answered_at", "updated_at", "confirmed_via", "public_id",
    }  # fmt: skip
    extra = column_defaults(Response, given)
    cursor.execute(
        "INSERT INTO surveys_response (public_id, survey_id, contact_id, account_id, score, "  # noqa: S608
        f"category, comment, answered_at, updated_at, confirmed_via{extra.names}) "
        "SELECT gen_random_uuid(), s.survey_id, s.contact_id, s.account_id, s.score, "
        f"s.category, s.comment, s.answered_at, %s, %s{extra.placeholders} "
        "FROM import_answers s WHERE s.response_id IS NULL ORDER BY s.line",
        [now, Response.ConfirmedVia.IMPORT, *extra.values],
    )
    counts["created"] = cursor.rowcount
    cursor.execute("SELECT count(*) FROM import_answers WHERE NOT changed")
    counts["unchanged"] = cursor.fetchone()[0]


def import_responses(
    *,
    source,
    actor=None,
    dry_run: bool = False,
    tz: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate a CSV of historical answers, then store them all, or nothing if any is bad.
    Idempotent: the same file again changes nothing."""
    zone = ZoneInfo(tz or settings.TIME_ZONE)
    header, rows = read_rows(source, max_rows=settings.IMPORT_MAX_ROWS_STAGED)
    _check_header(header)
    result = ImportResult(dry_run=dry_run)
    counts = dict.fromkeys(("contacts_created", "created", "updated", "unchanged"), 0)
    with transaction.atomic(), connection.cursor() as cursor:
        kept = stage_then_apply(
            result,
            counts,
            stage=lambda: _stage(cursor, rows, result, zone, progress),
            apply=lambda: (_apply(cursor, counts), cursor.execute("DROP TABLE import_answers")),
            progress=progress,
            dry_run=dry_run,
        )
        if not kept:
            return result
        record_audit(
            actor=actor,
            action=AuditLog.Action.IMPORT_RESPONSES,
            details={"counts": counts, "tz": str(zone)},
            row_count=result.rows,
        )
    return result
