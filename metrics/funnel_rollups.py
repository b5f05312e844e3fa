"""The invitation funnel's rollups: counts per survey and UTC day or month (`InvitationRollup`),
kept by triggers (metrics/migrations/0006_invitation_rollup_triggers.py), read by
`metrics.selectors.funnel`, and recounted from the rows by `rebuild`.

A rebuild is safe while the app serves: it recounts one UTC month per transaction, holding that
month's advisory lock exclusively, while every write that changes the month's counts holds it
shared until it commits. A write waits at most for one month's recount; the recount sees every
write committed before it, and every later write adds its change on top of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connections, transaction

from .models import InvitationRollup, InvitationRollupExclusion
from .rollup_pieces import DAY, MONTH, RAW, Piece

# The advisory lock key of the invitation rollups (the second key is the month number,
# year * 12 + month - 1). The answer rollups use another.
ROLLUP_LOCK = 727110

ROLLUP = InvitationRollup._meta.db_table
EXCLUSION = InvitationRollupExclusion._meta.db_table
COUNTS = ("invited", "sent", "clicked", "answered", "bounced", "unsubscribed")


def month_number(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_of(number: int) -> dt.date:
    return dt.date(number // 12, number % 12 + 1, 1)


def _months(since: dt.date | None, using: str) -> list[int]:
    """Every month from `since` (or the first) to the last one with invitations or rollups."""
    floor = dt.date(1, 1, 1) if since is None else since.replace(day=1)
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT MIN(created_at AT TIME ZONE 'UTC'), MAX(created_at AT TIME ZONE 'UTC') "
            "FROM surveys_invitation WHERE created_at >= %s",
            [dt.datetime.combine(floor, dt.time.min, dt.UTC)],
        )
        first_row, last_row = cursor.fetchone()
        cursor.execute(
            f"SELECT MIN(period), MAX(period) FROM {ROLLUP} WHERE period >= %s",  # noqa: S608
            [floor],
        )
        first_rollup, last_rollup = cursor.fetchone()
    ends = [
        value.date() if isinstance(value, dt.datetime) else value
        for value in (first_row, last_row, first_rollup, last_rollup)
        if value is not None
    ]
    if not ends:
        return []
    first, last = month_number(min(ends)), month_number(max(ends))
    return list(range(first, last + 1))


# One month, recounted from the rows (the tables of ROLLUP and EXCLUSION). %(start)s and
# %(end)s are its first and next month's first day; the invitations are those created in
# [lo, hi), the same days in UTC, read once for both tables.
_RECOUNT = (
    "DELETE FROM metrics_invitationrollup WHERE period >= %(start)s AND period < %(end)s",
    "DELETE FROM metrics_invitationrollupexclusion WHERE day >= %(start)s AND day < %(end)s",
    """WITH invitation AS MATERIALIZED (
        SELECT i.id, i.survey_id, (i.created_at AT TIME ZONE 'UTC')::date AS day,
               i.sent_at IS NOT NULL AS sent, i.clicked_at IS NOT NULL AS clicked,
               i.answered_at IS NOT NULL AS answered, i.bounced_at IS NOT NULL AS bounced,
               i.unsubscribed_at IS NOT NULL
                   AND (i.answered_at IS NULL OR i.unsubscribed_at < i.answered_at)
                   AS unsubscribed,
               i.answered_at IS NOT NULL AND x.invitation_id IS NOT NULL AS excluded
        FROM surveys_invitation i
        LEFT JOIN surveys_response x ON x.invitation_id = i.id AND x.excluded
        WHERE i.created_at >= %(lo)s AND i.created_at < %(hi)s
    ),
    recorded AS (
        INSERT INTO metrics_invitationrollupexclusion (invitation_id, survey_id, day, clicked)
        SELECT id, survey_id, day, clicked FROM invitation WHERE excluded
    )
    INSERT INTO metrics_invitationrollup
        (survey_id, grain, period, invited, sent, clicked, answered, bounced, unsubscribed)
    SELECT survey_id, 'd', day, COUNT(*), COUNT(*) FILTER (WHERE sent),
           COUNT(*) FILTER (WHERE clicked OR (answered AND NOT excluded)),
           COUNT(*) FILTER (WHERE answered AND NOT excluded),
           COUNT(*) FILTER (WHERE bounced), COUNT(*) FILTER (WHERE unsubscribed)
    FROM invitation
    GROUP BY survey_id, day""",
    """INSERT INTO metrics_invitationrollup
        (survey_id, grain, period, invited, sent, clicked, answered, bounced, unsubscribed)
    SELECT survey_id, 'm', %(start)s, SUM(invited), SUM(sent), SUM(clicked), SUM(answered),
           SUM(bounced), SUM(unsubscribed)
    FROM metrics_invitationrollup WHERE grain = 'd' AND period >= %(start)s AND period < %(end)s
    GROUP BY survey_id""",
)


def rebuild(
    since: dt.date | None = None,
    *,
    using: str = "default",
    progress: Callable[[dt.date, int], None] | None = None,
) -> int:
    """Recount the invitation rollups from the rows, one UTC month per transaction, from the
    month of `since` (None: every month). Returns the rollup rows written. Idempotent; safe
    while the app writes (see the module's docstring). `progress(month, rows)` after each."""
    written = 0
    for number in _months(since, using):
        start, end = _month_of(number), _month_of(number + 1)
        params = {
            "start": start,
            "end": end,
            "lo": dt.datetime.combine(start, dt.time.min, dt.UTC),
            "hi": dt.datetime.combine(end, dt.time.min, dt.UTC),
        }
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ROLLUP_LOCK, number])
            for statement in _RECOUNT:
                cursor.execute(statement, params)
            cursor.execute(
                f"SELECT COUNT(*) FROM {ROLLUP} WHERE period >= %(start)s AND period < %(end)s",  # noqa: S608
                params,
            )
            rows = cursor.fetchone()[0]
        written += rows
        if progress is not None:
            progress(start, rows)
    return written


