"""The answer rollups: how they are kept exact and how they are rebuilt.

`metrics_answerrollup` (model `AnswerRollup`) holds, per survey, account and UTC day or month,
the counted answers of each score and category. Statement-level triggers on the answers table
keep it exact in the same transaction as every write, however it is made (an answer, a
re-answer, an exclusion, a quarantine and its release, an erasure, an import, a retention
delete, a cascade): each trigger sums the rows the statement removed (old rows that counted,
negated) and added (new rows that count) per key, and adds the non-zero sums to the rollup
rows in one upsert. A statement touching 100,000 rows runs each trigger once.

`rebuild` recomputes the rows month by month from the answers. It is safe while the app serves:
every trigger takes a shared advisory lock on each UTC month it touches, and the rebuild takes
that month's lock exclusively for its chunk, so no write to the month lands between the
rebuild's read of the answers and its write of the rows (writers to that month wait for one
chunk, about a second per million answers in the month; other months are never blocked).
A crash mid-rebuild rolls back the chunk in progress: finished months keep their new rows,
the others their old ones, all exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connections

from . import statement_triggers

TABLE = "metrics_answerrollup"
ANSWERS = "surveys_response"
LOCK_KEY = 727_120  # advisory lock class of the answer rollups (one lock per UTC month)
COLUMNS = ("positive", "neutral", "negative", *(f"s{score}" for score in range(11)))
KEY = ("survey_id", "grain", "period", "account_id")


def _sums(value: str) -> str:
    """The per-key sums of the columns over `changes` rows, each weighted by `value`."""
    categories = {"positive": 1, "neutral": 0, "negative": -1}
    parts = [
        f"SUM(CASE WHEN category = {code} THEN {value} ELSE 0 END) AS {name}"
        for name, code in categories.items()
    ]
    parts += [
        f"SUM(CASE WHEN score = {score} THEN {value} ELSE 0 END) AS s{score}" for score in range(11)
    ]
    return ",\n           ".join(parts)


def _rows_sql(changes: str) -> str:
    """Day and month rows of the signed `changes` (survey_id, account_id, answered_at, score,
    category, sign), the all-zero ones left out."""
    columns = ", ".join(COLUMNS)
    month_sums = ", ".join(f"SUM({name}) AS {name}" for name in COLUMNS)
    zeros = ", ".join("0" for _name in COLUMNS)
    return f"""
    WITH changes AS ({changes}),
    days AS (
        SELECT survey_id, COALESCE(account_id, 0) AS account_id,
               (answered_at AT TIME ZONE 'UTC')::date AS period,
           {_sums("sign")}
        FROM changes GROUP BY 1, 2, 3
    ),
    deltas AS (
        SELECT survey_id, account_id, 'd' AS grain, period, {columns} FROM days
        UNION ALL
        SELECT survey_id, account_id, 'm', date_trunc('month', period)::date, {month_sums}
        FROM days GROUP BY survey_id, account_id, date_trunc('month', period)::date
    )
    SELECT survey_id, account_id, grain, period, {columns} FROM deltas
    WHERE ({columns}) IS DISTINCT FROM ({zeros})
    ORDER BY {", ".join(KEY)}
    """


def _upsert_sql(changes: str) -> str:
    columns = ", ".join(COLUMNS)
    added = ", ".join(f"{name} = {TABLE}.{name} + EXCLUDED.{name}" for name in COLUMNS)
    return f"""
    INSERT INTO {TABLE} (survey_id, account_id, grain, period, {columns})
    {_rows_sql(changes)}
    ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET {added}
    """


def _counted(table: str, sign: int) -> str:
    return (
        f"SELECT survey_id, account_id, answered_at, score, category, {sign} AS sign "
        f"FROM {table} WHERE NOT excluded"
    )


def install_sql() -> str:
    """The trigger functions and triggers (CREATE OR REPLACE: run again after a change). An
    update that changes nothing a rollup counts (most do: announcements, comments, tags), or
    a statement that added (or removed) no answer that counts, leaves at once."""
    return statement_triggers.signed_install_sql(
        "metrics_answer_rollup",
        ANSWERS,
        lock_key=LOCK_KEY,
        time_column="answered_at",
        changes=_counted,
        upsert=lambda changes: f"{_upsert_sql(changes)};",
        nothing=lambda table: statement_triggers.nothing_guard(table, "NOT excluded"),
        unchanged=statement_triggers.unchanged_guard(
            ("survey_id", "account_id", "answered_at", "score", "category", "excluded")
        ),
        cleared=(TABLE,),
    )


def uninstall_sql() -> str:
    return statement_triggers.uninstall_sql(
        "metrics_answer_rollup", ANSWERS, statement_triggers.SIGNED_EVENTS
    )


def rebuild(
    since: dt.date | None = None,
    *,
    using: str = "default",
    progress: Callable[[dt.date, int], None] | None = None,
) -> int:
    """Recompute the rollup rows of every UTC month from `since`'s month on (all when None),
    one month per transaction. Returns the number of rows written."""
    with connections[using].cursor() as cursor:
        months = statement_triggers.months_to_rebuild(
            cursor, since, source=ANSWERS, time_column="answered_at", tables=(TABLE,)
        )
        cursor.execute("SELECT id FROM surveys_survey")
        surveys = [row[0] for row in cursor.fetchall()]
    # Every survey listed: the partial index of counted answers (survey, time, category,
    # score, account) then serves the month as an index-only scan.
    changes = (
        f"SELECT survey_id, account_id, answered_at, score, category, 1 AS sign "
        f"FROM {ANSWERS} WHERE NOT excluded AND survey_id = ANY(%(surveys)s) "
        f"AND answered_at >= %(lo)s AND answered_at < %(hi)s"
    )
    columns = ", ".join(COLUMNS)

    def fill(cursor, bounds: dict) -> int:
        cursor.execute(
            f"INSERT INTO {TABLE} (survey_id, account_id, grain, period, {columns}) "
            f"{_rows_sql(changes)}",
            {"surveys": surveys, **bounds},
        )
        return max(cursor.rowcount, 0)

    return statement_triggers.rebuild_by_month(
        months, using=using, lock_key=LOCK_KEY, tables=(TABLE,), fill=fill, progress=progress
    )
