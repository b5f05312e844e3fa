"""The ticket rollups: how they are kept exact and how they are rebuilt.

`metrics_ticketrollup` (model `TicketRollup`) holds, per channel and UTC day or month of
creation, the counts the support summary reports (created, solved, ever solved, reopened,
first-contact resolutions, replied) and the sums of the first-reply and resolution times in
microseconds. `metrics_tickettimebucket` (`TicketTimeBucket`) holds, for the same keys, how
many tickets have each time in each bucket of `bucket_sql`. The median and the 90th
percentile are then exact without sorting the period's tickets: the bucket counts say which
bucket holds the wanted rank, and only that bucket's tickets of the period are read (from the
indexes `ticket_reply_bucket` and `ticket_resolution_bucket`) and sorted
(`metrics.support_rollups`).

Statement-level triggers on the tickets keep both tables exact in the same transaction as
every write (a webhook's upsert, an import, a sync's update, a delete, a cascade): each sums
the rows the statement removed (negated) and added per key and adds the non-zero sums in one
upsert per table. As for the answer rollups (`metrics.rollups`), every trigger takes a shared
advisory lock on each UTC month it touches and `rebuild` takes that month's lock exclusively
for its chunk, so a rebuild is safe while the app serves and a crash leaves every month exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connections

from . import statement_triggers

TABLE = "metrics_ticketrollup"
BUCKETS = "metrics_tickettimebucket"
TICKETS = "outcomes_ticket"
LOCK_KEY = 727_140  # advisory lock class of the ticket rollups (one lock per UTC month)
COUNT_COLUMNS = (
    "created",
    "solved",
    "ever_solved",
    "reopened",
    "fcr",
    "replied",
    "reply_us",
    "resolution_us",
)
# The ticket columns the figures read.
COUNTED = (
    "created_at",
    "channel",
    "first_reply_at",
    "first_solved_at",
    "solved_at",
    "agent_replies",
    "reopens",
)
# The two times: TicketTimeBucket.time (REPLY, RESOLUTION) -> the column whose distance from
# created_at it is.
REPLY, RESOLUTION = 1, 2
TIMES = {REPLY: "first_reply_at", RESOLUTION: "solved_at"}
KEY = ("grain", "period", "channel")
BUCKET_KEY = (*KEY, "time", "bucket")


def minutes_sql(column: str, alias: str = "") -> str:
    """A time in minutes, written as the support statements write it (float8, date_part)."""
    prefix = f"{alias}." if alias else ""
    return f"date_part('epoch', {prefix}{column} - {prefix}created_at) / 60"


def flags_sql(alias: str = "") -> dict[str, str]:
    """What makes a ticket count as solved, ever solved, reopened and resolved at first
    contact (README "Support"): the one definition the rollups and the statements over the
    tickets (`metrics.support_selectors`) both use."""
    t = f"{alias}." if alias else ""
    return {
        "solved": f"{t}solved_at IS NOT NULL",
        "ever_solved": f"{t}solved_at IS NOT NULL OR {t}first_solved_at IS NOT NULL "
        f"OR {t}reopens > 0",
        "reopened": f"{t}reopens > 0",
        "fcr": f"{t}solved_at IS NOT NULL AND {t}agent_replies <= 1 AND {t}reopens = 0",
    }


def bucket_sql(column: str, alias: str = "") -> str:
    """The bucket of a time: the fourth root of its minutes, times 40, rounded down. Built from
    square roots, multiplication and rounding down, each exactly rounded in IEEE arithmetic and
    so never out of order: a longer time is never in a lower bucket. Buckets are a few percent
    wide for times from about an hour on (3.4% at 76 minutes, 1.8% at 1,000). The expression
    of the indexes `ticket_reply_bucket` and `ticket_resolution_bucket`, word for word."""
    return f"floor(sqrt(sqrt({minutes_sql(column, alias)})) * 40)::integer"


def bucket_index_name(time: int, column: str | None = None) -> str:
    """The index of one time's buckets (`ticket_reply_bucket`, `ticket_resolution_bucket`),
    per `column` when given (`ticket_reply_bucket_assignee`, ...)."""
    name = f"ticket_{'reply' if time == REPLY else 'resolution'}_bucket"
    return f"{name}_{column}" if column else name


def bucket_index_sql(time: int, column: str | None = None) -> str:
    """CREATE INDEX CONCURRENTLY of one time's buckets over the tickets that have the time:
    keyed (bucket, `column`, created_at) including the timestamp the time is measured to, so
    one group's tickets of one bucket in a period are an index-only range; without a column
    (the first version, migration 0013), keyed (bucket, created_at) and including the channel."""
    measured = TIMES[time]
    keys = f"{column}, created_at" if column else "created_at"
    included = measured if column else f"{measured}, channel"
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {bucket_index_name(time, column)} "
        f"ON {TICKETS} (({bucket_sql(measured)}), {keys}) INCLUDE ({included}) "
        f"WHERE {measured} IS NOT NULL"
    )


def changes_sql(table: str, sign: int, columns: tuple[str, ...] = COUNTED) -> str:
    return f"SELECT {', '.join(columns)}, {sign} AS sign FROM {table}"


def _figures_sql(changes: str, keys: str = "channel", unpivot: str = "") -> str:
    """Per change: its UTC day, its `keys` (the channel; or, with `unpivot`, one row per
    group it belongs to) and signed contribution to each column, and the bucket of each time
    (`bucket_<time>`)."""
    flags = "".join(
        f"CASE WHEN {condition} THEN sign ELSE 0 END AS {name},\n               "
        for name, condition in flags_sql().items()
    )
    buckets = ",\n               ".join(
        f"{bucket_sql(column)} AS bucket_{time}" for time, column in TIMES.items()
    )
    return f"""
    figures AS (
        SELECT (created_at AT TIME ZONE 'UTC')::date AS day, {keys}, sign,
               sign AS created,
               {flags}CASE WHEN first_reply_at IS NOT NULL THEN sign ELSE 0 END AS replied,
               COALESCE(sign * extract(epoch FROM first_reply_at - created_at) * 1000000, 0)
                   AS reply_us,
               COALESCE(sign * extract(epoch FROM solved_at - created_at) * 1000000, 0)
                   AS resolution_us,
               {buckets}
        FROM ({changes}) changes {unpivot}
    )"""


def _day_month_counts_sql(figures: str, keys: tuple[str, ...]) -> str:
    """Day and month rows of the counts per `keys` of the `figures` (`_figures_sql`), the
    all-zero ones left out, in key order."""
    columns = ", ".join(COUNT_COLUMNS)
    sums = ", ".join(f"SUM({name}) AS {name}" for name in COUNT_COLUMNS)
    zeros = ", ".join("0" for _name in COUNT_COLUMNS)
    named = ", ".join(keys)
    by_day = ", ".join(str(position) for position in range(1, len(keys) + 2))
    by_month = ", ".join(str(position) for position in range(2, len(keys) + 3))
    return f"""
    WITH {figures},
    days AS (SELECT day, {named}, {sums} FROM figures GROUP BY {by_day}),
    deltas AS (
        SELECT 'd' AS grain, day AS period, {named}, {columns} FROM days
        UNION ALL
        SELECT 'm', date_trunc('month', day)::date, {named}, {sums} FROM days GROUP BY {by_month}
    )
    SELECT grain, period, {named}, {columns} FROM deltas
    WHERE ({columns}) IS DISTINCT FROM ({zeros})
    ORDER BY grain, period, {named}
    """


def counts_sql(changes: str) -> str:
    """Day and month rows of the counts per channel, the all-zero ones left out."""
    return _day_month_counts_sql(_figures_sql(changes), ("channel",))


def buckets_sql(changes: str) -> str:
    """Day and month rows of the bucket counts, the zero ones left out."""
    per_time = "\n        UNION ALL\n        ".join(
        f"SELECT day, channel, {time} AS time, bucket_{time} AS bucket, SUM(sign) AS tickets "
        f"FROM figures WHERE bucket_{time} IS NOT NULL GROUP BY 1, 2, 4"
        for time in TIMES
    )
    return f"""
    WITH {_figures_sql(changes)},
    days AS (
        {per_time}
    ),
    deltas AS (
        SELECT 'd' AS grain, day AS period, channel, time, bucket, tickets FROM days
        UNION ALL
        SELECT 'm', date_trunc('month', day)::date, channel, time, bucket, SUM(tickets)
        FROM days GROUP BY 2, 3, 4, 5
    )
    SELECT grain, period, channel, time, bucket, tickets FROM deltas WHERE tickets <> 0
    ORDER BY {", ".join(BUCKET_KEY)}
    """


def _inserts(changes: str, *, groups: bool = False) -> list[tuple[str, str]]:
    """The rows of the rollups per channel (or, with `groups`, of the group rollups) from
    signed `changes`: per table, the INSERT of them and the clause that adds them to the rows
    already there (ON CONFLICT on the table's key)."""
    if groups:
        tables = (
            (GROUP_TABLE, GROUP_KEY, COUNT_COLUMNS, group_counts_sql),
            (GROUP_BUCKETS, GROUP_BUCKET_KEY, ("tickets",), group_buckets_sql),
        )
    else:
        tables = (
            (TABLE, KEY, COUNT_COLUMNS, counts_sql),
            (BUCKETS, BUCKET_KEY, ("tickets",), buckets_sql),
        )
    out = []
    for table, key, values, rows in tables:
        added = ", ".join(f"{name} = {table}.{name} + EXCLUDED.{name}" for name in values)
        out.append(
            (
                f"INSERT INTO {table} ({', '.join((*key, *values))})\n    {rows(changes)}",
                f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {added}",
            )
        )
    return out


def _upserts_sql(changes: str, *, groups: bool = False) -> str:
    return "".join(
        f"\n    {insert}\n    {conflict};" for insert, conflict in _inserts(changes, groups=groups)
    )


def _install_sql(prefix: str, changes, upserts, counted, cleared) -> str:
    """Statement triggers on the tickets from signed changes (`statement_triggers`)."""
    return statement_triggers.signed_install_sql(
        prefix,
        TICKETS,
        lock_key=LOCK_KEY,
        time_column="created_at",
        changes=changes,
        upsert=upserts,
        nothing=statement_triggers.nothing_guard,
        unchanged=statement_triggers.unchanged_guard(counted),
        cleared=cleared,
    )


def install_sql() -> str:
    """The trigger functions and triggers (CREATE OR REPLACE: run again after a change). An
    update that changes none of the counted columns (a subject, a status, the raw payload,
    the assignee) leaves at once."""
    return _install_sql(
        "metrics_ticket_rollup", changes_sql, _upserts_sql, COUNTED, (TABLE, BUCKETS)
    )


def uninstall_sql() -> str:
    return statement_triggers.uninstall_sql(
        "metrics_ticket_rollup", TICKETS, statement_triggers.SIGNED_EVENTS
    )


# --- Group rollups: the same figures per assignee and per plan ---------------------------------
# The support page breaks its figures down by the tickets' assignee and by their account's plan
# (`outcomes_ticket.plan`, kept equal to the account's current plan by the database).
# `metrics_ticketgrouprollup` holds the counts and time sums per group and UTC day and month
# (`grain`, as the rollups above); `metrics_ticketgroupbucket` the bucket counts per group at
# two levels: the runs of COARSE buckets per day and month, the buckets themselves per month
# only (per day they would be about as many rows as tickets: a day's fine buckets of one run
# are read from the tickets' bucket indexes instead). Kept by their own statement triggers from
# the same signed changes, and rebuilt with the rollups above.

GROUP_TABLE = "metrics_ticketgrouprollup"
GROUP_BUCKETS = "metrics_ticketgroupbucket"
# The ticket column of each group dimension -> its code in the rows' `dimension`.
GROUPS = {"assignee": "a", "plan": "p"}
GROUP_COUNTED = (*(name for name in COUNTED if name != "channel"), *GROUPS)
GROUP_KEY = ("grain", "period", "dimension", "value")
GROUP_BUCKET_KEY = ("level", "dimension", "value", "time", "bucket", "grain", "period")
# Group bucket rows at two levels: FINE, the buckets of `bucket_sql`; COARSE_LEVEL, runs of
# COARSE of them (bucket // COARSE), so that a percentile reads the coarse histogram, then the
# fine buckets of one run only.
FINE, COARSE_LEVEL, COARSE = 0, 1, 16
_UNPIVOT = (
    "CROSS JOIN LATERAL (VALUES "
    + ", ".join(f"('{code}', {column})" for column, code in GROUPS.items())
    + ") AS g (dimension, value)"
)


def group_changes_sql(table: str, sign: int) -> str:
    return changes_sql(table, sign, GROUP_COUNTED)


def group_figures_sql(changes: str) -> str:
    """`figures` of the group rollups: a row per change and group it belongs to."""
    return _figures_sql(changes, keys="g.dimension, g.value", unpivot=_UNPIVOT)


def group_counts_sql(changes: str) -> str:
    """Day and month rows of the counts per group, the all-zero ones left out."""
    return _day_month_counts_sql(group_figures_sql(changes), ("dimension", "value"))


def group_buckets_sql(changes: str) -> str:
    """The bucket count rows per group, the zero ones left out: the runs (bucket // COARSE)
    per day and month, the buckets per month. One pass over the changes gives each a row per
    time and level (day rows), then the months add the days up."""
    per_row = ", ".join(
        f"({time}, {level}, {expression})"
        for time in TIMES
        for level, expression in (
            (FINE, f"bucket_{time}"),
            (COARSE_LEVEL, f"bucket_{time} / {COARSE}"),
        )
    )
    return f"""
    WITH {group_figures_sql(changes)},
    days AS (
        SELECT day, dimension, value, x.time, x.level, x.bucket, SUM(sign) AS tickets
        FROM figures CROSS JOIN LATERAL (VALUES {per_row}) AS x (time, level, bucket)
        WHERE x.bucket IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6
    ),
    deltas AS (
        SELECT 'd' AS grain, day AS period, dimension, value, time, level, bucket, tickets
        FROM days WHERE level = {COARSE_LEVEL}
        UNION ALL
        SELECT 'm', date_trunc('month', day)::date, dimension, value, time, level, bucket,
               SUM(tickets)
        FROM days GROUP BY 2, 3, 4, 5, 6, 7
    )
    SELECT {", ".join(GROUP_BUCKET_KEY)}, tickets FROM deltas WHERE tickets <> 0
    ORDER BY {", ".join(GROUP_BUCKET_KEY)}
    """


def _group_upserts_sql(changes: str) -> str:
    return _upserts_sql(changes, groups=True)


def group_install_sql() -> str:
    """The group rollups' triggers (CREATE OR REPLACE). An update that changes none of the
    columns they count (a subject, a status, the channel) leaves at once."""
    return _install_sql(
        "metrics_ticket_group_rollup",
        group_changes_sql,
        _group_upserts_sql,
        GROUP_COUNTED,
        (GROUP_TABLE, GROUP_BUCKETS),
    )


def group_uninstall_sql() -> str:
    return statement_triggers.uninstall_sql(
        "metrics_ticket_group_rollup", TICKETS, statement_triggers.SIGNED_EVENTS
    )


def rebuild(
    since: dt.date | None = None,
    *,
    using: str = "default",
    progress: Callable[[dt.date, int], None] | None = None,
    groups: bool = True,
    channels: bool = True,
) -> int:
    """Recompute the tables' rows of every UTC month from `since`'s month on (all when None),
    one month per transaction: the rollups per channel unless `channels` is False, the group
    rollups unless `groups` is False (the migration that made the first ran before the tickets
    had a plan; the one that gave the second day rows rebuilds only those). Returns the rows
    written."""
    tables = ((TABLE, BUCKETS) if channels else ()) + (
        (GROUP_TABLE, GROUP_BUCKETS) if groups else ()
    )
    with connections[using].cursor() as cursor:
        months = statement_triggers.months_to_rebuild(
            cursor, since, source=TICKETS, time_column="created_at", tables=tables
        )
    period = "WHERE created_at >= %(lo)s AND created_at < %(hi)s"
    inserts = [
        *(_inserts(f"{changes_sql(TICKETS, 1)} {period}") if channels else []),
        *(_inserts(f"{group_changes_sql(TICKETS, 1)} {period}", groups=True) if groups else []),
    ]

    def fill(cursor, bounds: dict) -> int:
        written = 0
        for insert, _added in inserts:
            cursor.execute(insert, bounds)
            written += max(cursor.rowcount, 0)
        return written

    return statement_triggers.rebuild_by_month(
        months,
        using=using,
        lock_key=LOCK_KEY,
        tables=tables,
        fill=fill,
        progress=progress,
    )
