"""The support summary from the ticket rollups (`metrics.ticket_rollups`): the same figures as
`support_selectors.support_summary` reads from the tickets, without reading every ticket of
the period.

- Counts and means: the period as signed pieces (`metrics.rollup_pieces`: whole UTC months and
  days from the rollup, the hours at its edges from the tickets), summed in one statement.
- Median and 90th percentile, exact: the bucket counts of the same pieces give how many
  tickets have each time in each bucket; the rank `percentile_cont` interpolates at (and the
  next one) falls in one bucket, and only that bucket's tickets of the period are read, from
  the index of that time's buckets, in order, to the rank. The values and the interpolation
  are PostgreSQL's own (float8 minutes, `low + (high - low) * fraction`), so the figures are
  the ones the tickets give, to the last bit.

Used when the filters allow: no account, plan, segment or owner (those read the tickets, as do
the breakdowns of the support page), with REPORT_ROLLUPS on.
"""

from __future__ import annotations

import math

from django.conf import settings

from . import rollup_pieces
from . import support_scoring as ss
from .ticket_rollups import (
    BUCKETS,
    COUNT_COLUMNS,
    REPLY,
    RESOLUTION,
    TABLE,
    TICKETS,
    TIMES,
    bucket_sql,
    buckets_sql,
    changes_sql,
    counts_sql,
    minutes_sql,
)

QUANTILES = (0.5, 0.9)


def readable(filters) -> bool:
    return settings.REPORT_ROLLUPS and not (filters.account or filters.needs_accounts)


def _channel(filters, alias: str = "") -> tuple[str, list]:
    if not filters.channel:
        return "", []
    return f" AND {alias}channel = %s", [filters.channel]


def _union(parts, filters, table: str, keys: tuple, values: tuple, rows_sql) -> tuple[str, list]:
    """The pieces' rows, signed, as (keys, values): each rollup segment's rows times its
    coefficient, and for each raw piece the rollup's own day rows of its tickets (`rows_sql`,
    the statement the triggers run), so both count by the same definitions."""
    clause, channel = _channel(filters)
    selects, params = [], []
    for segment in rollup_pieces.segments(parts):
        signed = ", ".join([*keys, *(f"{segment.coefficient} * {name}" for name in values)])
        selects.append(
            f"SELECT {signed} FROM {table} "
            f"WHERE grain = %s AND period >= %s AND period < %s{clause}"
        )
        params += [segment.grain, segment.start, segment.end, *channel]
    for piece in parts:
        if piece.grain == rollup_pieces.RAW:
            changes = (
                f"{changes_sql(TICKETS, piece.sign)} "
                f"WHERE created_at >= %s AND created_at < %s{clause}"
            )
            selects.append(
                f"SELECT {', '.join((*keys, *values))} FROM ({rows_sql(changes)}) r "
                "WHERE r.grain = 'd'"
            )
            params += [piece.start, piece.end, *channel]
    return " UNION ALL ".join(selects), params


def _counts(cursor, parts, filters) -> dict[str, int]:
    union, params = _union(parts, filters, TABLE, (), COUNT_COLUMNS, counts_sql)
    sums = ", ".join(f"COALESCE(SUM(x.{name}), 0)" for name in COUNT_COLUMNS)
    names = ", ".join(COUNT_COLUMNS)
    cursor.execute(f"SELECT {sums} FROM ({union}) AS x ({names})", params)
    return dict(zip(COUNT_COLUMNS, cursor.fetchone(), strict=True))


def _histograms(cursor, parts, filters) -> dict[int, list[tuple[int, int]]]:
    """Per time, (bucket, tickets) in bucket order, the empty buckets left out."""
    union, params = _union(parts, filters, BUCKETS, ("time", "bucket"), ("tickets",), buckets_sql)
    cursor.execute(
        f"SELECT time, bucket, SUM(tickets) FROM ({union}) AS x (time, bucket, tickets) "
        "GROUP BY 1, 2 HAVING SUM(tickets) <> 0 ORDER BY 1, 2",
        params,
    )
    out: dict[int, list[tuple[int, int]]] = {time: [] for time in TIMES}
    for time, bucket, tickets in cursor.fetchall():
        out[time].append((bucket, int(tickets)))
    return out


def _in_bucket(cursor, time: int, bucket: int, offset: int, limit: int, filters) -> list[float]:
    """The period's values of one bucket, in order, from `offset` on: `limit` of them."""
    column = TIMES[time]
    lo, hi = filters.bounds
    clause, params = _channel(filters, "t.")
    cursor.execute(
        f"SELECT {minutes_sql(column, 't')} FROM {TICKETS} t "
        f"WHERE {bucket_sql(column, 't')} = %s AND t.{column} IS NOT NULL "
        f"AND t.created_at >= %s AND t.created_at < %s{clause} "
        "ORDER BY 1 OFFSET %s LIMIT %s",
        [bucket, lo, hi, *params, offset, limit],
    )
    return [value for (value,) in cursor.fetchall()]


def _value_at(cursor, time: int, buckets: list[tuple[int, int]], rank: int, filters) -> list:
    """The values at `rank` and `rank + 1` (0-based, in time order; one when it is the last)."""
    seen = 0
    for i, (bucket, tickets) in enumerate(buckets):
        if seen + tickets > rank:
            values = _in_bucket(cursor, time, bucket, rank - seen, 2, filters)
            if len(values) == 1 and i + 1 < len(buckets):
                values += _in_bucket(cursor, time, buckets[i + 1][0], 0, 1, filters)
            return values
        seen += tickets
    raise AssertionError("rank beyond the bucket counts")  # the counts sum to n


def _percentile(cursor, time: int, buckets, n: int, q: float, filters) -> float:
    """PostgreSQL's percentile_cont: the values at floor and ceil of q (n - 1), interpolated."""
    position = q * (n - 1)
    first = math.floor(position)
    values = _value_at(cursor, time, buckets, first, filters)
    if math.ceil(position) == first:
        return values[0]
    low, high = values[0], values[1]
    return low + (high - low) * (position - first)


def summary(cursor, filters) -> ss.SupportSummary:
    lo, hi = filters.bounds
    parts = rollup_pieces.pieces(lo, hi)
    if not parts:
        return ss.summarize([])
    counts = _counts(cursor, parts, filters)
    histograms = _histograms(cursor, parts, filters)

    def times(n: int, total_us, time: int) -> ss.TimeStats:
        if not n:
            return ss.TimeStats(0, None, None, None)
        buckets = histograms[time]
        mean = float(total_us / n / 60_000_000)
        median, p90 = (_percentile(cursor, time, buckets, n, q, filters) for q in QUANTILES)
        return ss.TimeStats(n, mean, median, p90)

    return ss.SupportSummary(
        created=int(counts["created"]),
        solved=int(counts["solved"]),
        ever_solved=int(counts["ever_solved"]),
        reopened=int(counts["reopened"]),
        fcr=int(counts["fcr"]),
        first_reply=times(int(counts["replied"]), counts["reply_us"], REPLY),
        resolution=times(int(counts["solved"]), counts["resolution_us"], RESOLUTION),
    )