# --- Reading --------------------------------------------------------------------------------


def _pieces_values(pieces: list[Piece], cast: str) -> tuple[str, list]:
    """A VALUES list of (sign, lo, hi, grain), one row per piece."""
    values = ", ".join(f"(%s, %s::{cast}, %s::{cast}, %s)" for _ in pieces)
    params = [p for piece in pieces for p in (piece.sign, piece.start, piece.end, piece.grain)]
    return values, params


def rollup_counts(
    *, survey_ids: list[int], pieces: list[Piece], using: str
) -> dict[int, dict[str, int]]:
    """Per survey, the signed sum of the rollup rows of the MONTH and DAY pieces, in one
    query: a row counts when its grain is the piece's and its period is in [start, end)."""
    pieces = [piece for piece in pieces if piece.grain in (MONTH, DAY)]
    if not pieces or not survey_ids:
        return {}
    values, params = _pieces_values(pieces, "date")
    sums = ", ".join(f"SUM(p.sign * r.{name})" for name in COUNTS)
    sql = f"""
        SELECT r.survey_id, {sums}
        FROM (VALUES {values}) AS p (sign, lo, hi, grain)
        JOIN {ROLLUP} r ON r.grain = p.grain AND r.period >= p.lo AND r.period < p.hi
        WHERE r.survey_id = ANY(%s)
        GROUP BY r.survey_id
    """  # noqa: S608
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [*params, survey_ids])
        return {row[0]: dict(zip(COUNTS, row[1:], strict=True)) for row in cursor}


def row_counts(
    *, survey_ids: list[int], pieces: list[Piece], using: str
) -> dict[int, dict[str, int]]:
    """Per survey, the signed funnel counts of the invitations created in the RAW pieces (each
    at most 12 hours), counted from the rows as the funnel does, in one query. The pieces are
    written out as ranges (not joined from a list), so the planner reads only their rows."""
    pieces = [piece for piece in pieces if piece.grain == RAW]
    if not pieces or not survey_ids:
        return {}
    inside = "i.created_at >= %s AND i.created_at < %s"
    weight = " + ".join(f"CASE WHEN {inside} THEN %s ELSE 0 END" for _ in pieces)
    weight_params = [p for piece in pieces for p in (piece.start, piece.end, piece.sign)]
    where = " OR ".join(f"({inside})" for _ in pieces)
    where_params = [p for piece in pieces for p in (piece.start, piece.end)]
    counted_answer = "i.answered_at IS NOT NULL AND x.invitation_id IS NULL"
    sql = f"""
        SELECT i.survey_id, SUM(i.w),
               SUM(CASE WHEN i.sent_at IS NOT NULL THEN i.w ELSE 0 END),
               SUM(CASE WHEN i.clicked_at IS NOT NULL OR ({counted_answer}) THEN i.w ELSE 0 END),
               SUM(CASE WHEN {counted_answer} THEN i.w ELSE 0 END),
               SUM(CASE WHEN i.bounced_at IS NOT NULL THEN i.w ELSE 0 END),
               SUM(CASE WHEN i.unsubscribed_at IS NOT NULL
                        AND (i.answered_at IS NULL OR i.unsubscribed_at < i.answered_at)
                   THEN i.w ELSE 0 END)
        FROM (
            SELECT i.id, i.survey_id, i.sent_at, i.clicked_at, i.answered_at, i.bounced_at,
                   i.unsubscribed_at, {weight} AS w
            FROM surveys_invitation i
            WHERE i.survey_id = ANY(%s) AND ({where})
        ) AS i
        LEFT JOIN surveys_response x ON x.invitation_id = i.id AND x.excluded
        GROUP BY i.survey_id
    """  # noqa: S608
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [*weight_params, survey_ids, *where_params])
        return {row[0]: dict(zip(COUNTS, row[1:], strict=True)) for row in cursor}
